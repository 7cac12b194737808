//! The actor that owns one session's interpreter: it takes the session's calls one at a time,
//! runs each as a turn under its limits, and reads back what the call left.

use std::collections::HashMap;
use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use sbx_core::exec::{CellOutcome, CellSpec, OutputFile, Usage};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use wasmtime::{Instance, Store};
use wasmtime_wasi::I32Exit;

use crate::wasm::ending::{Ending, Observed, Subject, classify};
use crate::wasm::pipes::CappedPipe;
use crate::wasm::workspace::{output_file, read_back, read_capped, scan};
use crate::wasm::{Guest, turn};
use sbx_core::OutputStream;

use super::folders::{SessionDir, write_input};
use super::{Command, HOUSEKEEPING_TIMEOUT, SessionError, SessionOptions, Sessions, host, json};

/// Most bytes of figures returned by one call.
pub(super) const MAX_FIGURE_BYTES: u64 = 16 << 20;

/// The session's deadline for the running call, as microseconds after `base`; none when 0.
pub(super) struct Deadline {
    pub(super) base: Instant,
    pub(super) at_us: AtomicU64,
}

impl Default for Deadline {
    fn default() -> Self {
        Self {
            base: Instant::now(),
            at_us: AtomicU64::new(0),
        }
    }
}

impl Deadline {
    pub(super) fn set(&self, after: Duration) -> Instant {
        let at = Instant::now() + after;
        let us = (at - self.base).as_micros() as u64;
        self.at_us.store(us.max(1), Ordering::Relaxed);
        at
    }

    pub(super) fn clear(&self) {
        self.at_us.store(0, Ordering::Relaxed);
    }

    pub(super) fn passed(&self) -> bool {
        let at = self.at_us.load(Ordering::Relaxed);
        at != 0 && self.base.elapsed().as_micros() as u64 >= at
    }
}

/// A session's interpreter.
pub(super) struct Live {
    pub(super) store: Store<Guest>,
    pub(super) instance: Option<Instance>,
    pub(super) stdout: CappedPipe,
    pub(super) stderr: CappedPipe,
    pub(super) deadline: Arc<Deadline>,
    /// Whether the runtime may hold files open (matplotlib's fonts, after a figure), as the
    /// last call reported: a fork closes them first.
    pub(super) fonts_open: bool,
}

/// How a turn ended, before the session's report is read (see [`crate::wasm::ending`]).
pub(super) enum Turn {
    Returned(wasmtime::Result<i32>),
    Deadline,
    Cancelled,
}

impl Live {
    /// Run `source` as one turn, stopping it at `deadline`, or when `cancel` fires.
    pub(super) async fn run(
        &mut self,
        source: &str,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Turn {
        let Some(instance) = self.instance else {
            return Turn::Returned(Err(wasmtime::format_err!("no interpreter")));
        };
        let deadline = self.deadline.set(timeout);
        let call = turn(&mut self.store, &instance, source);
        tokio::pin!(call);
        let ending = tokio::select! {
            r = &mut call => Turn::Returned(r),
            () = tokio::time::sleep_until(deadline.into()) => Turn::Deadline,
            () = cancel.cancelled() => Turn::Cancelled,
        };
        self.deadline.clear();
        ending
    }

    /// A turn of the host's own, which must succeed; returns the `out.json` it wrote.
    pub(super) async fn housekeeping(
        &mut self,
        source: &str,
        what: &str,
    ) -> Result<(), SessionError> {
        self.stdout.reset(64 << 10);
        self.stderr.reset(64 << 10);
        let ending = self
            .run(source, HOUSEKEEPING_TIMEOUT, &CancellationToken::new())
            .await;
        let err = String::from_utf8_lossy(&self.stderr.take()).into_owned();
        match ending {
            Turn::Returned(Ok(0)) => {}
            Turn::Returned(Ok(v)) => {
                return Err(host(format!("{what}: status {v}: {err}")));
            }
            Turn::Returned(Err(e)) => return Err(host(format!("{what}: {e:#}: {err}"))),
            _ => {
                return Err(host(format!(
                    "{what}: it took over {HOUSEKEEPING_TIMEOUT:?}"
                )));
            }
        }
        Ok(())
    }
}

/// The actor owning one session's interpreter.
pub(super) struct Actor {
    pub(super) sessions: Arc<Sessions>,
    pub(super) options: SessionOptions,
    pub(super) dir: SessionDir,
    pub(super) live: Option<Live>,
    pub(super) busy: Arc<AtomicBool>,
    pub(super) closed: CancellationToken,
}

impl Actor {
    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        while let Some(command) = rx.recv().await {
            match command {
                Command::Cell(spec, cancel, reply) => {
                    self.busy.store(true, Ordering::Relaxed);
                    let outcome = self.cell(spec, cancel).await;
                    self.busy.store(false, Ordering::Relaxed);
                    let _ = reply.send(outcome);
                }
                Command::Pause(reply) => {
                    let snapshot = match self.live.as_mut() {
                        Some(live) => self.sessions.snapshot(live, &self.dir).await,
                        None => match self.sessions.fresh(&self.options, &self.dir).await {
                            Ok(mut live) => self.sessions.snapshot(&mut live, &self.dir).await,
                            Err(e) => Err(e),
                        },
                    };
                    let paused = snapshot.is_ok();
                    let _ = reply.send(snapshot);
                    if paused {
                        return;
                    }
                }
                Command::Fork(copies, reply) => {
                    // A reset interpreter (after a crash) has nothing to copy but its files: a
                    // fresh one is copied and kept.
                    if self.live.is_none() {
                        match self.sessions.fresh(&self.options, &self.dir).await {
                            Ok(live) => self.live = Some(live),
                            Err(e) => {
                                let _ = reply.send(Err(e));
                                continue;
                            }
                        }
                    }
                    let live = self.live.as_mut().expect("live");
                    let _ = reply.send(self.sessions.copies(live, &self.dir, copies).await);
                }
            }
        }
    }

    pub(super) async fn cell(
        &mut self,
        spec: CellSpec,
        cancel: CancellationToken,
    ) -> Result<CellOutcome, SessionError> {
        let started = Instant::now();
        for f in &spec.files {
            write_input(&self.dir.workspace(), &f.path, &f.content)?;
        }
        let before: HashMap<String, (u64, Option<SystemTime>)> = scan(&self.dir.workspace())
            .map_err(host)?
            .into_iter()
            .map(|(p, m)| (p, (m.len(), m.modified().ok())))
            .collect();
        let mut reset_note = None;
        if self.live.is_none() {
            self.live = Some(self.sessions.fresh(&self.options, &self.dir).await?);
            reset_note = Some("the interpreter had been reset by an earlier call".to_owned());
        }
        let live = self.live.as_mut().expect("live");
        live.stdout.reset(spec.output_limit_bytes as usize);
        live.stderr.reset(spec.output_limit_bytes as usize);
        live.store.data_mut().limiter.refused = false;
        if let Some(dir) = self.dir.out_dir() {
            let _ = fs::remove_dir_all(dir);
        }
        let source = format!("__import__('_sbx_session').cell({})", json(&spec.code));
        let turn = {
            let _foreground = self.sessions.foreground.enter();
            if self.sessions.foreground.background.load(Ordering::SeqCst) > 0 {
                self.sessions.engine.increment_epoch();
            }
            // The caller hanging up or the session closing both stop the call.
            let stop = CancellationToken::new();
            let (caller, closed, stopper) = (cancel.clone(), self.closed.clone(), stop.clone());
            let watch = tokio::spawn(async move {
                tokio::select! {
                    () = caller.cancelled() => {}
                    () = closed.cancelled() => {}
                }
                stopper.cancel();
            });
            let turn = live
                .run(&source, Duration::from_millis(spec.timeout_ms), &stop)
                .await;
            watch.abort();
            turn
        };
        let wall = started.elapsed();
        let limiter = &live.store.data().limiter;
        let (memory_refused, memory_peak) = (limiter.refused, limiter.peak);
        let memory_now = live
            .instance
            .and_then(|i| i.get_memory(&mut live.store, "memory"))
            .map_or(0, |m| m.data_size(&live.store));
        let stdout = live.stdout.take();
        let stderr = live.stderr.take();
        let mut truncated = Vec::new();
        if live.stdout.truncated() {
            truncated.push(OutputStream::Stdout.as_str().to_owned());
        }
        if live.stderr.truncated() {
            truncated.push(OutputStream::Stderr.as_str().to_owned());
        }
        let out = self.dir.read_out();
        live.fonts_open = out
            .as_ref()
            .is_none_or(|o| o["fonts_open"].as_bool().unwrap_or(true));
        // A cell whose code raised SystemExit (`sys.exit`, `exit()`, …): its code and the
        // one line Python would print for it.
        let disk_full = self.dir.is_full();
        let system_exit = out.as_ref().and_then(|o| {
            let code = i32::try_from(o["exit"]["code"].as_i64()?).ok()?;
            Some((code, o["exit"]["message"].as_str()?.to_owned()))
        });
        let ending = match turn {
            // `v >= 256`: the code called the `exit()` builtin, whose SystemExit the session
            // caught like any other.
            Turn::Returned(Ok(v)) if v == 0 || v >= 256 => {
                match out.as_ref().and_then(|o| o["status"].as_i64()) {
                    Some(status) => Ending::Exited(i32::try_from(status).unwrap_or(1)),
                    // With its disk full, the guest half could not write its report.
                    None if disk_full => Ending::Exited(1),
                    None => Ending::Broken("the session did not report how the call ended".into()),
                }
            }
            Turn::Returned(Ok(v)) => {
                Ending::Broken(format!("the session's turn ended with status {v}"))
            }
            Turn::Deadline => Ending::Deadline,
            Turn::Cancelled => Ending::Cancelled,
            // The interpreter itself exited (`os._exit`): it is gone, as after a trap.
            Turn::Returned(Err(e)) => match e.downcast_ref::<I32Exit>() {
                Some(exit) => Ending::InterpreterExited(exit.0),
                None => crate::wasm::ending::ending_of(&e),
            },
        };
        let exit_code = match ending {
            Ending::InterpreterExited(code) => Some(code),
            _ => system_exit.as_ref().map(|(code, _)| *code),
        };
        let verdict = classify(
            ending,
            Observed {
                output_truncated: !truncated.is_empty(),
                memory_refused,
                timeout_ms: spec.timeout_ms,
                output_limit_bytes: spec.output_limit_bytes,
                memory_limit_bytes: self.options.memory_bytes,
                disk_full,
                disk_limit_bytes: self.options.disk_bytes,
            },
            Subject::Cell,
        );
        let (status, reset) = (verdict.status, verdict.stopped);
        let mut message = verdict.message.or(system_exit.map(|(_, m)| m));
        if reset {
            // The guest was stopped mid-way: its interpreter may hold half-made objects or
            // locks. A fresh one replaces it now, so the next call does not pay for it.
            self.live = None;
            let note = "the interpreter was restarted: variables and imports from earlier calls \
                        are gone; files under /workspace remain";
            message = Some(match message {
                Some(m) => format!("{m}; {note}"),
                None => note.to_owned(),
            });
            if !self.closed.is_cancelled() {
                match self.sessions.fresh(&self.options, &self.dir).await {
                    Ok(live) => self.live = Some(live),
                    Err(e) => tracing::warn!(error = %e, "a session could not be restarted"),
                }
            }
        } else if let Some(note) = reset_note {
            message = Some(note);
        }
        let figures = out
            .as_ref()
            .map(|o| self.read_figures(o))
            .unwrap_or_default();
        let result = out
            .as_ref()
            .and_then(|o| o["result"].as_str().map(str::to_owned));
        let changed = scan(&self.dir.workspace())
            .map_err(host)?
            .into_iter()
            .filter(|(p, m)| before.get(p) != Some(&(m.len(), m.modified().ok())))
            .map(|(p, m)| (p, m.len()));
        let (files, files_omitted) =
            read_back(&self.dir.workspace(), changed, |_, _| false).map_err(host)?;
        Ok(CellOutcome {
            status,
            exit_code,
            result,
            stdout: sbx_core::exec::output_text(&stdout),
            stderr: sbx_core::exec::output_text(&stderr),
            truncated,
            files,
            files_omitted,
            figures,
            reset,
            message,
            duration_ms: crate::wasm::millis(started.elapsed()),
            usage: Usage {
                wall_ms: crate::wasm::millis(wall),
                memory_peak_bytes: memory_peak.max(memory_now) as u64,
            },
        })
    }

    pub(super) fn read_figures(&self, out: &serde_json::Value) -> Vec<OutputFile> {
        let Some(dir) = self.dir.out_dir() else {
            return Vec::new();
        };
        let mut total = 0u64;
        let mut figures = Vec::new();
        for name in out["figures"].as_array().into_iter().flatten() {
            let Some(name) = name.as_str() else { continue };
            if name.contains('/') || !name.ends_with(".png") {
                continue;
            }
            let Ok(bytes) = read_capped(&dir.join(name), MAX_FIGURE_BYTES - total) else {
                continue;
            };
            total += bytes.len() as u64;
            figures.push(output_file(name.to_owned(), bytes));
            if total >= MAX_FIGURE_BYTES {
                break;
            }
        }
        let _ = fs::remove_dir_all(dir);
        figures
    }
}
