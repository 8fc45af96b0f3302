//! Verified deployment into a target directory (`docs/format.md` §10.4).
//!
//! ```text
//! DIR/versions/<name>-<version>-<digest12>.zip   the bundle (re-verified before every use)
//! DIR/versions/<name>-<version>-<digest12>/      its files, extracted after verification
//! DIR/current -> versions/<name>-<version>-<digest12>   switched atomically
//! DIR/.modelseal-deploy.json                     the deployer's state (log checkpoint)
//! DIR/.modelseal-deploy.lock                     held while a deployer runs
//! ```
//!
//! One switch: download the blob next to its final place and check its SHA-256
//! ([`DeployStep::Fetched`]); verify the bundle under the trust while extracting it into a
//! private directory that is renamed into place only if everything verified
//! ([`DeployStep::Extracted`]); create the symlink `current.tmp` ([`DeployStep::LinkCreated`])
//! and rename it over `current` ([`DeployStep::Switched`]); save the state
//! ([`DeployStep::StateSaved`]); prune old versions, never the one `current` points to
//! ([`DeployStep::Pruned`]). Whatever step a crash interrupts, `current` points to a
//! complete verified version (the old one before the rename, the new one after), and the
//! next run cleans up and finishes.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::log::{Action, Checkpoint, Log, LogError, Stage};
use super::ops::{self, Registry, RegistryError};
use super::store;
use super::view::{StageEvent, View};
use crate::bundle::{self, TrustPolicy, VerifiedBundle, VerifyError, VerifyOptions};
use crate::digest::Sha256Digest;
use crate::fsutil;
use crate::manifest;

/// The deployer's state file in the target directory.
pub const STATE_FILE: &str = ".modelseal-deploy.json";
/// The lock file in the target directory.
pub const LOCK_FILE: &str = ".modelseal-deploy.lock";
/// Schema id of the state file.
pub const STATE_SCHEMA: &str = "modelseal-deploy-state-v1";
/// Largest state file accepted.
const MAX_STATE_BYTES: u64 = 1 << 20;
/// Versions kept by default (the current one and the ones before it).
pub const DEFAULT_KEEP: usize = 3;
/// Prefix of the deployer's temporary files and directories in `versions/`.
const TEMP_PREFIX: &str = ".modelseal-";

/// The named steps of a switch (for the crash tests' hook).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployStep {
    /// The bundle was downloaded and its SHA-256 checked.
    Fetched,
    /// The bundle verified and its files are in `versions/<id>/`.
    Extracted,
    /// The symlink `current.tmp` exists.
    LinkCreated,
    /// `current` points to the new version.
    Switched,
    /// The state file records the new version.
    StateSaved,
    /// Old versions were removed.
    Pruned,
}

impl DeployStep {
    /// Every step, in order.
    pub const ALL: [DeployStep; 6] = [
        DeployStep::Fetched,
        DeployStep::Extracted,
        DeployStep::LinkCreated,
        DeployStep::Switched,
        DeployStep::StateSaved,
        DeployStep::Pruned,
    ];

    /// The step's name (`fetched`, `extracted`, …).
    pub fn name(self) -> &'static str {
        match self {
            DeployStep::Fetched => "fetched",
            DeployStep::Extracted => "extracted",
            DeployStep::LinkCreated => "link-created",
            DeployStep::Switched => "switched",
            DeployStep::StateSaved => "state-saved",
            DeployStep::Pruned => "pruned",
        }
    }

    /// The step called `name`.
    pub fn from_name(name: &str) -> Option<DeployStep> {
        DeployStep::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// How to deploy.
#[derive(Clone)]
pub struct DeployOptions {
    /// How many versions to keep in `versions/` (at least 1; the current one always stays).
    pub keep: usize,
    /// How to verify bundles (threads, limits; `extract_to` is ignored).
    pub verify: VerifyOptions,
    /// Called after each step of a switch. Test-only: the crash tests abort the process
    /// here; production code leaves it `None`.
    pub step_hook: Option<Arc<dyn Fn(DeployStep) + Send + Sync>>,
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions {
            keep: DEFAULT_KEEP,
            verify: VerifyOptions::default(),
            step_hook: None,
        }
    }
}

impl fmt::Debug for DeployOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeployOptions")
            .field("keep", &self.keep)
            .field("verify", &self.verify)
            .finish_non_exhaustive()
    }
}

/// A deployment failed; whatever `current` pointed to still serves.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// The registry or its log cannot be read or trusted.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The version the stage names does not verify; it was not deployed.
    #[error("refused {name}@{version} (log entry {entry}): {reason}")]
    Refused {
        /// Model.
        name: String,
        /// Version.
        version: String,
        /// The stage entry that named it.
        entry: u64,
        /// Why.
        reason: String,
    },
    /// The stage holds nothing (yet).
    #[error("{name} has no version in {stage}")]
    NothingInStage {
        /// Model.
        name: String,
        /// Stage.
        stage: Stage,
    },
    /// Another deployer works on this directory.
    #[error("another deployer is running on {0} (it holds {LOCK_FILE})")]
    Busy(PathBuf),
    /// The target directory cannot be used as it is.
    #[error("{path}: {detail}")]
    Target {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Local I/O failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl From<LogError> for DeployError {
    fn from(e: LogError) -> Self {
        DeployError::Registry(RegistryError::Log(e))
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> DeployError + '_ {
    move |source| DeployError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What is deployed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployed {
    /// Model.
    pub name: String,
    /// Version.
    pub version: String,
    /// SHA-256 of the bundle.
    pub bundle: Sha256Digest,
    /// The directory name under `versions/`.
    pub dir: String,
    /// The log entry that put it in the stage.
    pub entry: u64,
    /// Whether that entry was a promote or a rollback.
    pub action: Action,
}

/// A version that was just switched in (or found in place at start-up): where its files
/// are and a verified handle on its bundle.
#[derive(Debug)]
pub struct Deployment {
    /// What it is.
    pub info: Deployed,
    /// `DIR/versions/<id>`, the extracted files.
    pub path: PathBuf,
    /// The bundle, verified under the trust; reads re-check digests.
    pub bundle: VerifiedBundle,
    /// `true` if this poll switched `current` to it; `false` if it was already in place
    /// (first poll after a start).
    pub switched: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    schema: String,
    registry: String,
    name: String,
    stage: Stage,
    checkpoint: Option<Checkpoint>,
    current: Option<Deployed>,
    history: Vec<String>,
}

/// Deploys one model stage from a registry into a directory; see the module docs.
#[derive(Debug)]
pub struct Deployer {
    registry: Registry,
    name: String,
    stage: Stage,
    target: PathBuf,
    options: DeployOptions,
    log: Log,
    state: State,
    handed_out: Option<Deployed>,
    refused: Option<(u64, Sha256Digest)>,
    _lock: File,
}

impl Deployer {
    /// Prepare to deploy `name`'s `stage` from `registry` into `target` (created if
    /// missing). Takes the directory's lock: one deployer per directory.
    pub fn new(
        registry: Registry,
        name: &str,
        stage: Stage,
        target: &Path,
        options: DeployOptions,
    ) -> Result<Deployer, DeployError> {
        manifest::validate_label("name", name).map_err(|e| DeployError::Target {
            path: target.to_path_buf(),
            detail: e.to_string(),
        })?;
        if !stage.is_deployable() {
            return Err(DeployError::Target {
                path: target.to_path_buf(),
                detail: format!("cannot deploy the {stage} stage (only production or staging)"),
            });
        }
        let versions = target.join("versions");
        fs::create_dir_all(&versions).map_err(io_at(&versions))?;
        let lock_path = target.join(LOCK_FILE);
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_at(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(DeployError::Busy(target.into())),
            Err(fs::TryLockError::Error(e)) => return Err(io_at(&lock_path)(e)),
        }
        let current = target.join("current");
        match fs::symlink_metadata(&current) {
            Ok(m) if !m.file_type().is_symlink() => {
                return Err(DeployError::Target {
                    path: current,
                    detail: "exists and is not a symlink; move it away".into(),
                });
            }
            _ => {}
        }
        let location = registry.store().location();
        let state = match read_state(&target.join(STATE_FILE))? {
            Some(s) => {
                if s.name != name || s.stage != stage || s.registry != location {
                    return Err(DeployError::Target {
                        path: target.join(STATE_FILE),
                        detail: format!(
                            "this directory deploys {} {} from {}, not {name} {stage} from {location}; use another directory",
                            s.name, s.stage, s.registry
                        ),
                    });
                }
                s
            }
            None => State {
                schema: STATE_SCHEMA.into(),
                registry: location,
                name: name.into(),
                stage,
                checkpoint: None,
                current: None,
                history: Vec::new(),
            },
        };
        let d = Deployer {
            registry,
            name: name.into(),
            stage,
            target: target.to_path_buf(),
            options,
            log: Log::new(),
            state,
            handed_out: None,
            refused: None,
            _lock: lock,
        };
        d.clean_leftovers()?;
        Ok(d)
    }

    /// The target directory.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// What the state file says is deployed.
    pub fn current(&self) -> Option<&Deployed> {
        self.state.current.as_ref()
    }

    /// The highest trusted log entry seen so far (also in the state file).
    pub fn checkpoint(&self) -> Option<Checkpoint> {
        self.state.checkpoint
    }

    /// Check the registry once. Returns the deployment when the caller should (re)load:
    /// a new version was switched in, or — on the first call — the version already in
    /// place (re-verified). `Ok(None)`: nothing changed. On `Err` nothing was switched:
    /// `current` still points to the version that was serving.
    pub fn poll(&mut self, trust: &dyn TrustPolicy) -> Result<Option<Deployment>, DeployError> {
        self.log
            .refresh(self.registry.store(), trust)
            .map_err(RegistryError::Log)?;
        if let Some(cp) = &self.state.checkpoint {
            self.log.check_checkpoint(cp).map_err(RegistryError::Log)?;
        }
        // The checkpoint only moves forward (an entry can stop counting, e.g. when its key
        // is revoked, but it stays in the chain).
        if let Some(cp) = self.log.last_trusted()
            && self.state.checkpoint.is_none_or(|old| cp.index > old.index)
        {
            self.state.checkpoint = Some(cp);
            self.save_state()?;
        }
        let view = View::build(&self.log);
        let event = view
            .model(&self.name)
            .and_then(|m| m.current_event(self.stage))
            .cloned()
            .ok_or_else(|| DeployError::NothingInStage {
                name: self.name.clone(),
                stage: self.stage,
            })?;
        let id = version_dir_name(&self.name, &event.version, &event.bundle);
        let wanted = Deployed {
            name: self.name.clone(),
            version: event.version.clone(),
            bundle: event.bundle,
            dir: id.clone(),
            entry: event.index,
            action: event.action,
        };
        let live = self.current_target();
        if live.as_deref() == Some(id.as_str()) {
            if self.state.current.as_ref().map(|c| (&c.dir, c.bundle)) != Some((&id, event.bundle))
            {
                // A crash after the switch and before the state was saved.
                self.record(&wanted)?;
            }
            if self
                .handed_out
                .as_ref()
                .is_some_and(|h| h.dir == id && h.bundle == event.bundle)
            {
                return Ok(None);
            }
            let bundle = match self.reverify(&event, trust) {
                Ok(b) => b,
                // The local copy of the bundle in place is gone or damaged: fetch it
                // again (the extracted files stay; `current` is not touched).
                Err(_) => self.refetch_bundle(&event, trust)?,
            };
            self.handed_out = Some(wanted.clone());
            return Ok(Some(Deployment {
                path: self.versions().join(&id),
                info: wanted,
                bundle,
                switched: false,
            }));
        }
        if self.refused == Some((event.index, event.bundle)) {
            return Ok(None);
        }
        match self.switch_to(&event, &wanted, trust) {
            Ok(d) => {
                self.refused = None;
                self.handed_out = Some(wanted);
                Ok(Some(d))
            }
            Err(e) => {
                if matches!(e, DeployError::Refused { .. }) {
                    self.refused = Some((event.index, event.bundle));
                }
                Err(e)
            }
        }
    }

    fn versions(&self) -> PathBuf {
        self.target.join("versions")
    }

    fn hook(&self, step: DeployStep) {
        if let Some(h) = &self.options.step_hook {
            h(step);
        }
    }

    /// The directory name `current` points to, if it is a link into `versions/`.
    fn current_target(&self) -> Option<String> {
        let link = fs::read_link(self.target.join("current")).ok()?;
        let rest = link.strip_prefix("versions").ok()?;
        let name = rest.to_str()?;
        (!name.is_empty() && !name.contains('/')).then(|| name.to_string())
    }

    /// Re-verify the bundle of the version in place (start-up, or the caller asks again).
    fn reverify(
        &self,
        event: &StageEvent,
        trust: &dyn TrustPolicy,
    ) -> Result<VerifiedBundle, DeployError> {
        let id = version_dir_name(&self.name, &event.version, &event.bundle);
        let zip = self.versions().join(format!("{id}.zip"));
        let refused = |reason: String| DeployError::Refused {
            name: self.name.clone(),
            version: event.version.clone(),
            entry: event.index,
            reason,
        };
        let (digest, _) = store::hash_file(&zip).map_err(io_at(&zip))?;
        if digest != event.bundle {
            return Err(refused(format!(
                "the local copy {} has sha256 {digest}, not {}",
                zip.display(),
                event.bundle
            )));
        }
        let verified = bundle::verify(&zip, trust, &self.verify_options())
            .map_err(|e| refused(e.to_string()))?;
        check_identity(&verified, &self.name, event).map_err(refused)?;
        Ok(verified)
    }

    /// Download the bundle of the version in place again into `versions/<id>.zip` and
    /// verify it (without extracting).
    fn refetch_bundle(
        &self,
        event: &StageEvent,
        trust: &dyn TrustPolicy,
    ) -> Result<VerifiedBundle, DeployError> {
        let versions = self.versions();
        let id = version_dir_name(&self.name, &event.version, &event.bundle);
        let zip = versions.join(format!("{id}.zip"));
        let refused = |reason: String| DeployError::Refused {
            name: self.name.clone(),
            version: event.version.clone(),
            entry: event.index,
            reason,
        };
        let download = ops::fetch_blob(self.registry.store(), &event.bundle, Some(&versions))
            .map_err(|e| match e {
                RegistryError::BlobMismatch { .. } => refused(e.to_string()),
                other => DeployError::Registry(other),
            })?;
        let verified = bundle::verify(download.path(), trust, &self.verify_options())
            .map_err(|e| refused(e.to_string()))?;
        check_identity(&verified, &self.name, event).map_err(refused)?;
        drop(verified);
        download.persist(&zip).map_err(|e| DeployError::Io {
            path: zip.clone(),
            source: e.error,
        })?;
        fsutil::sync_dir(&versions);
        self.reverify(event, trust)
    }

    fn verify_options(&self) -> VerifyOptions {
        VerifyOptions {
            extract_to: None,
            ..self.options.verify.clone()
        }
    }

    fn switch_to(
        &mut self,
        event: &StageEvent,
        wanted: &Deployed,
        trust: &dyn TrustPolicy,
    ) -> Result<Deployment, DeployError> {
        let versions = self.versions();
        let dir = versions.join(&wanted.dir);
        let zip = versions.join(format!("{}.zip", wanted.dir));
        let refused = |reason: String| DeployError::Refused {
            name: self.name.clone(),
            version: event.version.clone(),
            entry: event.index,
            reason,
        };
        // Reuse a version kept from before if its bundle still verifies.
        let mut bundle = None;
        if dir.is_dir() && zip.is_file() {
            match self.reverify(event, trust) {
                Ok(b) => bundle = Some(b),
                Err(_) => self.remove_version(&wanted.dir)?,
            }
        } else if dir.exists() || zip.exists() {
            self.remove_version(&wanted.dir)?;
        }
        let bundle = match bundle {
            Some(b) => b,
            None => {
                let download =
                    ops::fetch_blob(self.registry.store(), &event.bundle, Some(&versions))
                        .map_err(|e| match e {
                            RegistryError::BlobMismatch { .. } => refused(e.to_string()),
                            other => DeployError::Registry(other),
                        })?;
                download.persist(&zip).map_err(|e| DeployError::Io {
                    path: zip.clone(),
                    source: e.error,
                })?;
                fsutil::sync_dir(&versions);
                self.hook(DeployStep::Fetched);
                let options = VerifyOptions {
                    extract_to: Some(dir.clone()),
                    ..self.options.verify.clone()
                };
                let verified = match bundle::verify(&zip, trust, &options) {
                    Ok(v) => v,
                    Err(e) => {
                        let _ = fs::remove_file(&zip);
                        return Err(match e {
                            VerifyError::Rejected(_) => refused(e.to_string()),
                            other => DeployError::Io {
                                path: dir.clone(),
                                source: io::Error::other(other.to_string()),
                            },
                        });
                    }
                };
                if let Err(why) = check_identity(&verified, &self.name, event) {
                    self.remove_version(&wanted.dir)?;
                    return Err(refused(why));
                }
                self.hook(DeployStep::Extracted);
                verified
            }
        };

        // Switch: a new symlink renamed over the old one.
        let link_tmp = self.target.join("current.tmp");
        remove_if_exists(&link_tmp)?;
        std::os::unix::fs::symlink(Path::new("versions").join(&wanted.dir), &link_tmp)
            .map_err(io_at(&link_tmp))?;
        self.hook(DeployStep::LinkCreated);
        let current = self.target.join("current");
        fs::rename(&link_tmp, &current).map_err(io_at(&current))?;
        fsutil::sync_dir(&self.target);
        self.hook(DeployStep::Switched);
        self.record(wanted)?;
        self.hook(DeployStep::StateSaved);
        self.prune()?;
        self.hook(DeployStep::Pruned);
        Ok(Deployment {
            info: wanted.clone(),
            path: dir,
            bundle,
            switched: true,
        })
    }

    /// Record `d` as current in the state file.
    fn record(&mut self, d: &Deployed) -> Result<(), DeployError> {
        self.state.history.retain(|h| *h != d.dir);
        self.state.history.push(d.dir.clone());
        self.state.current = Some(d.clone());
        self.save_state()
    }

    fn save_state(&self) -> Result<(), DeployError> {
        let path = self.target.join(STATE_FILE);
        let mut bytes = serde_json::to_vec_pretty(&self.state).map_err(|e| DeployError::Io {
            path: path.clone(),
            source: io::Error::other(e),
        })?;
        bytes.push(b'\n');
        fsutil::write_atomic(&path, &bytes, 0o644).map_err(io_at(&path))
    }

    /// Remove versions beyond the newest `keep`, and anything else in `versions/` that is
    /// not kept — never the one `current` points to.
    fn prune(&mut self) -> Result<(), DeployError> {
        let keep = self.options.keep.max(1);
        let start = self.state.history.len().saturating_sub(keep);
        let kept: Vec<String> = self.state.history.get(start..).unwrap_or_default().to_vec();
        self.state.history = kept.clone();
        let live = self.current_target();
        let versions = self.versions();
        for entry in fs::read_dir(&versions).map_err(io_at(&versions))? {
            let entry = entry.map_err(io_at(&versions))?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else {
                continue;
            };
            let id = name.strip_suffix(".zip").unwrap_or(name);
            if kept.iter().any(|k| k == id) || live.as_deref() == Some(id) {
                continue;
            }
            remove_any(&entry.path())?;
        }
        fsutil::sync_dir(&versions);
        self.save_state()
    }

    fn remove_version(&self, id: &str) -> Result<(), DeployError> {
        if self.current_target().as_deref() == Some(id) {
            return Err(DeployError::Target {
                path: self.versions().join(id),
                detail: "is what current points to; refusing to remove it".into(),
            });
        }
        let versions = self.versions();
        remove_any(&versions.join(id))?;
        remove_any(&versions.join(format!("{id}.zip")))
    }

    /// Remove what an interrupted run left: `current.tmp` and temporary files.
    fn clean_leftovers(&self) -> Result<(), DeployError> {
        remove_if_exists(&self.target.join("current.tmp"))?;
        let versions = self.versions();
        for entry in fs::read_dir(&versions).map_err(io_at(&versions))? {
            let entry = entry.map_err(io_at(&versions))?;
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                remove_any(&entry.path())?;
            }
        }
        Ok(())
    }
}

/// The directory name of a version: `<name>-<version>-<first 12 hex digits of the digest>`.
pub fn version_dir_name(name: &str, version: &str, bundle: &Sha256Digest) -> String {
    let hex = bundle.to_string();
    format!("{name}-{version}-{}", hex.get(..12).unwrap_or(&hex))
}

fn check_identity(verified: &VerifiedBundle, name: &str, event: &StageEvent) -> Result<(), String> {
    let m = verified.manifest();
    if m.name != name || m.version != event.version {
        return Err(format!(
            "the bundle is {}@{}, not {name}@{}",
            m.name, m.version, event.version
        ));
    }
    Ok(())
}

fn read_state(path: &Path) -> Result<Option<State>, DeployError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_at(path)(e)),
    };
    if !meta.is_file() || meta.len() > MAX_STATE_BYTES {
        return Err(DeployError::Target {
            path: path.to_path_buf(),
            detail: "is not a regular file of at most 1 MiB".into(),
        });
    }
    let bytes = fs::read(path).map_err(io_at(path))?;
    let state: State = serde_json::from_slice(&bytes).map_err(|e| DeployError::Target {
        path: path.to_path_buf(),
        detail: format!("unreadable deploy state: {e}"),
    })?;
    if state.schema != STATE_SCHEMA {
        return Err(DeployError::Target {
            path: path.to_path_buf(),
            detail: format!("unsupported state schema {:?}", state.schema),
        });
    }
    Ok(Some(state))
}

fn remove_if_exists(path: &Path) -> Result<(), DeployError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_at(path)(e)),
    }
}

fn remove_any(path: &Path) -> Result<(), DeployError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_at(path)(e)),
    };
    let result = if meta.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_at(path)(e)),
    }
}
