//! `sbx terminal SANDBOX`: an interactive shell in a container sandbox (`GET
//! /v1/sandboxes/{id}/pty`, a WebSocket), this terminal in raw mode: keys go to the shell as
//! they are typed, its output is printed as it comes, the window's size follows this one.
//! `Ctrl-]` detaches (the shell keeps running: `--pid` reattaches); the shell's `exit` ends it
//! with the shell's exit code.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use awc::ws::{Frame, Message};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};

use super::error::{CliError, CliResult};
use super::{Conn, Ctx};

/// The key that detaches: `Ctrl-]`, as telnet's.
const DETACH: u8 = 0x1d;
/// How often the window's size is looked at.
const SIZE_EVERY: Duration = Duration::from_millis(250);

/// Arguments of `sbx terminal`.
#[derive(Debug, clap::Args)]
pub struct TerminalArgs {
    /// The sandbox id (a running container sandbox).
    pub sandbox: String,
    /// Reattach to this terminal (its pid, as printed on detach) instead of starting a shell.
    #[arg(long)]
    pub pid: Option<u32>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub conn: Conn,
}

/// Run `sbx terminal`: the shell's exit code, 0 when detached.
///
/// # Errors
/// The server refused the terminal (the sandbox is not a running container, `--pid` is not a
/// running terminal), the connection failed, or this is not a terminal.
pub async fn run(args: TerminalArgs) -> CliResult<i32> {
    use crossterm::tty::IsTty as _;
    if !std::io::stdin().is_tty() {
        return Err(CliError::Input(
            "sbx terminal needs a terminal on its standard input; use `sbx process` for scripts"
                .into(),
        ));
    }
    let ctx = Ctx::new(&args.conn)?;
    let (cols, rows) = window_size().unwrap_or((80, 24));
    let mut path = format!(
        "/v1/sandboxes/{}/pty?cols={cols}&rows={rows}",
        super::client::percent_encode(&args.sandbox)
    );
    if let Some(pid) = args.pid {
        path.push_str(&format!("&pid={pid}"));
    }
    let (_, mut socket) = match ctx.api.ws(&path).connect().await {
        Ok(joined) => joined,
        Err(awc::error::WsClientError::InvalidResponseStatus(status)) => {
            return Err(why_refused(&ctx, &args, status.as_u16()).await);
        }
        Err(e) => {
            return Err(CliError::Unreachable {
                url: ctx.api.url.clone(),
                reason: e.to_string(),
            });
        }
    };
    let keys = read_keys();
    crossterm::terminal::enable_raw_mode().map_err(CliError::io("entering raw mode"))?;
    let ended = pump(&mut socket, keys, (cols, rows)).await;
    let _ = crossterm::terminal::disable_raw_mode();
    let mut stderr = std::io::stderr();
    match ended {
        Ended::Exit(code) => Ok(code),
        Ended::Detached(pid) => {
            let _ = writeln!(
                stderr,
                "\ndetached: the shell keeps running; reattach with `sbx terminal {} --pid {pid}`",
                args.sandbox
            );
            Ok(0)
        }
        Ended::Broken(why) => Err(CliError::Unreachable {
            url: ctx.api.url.clone(),
            reason: why,
        }),
    }
}

/// How a session ended.
enum Ended {
    /// The shell exited with this code (-1 when unrecorded).
    Exit(i32),
    /// `Ctrl-]`: terminal `pid` runs on.
    Detached(u64),
    /// The connection broke.
    Broken(String),
}

/// Carry keys to the socket and its output to this terminal until one ends.
async fn pump<S>(
    socket: &mut S,
    mut keys: tokio::sync::mpsc::Receiver<Vec<u8>>,
    mut size: (u16, u16),
) -> Ended
where
    S: futures_util::Stream<Item = Result<Frame, awc::error::WsProtocolError>>
        + futures_util::Sink<Message>
        + Unpin,
{
    let mut stdout = std::io::stdout();
    let mut pid = 0;
    let mut look = tokio::time::interval(SIZE_EVERY);
    loop {
        tokio::select! {
            frame = socket.next() => match frame {
                Some(Ok(Frame::Binary(out))) => {
                    let _ = stdout.write_all(&out);
                    let _ = stdout.flush();
                }
                Some(Ok(Frame::Text(text))) => {
                    let message: Value = serde_json::from_slice(&text).unwrap_or_default();
                    match message["type"].as_str() {
                        Some("ready") => pid = message["pid"].as_u64().unwrap_or_default(),
                        Some("exit") => {
                            let code = message["exit_code"].as_i64().unwrap_or(-1);
                            return Ended::Exit(i32::try_from(code).unwrap_or(-1));
                        }
                        _ => {
                            let detail = message["detail"].as_str().unwrap_or_default();
                            let _ = write!(std::io::stderr(), "\r\nsbx: {detail}\r\n");
                        }
                    }
                }
                Some(Ok(Frame::Ping(data))) => {
                    let _ = socket.send(Message::Pong(data)).await;
                }
                Some(Ok(Frame::Close(reason))) => {
                    return Ended::Broken(format!("the server closed the terminal ({reason:?})"));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Ended::Broken(e.to_string()),
                None => return Ended::Broken("the connection ended".into()),
            },
            typed = keys.recv() => {
                let Some(mut typed) = typed else {
                    return Ended::Detached(pid);
                };
                let detach = typed.iter().position(|&b| b == DETACH);
                if let Some(at) = detach {
                    typed.truncate(at);
                }
                if !typed.is_empty()
                    && socket.send(Message::Binary(typed.into())).await.is_err()
                {
                    return Ended::Broken("the connection ended".into());
                }
                if detach.is_some() {
                    let _ = socket.send(Message::Close(None)).await;
                    return Ended::Detached(pid);
                }
            }
            _ = look.tick() => {
                let now = window_size().unwrap_or(size);
                if now != size {
                    size = now;
                    let resize = json!({"type": "resize", "cols": now.0, "rows": now.1});
                    let _ = socket.send(Message::Text(resize.to_string().into())).await;
                }
            }
        }
    }
}

/// This terminal's size (columns, rows), unless it has none (a pseudo-terminal nobody sized
/// says 0 × 0).
fn window_size() -> Option<(u16, u16)> {
    crossterm::terminal::size()
        .ok()
        .filter(|&(cols, rows)| cols > 0 && rows > 0)
}

/// This terminal's keys as they are typed, read on a thread of their own (a read of stdin
/// blocks); the channel closes at end of input.
fn read_keys() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = stdin.read(&mut buf) {
            if tx.blocking_send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

/// Why the server refused the upgrade (a WebSocket client gets no problem body): the problem
/// the same sandbox or process gives on a plain request, else the status.
async fn why_refused(ctx: &Ctx, args: &TerminalArgs, status: u16) -> CliError {
    let sandbox = super::client::percent_encode(&args.sandbox);
    let path = match args.pid {
        Some(pid) => format!("/v1/sandboxes/{sandbox}/processes/{pid}"),
        None => format!("/v1/sandboxes/{sandbox}/processes"),
    };
    match ctx.api.get(&path).await {
        Err(e) => e,
        Ok(info) if info["tty"] == false => CliError::Input(format!(
            "process {} is not a terminal (HTTP {status})",
            args.pid.unwrap_or_default()
        )),
        Ok(_) => CliError::Api {
            status,
            code: "refused".into(),
            detail: "the server refused the terminal".into(),
            field: None,
        },
    }
}
