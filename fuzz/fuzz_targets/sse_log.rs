#![no_main]
//! Fuzz target `sse_log`: see [`sbx_api::fuzzing::sse_log`].

use sbx_fuzz as _;

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbx_api::fuzzing::sse_log(data));
