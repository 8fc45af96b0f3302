//! The process-wide engine: a hardened wasmtime configuration, the embedded loader module
//! compiled once (lazily), the linker with the five `modelseal` imports, and the epoch
//! ticker that enforces time limits.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine, InstancePre, Linker, Module, OptLevel, Strategy, WasmFeatures};

use super::abi::{self, HostState};
use super::error::SandboxError;
use super::limits::{DEFAULT_MAX_WASM_STACK, EPOCH_TICK, MAX_WASM_STACK, MIN_WASM_STACK};

/// The sandboxed loaders, built from `wasm-loaders/` by `build.rs`.
pub static LOADER_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/modelseal_loaders.wasm"));

/// The compiled loader, ready to instantiate.
pub struct Compiled {
    /// The engine (one per process).
    pub engine: Engine,
    /// The linked, pre-checked module.
    pub pre: InstancePre<HostState>,
    /// How long compilation took.
    pub compile_time: Duration,
}

static COMPILED: OnceLock<Result<Compiled, String>> = OnceLock::new();
static MODULE_SHA256: OnceLock<String> = OnceLock::new();

/// Lowercase hex SHA-256 of the embedded loader module (recorded in import records).
pub fn loader_module_sha256() -> &'static str {
    MODULE_SHA256.get_or_init(|| hex(&Sha256::digest(LOADER_WASM)))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The engine configuration: Cranelift, epoch interruption, a bounded wasm stack, and only
/// the wasm features rustc's wasm32 target emits (reference-types, bulk-memory, sign-ext,
/// multi-value, mutable globals, saturating float→int). Everything else is off: fewer
/// features, smaller attack surface.
pub fn config(wasm_stack: u64) -> Config {
    let stack = usize::try_from(wasm_stack.clamp(MIN_WASM_STACK, MAX_WASM_STACK))
        .unwrap_or(DEFAULT_MAX_WASM_STACK as usize);
    let mut c = Config::new();
    c.strategy(Strategy::Cranelift);
    c.cranelift_opt_level(OptLevel::Speed);
    c.parallel_compilation(true);
    c.epoch_interruption(true);
    c.max_wasm_stack(stack);
    // Never used (no async support is compiled in), but wasmtime requires it to be at
    // least `max_wasm_stack`.
    c.async_stack_size(stack);
    let off = [
        WasmFeatures::SIMD,
        WasmFeatures::RELAXED_SIMD,
        WasmFeatures::THREADS,
        WasmFeatures::SHARED_EVERYTHING_THREADS,
        WasmFeatures::MEMORY64,
        WasmFeatures::MULTI_MEMORY,
        WasmFeatures::TAIL_CALL,
        WasmFeatures::FUNCTION_REFERENCES,
        WasmFeatures::GC,
        WasmFeatures::GC_TYPES,
        WasmFeatures::EXCEPTIONS,
        WasmFeatures::LEGACY_EXCEPTIONS,
        WasmFeatures::EXTENDED_CONST,
        WasmFeatures::WIDE_ARITHMETIC,
        WasmFeatures::CUSTOM_PAGE_SIZES,
        WasmFeatures::STACK_SWITCHING,
        WasmFeatures::COMPONENT_MODEL,
    ];
    for feature in off {
        c.wasm_features(feature, false);
    }
    let on = [
        WasmFeatures::REFERENCE_TYPES,
        WasmFeatures::BULK_MEMORY,
        WasmFeatures::SIGN_EXTENSION,
        WasmFeatures::MULTI_VALUE,
        WasmFeatures::MUTABLE_GLOBAL,
        WasmFeatures::SATURATING_FLOAT_TO_INT,
    ];
    for feature in on {
        c.wasm_features(feature, true);
    }
    c
}

/// The wasm stack the engine is (or will be) built with.
static WASM_STACK: OnceLock<u64> = OnceLock::new();

/// Choose the guest's wasm stack for this process. The engine is built once, so this must
/// come before the first load (or repeat the same value); otherwise it is an error.
pub fn set_wasm_stack(bytes: u64) -> Result<(), SandboxError> {
    if !(MIN_WASM_STACK..=MAX_WASM_STACK).contains(&bytes) {
        return Err(SandboxError::Setup(format!(
            "the wasm stack limit must be between {} and {}",
            super::limits::human_size(MIN_WASM_STACK),
            super::limits::human_size(MAX_WASM_STACK)
        )));
    }
    let chosen = *WASM_STACK.get_or_init(|| bytes);
    if chosen != bytes {
        return Err(SandboxError::Setup(format!(
            "the wasm stack limit is already {} in this process",
            super::limits::human_size(chosen)
        )));
    }
    Ok(())
}

/// The wasm stack of this process's engine.
pub fn wasm_stack() -> u64 {
    *WASM_STACK.get_or_init(|| DEFAULT_MAX_WASM_STACK)
}

fn build() -> Result<Compiled, String> {
    let engine = Engine::new(&config(wasm_stack())).map_err(|e| format!("engine: {e:#}"))?;
    let started = Instant::now();
    let module =
        Module::new(&engine, LOADER_WASM).map_err(|e| format!("compiling the loaders: {e:#}"))?;
    let compile_time = started.elapsed();
    let mut linker: Linker<HostState> = Linker::new(&engine);
    abi::define_imports(&mut linker).map_err(|e| format!("linking: {e:#}"))?;
    let pre = linker
        .instantiate_pre(&module)
        .map_err(|e| format!("the loader module does not match the ABI: {e:#}"))?;
    start_ticker(&engine).map_err(|e| format!("epoch ticker: {e}"))?;
    Ok(Compiled {
        engine,
        pre,
        compile_time,
    })
}

/// Increments the engine's epoch every [`EPOCH_TICK`] for the rest of the process.
fn start_ticker(engine: &Engine) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("modelseal-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
    Ok(())
}

/// Start compiling the loader module on a background thread (if not done yet), so that the
/// compilation overlaps with other work such as hashing the input. [`compiled`] waits for
/// it.
pub fn warm_up() {
    if COMPILED.get().is_none() {
        let _ = std::thread::Builder::new()
            .name("modelseal-compile".into())
            .spawn(|| {
                let _ = compiled();
            });
    }
}

/// The compiled loader (compiled on first use, then shared).
pub fn compiled() -> Result<&'static Compiled, SandboxError> {
    COMPILED
        .get_or_init(build)
        .as_ref()
        .map_err(|e| SandboxError::Setup(e.clone()))
}
