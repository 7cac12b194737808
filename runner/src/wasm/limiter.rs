//! The store limiter: a guest's linear memory may grow up to its limit and no further; a refused
//! growth is remembered, so that a program that then fails is reported as out of memory.

use wasmtime::ResourceLimiter;

/// Most table elements a guest may have: CPython's needs are about 47 000.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Refuses linear-memory growth past the exec's limit and remembers that it did.
pub(crate) struct MemoryLimiter {
    limit: usize,
    /// The most linear memory the guest held, in bytes.
    pub(crate) peak: usize,
    /// Whether a growth was refused: a program that then failed ran out of memory.
    pub(crate) refused: bool,
}

impl MemoryLimiter {
    /// A limiter allowing `limit` bytes of linear memory.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            peak: 0,
            refused: false,
        }
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.refused = true;
            return Ok(false);
        }
        self.peak = self.peak.max(desired).max(current);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_obeyed_and_violated() {
        let mut l = MemoryLimiter::new(64 << 20);
        assert!(l.memory_growing(0, 32 << 20, None).unwrap());
        assert!(
            l.memory_growing(32 << 20, 64 << 20, None).unwrap(),
            "up to the limit exactly"
        );
        assert_eq!((l.peak, l.refused), (64 << 20, false));
        assert!(
            !l.memory_growing(64 << 20, (64 << 20) + 65_536, None)
                .unwrap()
        );
        assert!(l.refused, "a refusal is remembered");
        assert_eq!(l.peak, 64 << 20, "a refused growth is not a peak");
    }

    #[test]
    fn tables_obeyed_and_violated() {
        let mut l = MemoryLimiter::new(1 << 20);
        assert!(l.table_growing(0, 47_157, None).unwrap());
        assert!(!l.table_growing(0, MAX_TABLE_ELEMENTS + 1, None).unwrap());
        assert!(!l.refused, "tables do not count as memory");
    }
}
