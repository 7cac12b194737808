#![no_main]
//! Fuzz target `snapshot`: see [`sbx_runner::fuzzing::snapshot`].

use sbx_fuzz as _;

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbx_runner::fuzzing::snapshot(data));
