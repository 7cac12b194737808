//! `terminal`: keystroke echo round trips in a container sandbox's terminal (`GET
//! /v1/sandboxes/{id}/pty`): a key sent, the time until the shell's echo of it comes back,
//! through the API, against the same terminal reached straight at the runner's internal
//! endpoint (what the API's hop adds).

use std::time::Instant;

use anyhow::bail;
use awc::ws::{Frame, Message};
use futures_util::{SinkExt as _, StreamExt as _};

use crate::server::*;

/// Echo round trips (ms) of `count` keys typed into the terminal at `url` (with `token`):
/// each a letter, its echo awaited, then a backspace (its erase awaited, untimed).
async fn echoes(url: &str, token: &str, count: usize) -> anyhow::Result<Vec<f64>> {
    let (_, mut ws) = awc::Client::new()
        .ws(url)
        .bearer_auth(token)
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("opening {url}: {e}"))?;
    // An empty prompt, so that each key's echo is all that comes back.
    type_and_wait(&mut ws, b"PS1=; echo rea''dy\n", &[b"ready"]).await?;
    let mut took = Vec::with_capacity(count);
    for i in 0..count {
        let key = b'a' + (i % 26) as u8;
        let t = Instant::now();
        type_and_wait(&mut ws, &[key], &[&[key]]).await?;
        took.push(t.elapsed().as_secs_f64() * 1e3);
        // Readline erases with a backspace, or by redrawing the line (CR, erase to its end).
        type_and_wait(&mut ws, b"\x7f", &[b"\x08", b"\x1b[K"]).await?;
    }
    type_and_wait(&mut ws, b"\nexit\n", &[]).await.ok();
    Ok(took)
}

/// Send `keys`, then read output until it holds one of `until` (none: send only).
async fn type_and_wait<S>(ws: &mut S, keys: &[u8], until: &[&[u8]]) -> anyhow::Result<()>
where
    S: futures_util::Stream<Item = Result<Frame, awc::error::WsProtocolError>>
        + futures_util::Sink<Message, Error = awc::error::WsProtocolError>
        + Unpin,
{
    ws.send(Message::Binary(keys.to_vec().into())).await?;
    let mut seen = Vec::new();
    let holds = |seen: &[u8]| until.iter().any(|u| seen.windows(u.len()).any(|w| w == *u));
    while !until.is_empty() && !holds(&seen) {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next());
        match next.await {
            Ok(Some(Ok(Frame::Binary(b)))) => seen.extend_from_slice(&b),
            Ok(Some(Ok(Frame::Text(_) | Frame::Ping(_) | Frame::Pong(_)))) => {}
            Ok(other) => bail!("the terminal ended: {other:?}"),
            Err(_) => bail!(
                "no {:?} in 10 s after {:?}; the terminal wrote {:?}",
                until
                    .iter()
                    .map(|u| String::from_utf8_lossy(u))
                    .collect::<Vec<_>>(),
                String::from_utf8_lossy(keys),
                String::from_utf8_lossy(&seen)
            ),
        }
    }
    Ok(())
}

pub(crate) async fn terminal(count: usize) -> anyhow::Result<()> {
    let server = Server::start(&[
        ("SBX_RATE_PER_SECOND", "100000"),
        ("SBX_RATE_BURST", "100000"),
        ("SBX_SECRET_KEY", SECRET_KEY),
    ])
    .await?;
    let client = client();
    let result = async {
        let id = new_container(&client, &server).await?;
        let (base, token) = runner_endpoint(&server).await?;
        let through_api = format!("{}/v1/sandboxes/{id}/pty", server.base);
        let direct = format!("{base}/internal/v1/sandboxes/{id}/pty");
        // Warm both paths once.
        echoes(&through_api, &server.key, 5).await?;
        echoes(&direct, &token, 5).await?;
        let mut api = echoes(&through_api, &server.key, count).await?;
        let mut runner = echoes(&direct, &token, count).await?;
        latency_table(vec![
            ("key → echo through the API (/v1/…/pty)", &mut api),
            (
                "key → echo at the runner's endpoint (baseline)",
                &mut runner,
            ),
        ]);
        delete_sandbox(&client, &server, &id).await;
        anyhow::Ok(())
    }
    .await;
    server.stop().await?;
    result
}
