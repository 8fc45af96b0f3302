//! The host side of the sandbox ABI (`docs/sandbox-abi.md`): the store's state and the
//! five `modelseal` imports. Every argument from the guest is checked before use; guest
//! memory is accessed only through bounds-checked slices of `Memory::data_mut`.

use std::os::unix::fs::FileExt;

use wasmtime::{Caller, Linker, Memory, ResourceLimiter};

use super::confine::OpenRefusal;
use super::error::MemoryLimitHit;
use super::limits::{MAX_EXTERNAL_NAME, MAX_PANIC_MESSAGE, MAX_READ_PER_CALL, MAX_TABLE_ELEMENTS};
use super::sources::{OutputBuffer, Sources};

/// ABI return codes.
mod code {
    pub const OK: i32 = 0;
    pub const NO_SOURCE: i32 = -1;
    pub const OUT_OF_SOURCE: i32 = -2;
    pub const BAD_GUEST_RANGE: i32 = -3;
    pub const IO: i32 = -4;
    pub const OPEN_REFUSED: i32 = -1;
    pub const OPEN_NOT_FOUND: i32 = -2;
    pub const OPEN_TOO_MANY: i32 = -3;
    pub const OPEN_BAD_NAME: i32 = -4;
    pub const OUTPUT_LIMIT: i64 = -1;
    pub const OUTPUT_BAD_RANGE: i64 = -3;
    pub const OUTPUT_IO: i64 = -4;
}

/// Caps the guest's memory (typed error past the limit) and its instances, tables and
/// memories (one each).
#[derive(Debug)]
pub struct Limiter {
    /// Maximum linear memory in bytes.
    pub max_memory: u64,
    /// Set when a growth was refused or failed.
    pub hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.max_memory {
            self.hit = true;
            return Err(wasmtime::Error::new(MemoryLimitHit {
                limit: self.max_memory,
            }));
        }
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.hit = true;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        1
    }

    fn memories(&self) -> usize {
        1
    }
}

/// Everything the imports can touch: the sources, the output buffer, the panic message.
#[derive(Debug)]
pub struct HostState {
    /// Readable sources (0 = input).
    pub sources: Sources,
    /// Bytes the guest produced.
    pub output: OutputBuffer,
    /// The guest's panic message, if it reported one.
    pub panic_message: Option<String>,
    /// The memory limiter.
    pub limiter: Limiter,
    /// The guest's memory, set right after instantiation.
    pub memory: Option<Memory>,
    /// External file requests that were refused, with the reason (for the report).
    pub refused_opens: Vec<String>,
}

/// The guest range `ptr .. ptr + len` as a `usize` range, if `len` is non-negative.
/// wasm32 pointers are unsigned: an `i32` argument is reinterpreted, not sign-extended.
fn guest_range(ptr: i32, len: i32) -> Option<std::ops::Range<usize>> {
    let start = ptr as u32 as usize;
    let len = usize::try_from(len).ok()?;
    Some(start..start.checked_add(len)?)
}

fn source_len(caller: Caller<'_, HostState>, source: i32) -> i64 {
    let Ok(id) = u32::try_from(source) else {
        return -1;
    };
    match caller.data().sources.get(id) {
        Some(s) => i64::try_from(s.len).unwrap_or(-1),
        None => -1,
    }
}

fn source_read(
    mut caller: Caller<'_, HostState>,
    source: i32,
    offset: i64,
    dst: i32,
    len: i32,
) -> i32 {
    let Some(memory) = caller.data().memory else {
        return code::BAD_GUEST_RANGE;
    };
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let Some(src) = u32::try_from(source)
        .ok()
        .and_then(|id| state.sources.get(id))
    else {
        return code::NO_SOURCE;
    };
    let Some(range) = guest_range(dst, len) else {
        return code::BAD_GUEST_RANGE;
    };
    let count = range.len() as u64;
    if count > MAX_READ_PER_CALL {
        return code::BAD_GUEST_RANGE;
    }
    let Ok(offset) = u64::try_from(offset) else {
        return code::OUT_OF_SOURCE;
    };
    match offset.checked_add(count) {
        Some(end) if end <= src.len => {}
        _ => return code::OUT_OF_SOURCE,
    }
    let Some(slice) = data.get_mut(range) else {
        return code::BAD_GUEST_RANGE;
    };
    match src.file.read_exact_at(slice, offset) {
        Ok(()) => code::OK,
        Err(_) => code::IO,
    }
}

fn source_open(mut caller: Caller<'_, HostState>, name_ptr: i32, name_len: i32) -> i32 {
    let Some(memory) = caller.data().memory else {
        return code::OPEN_BAD_NAME;
    };
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let Some(range) = guest_range(name_ptr, name_len) else {
        return code::OPEN_BAD_NAME;
    };
    if range.len() > MAX_EXTERNAL_NAME {
        state
            .refused_opens
            .push("external file name too long".into());
        return code::OPEN_REFUSED;
    }
    let Some(bytes) = data.get(range) else {
        return code::OPEN_BAD_NAME;
    };
    let Ok(name) = std::str::from_utf8(bytes) else {
        return code::OPEN_BAD_NAME;
    };
    let name = name.to_string();
    match state.sources.open_external(&name) {
        Ok(id) => i32::try_from(id).unwrap_or(code::OPEN_TOO_MANY),
        Err(None) => code::OPEN_TOO_MANY,
        Err(Some(OpenRefusal::NotFound)) => code::OPEN_NOT_FOUND,
        Err(Some(OpenRefusal::Policy(why))) => {
            state.refused_opens.push(format!("{name:?}: {why}"));
            code::OPEN_REFUSED
        }
        Err(Some(OpenRefusal::Io(_))) => code::OPEN_BAD_NAME,
    }
}

fn output_write(mut caller: Caller<'_, HostState>, ptr: i32, len: i32) -> i64 {
    let Some(memory) = caller.data().memory else {
        return code::OUTPUT_BAD_RANGE;
    };
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let Some(range) = guest_range(ptr, len) else {
        return code::OUTPUT_BAD_RANGE;
    };
    if range.len() as u64 > MAX_READ_PER_CALL {
        return code::OUTPUT_BAD_RANGE;
    }
    let Some(bytes) = data.get(range) else {
        return code::OUTPUT_BAD_RANGE;
    };
    match state.output.append(bytes) {
        Ok(Some(at)) => i64::try_from(at).unwrap_or(code::OUTPUT_LIMIT),
        Ok(None) => code::OUTPUT_LIMIT,
        Err(_) => code::OUTPUT_IO,
    }
}

fn report_panic(mut caller: Caller<'_, HostState>, ptr: i32, len: i32) {
    let Some(memory) = caller.data().memory else {
        return;
    };
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let Some(range) = guest_range(ptr, len) else {
        return;
    };
    let Some(bytes) = data.get(range) else {
        return;
    };
    let kept = bytes.get(..MAX_PANIC_MESSAGE).unwrap_or(bytes);
    let mut message = String::from_utf8_lossy(kept).into_owned();
    if kept.len() < bytes.len() {
        message.push('…');
    }
    state.panic_message = Some(message);
}

/// Define the five `modelseal` imports (and nothing else) in `linker`.
pub fn define_imports(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.func_wrap("modelseal", "source_len", source_len)?;
    linker.func_wrap("modelseal", "source_read", source_read)?;
    linker.func_wrap("modelseal", "source_open", source_open)?;
    linker.func_wrap("modelseal", "output_write", output_write)?;
    linker.func_wrap("modelseal", "report_panic", report_panic)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_ranges_are_unsigned_and_checked() {
        assert_eq!(guest_range(16, 4), Some(16..20));
        assert_eq!(guest_range(-16, 4), Some(0xFFFF_FFF0..0xFFFF_FFF4));
        assert_eq!(guest_range(0, -1), None);
    }
}
