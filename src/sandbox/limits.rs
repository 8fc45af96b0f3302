//! Resource limits of one sandboxed load, with their documented defaults.

use std::time::Duration;

/// Default cap on the guest's linear memory: 1 GiB.
pub const DEFAULT_MAX_MEMORY: u64 = 1 << 30;
/// Default wall-clock limit of one load: 60 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default cap on the output: 16 GiB, applied both to the bytes the loader produces
/// (`output_write`) and to the tensor data written to the safetensors file.
pub const DEFAULT_MAX_OUTPUT: u64 = 16 << 30;
/// Default cap on the number of tensors.
pub const DEFAULT_MAX_TENSORS: u64 = 100_000;
/// Default cap on the loader's result JSON: 64 MiB (`docs/sandbox-abi.md`).
pub const DEFAULT_MAX_RESULT_JSON: u64 = 64 << 20;
/// Default cap on the external files one model may open (`source_open`).
pub const DEFAULT_MAX_EXTERNAL_FILES: u32 = 256;

/// Largest single `source_read` the host serves (`docs/sandbox-abi.md`).
pub const MAX_READ_PER_CALL: u64 = 64 << 20;
/// Longest panic message kept from the guest.
pub const MAX_PANIC_MESSAGE: usize = 4 << 10;
/// Longest external file name the guest may ask for.
pub const MAX_EXTERNAL_NAME: usize = 4096;
/// Default wasm stack available to the guest. Deeper recursion traps with a stack-overflow
/// error instead of crashing the host. The engine is built once per process, so the stack
/// limit is fixed by the first load of the process (`engine::set_wasm_stack`).
pub const DEFAULT_MAX_WASM_STACK: u64 = 4 << 20;
/// Smallest wasm stack accepted.
pub const MIN_WASM_STACK: u64 = 256 << 10;
/// Largest wasm stack accepted.
pub const MAX_WASM_STACK: u64 = 256 << 20;

/// Native stack of the thread that runs the guest: well above the wasm stack so that
/// wasmtime's own stack check always fires first.
pub fn guest_thread_stack(wasm_stack: u64) -> usize {
    usize::try_from(wasm_stack.saturating_mul(4).saturating_add(16 << 20)).unwrap_or(usize::MAX)
}
/// Most table elements the guest may have (Rust guests use one small function table).
pub const MAX_TABLE_ELEMENTS: usize = 1 << 20;
/// Period of the epoch ticker that enforces the time limit.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The limits of one sandboxed load. `Default` gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxLimits {
    /// Maximum guest linear memory in bytes ([`DEFAULT_MAX_MEMORY`]).
    pub max_memory: u64,
    /// Maximum wall time of the guest run ([`DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
    /// Maximum bytes of output: the loader's output buffer and the tensor data written
    /// ([`DEFAULT_MAX_OUTPUT`]).
    pub max_output: u64,
    /// Maximum number of tensors ([`DEFAULT_MAX_TENSORS`]).
    pub max_tensors: u64,
    /// Maximum size of the loader's result JSON ([`DEFAULT_MAX_RESULT_JSON`]).
    pub max_result_json: u64,
    /// Maximum external files opened ([`DEFAULT_MAX_EXTERNAL_FILES`]).
    pub max_external_files: u32,
    /// Wasm stack of the guest, in bytes ([`DEFAULT_MAX_WASM_STACK`]; between
    /// [`MIN_WASM_STACK`] and [`MAX_WASM_STACK`]; fixed per process at the first load).
    pub max_wasm_stack: u64,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            max_memory: DEFAULT_MAX_MEMORY,
            timeout: DEFAULT_TIMEOUT,
            max_output: DEFAULT_MAX_OUTPUT,
            max_tensors: DEFAULT_MAX_TENSORS,
            max_result_json: DEFAULT_MAX_RESULT_JSON,
            max_external_files: DEFAULT_MAX_EXTERNAL_FILES,
            max_wasm_stack: DEFAULT_MAX_WASM_STACK,
        }
    }
}

/// `1 GiB`, `512 MiB`, `1234 bytes`: sizes for messages.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (unit, shift) in UNITS {
        let scale = 1u64 << shift;
        if bytes >= scale {
            if bytes.is_multiple_of(scale) {
                return format!("{} {unit}", bytes / scale);
            }
            return format!("{:.1} {unit}", bytes as f64 / scale as f64);
        }
    }
    format!("{bytes} bytes")
}

/// `60 s`, `1.5 s`, `250 ms`: durations for messages.
pub fn human_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(human_size(1 << 30), "1 GiB");
        assert_eq!(human_size(16 << 30), "16 GiB");
        assert_eq!(human_size(1536 << 20), "1.5 GiB");
        assert_eq!(human_size(100), "100 bytes");
        assert_eq!(human_duration(Duration::from_secs(60)), "60 s");
        assert_eq!(human_duration(Duration::from_millis(250)), "250 ms");
    }
}
