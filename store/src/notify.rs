//! LISTEN/NOTIFY: one dedicated connection per process listens on sbx's channels and fans
//! the notes out, parsed, to in-process subscribers. It reconnects by itself; while it is down,
//! subscribers fall back to polling, so a lost notification costs latency, never a result.

use std::time::Duration;

use futures_util::StreamExt as _;
pub use sbx_core::notes::Note;
use tokio::sync::broadcast;

use crate::{Db, Result};

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

/// The next sandbox note from `notes` (other notes, and notes missed by a lagging receiver,
/// are passed over); `None` once the listener is gone.
pub async fn next_sandbox_note(
    notes: &mut broadcast::Receiver<Note>,
) -> Option<sbx_core::notes::SandboxNote> {
    loop {
        match notes.recv().await {
            Ok(Note::Sandbox(note)) => return Some(note),
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// What ended a [`wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// A note the waiter was waiting for came, or notes were missed (the receiver lagged).
    Note,
    /// The poll interval passed first.
    Poll,
}

/// Wait for a note that `wakes` accepts, or for `every` to pass, whichever comes first.
/// NOTIFY is not durable (a note sent while the listener reconnects is lost), so every waiter
/// also looks at the database again after `every`.
pub async fn wait(
    notes: &mut broadcast::Receiver<Note>,
    every: Duration,
    mut wakes: impl FnMut(&Note) -> bool,
) -> Woken {
    let note = next(notes, |n| wakes(&n).then_some(()));
    tokio::select! {
        _ = note => Woken::Note,
        () = tokio::time::sleep(every) => Woken::Poll,
    }
}

/// Whether [`until`] looks at once, or first waits for a note or the poll interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum First {
    /// Look at once: what is waited for may be there already.
    Look,
    /// Wait first: it cannot be there yet (a command just submitted), and a look would be a
    /// wasted round trip.
    Wait,
}

/// Call `check` until it gives a value: at once (or first waiting, as `first` says), then
/// after each [`wait`] for a note `wakes`
/// accepts or `every` (`check` is told which woke it). `Ok(None)` once `deadline` passed
/// without a value; the first error `check` returns.
///
/// # Errors
/// Those of `check`, as it returned them.
pub async fn until<T, E, F>(
    notes: &mut broadcast::Receiver<Note>,
    every: Duration,
    deadline: tokio::time::Instant,
    first: First,
    mut wakes: impl FnMut(&Note) -> bool,
    mut check: impl FnMut(Woken) -> F,
) -> std::result::Result<Option<T>, E>
where
    F: Future<Output = std::result::Result<Option<T>, E>>,
{
    let mut woken = match first {
        First::Look => Woken::Note,
        First::Wait => {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            wait(notes, every.min(left), &mut wakes).await
        }
    };
    loop {
        if let Some(t) = check(woken).await? {
            return Ok(Some(t));
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        woken = wait(notes, every.min(left), &mut wakes).await;
    }
}

/// Send `note` now, outside any transaction. (Statements that notify as part of a change build
/// the same payload in SQL, from `sbx_core::notes`' prefixes.)
#[tracing::instrument(level = "debug", skip_all)]
pub async fn send(db: &impl Db, note: &Note) -> Result<()> {
    db.execute(
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

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use tokio::time::{Instant, sleep};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn until_looks_at_once_on_its_notes_at_each_poll_and_last_at_the_deadline() {
        let (tx, mut rx) = broadcast::channel(8);
        let start = Instant::now();
        tokio::spawn(async move {
            sleep(Duration::from_millis(100)).await;
            tx.send(Note::JobsQueued).unwrap();
            sleep(Duration::from_millis(100)).await;
            // Not one `wakes` accepts: no look.
            tx.send(Note::WebhookDue(sbx_core::ids::JobId::new()))
                .unwrap();
            std::future::pending::<()>().await;
        });
        let looks = RefCell::new(Vec::new());
        let r: std::result::Result<Option<()>, ()> = until(
            &mut rx,
            Duration::from_millis(400),
            start + Duration::from_millis(1000),
            First::Look,
            |n| matches!(n, Note::JobsQueued),
            |w| {
                looks.borrow_mut().push((start.elapsed().as_millis(), w));
                async { Ok(None) }
            },
        )
        .await;
        assert_eq!(r, Ok(None));
        assert_eq!(
            looks.into_inner(),
            [
                (0, Woken::Note),
                (100, Woken::Note),
                (500, Woken::Poll),
                (900, Woken::Poll),
                (1000, Woken::Poll),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn until_waiting_first_looks_only_after_the_first_poll() {
        let (_tx, mut rx) = broadcast::channel::<Note>(8);
        let start = Instant::now();
        let looks = RefCell::new(Vec::new());
        let r: std::result::Result<Option<()>, ()> = until(
            &mut rx,
            Duration::from_millis(400),
            start + Duration::from_millis(500),
            First::Wait,
            |_| false,
            |w| {
                looks.borrow_mut().push((start.elapsed().as_millis(), w));
                async { Ok(None) }
            },
        )
        .await;
        assert_eq!(r, Ok(None));
        assert_eq!(looks.into_inner(), [(400, Woken::Poll), (500, Woken::Poll)]);
    }

    #[tokio::test(start_paused = true)]
    async fn until_gives_the_first_value_or_error_of_check() {
        let (_tx, mut rx) = broadcast::channel::<Note>(8);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut n = 0;
        let r: std::result::Result<_, ()> = until(
            &mut rx,
            Duration::from_millis(10),
            deadline,
            First::Look,
            |_| true,
            |_| {
                n += 1;
                let v = (n == 3).then_some(n);
                async move { Ok(v) }
            },
        )
        .await;
        assert_eq!(r, Ok(Some(3)));
        let r: std::result::Result<Option<()>, &str> = until(
            &mut rx,
            Duration::from_millis(10),
            deadline,
            First::Look,
            |_| true,
            |_| async { Err("down") },
        )
        .await;
        assert_eq!(r, Err("down"));
    }
}
