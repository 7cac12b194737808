//! The process tools: `start_process`, `process_output` and `stop_process`, on a container
//! sandbox's background processes, through the runner that runs it
//! ([`crate::runner_endpoint::call_whole`]), as `/v1/sandboxes/{id}/processes…` answers.

use std::time::Duration;

use actix_web::http::Method;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use serde_json::{Value, json};

use super::args::{Args, ProcessArg, ProcessOutput, StartProcess};
use super::files::{Refusal, relayed};
use super::tools::{Tools, caller, file_answer};
use crate::AppState;
use crate::auth::Caller;

/// Most characters of each stream `process_output` returns (the last ones).
const MAX_TEXT: usize = 64 << 10;

/// `method` of `…/processes{rest}` on sandbox `id`'s runner with the JSON `body`: the answer's
/// JSON (a log stream's text as a string), or why it was refused.
async fn relay(
    state: &AppState,
    caller: &Caller,
    id: &str,
    method: Method,
    rest: &str,
    body: Option<Value>,
) -> Result<(Value, String), Refusal> {
    let sandbox = crate::routes::sandboxes::sandbox_id(id)?;
    let (url, token) =
        crate::routes::sandboxes::files::runner_of(state, caller.0.project_id, sandbox).await?;
    let body = body.map(|b| ("application/json", bytes::Bytes::from(b.to_string())));
    let path = format!("/v1/sandboxes/{sandbox}/processes{rest}");
    let whole =
        crate::runner_endpoint::call_whole(method, &url, &path, &token, body, 16 << 20).await?;
    let whole = relayed(whole)?;
    let text = String::from_utf8_lossy(&whole.body).into_owned();
    Ok((serde_json::from_str(&text).unwrap_or(Value::Null), text))
}

/// The tail of `s` of at most [`MAX_TEXT`] bytes (on a character boundary), and whether it
/// was cut.
fn tail(s: &str) -> (&str, bool) {
    if s.len() <= MAX_TEXT {
        return (s, false);
    }
    let mut start = s.len() - MAX_TEXT;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    (&s[start..], true)
}

/// A log stream's events (`id`, `event`, `data` parsed) from its Server-Sent Events text.
fn events(text: &str) -> Vec<(String, String, Value)> {
    text.split("\n\n")
        .filter_map(|e| {
            let field = |name: &str| {
                e.lines()
                    .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(": ")))
            };
            let data = serde_json::from_str(field("data")?).ok()?;
            Some((field("id")?.to_owned(), field("event")?.to_owned(), data))
        })
        .collect()
}

#[tool_router(router = process_tools, vis = "pub(super)")]
impl Tools {
    /// `POST /v1/sandboxes/{id}/processes`.
    #[tool(
        description = "Start a long-running process in the background in a container sandbox (a server, a watcher, a training run): a shell command line run with sh -c. Returns at once with JSON holding its pid and state; read what it prints with process_output, end it with stop_process. Processes stop when the sandbox pauses."
    )]
    async fn start_process(
        &self,
        Parameters(Args(args)): Parameters<Args<StartProcess>>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let run = async {
            let caller = caller(&ctx)?;
            let mut spec = json!({"command": ["sh", "-c", args.command]});
            for (name, value) in [
                ("env", json!(args.env)),
                ("cwd", json!(args.cwd)),
                ("timeout_ms", json!(args.timeout_ms)),
                ("tag", json!(args.tag)),
            ] {
                if !value.is_null() {
                    spec[name] = value;
                }
            }
            let (info, _) = relay(
                &self.state,
                &caller,
                &args.sandbox_id,
                Method::POST,
                "",
                Some(spec),
            )
            .await?;
            Ok(info)
        };
        file_answer(run.await)
    }

    /// `GET /v1/sandboxes/{id}/processes/{pid}` and `…/logs?follow=false`.
    #[tool(
        description = "Read what a background process printed so far (without waiting) and whether it still runs: JSON with state (running/exited), exit_code, stdout, stderr (each the last 64 KiB at most) and last_event_id; pass that as after to read only newer output next time."
    )]
    async fn process_output(
        &self,
        Parameters(Args(args)): Parameters<Args<ProcessOutput>>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let run = async {
            let caller = caller(&ctx)?;
            let (id, pid) = (&args.sandbox_id, args.pid);
            let after = args.after.unwrap_or(0);
            // The process first, then its output: one that exits between the two has all its
            // output read, and its `end` tells how it ended.
            let this = format!("/{pid}");
            let (mut info, _) = relay(&self.state, &caller, id, Method::GET, &this, None).await?;
            let rest = format!("/{pid}/logs?follow=false&after={after}");
            let (_, text) = relay(&self.state, &caller, id, Method::GET, &rest, None).await?;
            let (mut stdout, mut stderr, mut last, mut dropped) =
                (String::new(), String::new(), after, false);
            for (event_id, event, data) in events(&text) {
                match (event.as_str(), data.as_str()) {
                    ("stdout", Some(t)) => stdout.push_str(t),
                    ("stderr", Some(t)) => stderr.push_str(t),
                    ("dropped", _) => dropped = true,
                    ("end", _) => {
                        info = data;
                        continue;
                    }
                    _ => {}
                }
                last = event_id.parse().unwrap_or(last);
            }
            let (out, out_cut) = tail(&stdout);
            let (err, err_cut) = tail(&stderr);
            Ok(json!({
                "pid": pid,
                "state": info["state"],
                "exit_code": info["exit_code"],
                "timed_out": info["timed_out"],
                "stdout": out,
                "stderr": err,
                "truncated": out_cut || err_cut || dropped,
                "last_event_id": last,
            }))
        };
        file_answer(run.await)
    }

    /// `POST /v1/sandboxes/{id}/processes/{pid}/signal`: `TERM`, then `KILL`.
    #[tool(
        description = "Stop a background process and everything it started: SIGTERM, then SIGKILL if it still runs after 3 seconds. Returns the process as JSON (state, exit_code)."
    )]
    async fn stop_process(
        &self,
        Parameters(Args(args)): Parameters<Args<ProcessArg>>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let run = async {
            let caller = caller(&ctx)?;
            let (id, pid) = (&args.sandbox_id, args.pid);
            let this = format!("/{pid}");
            let signal = format!("/{pid}/signal");
            for (name, wait) in [("TERM", 30), ("KILL", 20)] {
                let sent = relay(
                    &self.state,
                    &caller,
                    id,
                    Method::POST,
                    &signal,
                    Some(json!({ "signal": name })),
                )
                .await;
                // Exited meanwhile: what it is now is the answer.
                if let Err(Refusal::Relayed(text)) = &sent
                    && text.contains("process_exited")
                {
                    break;
                }
                sent?;
                for _ in 0..wait {
                    let (info, _) =
                        relay(&self.state, &caller, id, Method::GET, &this, None).await?;
                    if info["state"] == "exited" {
                        return Ok(info);
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            Ok(relay(&self.state, &caller, id, Method::GET, &this, None)
                .await?
                .0)
        };
        file_answer(run.await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_and_tails() {
        let text = "id: 2\nevent: dropped\ndata: {\"first\":3}\n\nid: 3\nevent: stdout\ndata: \"a\\n\"\n\n";
        let e = events(text);
        assert_eq!(e.len(), 2);
        assert_eq!((e[1].0.as_str(), e[1].1.as_str()), ("3", "stdout"));
        assert_eq!(e[1].2, json!("a\n"));
        let long = format!("é{}", "x".repeat(MAX_TEXT));
        let (t, cut) = tail(&long);
        assert!(cut && t.len() <= MAX_TEXT && t.chars().all(|c| c == 'x'));
        assert_eq!(tail("short"), ("short", false));
    }
}
