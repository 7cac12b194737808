//! A placement's life: start (folders, image, container), watch its exit, stop and remove
//! (its pause is [`super::pauses`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sbx_core::exec::ExecStatus;
use sbx_core::ids::SandboxId;
use sbx_core::sandbox::{SandboxState, StateReason};
use sbx_store::placement::PendingContainer;
use sbx_store::sandboxes::{self, Transition};

use super::copies::unpack;
use super::kept;
use super::logs::follow_logs;
use super::{ContainerHost, KEEP_ALIVE};
use crate::Result;
use crate::container::{ContainerSpec, GpuAssignment, RegistryAuth, RunnerError};

/// Processes and threads a sandbox may have at once.
pub(super) const PIDS_LIMIT: i64 = 512;

impl ContainerHost {
    /// Start placed sandbox `p`: its folders (restored from its snapshot when it resumes), its
    /// image, its container. A failure fails the sandbox with the reason.
    pub(super) async fn start(self: Arc<Self>, p: PendingContainer) {
        let id = p.sandbox.sandbox_id;
        let resumed = p.kept.is_some() || p.legacy_snapshot.is_some();
        let outcome = self.start_container(&p).await;
        let (reason, detail) = match outcome {
            Ok(container) => {
                let reason = if resumed {
                    StateReason::Resumed
                } else {
                    StateReason::Started
                };
                match sbx_store::placement::container_started(
                    &self.pool,
                    id,
                    self.runner,
                    &container,
                    reason,
                )
                .await
                {
                    Ok(Some(s)) => {
                        if let Some(job) = s.job_id
                            && let Err(e) =
                                sbx_store::container_jobs::started(&self.pool, job).await
                        {
                            tracing::warn!(sandbox = %id, error = %e, "could not mark a container job started");
                        }
                        if let Some(h) = self.books.lock().expect("books lock").held.get_mut(&id) {
                            h.container = Some(container.clone());
                            // Metered from now: the first sample covers the first second.
                            h.last = Some((0, Instant::now()));
                        }
                        let this = self.clone();
                        tokio::spawn(async move { this.watch(id, container).await });
                        return;
                    }
                    Ok(None) => {
                        // Ended meanwhile (deleted, timed out).
                        let _ = self.backend.stop_and_remove(&container).await;
                        self.forget(id);
                        return;
                    }
                    Err(e) => {
                        let _ = self.backend.stop_and_remove(&container).await;
                        (StateReason::StartFailed, e.to_string())
                    }
                }
            }
            Err(RunnerError::StartFailed { reason, detail }) => (reason, detail),
            Err(e) => (StateReason::StartFailed, e.to_string()),
        };
        tracing::warn!(sandbox = %id, %reason, detail, "a container sandbox could not start");
        if let Some(job) = p.sandbox.job_id {
            let why = format!("{reason}: {detail}");
            self.finish_job(id, job, ExecStatus::Error, None, false, Some(&why))
                .await;
        }
        if let Err(e) = sandboxes::transition(
            &self.pool,
            id,
            Transition::new(&[SandboxState::Pending], SandboxState::Failed, reason).detail(&detail),
        )
        .await
        {
            tracing::warn!(sandbox = %id, error = %e, "could not record a failed start");
        }
        if let Some(root) = self.root(id) {
            let _ = tokio::task::spawn_blocking(move || crate::disk::remove_root(&root)).await;
        }
        self.forget(id);
    }

    pub(super) async fn start_container(&self, p: &PendingContainer) -> Result<String> {
        let id = p.sandbox.sandbox_id;
        let root = self.root(id).ok_or_else(|| {
            RunnerError::start_failed(StateReason::StartFailed, "it is not held here")
        })?;
        let (workspace, outputs) = self.folders(id);
        if let Some(k) = &p.kept {
            // Its folders: taken back where they were kept, else from their copy.
            self.stop_copy(id).await;
            let here = k.host.as_deref() == Some(self.host.as_str()) && {
                let (dir, root, nth) = (self.config.dir.clone(), root.clone(), k.nth);
                tokio::task::spawn_blocking(move || kept::take_back(&dir, id, nth, &root))
                    .await
                    .map_err(|e| RunnerError::start_failed(StateReason::StartFailed, e))?
                    .map_err(|e| RunnerError::start_failed(StateReason::StartFailed, e))?
            };
            if !here {
                if !k.stored {
                    return Err(RunnerError::start_failed(
                        StateReason::SnapshotLost,
                        "the files of its last pause were kept on a host that no longer has them, and their copy was not complete",
                    ));
                }
                self.ensure_disk(&root, p.sandbox.disk_bytes).await?;
                kept::restore(&self.pool, id, k.nth, &root)
                    .await
                    .map_err(|e| RunnerError::start_failed(StateReason::SnapshotCorrupt, e))?;
            }
        }
        self.ensure_disk(&root, p.sandbox.disk_bytes).await?;
        for d in [&workspace, &outputs] {
            std::fs::create_dir_all(d)
                .map_err(|e| RunnerError::start_failed(StateReason::StartFailed, e))?;
        }
        if let Some(snapshot) = &p.legacy_snapshot {
            unpack(snapshot, &workspace, &outputs)
                .map_err(|e| RunnerError::start_failed(StateReason::SnapshotCorrupt, e))?;
        }
        let auth = match &p.registry_auth {
            Some(sealed) => Some(
                self.open_auth(sealed)
                    .map_err(|e| RunnerError::start_failed(StateReason::StartFailed, e))?,
            ),
            None => None,
        };
        let env: Vec<(String, String)> = match &p.env_sealed {
            Some(sealed) => {
                let plain = self
                    .sealer
                    .open(sealed)
                    .map_err(|e| RunnerError::start_failed(StateReason::StartFailed, e))?;
                serde_json::from_slice::<std::collections::BTreeMap<String, String>>(&plain)
                    .map_err(|e| RunnerError::start_failed(StateReason::StartFailed, e))?
                    .into_iter()
                    .collect()
            }
            None => Vec::new(),
        };
        // The root is read-only: tools that write under $HOME get the writable /tmp, unless the
        // caller says otherwise.
        let mut env = env;
        if !env.iter().any(|(k, _)| k == "HOME") {
            env.insert(0, ("HOME".into(), "/tmp".into()));
        }
        let image = self.resolve_image(&p.sandbox.image, &p.docker_image).await;
        if let Some(template) = sbx_limits::templates::template_of(&image) {
            self.ensure_template(sbx_core::ids::TemplateId(template), p.sandbox.project_id)
                .await
                .map_err(|e| RunnerError::start_failed(StateReason::ImagePullFailed, e))?;
        }
        self.backend
            .ensure_image(&image, auth.as_ref())
            .await
            .map_err(|e| match e {
                RunnerError::ImagePullFailed(m) | RunnerError::ImageMissing(m) => {
                    RunnerError::start_failed(StateReason::ImagePullFailed, m)
                }
                other => RunnerError::start_failed(StateReason::StartFailed, other),
            })?;
        self.check_owner(&image, p.sandbox.project_id)
            .await
            .map_err(|e| RunnerError::start_failed(StateReason::ImagePullFailed, e))?;
        let gpu = p.sandbox.gpu.as_ref().and_then(|_| {
            let books = self.books.lock().expect("books lock");
            let a = books.ledger.allocation(&id.to_string())?;
            let card = books
                .ledger
                .cards()
                .find(|c| a.card_uuids.first() == Some(&c.uuid))?;
            let fraction = f64::from(a.quarters_per_card) / 4.0;
            if card.declared {
                // No real card backs a declared one: Docker would refuse a device request for
                // it. The container is told what it was given, as a real one would be.
                env.push(("NVIDIA_VISIBLE_DEVICES".into(), a.card_uuids.join(",")));
                if fraction < 1.0 {
                    env.push((
                        "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE".into(),
                        format!("{}", (fraction * 100.0).round() as u32),
                    ));
                }
                env.push(("SBX_GPU_DECLARED".into(), "1".into()));
                return None;
            }
            Some(GpuAssignment {
                uuids: a.card_uuids.clone(),
                fraction,
                device_memory_bytes: Some(card.memory_bytes).filter(|m| *m > 0),
            })
        });
        let command = p
            .sandbox
            .command
            .clone()
            .unwrap_or_else(|| KEEP_ALIVE.iter().map(|s| (*s).to_owned()).collect());
        let egress = match &p.sandbox.egress {
            Some(entries) => {
                let opened = self.open_egress(id, entries).await?;
                env.extend(opened.env);
                Some((opened.network, opened.gateway))
            }
            None => None,
        };
        let spec = ContainerSpec {
            name: format!("sbx-{}", id.0.simple()),
            image,
            command: Some(command),
            env,
            cpu_millis: p.sandbox.cpu_millis as u32,
            memory_bytes: p.sandbox.memory_bytes as u64,
            pids_limit: PIDS_LIMIT,
            network: p.sandbox.network,
            egress,
            gpu,
            workspace,
            outputs,
            labels: vec![
                ("sbx.sandbox".into(), id.to_string()),
                ("sbx.project".into(), p.sandbox.project_id.to_string()),
                ("sbx.runner".into(), self.runner.to_string()),
                ("sbx.database".into(), self.database.clone()),
            ],
        };
        // A container of this name left by an earlier placement that failed half-way.
        let _ = self.backend.stop_and_remove(&spec.name).await;
        self.backend
            .start(&spec)
            .await
            .map_err(|e| RunnerError::start_failed(StateReason::StartFailed, e))
    }

    /// If sandbox `id`'s disk cap is full (as a guest sees it): says so, in words.
    fn full_disk(&self, id: SandboxId) -> Option<String> {
        let (root, cap) = {
            let books = self.books.lock().expect("books lock");
            let h = books.held.get(&id)?;
            (h.root.clone(), h.sandbox.disk_bytes as u64)
        };
        crate::disk::image_is_full(&crate::disk::mount_path(&root), cap).then(|| {
            format!(
                "its disk cap of {} MiB (/workspace and /outputs) was full",
                cap >> 20
            )
        })
    }

    /// Give placement `root` its filesystem capped at `bytes` (see [`crate::disk::ensure_image`]).
    async fn ensure_disk(&self, root: &std::path::Path, bytes: i64) -> Result<()> {
        let root = root.to_owned();
        tokio::task::spawn_blocking(move || crate::disk::ensure_image(&root, bytes as u64))
            .await
            .map_err(|e| RunnerError::start_failed(StateReason::StartFailed, e))?
            .map_err(|e| RunnerError::start_failed(StateReason::StartFailed, e))
    }

    /// The image to run for catalog name or reference `image`: the catalog's local build when
    /// this host has it, else `reference`.
    pub(super) async fn resolve_image(&self, image: &str, reference: &str) -> String {
        if let Some(local) = sbx_limits::catalog::find(image).and_then(|c| c.local_image.clone())
            && self.backend.docker().inspect_image(&local).await.is_ok()
        {
            return local;
        }
        reference.to_owned()
    }

    pub(super) fn open_auth(&self, sealed: &[u8]) -> Result<RegistryAuth> {
        let damaged = |e: &dyn std::fmt::Display| RunnerError::Damaged(e.to_string());
        let plain = self.sealer.open(sealed).map_err(|e| damaged(&e))?;
        let v: serde_json::Value = serde_json::from_slice(&plain).map_err(|e| damaged(&e))?;
        Ok(RegistryAuth {
            username: v["username"].as_str().unwrap_or_default().to_owned(),
            password: v["password"].as_str().unwrap_or_default().to_owned(),
            server: v["server"].as_str().map(str::to_owned),
        })
    }

    /// Wait for container `container` of sandbox `id` to end by itself, and end the sandbox
    /// (and its job, with the job's output kept as its log as it comes).
    pub(super) async fn watch(&self, id: SandboxId, container: String) {
        let job = self.job_of(id).map(|(job, _)| job);
        // A job's log is its own; a sandbox's goes on over its placements.
        let owner = job.map_or(
            sbx_store::logs::Owner::Sandbox(id),
            sbx_store::logs::Owner::Job,
        );
        let logs = tokio::spawn(follow_logs(
            self.pool.clone(),
            self.backend.clone(),
            container.clone(),
            owner,
        ));
        let exit = self.backend.wait(&container).await;
        // The log is complete before the job or sandbox ends: readers stop at the end.
        let _ = tokio::time::timeout(Duration::from_secs(10), logs).await;
        let leaving = self
            .books
            .lock()
            .expect("books lock")
            .held
            .get(&id)
            // Paused or removed by us; or paused and placed again, as another container.
            .is_none_or(|h| h.leaving || h.container.as_deref() != Some(container.as_str()));
        if leaving {
            return;
        }
        // A command that failed with its disk cap full failed because of it.
        let disk_note = exit
            .as_ref()
            .is_ok_and(|e| e.exit_code != 0 && !e.oom_killed)
            .then(|| self.full_disk(id))
            .flatten();
        let (to, reason, detail) = match &exit {
            Ok(e) if e.oom_killed => (
                SandboxState::Failed,
                StateReason::Oom,
                format!("the container ran out of memory (exit {})", e.exit_code),
            ),
            Ok(e) if e.exit_code == 0 => (
                SandboxState::Terminated,
                StateReason::Exited,
                "its command exited with 0".into(),
            ),
            Ok(e) => (
                SandboxState::Failed,
                StateReason::Exited,
                match &disk_note {
                    Some(n) => format!("its command exited with {}; {n}", e.exit_code),
                    None => format!("its command exited with {}", e.exit_code),
                },
            ),
            Err(e) => (
                SandboxState::Failed,
                StateReason::RunnerError,
                e.to_string(),
            ),
        };
        if let (Some(job), Ok(e)) = (job, exit) {
            let status = if e.oom_killed {
                ExecStatus::MemoryLimit
            } else if e.exit_code == 0 {
                ExecStatus::Succeeded
            } else if disk_note.is_some() {
                ExecStatus::DiskLimit
            } else {
                ExecStatus::Failed
            };
            let why = disk_note.as_deref();
            self.finish_job(id, job, status, Some(e.exit_code), e.oom_killed, why)
                .await;
        }
        if let Err(e) = sandboxes::transition(
            &self.pool,
            id,
            Transition::new(&[SandboxState::Running], to, reason).detail(&detail),
        )
        .await
        {
            tracing::warn!(sandbox = %id, error = %e, "could not record a container's end");
        }
        self.remove(id).await;
    }

    /// Stop sandbox `id`'s container, if it has one here.
    pub(super) async fn stop(&self, id: SandboxId) {
        let container = self
            .books
            .lock()
            .expect("books lock")
            .held
            .get_mut(&id)
            .and_then(|h| {
                h.leaving = true;
                h.container.clone()
            });
        if let Some(c) = container {
            let stop = bollard::query_parameters::StopContainerOptionsBuilder::new()
                .t(crate::container::STOP_GRACE_SECS)
                .build();
            let _ = self.backend.docker().stop_container(&c, Some(stop)).await;
        }
    }

    /// Let sandbox `id` go: its container, folders and share. Its last stretch of running
    /// time is metered first.
    pub(super) async fn remove(&self, id: SandboxId) {
        let (container, last) = {
            let mut books = self.books.lock().expect("books lock");
            match books.held.get_mut(&id) {
                Some(h) => {
                    h.leaving = true;
                    let tail = h
                        .last
                        .take()
                        .map(|(_, then)| self.sample(h, id, then.elapsed().as_secs_f64(), None));
                    (h.container.clone(), tail)
                }
                None => return,
            }
        };
        if let Some(sample) = last
            && let Err(e) = sbx_store::usage::insert(&self.pool, &[sample]).await
        {
            tracing::warn!(sandbox = %id, error = %e, "could not meter a sandbox's last seconds");
        }
        if let Some(c) = container
            && let Err(e) = self.backend.stop_and_remove(&c).await
        {
            tracing::warn!(sandbox = %id, error = %e, "could not remove a container");
        }
        if let Some(root) = self.root(id) {
            let _ = tokio::task::spawn_blocking(move || crate::disk::remove_root(&root)).await;
        }
        self.forget(id);
    }
}
