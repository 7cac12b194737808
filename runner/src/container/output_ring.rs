//! The output a background process keeps for readers that come late or reconnect: numbered
//! entries of text, oldest dropped first past [`MAX_LOG_BYTES`].

use std::collections::VecDeque;

use sbx_core::OutputStream;
use sbx_core::process::MAX_LOG_BYTES;

/// Entries a reader gets at most at once.
pub(super) const BATCH: usize = 256;
/// What an entry costs besides its text (its place in the ring, the string's header and
/// allocation): counted against [`MAX_LOG_BYTES`], so that a process writing a byte at a time
/// keeps fewer entries, not more memory.
pub(super) const ENTRY_OVERHEAD: usize = 64;

/// A process's kept output: (seq, stream, text), oldest first, numbered from 1 without gaps.
#[derive(Default)]
pub(super) struct OutputRing {
    entries: VecDeque<(u64, OutputStream, String)>,
    /// What the entries cost, text and [`ENTRY_OVERHEAD`] each.
    bytes: usize,
    /// The number of the last entry pushed (0: none yet).
    last: u64,
}

impl OutputRing {
    /// Keep `text` (empty text is no entry), dropping the oldest entries past the cap.
    pub(super) fn push(&mut self, stream: OutputStream, text: String) {
        if text.is_empty() {
            return;
        }
        self.last += 1;
        self.bytes += text.len() + ENTRY_OVERHEAD;
        self.entries.push_back((self.last, stream, text));
        while self.bytes > MAX_LOG_BYTES
            && let Some((_, _, old)) = self.entries.pop_front()
        {
            self.bytes -= old.len() + ENTRY_OVERHEAD;
        }
    }

    /// The number of the oldest entry kept (the next one's when none is).
    pub(super) fn first(&self) -> u64 {
        self.entries.front().map_or(self.last + 1, |e| e.0)
    }

    /// The number of the last entry pushed (0: none yet).
    pub(super) fn last(&self) -> u64 {
        self.last
    }

    /// The kept entries after `after`, at most [`BATCH`]: found by index (their numbers run
    /// on without gaps), not by a scan.
    pub(super) fn after(&self, after: u64) -> impl Iterator<Item = &(u64, OutputStream, String)> {
        let skip = after.saturating_add(1).saturating_sub(self.first()) as usize;
        self.entries.iter().skip(skip).take(BATCH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_drops_the_oldest_output_past_its_cap() {
        let mut r = OutputRing::default();
        r.push(OutputStream::Stdout, String::new());
        assert_eq!(r.last, 0, "empty text is no event");
        let big = "x".repeat(MAX_LOG_BYTES / 2 - ENTRY_OVERHEAD);
        for _ in 0..3 {
            r.push(OutputStream::Stdout, big.clone());
        }
        r.push(OutputStream::Stderr, "tail".into());
        assert_eq!(r.last, 4);
        assert!(r.bytes <= MAX_LOG_BYTES);
        let seqs: Vec<u64> = r.entries.iter().map(|e| e.0).collect();
        assert_eq!(seqs, [3, 4]);
        let after: Vec<u64> = r.after(3).map(|e| e.0).collect();
        assert_eq!(after, [4]);
        assert_eq!(r.after(0).count(), 2, "from the first kept");
        assert_eq!(r.after(u64::MAX).count(), 0);
        // A byte at a time costs its overhead too: the ring holds fewer entries.
        for _ in 0..MAX_LOG_BYTES {
            r.push(OutputStream::Stdout, "x".into());
        }
        assert!(r.entries.len() <= MAX_LOG_BYTES / ENTRY_OVERHEAD);
    }
}
