//! Builds the sandboxed loaders (`wasm-loaders/`) for `wasm32-unknown-unknown` and leaves
//! the module at `$OUT_DIR/modelseal_loaders.wasm`, which `src/sandbox` embeds.
//!
//! The nested cargo gets its own target directory (sharing the outer one deadlocks on its
//! lock) and a clean environment (host RUSTFLAGS and friends break the wasm link). Set
//! `MODELSEAL_GUEST_WASM=/path/to/module.wasm` to embed a prebuilt module instead.

#![forbid(unsafe_code)]

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-unknown-unknown";
const FIX: &str = "the wasm32-unknown-unknown target is not installed; run: rustup target add wasm32-unknown-unknown";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let module_out = out_dir.join("modelseal_loaders.wasm");

    println!("cargo:rerun-if-env-changed=MODELSEAL_GUEST_WASM");
    if let Some(prebuilt) = env::var_os("MODELSEAL_GUEST_WASM") {
        println!("cargo:rerun-if-changed={}", Path::new(&prebuilt).display());
        std::fs::copy(&prebuilt, &module_out).expect("copy MODELSEAL_GUEST_WASM");
        return;
    }

    let guest_dir = manifest_dir.join("wasm-loaders");
    for watched in ["wasm-loaders/src", "wasm-loaders/Cargo.toml", "Cargo.lock"] {
        println!(
            "cargo:rerun-if-changed={}",
            manifest_dir.join(watched).display()
        );
    }

    if !wasm_target_installed() {
        println!("cargo:warning={FIX}");
        panic!("{FIX}");
    }

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let guest_target_dir = out_dir.join("guest-target");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&guest_dir)
        .args(["build", "--locked", "-p", "modelseal-loaders", "--lib"])
        .args([
            "--target",
            TARGET,
            "--profile",
            "wasm-guest",
            "--target-dir",
        ])
        .arg(&guest_target_dir);
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        let leaks = [
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTFLAGS",
            "CARGO_BUILD_RUSTFLAGS",
            "CARGO_TARGET_DIR",
            "RUSTC_WORKSPACE_WRAPPER",
            "RUSTC_WRAPPER",
            "CARGO_MAKEFLAGS",
            "CARGO_LLVM_COV",
        ];
        let leaky_prefix = [
            "CARGO_BUILD_TARGET",
            "CARGO_FEATURE_",
            "CARGO_CFG_",
            "CARGO_PROFILE_",
            "CARGO_TARGET_",
            "CARGO_ENCODED_",
        ];
        if leaks.contains(&key.as_ref()) || leaky_prefix.iter().any(|p| key.starts_with(p)) {
            cmd.env_remove(key.as_ref());
        }
    }
    let status = cmd.status().expect("run cargo for the wasm guest");
    if !status.success() {
        panic!(
            "building the sandboxed loaders (wasm-loaders/) for {TARGET} failed; see the errors above"
        );
    }
    let built = guest_target_dir
        .join(TARGET)
        .join("wasm-guest")
        .join("modelseal_loaders.wasm");
    std::fs::copy(&built, &module_out).expect("copy the built guest module");
}

/// True when the standard library for the wasm target is present in rustc's sysroot.
fn wasm_target_installed() -> bool {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else {
        return true; // let cargo report the real problem
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Path::new(&sysroot)
        .join("lib/rustlib")
        .join(TARGET)
        .join("lib")
        .is_dir()
}
