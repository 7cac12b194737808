//! WebSocket frames passed between two sockets: a client's, accepted with actix-ws, and one
//! this server opened (with awc, or over a connection into a sandbox): the API's terminals and
//! ports, and the runner's side of a port.

use std::time::Duration;

use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use awc::ws::Frame;
use futures_util::{SinkExt as _, StreamExt as _};

/// How often an idle socket is pinged, so that proxies keep it; a peer that sends nothing for
/// two of these is taken for gone.
pub const PING_EVERY: Duration = Duration::from_secs(30);

/// How long the far end has to answer a close.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Pass frames between the client (`session`, `stream`: a socket this server accepted, taking
/// frames of at most `max_frame` bytes from it) and the far end (`joined`: a socket this server
/// opened, to a runner or to a server in a sandbox) until either closes, or goes silent for two
/// pings ([`PING_EVERY`] apart). A close from one side is passed to the other, and the far end's
/// answer to it awaited.
pub async fn relay<J>(mut session: Session, stream: MessageStream, joined: J, max_frame: usize)
where
    J: futures_util::Stream<Item = Result<Frame, awc::error::WsProtocolError>>
        + futures_util::Sink<Message>
        + Unpin,
{
    let mut client = stream.max_frame_size(max_frame);
    let (mut to_far, mut from_far) = joined.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.reset();
    let (mut client_heard, mut far_heard) =
        (tokio::time::Instant::now(), tokio::time::Instant::now());
    let close: Option<CloseReason> = loop {
        tokio::select! {
            frame = from_far.next() => {
                far_heard = tokio::time::Instant::now();
                let sent = match frame {
                    Some(Ok(Frame::Binary(data))) => session.binary(data).await,
                    Some(Ok(Frame::Text(data))) => match String::from_utf8(data.to_vec()) {
                        Ok(text) => session.text(text).await,
                        Err(_) => break Some(CloseCode::Invalid.into()),
                    },
                    Some(Ok(Frame::Continuation(item))) => session.continuation(item).await,
                    Some(Ok(Frame::Ping(data))) => {
                        let _ = to_far.send(Message::Pong(data)).await;
                        Ok(())
                    }
                    Some(Ok(Frame::Pong(_))) => Ok(()),
                    Some(Ok(Frame::Close(reason))) => break reason,
                    Some(Err(_)) | None => break Some(CloseReason {
                        code: CloseCode::Away,
                        description: Some("the far end's connection ended".into()),
                    }),
                };
                if sent.is_err() {
                    let _ = to_far.send(Message::Close(None)).await;
                    return;
                }
            }
            message = client.recv() => {
                client_heard = tokio::time::Instant::now();
                let message = match message {
                    Some(Ok(Message::Ping(data))) => {
                        if session.pong(&data).await.is_err() {
                            break None;
                        }
                        continue;
                    }
                    Some(Ok(Message::Pong(_) | Message::Nop)) => continue,
                    Some(Ok(Message::Close(reason))) => {
                        let _ = to_far.send(Message::Close(reason.clone())).await;
                        let _ = session.close(reason).await;
                        closed_by_far_end(from_far).await;
                        return;
                    }
                    Some(Ok(m)) => m,
                    Some(Err(e)) => {
                        let reason = CloseReason {
                            code: CloseCode::Protocol,
                            description: Some(e.to_string()),
                        };
                        let _ = to_far.send(Message::Close(None)).await;
                        let _ = session.close(Some(reason)).await;
                        closed_by_far_end(from_far).await;
                        return;
                    }
                    None => {
                        let _ = to_far.send(Message::Close(None)).await;
                        closed_by_far_end(from_far).await;
                        return;
                    }
                };
                if to_far.send(message).await.is_err() {
                    break Some(CloseReason {
                        code: CloseCode::Away,
                        description: Some("the far end's connection ended".into()),
                    });
                }
            }
            _ = ping.tick() => {
                let silent = |since: tokio::time::Instant| since.elapsed() > 2 * PING_EVERY;
                if silent(client_heard) || silent(far_heard) {
                    break Some(CloseReason {
                        code: CloseCode::Away,
                        description: Some("no answer to two pings".into()),
                    });
                }
                let pinged = to_far.send(Message::Ping(bytes::Bytes::new())).await;
                if pinged.is_err() || session.ping(b"").await.is_err() {
                    break None;
                }
            }
        }
    };
    let _ = to_far.send(Message::Close(None)).await;
    let _ = session.close(close).await;
    closed_by_far_end(from_far).await;
}

/// Wait (at most [`CLOSE_WAIT`]) for the far end to answer the close just sent, reading what
/// it still sends: a socket closed with output unread is reset, and a reset drops what the
/// far end had received but not yet read (in a terminal, the last keys typed before the close).
async fn closed_by_far_end<R>(mut from_far: R)
where
    R: futures_util::Stream<Item = Result<Frame, awc::error::WsProtocolError>> + Unpin,
{
    let drained = async {
        while let Some(Ok(frame)) = from_far.next().await {
            if matches!(frame, Frame::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_WAIT, drained).await;
}
