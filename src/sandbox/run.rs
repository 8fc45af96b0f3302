//! One sandboxed load: a fresh store, the options in, the result JSON out.

use std::path::Path;
use std::time::{Duration, Instant};

use wasmtime::{Store, TypedFunc};

use super::abi::{HostState, Limiter};
use super::engine::compiled;
use super::error::{SandboxError, TrapContext, classify};
use super::limits::{EPOCH_TICK, SandboxLimits, guest_thread_stack};
use super::sources::{OutputBuffer, Sources};

/// What a finished guest run hands back: its result JSON (still tainted) and the byte
/// sources its descriptors may point into.
#[derive(Debug)]
pub struct GuestRun {
    /// The result JSON, at most `max_result_json` bytes, not yet parsed.
    pub result_json: Vec<u8>,
    /// The input and the external files the guest opened.
    pub sources: Sources,
    /// The bytes the guest produced.
    pub output: OutputBuffer,
    /// External file requests the host refused.
    pub refused_opens: Vec<String>,
    /// Instantiation + run time.
    pub elapsed: Duration,
}

/// Run the loaders on `sources` with the options JSON `options_json`, under `limits`.
/// The output buffer lives in an anonymous file in `scratch_dir` (system temp if `None`).
///
/// The guest runs on its own thread with a large native stack; the store is dropped
/// before this returns, whatever happened.
pub fn run_loader(
    sources: Sources,
    options_json: &[u8],
    limits: &SandboxLimits,
    scratch_dir: Option<&Path>,
) -> Result<GuestRun, SandboxError> {
    let output = OutputBuffer::new(scratch_dir, limits.max_output)?;
    let state = HostState {
        sources,
        output,
        panic_message: None,
        limiter: Limiter {
            max_memory: limits.max_memory,
            hit: false,
        },
        memory: None,
        refused_opens: Vec::new(),
    };
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("modelseal-guest".into())
            .stack_size(guest_thread_stack(super::engine::wasm_stack()))
            .spawn_scoped(scope, || run_on_this_thread(state, options_json, limits))
            .map_err(SandboxError::Io)?;
        handle
            .join()
            .unwrap_or_else(|_| Err(SandboxError::Setup("the guest thread panicked".into())))
    })
}

fn run_on_this_thread(
    state: HostState,
    options_json: &[u8],
    limits: &SandboxLimits,
) -> Result<GuestRun, SandboxError> {
    let compiled = compiled()?;
    let started = Instant::now();
    let mut store = Store::new(&compiled.engine, state);
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(deadline_ticks(limits.timeout));
    store.epoch_deadline_trap();

    let outcome = call_guest(&mut store, compiled, options_json, limits);
    let result_json = match outcome {
        Ok(json) => json,
        Err(err) => {
            let data = store.data();
            let ctx = TrapContext {
                panic_message: data.panic_message.as_deref(),
                memory_limit_hit: data.limiter.hit.then_some(limits.max_memory),
                timeout: limits.timeout,
            };
            let classified = match err {
                CallError::Wasm(e) => classify(&e, &ctx),
                CallError::Sandbox(e) => e,
            };
            drop(store);
            return Err(classified);
        }
    };
    let elapsed = started.elapsed();
    let state = store.into_data();
    Ok(GuestRun {
        result_json,
        sources: state.sources,
        output: state.output,
        refused_opens: state.refused_opens,
        elapsed,
    })
}

enum CallError {
    Wasm(wasmtime::Error),
    Sandbox(SandboxError),
}

impl From<wasmtime::Error> for CallError {
    fn from(e: wasmtime::Error) -> Self {
        CallError::Wasm(e)
    }
}

fn call_guest(
    store: &mut Store<HostState>,
    compiled: &super::engine::Compiled,
    options_json: &[u8],
    limits: &SandboxLimits,
) -> Result<Vec<u8>, CallError> {
    let abi = |m: &str| CallError::Sandbox(SandboxError::Abi(m.to_string()));
    let instance = compiled.pre.instantiate(&mut *store)?;
    let memory = instance
        .get_memory(&mut *store, "memory")
        .ok_or_else(|| abi("no exported memory"))?;
    store.data_mut().memory = Some(memory);
    let alloc: TypedFunc<i32, i32> = instance.get_typed_func(&mut *store, "ms_alloc")?;
    let load: TypedFunc<(i32, i32), i64> = instance.get_typed_func(&mut *store, "ms_load")?;

    let len = i32::try_from(options_json.len()).map_err(|_| abi("options too large"))?;
    let ptr = alloc.call(&mut *store, len)?;
    if ptr == 0 {
        return Err(abi("ms_alloc failed"));
    }
    let at = ptr as u32 as usize;
    memory
        .write(&mut *store, at, options_json)
        .map_err(|_| abi("ms_alloc returned a block outside memory"))?;

    let packed = load.call(&mut *store, (ptr, len))? as u64;
    let result_ptr = (packed >> 32) as usize;
    let result_len = packed & 0xFFFF_FFFF;
    if result_len > limits.max_result_json {
        return Err(CallError::Sandbox(SandboxError::ResultTooLarge {
            size: result_len,
            limit: limits.max_result_json,
        }));
    }
    let end = result_ptr
        .checked_add(result_len as usize)
        .ok_or_else(|| abi("result range overflows"))?;
    let bytes = memory
        .data(&*store)
        .get(result_ptr..end)
        .ok_or_else(|| abi("result lies outside guest memory"))?
        .to_vec();
    Ok(bytes)
}

/// Epoch ticks for `timeout` (at least one).
fn deadline_ticks(timeout: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos().max(1);
    let ticks = timeout.as_nanos().div_ceil(tick);
    u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
}
