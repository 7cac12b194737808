#![no_main]
//! Fuzz target `request_body`: see [`sbx_api::fuzzing::request_body`].

use sbx_fuzz as _;

libfuzzer_sys::fuzz_target!(|data: &[u8]| sbx_api::fuzzing::request_body(data));
