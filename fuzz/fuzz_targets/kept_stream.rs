#![no_main]
//! Fuzz target `kept_stream`: see [`sbx_runner::fuzzing::kept_stream`].

use sbx_fuzz as _;

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbx_runner::fuzzing::kept_stream(data));
