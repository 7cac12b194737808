//! A container sandbox's terminal from the outside: `GET /v1/sandboxes/{id}/pty` as a
//! WebSocket client drives it (keystrokes, resize, reattach with the output replayed, exit,
//! refusals, a pause ending it), here and through a separate `sbx runner` process's internal
//! endpoint. On the local Docker daemon with the offline test image (`sbx/python:local`).

mod common;

use std::time::Duration;

use awc::ws::{Frame, Message};
use common::{TestApp, spawn_api_only, spawn_app, start_runner, wait_sandbox};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};

/// What a test reads from and writes to: the client's side of the socket.
trait Socket:
    futures_util::Stream<Item = Result<Frame, awc::error::WsProtocolError>>
    + futures_util::Sink<Message, Error = awc::error::WsProtocolError>
    + Unpin
{
}

impl<T> Socket for T where
    T: futures_util::Stream<Item = Result<Frame, awc::error::WsProtocolError>>
        + futures_util::Sink<Message, Error = awc::error::WsProtocolError>
        + Unpin
{
}

/// Open the terminal of sandbox `id` with `query`: its pid (from the `ready` message) and the
/// socket; or the status that refused the upgrade.
async fn open(app: &TestApp, id: &str, query: &str) -> Result<(u64, impl Socket + use<>), u16> {
    let url = format!("{}/v1/sandboxes/{id}/pty?{query}", app.base);
    let (_, mut socket) = match awc::Client::new()
        .ws(url)
        .bearer_auth(&app.key)
        .connect()
        .await
    {
        Ok(joined) => joined,
        Err(awc::error::WsClientError::InvalidResponseStatus(s)) => return Err(s.as_u16()),
        Err(e) => panic!("connecting: {e}"),
    };
    let ready = next_text(&mut socket).await;
    assert_eq!(ready["type"], "ready", "{ready}");
    Ok((ready["pid"].as_u64().unwrap(), socket))
}

/// The next text message (output before it is skipped), parsed.
async fn next_text(socket: &mut impl Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("a message within 30 s")
            .expect("the socket is open")
            .expect("a frame");
        match frame {
            Frame::Text(t) => return serde_json::from_slice(&t).unwrap(),
            Frame::Close(reason) => panic!("closed: {reason:?}"),
            _ => {}
        }
    }
}

/// Type `keys`.
async fn send(socket: &mut impl Socket, keys: &str) {
    let keys = keys.as_bytes().to_vec();
    socket.send(Message::Binary(keys.into())).await.unwrap();
}

/// The output read until it holds `needle` (within 30 s, else a panic showing it).
async fn read_until(socket: &mut impl Socket, needle: &str) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !seen.contains(needle) {
        let frame = tokio::time::timeout_at(deadline, socket.next())
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} within 30 s in {seen:?}"))
            .expect("the socket is open")
            .expect("a frame");
        match frame {
            Frame::Binary(b) => seen.push_str(&String::from_utf8_lossy(&b)),
            Frame::Text(t) => panic!("{needle:?} not seen before {t:?}: {seen:?}"),
            Frame::Close(r) => panic!("{needle:?} not seen before the close {r:?}: {seen:?}"),
            _ => {}
        }
    }
    seen
}

/// The `exit` message, then the close.
async fn exited(socket: &mut impl Socket) -> Value {
    let exit = next_text(socket).await;
    assert_eq!(exit["type"], "exit", "{exit}");
    loop {
        match socket.next().await {
            Some(Ok(Frame::Close(_))) | None => return exit,
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("{e}"),
        }
    }
}

/// Close the socket as a client should: a close sent, the server's awaited (what the server
/// still sends is read), so that nothing typed before is lost to a reset.
async fn close(mut socket: impl Socket) {
    socket.send(Message::Close(None)).await.unwrap();
    let closed = async {
        while let Some(Ok(frame)) = socket.next().await {
            if matches!(frame, Frame::Close(_)) {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), closed)
        .await
        .expect("the server answered the close within 30 s");
}

/// The terminal's entry among the sandbox's processes.
async fn listed(app: &TestApp, id: &str, pid: u64) -> Value {
    let a = app
        .get(&format!("/v1/sandboxes/{id}/processes/{pid}"))
        .await;
    assert_eq!(a.status.as_u16(), 200, "{}", a.text);
    a.body
}

#[actix_web::test]
async fn a_containers_terminal() {
    let app = spawn_app().await;
    let id = common::small_container(&app).await;

    // Keystrokes in, output out; the size asked for, then a resize.
    let (pid, mut term) = open(&app, &id, "cols=100&rows=40").await.unwrap();
    send(&mut term, "echo hi-$((6*7))\n").await;
    read_until(&mut term, "hi-42").await;
    send(&mut term, "stty size\n").await;
    read_until(&mut term, "40 100").await;
    let resize = json!({"type": "resize", "cols": 120, "rows": 50}).to_string();
    term.send(Message::Text(resize.into())).await.unwrap();
    send(&mut term, "stty size; tty; echo do''ne\n").await;
    let out = read_until(&mut term, "done").await;
    assert!(out.contains("50 120") && out.contains("/dev/pts/"), "{out}");
    assert!(!out.contains("not a tty"), "{out}");
    let bad = json!({"type": "resize", "cols": 0, "rows": 5}).to_string();
    term.send(Message::Text(bad.into())).await.unwrap();
    let error = next_text(&mut term).await;
    assert_eq!(error["type"], "error", "{error}");
    assert!(
        error["detail"].as_str().unwrap().contains("cols"),
        "{error}"
    );
    // Output bigger than a frame comes whole, in frames every client takes.
    send(
        &mut term,
        "head -c 200000 /dev/zero | tr '\\0' x; echo; echo big-do''ne\n",
    )
    .await;
    let out = read_until(&mut term, "big-done").await;
    assert!(out.matches('x').count() >= 200_000, "{}", out.len());
    let info = listed(&app, &id, pid).await;
    assert_eq!(info["tty"], true, "{info}");
    assert_eq!(info["state"], "running", "{info}");

    // Closing the socket leaves the shell; reattaching replays its output.
    send(&mut term, "export MARK=kept-$((1+1))\n").await;
    close(term).await;
    let (again, mut term) = open(&app, &id, &format!("pid={pid}")).await.unwrap();
    assert_eq!(again, pid);
    read_until(&mut term, "hi-42").await;
    send(&mut term, "echo $MARK\n").await;
    read_until(&mut term, "kept-2").await;
    send(&mut term, "exit 3\n").await;
    assert_eq!(exited(&mut term).await["exit_code"], 3);
    assert_eq!(listed(&app, &id, pid).await["state"], "exited");

    // Refusals, named before the upgrade.
    assert_eq!(
        open(&app, &id, &format!("pid={pid}")).await.err(),
        Some(409)
    );
    assert_eq!(open(&app, &id, "pid=999").await.err(), Some(404));
    let a = app
        .post(
            &format!("/v1/sandboxes/{id}/processes"),
            &json!({"command": ["sleep", "60"]}),
        )
        .await;
    let sleeper = a.body["pid"].as_u64().unwrap();
    assert_eq!(
        open(&app, &id, &format!("pid={sleeper}")).await.err(),
        Some(409)
    );
    let a = app.get(&format!("/v1/sandboxes/{id}/pty?cols=0")).await;
    a.assert_problem(422, "invalid_request");
    assert_eq!(a.body["field"], "cols", "{}", a.text);
    let a = app.get(&format!("/v1/sandboxes/{id}/pty")).await;
    assert_eq!(a.status.as_u16(), 400, "not an upgrade: {}", a.text);
    let url = format!("{}/v1/sandboxes/{id}/pty", app.base);
    let status = |r: Result<_, awc::error::WsClientError>| match r {
        Err(awc::error::WsClientError::InvalidResponseStatus(s)) => s.as_u16(),
        Err(e) => panic!("{e}"),
        Ok(_) => 101,
    };
    let no_key = awc::Client::new().ws(&url).connect().await;
    assert_eq!(status(no_key), 401);
    // A dashboard session opens one from this server's own pages only.
    common::people::person(&app, "ada@example.com").await;
    let s = common::people::signed_in(&app, "ada@example.com").await;
    let host = app.base.trim_start_matches("http://").to_owned();
    for (origin, expected) in [
        ("http://elsewhere.example".to_owned(), 403),
        (format!("http://{host}"), 101),
    ] {
        let opened = awc::Client::new()
            .ws(&url)
            .origin(origin.as_str())
            .set_header("cookie", s.cookie.as_str())
            .connect()
            .await;
        assert_eq!(status(opened), expected, "{origin}");
    }

    // A pause ends an open terminal; a paused sandbox opens none.
    let (_, mut term) = open(&app, &id, "").await.unwrap();
    send(&mut term, "echo u''p\n").await;
    read_until(&mut term, "up").await;
    let a = app.sandbox_action(&id, "pause").await;
    assert_eq!(a.body["state"], "paused", "{}", a.text);
    exited(&mut term).await;
    assert_eq!(open(&app, &id, "").await.err(), Some(409));
    app.sandbox_action(&id, "resume").await;
    wait_sandbox(&app, &id, "running", 60).await;
    common::delete_sandbox(&app, &id).await;
    assert_eq!(open(&app, &id, "").await.err(), Some(409));
    let interpreter = common::interpreters::session(&app, json!({})).await;
    assert_eq!(open(&app, &interpreter, "").await.err(), Some(409));
}

#[actix_web::test]
async fn an_api_without_docker_opens_a_terminal_on_another_runner() {
    let (app, db) = spawn_api_only().await;
    let mut runner = start_runner(&db, 5);
    let id = common::small_container(&app).await;
    let (pid, mut term) = open(&app, &id, "").await.unwrap();
    send(&mut term, "echo far-$((40+2))\n").await;
    read_until(&mut term, "far-42").await;
    close(term).await;
    let (_, mut term) = open(&app, &id, &format!("pid={pid}")).await.unwrap();
    read_until(&mut term, "far-42").await;
    send(&mut term, "exit\n").await;
    assert_eq!(exited(&mut term).await["exit_code"], 0);
    assert_eq!(
        open(&app, &id, &format!("pid={pid}")).await.err(),
        Some(409)
    );
    common::delete_sandbox(&app, &id).await;
    runner.kill().unwrap();
    runner.wait().unwrap();
}
