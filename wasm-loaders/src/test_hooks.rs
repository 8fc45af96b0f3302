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

use crate::result::{LoadError, LoadResult};

/// Size of each block `__test_alloc` allocates.
const ALLOC_BLOCK: usize = 64 << 20;

/// Runs the hook named `format`, or returns `None` if it is not a test hook.
pub fn run(format: &str) -> Option<Result<LoadResult, LoadError>> {
    match format {
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
