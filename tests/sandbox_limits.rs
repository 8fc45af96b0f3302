//! Each sandbox limit, hit through the real loader module (test hooks of the guest),
//! produces its own typed error within seconds; a guest panic's message reaches the error.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use modelseal::import::{ImportError, ImportOptions, inspect_model_with_test_hook};
use modelseal::sandbox::SandboxError;

fn input() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.bin");
    std::fs::write(&path, b"anything").unwrap();
    (dir, path)
}

fn run(
    hook: &str,
    options: &ImportOptions,
) -> (Result<modelseal::import::Report, ImportError>, Duration) {
    let (_dir, path) = input();
    // Compile the module first so the timings below measure the run only.
    let _ = modelseal::sandbox::engine::compiled().expect("module compiles");
    let started = Instant::now();
    let result = inspect_model_with_test_hook(&path, options, hook);
    (result, started.elapsed())
}

#[test]
fn time_limit_interrupts_an_endless_loop() {
    let mut options = ImportOptions::default();
    options.limits.timeout = Duration::from_millis(300);
    let (result, took) = run("__test_spin", &options);
    let err = result.unwrap_err();
    assert!(
        matches!(err, ImportError::Sandbox(SandboxError::Timeout { limit }) if limit == Duration::from_millis(300)),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "loader exceeded its 300 ms time limit");
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn memory_limit_stops_an_allocation_bomb() {
    let mut options = ImportOptions::default();
    options.limits.max_memory = 64 << 20;
    let (result, took) = run("__test_alloc", &options);
    let err = result.unwrap_err();
    assert!(
        matches!(err, ImportError::Sandbox(SandboxError::MemoryLimit { limit }) if limit == 64 << 20),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "loader exceeded its 64 MiB memory limit");
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn default_memory_limit_is_one_gib() {
    let (result, took) = run("__test_alloc", &ImportOptions::default());
    let err = result.unwrap_err();
    assert_eq!(err.to_string(), "loader exceeded its 1 GiB memory limit");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn stack_limit_stops_unbounded_recursion() {
    let (result, took) = run("__test_deep", &ImportOptions::default());
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            ImportError::Sandbox(SandboxError::StackOverflow { .. })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("nested too deeply"), "{err}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn wasm_stack_limit_stops_unbounded_calls() {
    let (result, took) = run("__test_deep_calls", &ImportOptions::default());
    let err = result.unwrap_err();
    assert!(
        matches!(
            err,
            ImportError::Sandbox(SandboxError::StackOverflow { shadow: false })
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "loader exceeded its 4 MiB stack limit: the input is nested too deeply"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
}

#[test]
fn guest_panic_message_reaches_the_error() {
    let (result, _) = run("__test_panic", &ImportOptions::default());
    let err = result.unwrap_err();
    match &err {
        ImportError::Sandbox(SandboxError::GuestPanic { message }) => {
            assert!(message.contains("test panic"), "{message}");
        }
        other => panic!("expected a guest panic, got {other:?}"),
    }
    assert!(err.to_string().starts_with("loader panicked: "), "{err}");
}

#[test]
fn the_store_is_fresh_for_each_input() {
    // A trap in one run must not affect the next one.
    let mut options = ImportOptions::default();
    options.limits.timeout = Duration::from_millis(100);
    let (first, _) = run("__test_spin", &options);
    assert!(first.is_err());
    let (second, _) = run("__test_panic", &ImportOptions::default());
    assert!(matches!(
        second,
        Err(ImportError::Sandbox(SandboxError::GuestPanic { .. }))
    ));
}

#[test]
fn test_hooks_cannot_be_selected_by_users() {
    let (_dir, path) = input();
    let options = ImportOptions {
        format: Some("__test_spin".into()),
        ..ImportOptions::default()
    };
    let err = modelseal::import::inspect_model(&path, &options).unwrap_err();
    assert!(matches!(err, ImportError::UnknownFormat(_)), "{err:?}");
    let out = path.with_extension("safetensors");
    let err = modelseal::import::import(&path, &out, &options).unwrap_err();
    assert!(matches!(err, ImportError::UnknownFormat(_)), "{err:?}");
    assert!(!out.exists());
}

#[test]
fn per_import_overhead_is_small() {
    let compiled = modelseal::sandbox::engine::compiled().expect("module compiles");
    eprintln!(
        "module: {} bytes, compiled in {:?}",
        modelseal::sandbox::engine::LOADER_WASM.len(),
        compiled.compile_time
    );
    let (_dir, path) = input();
    let options = ImportOptions::default();
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let started = Instant::now();
        // An input no loader recognises: instantiate, parse options, answer, tear down.
        let err = modelseal::import::inspect_model(&path, &options).unwrap_err();
        assert!(!matches!(err, ImportError::Sandbox(_)), "{err:?}");
        best = best.min(started.elapsed());
    }
    eprintln!("per-import overhead (instantiate + run on a tiny file): {best:?}");
    assert!(best < Duration::from_millis(500), "{best:?}");
}
