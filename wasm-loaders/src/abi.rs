//! The wasm32 side of the sandbox ABI (`docs/sandbox-abi.md`): host imports, the exports
//! the host calls, and a panic hook that forwards the message before trapping.

use crate::host::Host;
use crate::result::{ErrorKind, LoadError, Options, Outcome};

// Safety: these are the host functions of `docs/sandbox-abi.md` (module `modelseal`), with
// exactly the signatures `src/sandbox/abi.rs` defines; wasmtime refuses to instantiate the
// module if any import is missing or typed differently. Every call passes only integers;
// pointers are offsets into this module's own linear memory, which the host bounds-checks.
#[link(wasm_import_module = "modelseal")]
unsafe extern "C" {
    fn source_len(source: i32) -> i64;
    fn source_read(source: i32, offset: i64, dst: i32, len: i32) -> i32;
    fn source_open(name_ptr: i32, name_len: i32) -> i32;
    fn output_write(ptr: i32, len: i32) -> i64;
    fn report_panic(ptr: i32, len: i32);
}

/// The largest read the host accepts in one call.
const MAX_READ: usize = 64 << 20;

/// [`Host`] backed by the imports above.
struct WasmHost;

impl Host for WasmHost {
    fn source_len(&self, source: u32) -> Result<u64, LoadError> {
        // Safety: a plain host call with integer arguments.
        let n = unsafe { source_len(source as i32) };
        u64::try_from(n).map_err(|_| LoadError::malformed(format!("no source {source}")))
    }

    fn read_at(&mut self, source: u32, offset: u64, buf: &mut [u8]) -> Result<(), LoadError> {
        let mut done = 0usize;
        while done < buf.len() {
            let n = (buf.len() - done).min(MAX_READ);
            let at = offset
                .checked_add(done as u64)
                .and_then(|v| i64::try_from(v).ok())
                .ok_or_else(|| LoadError::malformed("read offset overflows"))?;
            let dst = buf[done..].as_mut_ptr() as usize as i32;
            // Safety: `dst..dst+n` is inside `buf`, which lives in our linear memory; the
            // host bounds-checks it again.
            let rc = unsafe { source_read(source as i32, at, dst, n as i32) };
            match rc {
                0 => done += n,
                -2 => {
                    return Err(LoadError::malformed(format!(
                        "read of {} bytes at offset {offset} runs past the end of the file",
                        buf.len()
                    )));
                }
                other => {
                    return Err(LoadError::malformed(format!(
                        "host refused a read of source {source} (code {other})"
                    )));
                }
            }
        }
        Ok(())
    }

    fn open_external(&mut self, name: &str) -> Result<u32, LoadError> {
        // Safety: pointer and length describe `name`, inside our linear memory.
        let rc = unsafe { source_open(name.as_ptr() as usize as i32, name.len() as i32) };
        match rc {
            id if id >= 1 => Ok(id as u32),
            -1 => Err(LoadError::refused(format!(
                "external data file {name:?} is outside the model's directory or not a regular file"
            ))),
            -2 => Err(LoadError::malformed(format!(
                "external data file {name:?} not found"
            ))),
            -3 => Err(LoadError::limit("too many external data files")),
            _ => Err(LoadError::malformed(format!(
                "cannot open external data file {name:?}"
            ))),
        }
    }

    fn write_output(&mut self, bytes: &[u8]) -> Result<u64, LoadError> {
        let mut first = None;
        for piece in bytes.chunks(MAX_READ) {
            // Safety: pointer and length describe `piece`, inside our linear memory.
            let at = unsafe { output_write(piece.as_ptr() as usize as i32, piece.len() as i32) };
            if at < 0 {
                return Err(LoadError::new(
                    ErrorKind::Limit,
                    "output size limit exceeded",
                ));
            }
            first.get_or_insert(at as u64);
        }
        Ok(first.unwrap_or(0))
    }
}

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info.to_string();
        // Safety: pointer and length describe `msg`, inside our linear memory.
        unsafe { report_panic(msg.as_ptr() as usize as i32, msg.len() as i32) };
    }));
}

/// Allocate `len` bytes for the host (the options JSON). Leaked on purpose: one call per
/// instance, and the instance is dropped after one load.
// Safety (`no_mangle`): the symbol is the export named in the ABI and clashes with no other.
#[unsafe(no_mangle)]
pub extern "C" fn ms_alloc(len: i32) -> i32 {
    let Ok(len) = usize::try_from(len) else {
        return 0;
    };
    let buf = vec![0u8; len].into_boxed_slice();
    Box::leak(buf).as_mut_ptr() as usize as i32
}

/// Run the loader on source 0 with the options JSON at `ptr..ptr+len`; returns
/// `(result_ptr << 32) | result_len`.
// Safety (`no_mangle`): the symbol is the export named in the ABI and clashes with no other.
#[unsafe(no_mangle)]
pub extern "C" fn ms_load(ptr: i32, len: i32) -> i64 {
    install_panic_hook();
    let outcome = match options_bytes(ptr, len).map(serde_json::from_slice::<Options>) {
        None => Outcome::Failed {
            error: LoadError::malformed("bad options pointer from host"),
        },
        Some(parsed) => match parsed {
            Ok(options) => match crate::load(&mut WasmHost, &options) {
                Ok(result) => Outcome::Loaded(result),
                Err(error) => Outcome::Failed { error },
            },
            Err(e) => Outcome::Failed {
                error: LoadError::malformed(format!("bad options from host: {e}")),
            },
        },
    };
    let json = serde_json::to_vec(&outcome).unwrap_or_else(|_| b"{}".to_vec());
    let json = Box::leak(json.into_boxed_slice());
    ((json.as_ptr() as usize as i64) << 32) | json.len() as i64
}

/// The options bytes the host wrote at `ptr..ptr+len` (a block from [`ms_alloc`]), or `None`
/// for a null pointer or a negative length.
fn options_bytes(ptr: i32, len: i32) -> Option<&'static [u8]> {
    let len = usize::try_from(len).ok()?;
    if ptr == 0 {
        return None;
    }
    // Safety: the host wrote `len` bytes at `ptr`, inside the block `ms_alloc(len)` leaked
    // for it (never freed, never written by the guest), so the slice is valid, initialised
    // and unaliased for the rest of the instance's life.
    Some(unsafe { std::slice::from_raw_parts(ptr as usize as *const u8, len) })
}
