//! The import pipeline: open the input → run the loaders in the sandbox → validate the
//! descriptors → apply the policy → assemble the tensors → write the safetensors file.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::sandbox::engine::hex;
use crate::sandbox::{GuestRun, Sources, loader_module_sha256, run_loader};
use crate::tensor::safetensors::{PlannedTensor, SafetensorsWriter};
use crate::tensor::sink::OutputFile;

use super::assemble;
use super::descriptor::RawOutcome;
use super::error::ImportError;
use super::options::{ImportOptions, check_format};
use super::policy;
use super::report::{Report, TensorSummary};
use super::validate::{
    SourceLengths, SourceRef, TEST_FORMAT_PREFIX, ValidatedModel, ValidationLimits, validate,
};

/// A successful import.
#[derive(Debug, Clone)]
pub struct ImportOutcome {
    /// What was imported.
    pub report: Report,
    /// The safetensors file written.
    pub output: PathBuf,
    /// Its size in bytes.
    pub output_bytes: u64,
    /// Time spent in the sandbox (instantiate + parse).
    pub sandbox_time: Duration,
    /// Time spent assembling and writing the output.
    pub write_time: Duration,
}

/// Import the model file `src` into a safetensors file at `out`.
///
/// The file is parsed only inside the sandbox; its description is validated; the policy
/// refuses dangerous globals (and unknown classes unless allowed); the tensors are written
/// to a temporary file next to `out`, which is renamed into place only when complete. On
/// any error nothing is left at `out`.
pub fn import(
    src: &Path,
    out: &Path,
    options: &ImportOptions,
) -> Result<ImportOutcome, ImportError> {
    let format = check_format(options.format.as_deref())?;
    import_inner(src, out, options, format, false)
}

/// Inspect the model file `src` without writing anything: the report says what `import`
/// would extract and, in `refusal`, why it would refuse the file.
pub fn inspect_model(src: &Path, options: &ImportOptions) -> Result<Report, ImportError> {
    let format = check_format(options.format.as_deref())?;
    inspect_inner(src, options, format, false)
}

/// Test-only: run a `__test_*` hook of the guest. Not part of the API.
#[doc(hidden)]
pub fn inspect_model_with_test_hook(
    src: &Path,
    options: &ImportOptions,
    hook: &str,
) -> Result<Report, ImportError> {
    if !hook.starts_with(TEST_FORMAT_PREFIX) {
        return Err(ImportError::UnknownFormat(hook.to_string()));
    }
    inspect_inner(src, options, hook, true)
}

/// Test-only: import through a `__test_*` hook of the guest. Not part of the API.
#[doc(hidden)]
pub fn import_with_test_hook(
    src: &Path,
    out: &Path,
    options: &ImportOptions,
    hook: &str,
) -> Result<ImportOutcome, ImportError> {
    if !hook.starts_with(TEST_FORMAT_PREFIX) {
        return Err(ImportError::UnknownFormat(hook.to_string()));
    }
    import_inner(src, out, options, hook, true)
}

struct Parsed {
    run: GuestRun,
    model: ValidatedModel,
    source_sha256: String,
}

fn parse(
    src: &Path,
    options: &ImportOptions,
    format: &str,
    test: bool,
    scratch: Option<&Path>,
) -> Result<Parsed, ImportError> {
    let io_err = |source| ImportError::Io {
        action: "reading",
        path: src.to_path_buf(),
        source,
    };
    let sources = Sources::open_input(src, options.limits.max_external_files).map_err(io_err)?;
    crate::sandbox::engine::set_wasm_stack(options.limits.max_wasm_stack)?;
    crate::sandbox::warm_up();
    let source_sha256 = sha256_of(&sources.input().file, sources.input().len).map_err(io_err)?;
    let file_name = src
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let options_json = options.guest_json(format, &file_name);
    let run = run_loader(sources, &options_json, &options.limits, scratch)?;

    let raw: RawOutcome = serde_json::from_slice(&run.result_json).map_err(|e| {
        ImportError::descriptor(
            None,
            "result",
            format!("loader result is not valid JSON: {e}"),
        )
    })?;
    if run.output.limit_hit() {
        return Err(ImportError::Limit {
            message: format!(
                "the loader's output exceeds the output limit of {}",
                crate::sandbox::limits::human_size(options.limits.max_output)
            ),
        });
    }
    let lengths = SourceLengths {
        input: run.sources.input().len,
        output: run.output.len(),
        external: (1..=run.sources.external_count())
            .filter_map(|id| u32::try_from(id).ok())
            .filter_map(|id| run.sources.get(id).map(|s| s.len))
            .collect(),
    };
    let limits = ValidationLimits {
        max_tensors: options.limits.max_tensors,
        max_output: options.limits.max_output,
    };
    let mut model = validate(raw, &lengths, limits, test)?;
    for refused in &run.refused_opens {
        model
            .warnings
            .push(format!("refused to open external file {refused}"));
    }
    Ok(Parsed {
        run,
        model,
        source_sha256,
    })
}

fn report_of(src: &Path, parsed: &Parsed, refusal: Option<String>) -> Report {
    let model = &parsed.model;
    Report {
        format: model.format.clone(),
        file: src.display().to_string(),
        source_bytes: parsed.run.sources.input().len,
        source_sha256: parsed.source_sha256.clone(),
        loader_sha256: loader_module_sha256().to_string(),
        tensors: model
            .tensors
            .iter()
            .map(|t| TensorSummary {
                name: t.name().to_string(),
                dtype: t.dtype(),
                shape: t.shape().to_vec(),
                nbytes: t.nbytes(),
                extra: t.extra().clone(),
            })
            .collect(),
        total_bytes: model.total_bytes,
        globals: model.globals.clone(),
        warnings: model.warnings.clone(),
        metadata: model.metadata.clone(),
        refusal,
    }
}

fn inspect_inner(
    src: &Path,
    options: &ImportOptions,
    format: &str,
    test: bool,
) -> Result<Report, ImportError> {
    let parsed = parse(src, options, format, test, None)?;
    let refusal = policy::refusal(&parsed.model.globals, options.allow_unknown_classes);
    Ok(report_of(src, &parsed, refusal))
}

fn import_inner(
    src: &Path,
    out: &Path,
    options: &ImportOptions,
    format: &str,
    test: bool,
) -> Result<ImportOutcome, ImportError> {
    let out_dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let parsed = parse(src, options, format, test, Some(&out_dir))?;
    if let Some(message) = policy::refusal(&parsed.model.globals, options.allow_unknown_classes) {
        return Err(ImportError::Refused {
            format: Some(parsed.model.format.clone()),
            message,
            globals: parsed.model.globals.clone(),
        });
    }
    if parsed.model.tensors.is_empty() {
        return Err(ImportError::NoTensors {
            format: parsed.model.format.clone(),
        });
    }
    let started = Instant::now();
    let output_bytes = write_safetensors(&parsed, out, &out_dir, options.progress.as_ref())?;
    let write_time = started.elapsed();
    Ok(ImportOutcome {
        report: report_of(src, &parsed, None),
        output: out.to_path_buf(),
        output_bytes,
        sandbox_time: parsed.run.elapsed,
        write_time,
    })
}

fn source_file(run: &GuestRun, source: SourceRef) -> Option<&File> {
    match source {
        SourceRef::Input => Some(&run.sources.input().file),
        SourceRef::Output => Some(run.output.file()),
        SourceRef::External(id) => run.sources.get(id).map(|s| &s.file),
    }
}

/// Write the safetensors file through a temporary file in `dir`, renamed onto `out` when
/// complete. Returns its size.
fn write_safetensors(
    parsed: &Parsed,
    out: &Path,
    dir: &Path,
    progress: Option<&crate::import::Progress>,
) -> Result<u64, ImportError> {
    let model = &parsed.model;
    let write_err = |source| ImportError::Io {
        action: "writing",
        path: out.to_path_buf(),
        source,
    };
    let metadata = model.header_metadata()?;
    let plan: Vec<PlannedTensor> = model
        .tensors
        .iter()
        .map(|t| PlannedTensor {
            name: t.name().to_string(),
            dtype: t.dtype(),
            shape: t.shape().to_vec(),
            nbytes: t.nbytes(),
        })
        .collect();
    let tmp = tempfile::Builder::new()
        .prefix(".modelseal-import-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(write_err)?;
    // Reserve the blocks up front: much faster than growing the file on ext4/xfs.
    let data_bytes = plan
        .iter()
        .fold(0u64, |acc, t| acc.saturating_add(t.nbytes));
    crate::fsutil::preallocate(tmp.as_file(), 0, data_bytes);
    {
        let sink = OutputFile::new(tmp.as_file());
        let mut writer = SafetensorsWriter::begin(sink, plan, &metadata)?;
        for t in &model.tensors {
            let file = source_file(&parsed.run, t.source()).ok_or_else(|| {
                ImportError::descriptor(Some(t.name()), "storage", "source vanished")
            })?;
            writer.write_tensor(|w| {
                assemble::write_tensor(t, file, w).map_err(|e| ImportError::Io {
                    action: "copying tensor data for",
                    path: out.to_path_buf(),
                    source: io::Error::new(e.kind(), format!("tensor {:?}: {e}", t.name())),
                })
            })?;
            if let Some(p) = progress {
                (p.0)(t.nbytes());
            }
        }
        let mut sink = writer.finish()?;
        sink.flush().map_err(write_err)?;
    }
    let file = tmp.as_file();
    file.sync_all().map_err(write_err)?;
    let size = file.metadata().map_err(write_err)?.len();
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(write_err)?;
    }
    tmp.persist(out).map_err(|e| write_err(e.error))?;
    Ok(size)
}

/// SHA-256 of the first `len` bytes of `file`, read with positioned reads.
fn sha256_of(file: &File, len: u64) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0u64;
    while at < len {
        let n = (len - at).min(buf.len() as u64) as usize;
        let chunk = &mut buf[..n];
        file.read_exact_at(chunk, at)?;
        hasher.update(&*chunk);
        at += n as u64;
    }
    Ok(hex(&hasher.finalize()))
}
