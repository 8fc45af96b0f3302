//! Model inspection (`modelseal inspect MODEL`): what an import would extract from a model
//! file, which globals it references with their risk class, and whether import would
//! refuse it. The file is parsed in the sandbox; nothing is written.

use std::path::Path;

use super::import::report_error;
use super::{CliError, Exit, Output};
use modelseal::import::{ImportOptions, Report, Risk, inspect_model};
use modelseal::sandbox::limits::human_size;

/// Inspect the model file `src` and print the report (JSON with `json`).
/// Exit: 0 if import would accept the file; 1 if it would refuse it (the report says why)
/// or the loader refuses to parse it; 3 for other failures.
pub fn run(src: &Path, json: bool, options: &ImportOptions) -> Result<(), CliError> {
    let output = Output { json };
    let report = inspect_model(src, options).map_err(|e| report_error(src, &e, options, output))?;
    if json {
        output.print_json(&report)?;
    } else {
        print_report(&report);
    }
    match report.refusal {
        None => Ok(()),
        Some(_) => {
            let mut err = CliError::new(Exit::Rejected, "");
            err.quiet = true;
            Err(err)
        }
    }
}

fn print_report(r: &Report) {
    println!("file:    {}", r.file);
    println!("format:  {}", r.format);
    println!(
        "size:    {} (sha256 {})",
        human_size(r.source_bytes),
        r.source_sha256
    );
    println!(
        "tensors: {} ({} of data)",
        r.tensors.len(),
        human_size(r.total_bytes)
    );
    for t in &r.tensors {
        let shape: Vec<String> = t.shape.iter().map(u64::to_string).collect();
        println!("  {}  {}  [{}]", t.name, t.dtype, shape.join(", "));
    }
    if !r.globals.is_empty() {
        println!("globals:");
        for g in &r.globals {
            let mark = if g.risk == Risk::Allowed { " " } else { "!" };
            println!("{mark} {}  ({})", g.name, g.risk.name());
        }
    }
    if !r.metadata.is_empty() {
        println!("metadata:");
        for (k, v) in &r.metadata {
            println!(
                "  {} = {}",
                modelseal::import::report::sanitize(k, 200),
                modelseal::import::report::sanitize(v, 200)
            );
        }
    }
    for w in &r.warnings {
        println!("warning: {w}");
    }
    match &r.refusal {
        Some(why) => println!("import:  REFUSED: {why}"),
        None => println!("import:  allowed"),
    }
}
