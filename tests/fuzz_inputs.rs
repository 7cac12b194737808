//! The fuzz targets (`fuzz/`, `scripts/fuzz`) replayed on their seeds and on every input they
//! ever found, kept in `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/`: what a fuzzer
//! found once stays found.

use std::path::Path;

/// Every seed and every kept finding of `target`, with its file's name.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut found = Vec::new();
    for kind in ["seeds", "regressions"] {
        let Ok(dir) = std::fs::read_dir(fuzz.join(kind).join(target)) else {
            continue;
        };
        for e in dir.flatten() {
            let name = format!("{kind}/{target}/{}", e.file_name().to_string_lossy());
            found.push((name, std::fs::read(e.path()).expect("a fuzz input")));
        }
    }
    assert!(!found.is_empty(), "no inputs for {target} under {fuzz:?}");
    found.sort();
    found
}

/// Runs `check` on each input of `target`, naming the input that fails.
fn replay(target: &str, check: fn(&[u8])) {
    for (name, data) in inputs(target) {
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("fuzz input {name} fails again");
        }
    }
}

#[test]
fn snapshot_decoders() {
    replay("snapshot", sbx_runner::fuzzing::snapshot);
}

#[test]
fn kept_folder_stream() {
    replay("kept_stream", sbx_runner::fuzzing::kept_stream);
}

#[test]
fn request_bodies() {
    replay("request_body", sbx_api::fuzzing::request_body);
}

#[test]
fn sse_log_encoding() {
    replay("sse_log", sbx_api::fuzzing::sse_log);
}
