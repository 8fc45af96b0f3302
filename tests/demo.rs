//! The README's run command (`examples/demo.sh`) works: it is the first thing a new user
//! runs, so it is tested like everything else (with the binary under test).

use std::process::Command;

#[test]
fn the_readme_demo_runs_end_to_end() {
    let out = Command::new("bash")
        .arg("examples/demo.sh")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("MODELSEAL", env!("CARGO_BIN_EXE_modelseal"))
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("== demo OK"), "{stdout}");
}
