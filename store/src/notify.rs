//! LISTEN/NOTIFY: one dedicated connection per process listens on sbx's channels and fans
//! the notes out, parsed, to in-process subscribers. It reconnects by itself; while it is down,
//! subscribers fall back to polling, so a lost notification costs latency, never a result.

use std::time::Duration;

use futures_util::StreamExt as _;
pub use sbx_core::notes::Note;
use tokio::sync::broadcast;

use crate::{Db, GenericClient, Result};

/// Subscribers' side of the listener.
#[derive(Clone)]
pub struct Notes(broadcast::Sender<Note>);

impl Notes {
    /// A new receiver of every notification from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Note> {
        self.0.subscribe()
    }
}

/// The first note from `notes` that `pick` takes (`Some`), as `pick` made it; `None` if notes
/// were missed meanwhile (the receiver lagged), which the caller treats as if its note came:
/// it looks at the database again. Never returns once the listener is gone.
pub async fn next<T>(
    notes: &mut broadcast::Receiver<Note>,
    mut pick: impl FnMut(Note) -> Option<T>,
) -> Option<T> {
    loop {
        match notes.recv().await {
            Ok(note) => {
                if let Some(t) = pick(note) {
                    return Some(t);
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => return None,
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

/// Send `note` now, outside any transaction. (Statements that notify as part of a change build
/// the same payload in SQL, from `sbx_core::notes`' prefixes.)
#[tracing::instrument(level = "debug", skip_all)]
pub async fn send(db: &impl Db, note: &Note) -> Result<()> {
    let client = db.client().await?;
    client
        .execute(
            "select pg_notify($1, $2)",
            &[&note.channel(), &note.payload()],
        )
        .await?;
    Ok(())
}

/// Listen on every channel of sbx's notes (`sbx_core::notes::CHANNELS`) of the database at
/// `url`, for as long as the process lives.
pub fn listen(url: String) -> Notes {
    let channels = sbx_core::notes::CHANNELS;
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
                    match Note::parse(n.channel(), n.payload()) {
                        Ok(note) => {
                            let _ = tx.send(note);
                        }
                        Err(e) => tracing::warn!(error = %e, "a notification that is not sbx's"),
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    }
}
