//! What every fuzz target links: a global allocator that aborts on any single allocation over
//! [`MAX_ALLOCATION`] bytes, so that a decoder allocating what an input merely claims (a
//! length field) is a failure libFuzzer reports and keeps. libFuzzer's own `-malloc_limit_mb`
//! needs a sanitizer's allocator hooks, and these targets are built without one (stable Rust).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write as _;

/// The largest single allocation a target may make: 256 MiB. Inputs are at most a few KiB
/// (`-max_len`), and honest expansion of one (zstd) stays far below this.
pub const MAX_ALLOCATION: usize = 256 << 20;

/// [`System`], aborting above [`MAX_ALLOCATION`].
pub struct Capped;

impl Capped {
    fn check(size: usize) {
        if size > MAX_ALLOCATION {
            // No formatting: that could allocate inside the allocator.
            let _ = std::io::stderr()
                .write_all(b"sbx-fuzz: an allocation over 256 MiB (MAX_ALLOCATION)\n");
            std::process::abort();
        }
    }
}

// SAFETY: every call is passed to `System` unchanged; only sizes are looked at.
unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::check(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::check(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::check(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Capped = Capped;
