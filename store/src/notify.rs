//! LISTEN/NOTIFY: one dedicated connection per process listens on the queue's channels and
//! fans notifications out to in-process subscribers. It reconnects by itself; while it is down,
//! subscribers fall back to polling, so a lost notification costs latency, never a result.

use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::broadcast;

/// A notification: (channel, payload).
pub type Note = (String, String);

/// Subscribers' side of the listener.
#[derive(Clone)]
pub struct Notes(broadcast::Sender<Note>);

impl Notes {
    /// A new receiver of every notification from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Note> {
        self.0.subscribe()
    }
}

/// Listen on `channels` of the database at `url`, for as long as the process lives.
pub fn listen(url: String, channels: &'static [&'static str]) -> Notes {
    let (tx, _) = broadcast::channel(4096);
    let notes = Notes(tx.clone());
    tokio::spawn(async move {
        loop {
            match run(&url, channels, &tx).await {
                Ok(()) => tracing::warn!("the notification connection closed; reconnecting"),
                Err(e) => {
                    tracing::warn!(error = %e, "the notification connection failed; reconnecting")
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    notes
}

async fn run(
    url: &str,
    channels: &[&str],
    tx: &broadcast::Sender<Note>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
    let listen = async {
        for c in channels {
            client.batch_execute(&format!("listen {c}")).await?;
        }
        // Keep the client alive while messages flow.
        std::future::pending::<Result<(), tokio_postgres::Error>>().await
    };
    tokio::pin!(listen);
    loop {
        tokio::select! {
            r = &mut listen => return r,
            m = messages.next() => match m {
                Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                    let _ = tx.send((n.channel().to_owned(), n.payload().to_owned()));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    }
}
