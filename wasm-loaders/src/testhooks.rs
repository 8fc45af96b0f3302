//! More test-only pseudo-formats (besides those of `test_hooks`), for the host's tests of
//! its ABI handling and the wasm stack limit. The host never lets a user pick these ids;
//! format detection never produces them.
//!
//! - `__test_deep_calls`: recurse without bound through a function pointer, with frames
//!   only on the wasm call stack (the engine's `max_wasm_stack`);
//! - `__test_echo`: the input is JSON `{"open": [names], "output": [bytes], "result":
//!   LoadResult, "pad": string}`: open each external name (outcomes go to `warnings`), append `output`
//!   to the output buffer, and return `result` as is.

use std::sync::atomic::{AtomicU32, Ordering};

use serde::Deserialize;

use crate::host::Host;
use crate::result::{LoadError, LoadResult, Options};

/// Prefix of the reserved ids.
pub const PREFIX: &str = "__test_";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Echo {
    #[serde(default)]
    open: Vec<String>,
    #[serde(default)]
    output: Vec<u8>,
    result: LoadResult,
    /// Ignored: lets tests place known bytes in the input (source 0).
    #[serde(default)]
    #[allow(dead_code)]
    pad: String,
}

/// Run the hook named by `options.format`, or `None` if it is not a test id.
pub fn run(host: &mut dyn Host, options: &Options) -> Option<Result<LoadResult, LoadError>> {
    let hook = options.format.strip_prefix(PREFIX)?;
    Some(match hook {
        "deep_calls" => Ok(LoadResult {
            format: format!("{}", recurse(0)),
            ..LoadResult::default()
        }),
        "echo" => echo(host),
        _ => return None,
    })
}

/// Depth at which `recurse` stops (never reached: the stack limit hits first). An atomic so
/// the compiler cannot see through it; only scalars in wasm locals, so the frames live on
/// the wasm stack, not the shadow stack.
static STOP: AtomicU32 = AtomicU32::new(u32::MAX);

#[inline(never)]
fn recurse(n: u32) -> u32 {
    if STOP.load(Ordering::Relaxed) == n {
        return 0;
    }
    recurse(n.wrapping_add(1)).wrapping_mul(3).wrapping_add(n)
}

fn echo(host: &mut dyn Host) -> Result<LoadResult, LoadError> {
    let len = host.input_len()?;
    let bytes = host.read_vec(0, 0, len)?;
    let echo: Echo = serde_json::from_slice(&bytes)
        .map_err(|e| LoadError::malformed(format!("bad echo input: {e}")))?;
    let mut result = echo.result;
    for name in &echo.open {
        match host.open_external(name) {
            Ok(id) => result.warnings.push(format!("open {name}: {id}")),
            Err(e) => result.warnings.push(format!("open {name}: error: {e}")),
        }
    }
    if !echo.output.is_empty() {
        let at = host.write_output(&echo.output)?;
        result.warnings.push(format!("output at {at}"));
    }
    Ok(result)
}
