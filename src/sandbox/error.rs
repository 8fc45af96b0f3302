//! What can go wrong inside the sandbox, classified from wasmtime's traps.

use std::time::Duration;

use super::limits::{human_duration, human_size};

/// A failed sandboxed run. Every trap, limit hit and guest panic ends up here, never as a
/// host panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The guest tried to grow its memory past the limit.
    #[error("loader exceeded its {} memory limit", human_size(*limit))]
    MemoryLimit {
        /// The limit in bytes.
        limit: u64,
    },
    /// The guest ran longer than the time limit.
    #[error("loader exceeded its {} time limit", human_duration(*limit))]
    Timeout {
        /// The limit.
        limit: Duration,
    },
    /// The guest's stack overflowed (input nested too deeply): either the wasm call stack
    /// (limited per process, see `engine::set_wasm_stack`) or the shadow stack a Rust guest keeps at the bottom of
    /// its linear memory, whose overflow shows as an out-of-bounds access (safe Rust makes
    /// no other out-of-bounds accesses).
    #[error("{}", stack_message(*shadow))]
    StackOverflow {
        /// True for the shadow stack (out-of-bounds trap), false for the wasm stack.
        shadow: bool,
    },
    /// The guest panicked; its message comes through `report_panic`.
    #[error("loader panicked: {message}")]
    GuestPanic {
        /// The panic message.
        message: String,
    },
    /// The guest trapped for another reason (a loader bug).
    #[error("loader crashed: {trap}")]
    GuestTrap {
        /// wasmtime's description of the trap.
        trap: String,
    },
    /// The guest's result is larger than allowed.
    #[error("loader result of {} exceeds the {} limit", human_size(*size), human_size(*limit))]
    ResultTooLarge {
        /// Size claimed by the guest.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The guest returned a result pointer outside its memory, or broke the ABI otherwise.
    #[error("loader broke the sandbox ABI: {0}")]
    Abi(String),
    /// The engine, module or instance could not be set up (not caused by the input).
    #[error("cannot set up the sandbox: {0}")]
    Setup(String),
    /// Host-side I/O around the run failed (scratch file for the output buffer, …).
    #[error("sandbox I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl SandboxError {
    /// True when a configured limit (memory, time, stack, result size) was hit.
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            SandboxError::MemoryLimit { .. }
                | SandboxError::Timeout { .. }
                | SandboxError::StackOverflow { .. }
                | SandboxError::ResultTooLarge { .. }
        )
    }
}

fn stack_message(shadow: bool) -> String {
    if shadow {
        "loader ran out of stack (out-of-bounds access below its stack): the input is nested too deeply".into()
    } else {
        format!(
            "loader exceeded its {} stack limit: the input is nested too deeply",
            human_size(super::engine::wasm_stack())
        )
    }
}

/// Returned by the resource limiter when the guest asks for too much memory; recognised
/// again when the call fails.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded")]
pub struct MemoryLimitHit {
    /// The limit in bytes.
    pub limit: u64,
}

/// What the run knew when the guest call failed.
pub struct TrapContext<'a> {
    /// The guest's panic message, if it reported one.
    pub panic_message: Option<&'a str>,
    /// The memory limit, if the limiter refused a growth.
    pub memory_limit_hit: Option<u64>,
    /// The configured timeout.
    pub timeout: Duration,
}

/// Turn the error of a failed guest call into a [`SandboxError`].
pub fn classify(err: &wasmtime::Error, ctx: &TrapContext<'_>) -> SandboxError {
    if let Some(hit) = err.downcast_ref::<MemoryLimitHit>() {
        return SandboxError::MemoryLimit { limit: hit.limit };
    }
    if let Some(limit) = ctx.memory_limit_hit {
        return SandboxError::MemoryLimit { limit };
    }
    match err.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => SandboxError::Timeout { limit: ctx.timeout },
        Some(wasmtime::Trap::StackOverflow) => SandboxError::StackOverflow { shadow: false },
        Some(wasmtime::Trap::MemoryOutOfBounds) if ctx.panic_message.is_none() => {
            SandboxError::StackOverflow { shadow: true }
        }
        trap => {
            if let Some(message) = ctx.panic_message {
                return SandboxError::GuestPanic {
                    message: message.to_string(),
                };
            }
            let trap = match trap {
                Some(t) => t.to_string(),
                None => format!("{err:#}"),
            };
            SandboxError::GuestTrap { trap }
        }
    }
}
