//! `modelseal import`: turn an untrusted model file into a safetensors file (or a signed
//! bundle) by parsing it only inside the sandbox.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::progress::Progress;
use super::units::{parse_duration, parse_size, parse_stack};
use super::{CliError, Exit, Output};
use modelseal::bundle::SignOptions;
use modelseal::import::bundle::{default_bundle_name, import_to_bundle};
use modelseal::import::{ErrorClass, ImportError, ImportOptions, ImportOutcome, import};
use modelseal::keys;
use modelseal::sandbox::limits::{human_duration, human_size};

/// Import an untrusted model file (PyTorch, pickle, joblib, NumPy, safetensors, Keras/HDF5,
/// ONNX, GGUF) as a safetensors file.
///
/// The file is parsed only inside a WebAssembly sandbox with no access to anything but the
/// file itself (and external data files next to it, never through symlinks). Nothing in
/// the file is executed. Pickle-based files referencing code-execution, file or network
/// globals, or unknown globals, are refused, as are unknown classes unless
/// --allow-unknown-classes is given.
///
/// The output is written to a temporary file next to OUT and renamed into place only when
/// complete: on any failure nothing is left at OUT. With --key, OUT is a signed bundle
/// holding model.safetensors and import-record.json (source SHA-256, detected format,
/// loader module SHA-256, limits, report).
///
/// Limits (sizes accept B, KiB/K, MiB/M, GiB/G, TiB/T, KB/MB/GB/TB; durations 500ms, 60s,
/// 2m or plain seconds):
///   --max-memory   sandbox memory                      (default 1GiB)
///   --timeout      wall time of the parse              (default 60s)
///   --max-output   decoded bytes and tensor data       (default 16GiB)
///   --max-tensors  number of tensors                   (default 100000)
///   --max-stack    wasm stack of the loader            (default 4MiB)
///   --max-depth, --max-memo, --max-objects, --max-decompressed: the loaders' own
///                  limits on nesting, pickle memo, objects built and decompressed bytes
///                  (defaults 1000, 1000000, 10000000, 4GiB)
/// Fixed limits: loader result 64 MiB, 256 external files, 16 dimensions, tensor names of
/// 1024 bytes, 10000 metadata entries of 64 KiB.
///
/// Exit codes: 0 imported; 1 input refused (dangerous globals, no tensors, malformed or
/// unsupported content, a limit hit), nothing written; 2 usage error; 3 any other failure
/// (I/O, key file).
#[derive(Debug, clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The model file to import.
    #[arg(value_name = "SRC")]
    pub src: PathBuf,
    /// Output: a .safetensors file, or with --key a signed bundle (.zip).
    #[arg(long, value_name = "OUT")]
    pub out: PathBuf,
    /// How to parse SRC.
    #[command(flatten)]
    pub loader: LoaderArgs,
    /// Sign the result into a bundle with this secret key (from `modelseal keygen`).
    #[arg(long, value_name = "K.key")]
    pub key: Option<PathBuf>,
    /// With --key: bundle name (default: SRC's file stem).
    #[arg(long, requires = "key")]
    pub name: Option<String>,
    /// With --key: bundle version.
    #[arg(long, requires = "key", default_value = "unversioned")]
    pub version: String,
    /// Print the result (or the error) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print nothing on success.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The loader options shared by `import` and `inspect`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoaderArgs {
    /// Format id (default: detect from the content): pickle, pytorch-zip, pytorch-legacy,
    /// pytorch-tar, npy, npz, joblib, safetensors, keras, keras-h5, hdf5, onnx, gguf.
    #[arg(long, value_name = "F")]
    pub format: Option<String>,
    /// Import tensors held by objects of unknown (but not dangerous) classes.
    #[arg(long)]
    pub allow_unknown_classes: bool,
    /// Decode the quantized tensor types modelseal can (GGUF Q8_0, Q4_0) to F32; other
    /// quantized types are kept as raw blocks (U8, with the ggml type in the metadata).
    #[arg(long)]
    pub dequantize: bool,
    /// Sandbox memory limit.
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size)]
    pub max_memory: u64,
    /// Time limit of the parse.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Limit on decoded bytes and on the tensor data written.
    #[arg(long, value_name = "SIZE", default_value = "16GiB", value_parser = parse_size)]
    pub max_output: u64,
    /// Limit on the number of tensors.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_tensors: u64,
    /// Nesting depth the loaders accept (pickle containers, HDF5 groups, ONNX subgraphs,
    /// GGUF arrays).
    #[arg(long, value_name = "N", default_value_t = modelseal::import::options::DEFAULT_MAX_DEPTH)]
    pub max_depth: u64,
    /// Pickle memo entries.
    #[arg(long, value_name = "N", default_value_t = modelseal::import::options::DEFAULT_MAX_MEMO)]
    pub max_memo: u64,
    /// Objects a loader may build while parsing.
    #[arg(long, value_name = "N", default_value_t = modelseal::import::options::DEFAULT_MAX_OBJECTS)]
    pub max_objects: u64,
    /// Bytes produced by decompression inside the loader (compressed joblib, npz members,
    /// HDF5 chunks): against decompression bombs.
    #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = parse_size)]
    pub max_decompressed: u64,
    /// Wasm stack of the loader (deeply nested input needs more), 256KiB to 256MiB.
    #[arg(long, value_name = "SIZE", default_value = "4MiB", value_parser = parse_stack)]
    pub max_stack: u64,
}

impl LoaderArgs {
    /// The import options these flags select.
    pub fn options(&self) -> ImportOptions {
        let mut options = ImportOptions {
            format: self.format.clone(),
            allow_unknown_classes: self.allow_unknown_classes,
            dequantize: self.dequantize,
            ..ImportOptions::default()
        };
        options.limits.max_memory = self.max_memory;
        options.limits.timeout = self.timeout;
        options.limits.max_output = self.max_output;
        options.limits.max_tensors = self.max_tensors;
        options.limits.max_wasm_stack = self.max_stack;
        options.loader.max_depth = self.max_depth;
        options.loader.max_memo = self.max_memo;
        options.loader.max_objects = self.max_objects;
        options.loader.max_decompressed = self.max_decompressed;
        options
    }
}

#[derive(Serialize)]
struct Success<'a> {
    output: &'a Path,
    output_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    bundle_key_id: Option<String>,
    report: &'a modelseal::import::Report,
}

/// Run the command.
pub fn run(args: Args) -> Result<(), CliError> {
    let output = Output { json: args.json };
    let mut options = args.loader.options();
    let source_size = std::fs::metadata(&args.src).map(|m| m.len()).unwrap_or(0);
    let progress = Progress::bytes(source_size, "importing", args.quiet || args.json);
    options.progress = progress.callback().map(modelseal::import::Progress);
    let is_zip = args
        .out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    if is_zip && args.key.is_none() {
        return Err(CliError::usage(format!(
            "{} looks like a bundle but no --key was given",
            args.out.display()
        ))
        .hint("add --key K.key to sign a bundle, or use a .safetensors output"));
    }
    let result: Result<(ImportOutcome, Option<String>), ImportError> = match &args.key {
        None => import(&args.src, &args.out, &options).map(|o| (o, None)),
        Some(key_path) => {
            let key =
                keys::load_secret_key(key_path).map_err(|e| CliError::failure(e.to_string()))?;
            let name = args
                .name
                .clone()
                .unwrap_or_else(|| default_bundle_name(&args.src));
            let sign_options = SignOptions::new(name, args.version.clone());
            import_to_bundle(&args.src, &args.out, &options, &key, sign_options)
                .map(|(o, s)| (o, Some(s.key_id.to_string())))
        }
    };
    match result {
        Ok((outcome, key_id)) => {
            if args.json {
                output.print_json(&Success {
                    output: &args.out,
                    output_bytes: outcome.output_bytes,
                    bundle_key_id: key_id.clone(),
                    report: &outcome.report,
                })?;
            } else if !args.quiet {
                print_success(&args, &outcome, key_id.as_deref());
            }
            Ok(())
        }
        Err(err) => Err(report_error(&args.src, &err, &options, output)),
    }
}

fn print_success(args: &Args, outcome: &ImportOutcome, key_id: Option<&str>) {
    let r = &outcome.report;
    println!(
        "imported {} ({}, {} tensors, {} of tensor data)",
        args.src.display(),
        r.format,
        r.tensors.len(),
        human_size(r.total_bytes)
    );
    match key_id {
        Some(id) => println!("signed bundle {} (key {id})", args.out.display()),
        None => println!("wrote {}", args.out.display()),
    }
    for w in &r.warnings {
        println!("warning: {w}");
    }
}

#[derive(Serialize)]
struct ErrorJson<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    class: &'static str,
    message: String,
    globals: &'a [modelseal::import::GlobalEntry],
}

/// The CLI error for a failed import or inspection: anything caused by the input (policy
/// refusal, malformed or unsupported content, a limit hit) exits 1, anything else 3;
/// refusals list the globals at fault; limit errors suggest the flag to raise.
pub fn report_error(
    src: &Path,
    err: &ImportError,
    options: &ImportOptions,
    output: Output,
) -> CliError {
    let class = err.class();
    let exit = match (class, err) {
        (_, ImportError::UnknownFormat(_)) => Exit::Usage,
        (ErrorClass::Refused | ErrorClass::Malformed | ErrorClass::Limit, _) => Exit::Rejected,
        (ErrorClass::Failure, _) => Exit::Failure,
    };
    if output.json {
        let _ = output.print_json(&ErrorJson {
            error: ErrorBody {
                class: match class {
                    ErrorClass::Refused => "refused",
                    ErrorClass::Malformed => "malformed",
                    ErrorClass::Limit => "limit",
                    ErrorClass::Failure => "failure",
                },
                message: err.to_string(),
                globals: err.globals(),
            },
        });
    }
    // The message of a refusal already names the offending globals (all of them are in
    // the JSON output).
    let mut cli = CliError::new(exit, format!("{}: {err}", src.display()));
    let hint = match err {
        ImportError::Sandbox(modelseal::sandbox::SandboxError::MemoryLimit { .. }) => {
            Some(format!(
                "if the file is trusted to be this large, raise --max-memory (now {})",
                human_size(options.limits.max_memory)
            ))
        }
        ImportError::Sandbox(modelseal::sandbox::SandboxError::Timeout { .. }) => Some(format!(
            "if the file is expected to take this long, raise --timeout (now {})",
            human_duration(options.limits.timeout)
        )),
        ImportError::Limit { message } if message.contains("output") => Some(format!(
            "raise --max-output (now {}) if this size is expected",
            human_size(options.limits.max_output)
        )),
        ImportError::Limit { message } if message.contains("tensors") => Some(format!(
            "raise --max-tensors (now {}) if this count is expected",
            options.limits.max_tensors
        )),
        ImportError::NoTensors { .. } => {
            Some("the file holds no arrays; nothing can be imported".to_string())
        }
        ImportError::UnknownFormat(_) => Some("leave out --format to detect it".to_string()),
        _ => None,
    };
    if let Some(h) = hint {
        cli = cli.hint(h);
    }
    cli
}
