//! Test-only pseudo-formats that misbehave on purpose, so the host's tests can check the
//! sandbox's limits against the real guest module. They are selected only through
//! `Options.format`; the host never lets a user choose them (see `docs/sandbox-abi.md`).
//!
//! | format          | behaviour                                                     |
//! |-----------------|---------------------------------------------------------------|
//! | `__test_spin`   | loops forever (time limit)                                    |
//! | `__test_alloc`  | allocates and touches 64 MiB blocks until allocation fails    |
//! | `__test_panic`  | panics with the message `test panic`                          |
//! | `__test_deep`   | recurses without bound (stack limit)                          |
//! | `__test_deep_calls` | recurses through scalar-only frames: the wasm call stack (`max_wasm_stack`) |
//! | `__test_echo`   | input is JSON `{"open": [names], "output": [bytes], "result": LoadResult, "pad": string}`: opens each external name (outcomes go to `warnings`), appends `output` to the output buffer, returns `result` as is (lets host tests feed hostile descriptors through the real guest) |

use std::sync::atomic::{AtomicU32, Ordering};

use serde::Deserialize;

use crate::host::Host;
use crate::result::{LoadError, LoadResult, Options};

/// Prefix of the reserved ids.
pub const PREFIX: &str = "__test_";

/// Size of each block `__test_alloc` allocates.
const ALLOC_BLOCK: usize = 64 << 20;

/// Runs the hook named by `options.format`, or returns `None` if it is not a test hook.
pub fn run(host: &mut dyn Host, options: &Options) -> Option<Result<LoadResult, LoadError>> {
    match options.format.as_str() {
        "__test_deep_calls" => Some(Ok(LoadResult {
            format: format!("{}", recurse(0)),
            ..LoadResult::default()
        })),
        "__test_echo" => Some(echo(host)),
        "__test_spin" => spin(),
        "__test_alloc" => Some(alloc()),
        "__test_panic" => panic!("test panic"),
        "__test_deep" => Some(Err(LoadError::limit(format!(
            "recursion ended at {}",
            deep(u64::MAX)
        )))),
        _ => None,
    }
}

fn spin() -> ! {
    let mut x: u64 = 0;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

fn alloc() -> Result<LoadResult, LoadError> {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = Vec::new();
        if block.try_reserve_exact(ALLOC_BLOCK).is_err() {
            return Err(LoadError::limit(format!(
                "allocation failed after {} MiB",
                blocks.len() * (ALLOC_BLOCK >> 20)
            )));
        }
        block.resize(ALLOC_BLOCK, 1);
        for i in (0..ALLOC_BLOCK).step_by(4096) {
            if let Some(b) = block.get_mut(i) {
                *b = std::hint::black_box(i as u8);
            }
        }
        blocks.push(std::hint::black_box(block));
    }
}

#[inline(never)]
fn deep(n: u64) -> u64 {
    let mut frame = [0u8; 512];
    frame[(n % 512) as usize] = n as u8;
    let frame = std::hint::black_box(frame);
    if n == 0 {
        return 0;
    }
    deep(n - 1).wrapping_add(u64::from(frame[(n % 511) as usize]))
}

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
