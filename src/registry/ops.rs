//! Registry operations: publish, list, show, compare, best, promote, roll back, check.
//!
//! Every operation reads the log under a trust policy first; only trusted entries count.
//! Operations that write (publish, promote, rollback) sign their entry with the acting key,
//! which the same trust must accept, and append it with compare-and-swap, re-checking
//! their rules against the latest log on every attempt.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::log::{Action, Draft, Log, LogError, Stage};
use super::store::{self, Store, StoreError};
use super::view::{Model, StageEvent, Version, View};
use crate::bundle::{self, TrustPolicy, VerifiedBundle, VerifyError, VerifyOptions};
use crate::digest::Sha256Digest;
use crate::keys::{KeyId, SecretKey};
use crate::manifest::{self, Manifest};

/// A registry operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The log cannot be trusted.
    #[error(transparent)]
    Log(#[from] LogError),
    /// The bundle does not verify.
    #[error("{0}")]
    Bundle(#[from] VerifyError),
    /// The acting key is not accepted by the trust (its entries would not count).
    #[error("key {key} may not act in the registry ({reason}): its log entries would be ignored")]
    KeyNotTrusted {
        /// The key.
        key: KeyId,
        /// Why.
        reason: String,
    },
    /// The name+version is already published with other content.
    #[error(
        "{name}@{version} is already published with other content (sha256 {existing}); publish a new version instead"
    )]
    Duplicate {
        /// Model.
        name: String,
        /// Version.
        version: String,
        /// The bundle already published.
        existing: Sha256Digest,
    },
    /// No such model.
    #[error("no model {0:?} in the registry")]
    NoSuchModel(String),
    /// No such version.
    #[error("no version {version:?} of {name:?} in the registry")]
    NoSuchVersion {
        /// Model.
        name: String,
        /// Version.
        version: String,
    },
    /// The operation makes no sense in the current state.
    #[error("{0}")]
    Refused(String),
    /// A blob's bytes do not have the digest it is stored under.
    #[error(
        "blob sha256:{expected} in the registry has other content (sha256 {actual}): the store was tampered with or damaged"
    )]
    BlobMismatch {
        /// The name.
        expected: Sha256Digest,
        /// What it hashes to.
        actual: Sha256Digest,
    },
    /// A stored manifest cannot be read.
    #[error("manifest of {name}@{version}: {detail}")]
    BadManifest {
        /// Model.
        name: String,
        /// Version.
        version: String,
        /// What is wrong.
        detail: String,
    },
    /// Local I/O failed.
    #[error("{what}: {source}")]
    Io {
        /// The file.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

fn io_err(what: impl std::fmt::Display) -> impl FnOnce(io::Error) -> RegistryError {
    let what = what.to_string();
    move |source| RegistryError::Io { what, source }
}

/// A registry: a store plus the operations on it.
#[derive(Debug)]
pub struct Registry {
    store: Box<dyn Store>,
}

/// The result of [`Registry::publish`].
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    /// Model name.
    pub name: String,
    /// Version.
    pub version: String,
    /// SHA-256 of the bundle.
    pub bundle: Sha256Digest,
    /// Bundle size.
    pub size: u64,
    /// Keys whose signatures made the bundle verify.
    pub signers: Vec<KeyId>,
    /// The new log entry, or `None` if exactly this bundle was already published.
    pub entry: Option<u64>,
}

/// Everything known about one version.
#[derive(Debug, Clone, Serialize)]
pub struct VersionDetails {
    /// Model name.
    pub name: String,
    /// Version.
    pub version: String,
    /// SHA-256 of the bundle.
    pub bundle: Sha256Digest,
    /// Bundle size.
    pub size: u64,
    /// Bundle signers (verified at publish).
    pub signers: Vec<KeyId>,
    /// When and by whom it was published.
    pub published: String,
    /// Publishing key.
    pub publisher: KeyId,
    /// Publish entry.
    pub entry: u64,
    /// Stages it is in now.
    pub stages: Vec<Stage>,
    /// Creation time from the manifest.
    pub created: String,
    /// The signed metadata.
    pub metadata: serde_json::Map<String, Value>,
    /// Numeric metrics from `metadata.metrics` (nested objects flattened with `.`).
    pub metrics: BTreeMap<String, f64>,
    /// Number of files.
    pub files: usize,
    /// Total size of the files.
    pub content_bytes: u64,
    /// Promotions and rollbacks involving it.
    pub events: Vec<EventReport>,
    #[serde(skip)]
    manifest: Manifest,
}

impl VersionDetails {
    /// The verified manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
}

/// A stage event, for reports.
#[derive(Debug, Clone, Serialize)]
pub struct EventReport {
    /// Log index.
    pub entry: u64,
    /// Stage.
    pub stage: Stage,
    /// Promote or rollback.
    pub action: Action,
    /// Version after the event.
    pub version: String,
    /// Rollback: version before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_version: Option<String>,
    /// When.
    pub time: String,
    /// Who.
    pub actor: KeyId,
}

impl EventReport {
    fn new(stage: Stage, e: &StageEvent) -> Self {
        EventReport {
            entry: e.index,
            stage,
            action: e.action,
            version: e.version.clone(),
            from_version: e.from_version.clone(),
            time: e.time.clone(),
            actor: e.actor,
        }
    }
}

/// One metric in a comparison.
#[derive(Debug, Clone, Serialize)]
pub struct MetricDelta {
    /// Metric name.
    pub metric: String,
    /// Value in the first version.
    pub a: Option<f64>,
    /// Value in the second version.
    pub b: Option<f64>,
    /// `b - a` when both exist.
    pub delta: Option<f64>,
}

/// How a file differs between two versions.
#[derive(Debug, Clone, Serialize)]
pub struct FileChange {
    /// Path in the bundle.
    pub path: String,
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    /// Digest in the first version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a: Option<Sha256Digest>,
    /// Digest in the second version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b: Option<Sha256Digest>,
}

/// The result of [`Registry::compare`].
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Model name.
    pub name: String,
    /// First version.
    pub a: String,
    /// Second version.
    pub b: String,
    /// Metrics of either version.
    pub metrics: Vec<MetricDelta>,
    /// Files added, removed or changed (by digest).
    pub files: Vec<FileChange>,
    /// Files identical in both.
    pub unchanged_files: usize,
}

/// The result of [`Registry::best`].
#[derive(Debug, Clone, Serialize)]
pub struct Best {
    /// Model name.
    pub name: String,
    /// The metric.
    pub metric: String,
    /// Whether smaller is better.
    pub minimize: bool,
    /// The best version.
    pub best: String,
    /// Every version with that metric, best first.
    pub ranking: Vec<(String, f64)>,
    /// Versions without that metric.
    pub missing: Vec<String>,
}

/// The result of a promote or rollback.
#[derive(Debug, Clone, Serialize)]
pub struct StageChange {
    /// Model name.
    pub name: String,
    /// Stage.
    pub stage: Stage,
    /// What the stage holds now.
    pub version: String,
    /// Its bundle.
    pub bundle: Sha256Digest,
    /// What it held before.
    pub previous: Option<String>,
    /// The new log entry (`None`: it already held that version).
    pub entry: Option<u64>,
    /// Who acted.
    pub actor: KeyId,
}

impl Registry {
    /// A registry over `store`.
    pub fn new(store: Box<dyn Store>) -> Registry {
        Registry { store }
    }

    /// Open the registry at `location` (see [`super::open_store`]); it must exist.
    pub fn open(location: &str) -> Result<Registry, StoreError> {
        super::open_store(location, false).map(Registry::new)
    }

    /// Open the registry at `location`, creating a local one if missing.
    pub fn open_or_create(location: &str) -> Result<Registry, StoreError> {
        super::open_store(location, true).map(Registry::new)
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Read the whole log under `trust` and derive the state.
    pub fn view(&self, trust: &dyn TrustPolicy) -> Result<(Log, View), RegistryError> {
        let log = Log::load(self.store(), trust)?;
        let view = View::build(&log);
        Ok((log, view))
    }

    /// Verify the bundle at `path` under `trust`, store it and record a publish entry
    /// signed by `key`. Publishing exactly the same bundle again does nothing; another
    /// bundle with a name+version already published is refused.
    pub fn publish(
        &self,
        path: &Path,
        trust: &dyn TrustPolicy,
        key: &SecretKey,
        options: &VerifyOptions,
    ) -> Result<Published, RegistryError> {
        check_actor(trust, key, None)?;
        // Copy first, then verify and store the copy: what is verified is what is stored.
        let staged = store::staging_file(self.store.staging_dir(), ".publish.")
            .map_err(io_err("staging directory"))?;
        let mut input = std::fs::File::open(path).map_err(io_err(path.display()))?;
        let (digest, size) = store::copy_hashing(&mut input, &mut staged.as_file())
            .map_err(io_err(path.display()))?;
        staged
            .as_file()
            .sync_all()
            .map_err(io_err(staged.path().display()))?;
        let verified = bundle::verify(staged.path(), trust, options)?;
        let m = verified.manifest();
        let (name, version) = (m.name.clone(), m.version.clone());
        check_actor(trust, key, Some(&name))?;
        let mut signers = verified.signers().to_vec();
        signers.sort();
        signers.dedup();
        let manifest_digest = Sha256Digest::of(verified.manifest_bytes());

        let mut log = Log::load(self.store(), trust)?;
        if duplicate(&View::build(&log), &name, &version, &digest)? {
            return Ok(published(&name, &version, digest, size, signers, None));
        }
        let manifest_file = store::staging_file(self.store.staging_dir(), ".manifest.")
            .map_err(io_err("staging directory"))?;
        manifest_file
            .as_file()
            .write_all(verified.manifest_bytes())
            .and_then(|()| manifest_file.as_file().sync_all())
            .map_err(io_err(manifest_file.path().display()))?;
        self.store
            .put_blob(&manifest_digest, manifest_file.path())?;
        self.store.put_blob(&digest, staged.path())?;

        let draft = Draft {
            action: Action::Publish,
            name: name.clone(),
            version: version.clone(),
            bundle: digest,
            stage: None,
            size: Some(size),
            manifest: Some(manifest_digest),
            signers: Some(signers.clone()),
            from_version: None,
        };
        let entry = log.append(self.store(), trust, key, |log| {
            if duplicate(&View::build(log), &name, &version, &digest)? {
                return Ok(None);
            }
            Ok::<_, RegistryError>(Some(draft.clone()))
        })?;
        Ok(published(
            &name,
            &version,
            digest,
            size,
            signers,
            entry.map(|e| e.body.index),
        ))
    }

    /// The models in the registry (name → versions), or one model.
    pub fn model(
        &self,
        trust: &dyn TrustPolicy,
        name: &str,
    ) -> Result<(Model, Vec<String>), RegistryError> {
        let (_, view) = self.view(trust)?;
        let model = view
            .model(name)
            .cloned()
            .ok_or_else(|| RegistryError::NoSuchModel(name.into()))?;
        Ok((model, view.warnings))
    }

    /// Details of `name@version`, with its manifest read from the registry and checked
    /// against the digest the publish entry recorded.
    pub fn show(
        &self,
        trust: &dyn TrustPolicy,
        name: &str,
        version: &str,
    ) -> Result<VersionDetails, RegistryError> {
        let (model, _) = self.model(trust, name)?;
        let v = find_version(&model, version)?;
        self.details(&model, v)
    }

    fn details(&self, model: &Model, v: &Version) -> Result<VersionDetails, RegistryError> {
        let manifest = self.manifest(v)?;
        let events = model
            .history
            .iter()
            .flat_map(|(stage, events)| {
                events
                    .iter()
                    .filter(|e| {
                        e.version == v.version || e.from_version.as_deref() == Some(&v.version)
                    })
                    .map(|e| EventReport::new(*stage, e))
            })
            .collect::<Vec<_>>();
        let mut events = events;
        events.sort_by_key(|e| e.entry);
        Ok(VersionDetails {
            name: v.name.clone(),
            version: v.version.clone(),
            bundle: v.bundle,
            size: v.size,
            signers: v.signers.clone(),
            published: v.published.clone(),
            publisher: v.publisher,
            entry: v.index,
            stages: model.stages_of(&v.version),
            created: manifest.created.clone(),
            metadata: manifest.metadata.clone(),
            metrics: metrics_of(&manifest),
            files: manifest.files.len(),
            content_bytes: manifest.total_size(),
            events,
            manifest,
        })
    }

    /// Read a version's manifest blob and check it against the publish entry.
    fn manifest(&self, v: &Version) -> Result<Manifest, RegistryError> {
        let bad = |detail: String| RegistryError::BadManifest {
            name: v.name.clone(),
            version: v.version.clone(),
            detail,
        };
        let mut out = LimitedBuf::new(manifest::MAX_MANIFEST_BYTES);
        self.store.get_blob(&v.manifest, &mut out)?;
        let bytes = out.into_inner().map_err(bad)?;
        let actual = Sha256Digest::of(&bytes);
        if actual != v.manifest {
            return Err(RegistryError::BlobMismatch {
                expected: v.manifest,
                actual,
            });
        }
        let m = Manifest::parse(&bytes).map_err(|e| bad(e.to_string()))?;
        if m.name != v.name || m.version != v.version {
            return Err(bad(format!("it describes {}@{}", m.name, m.version)));
        }
        Ok(m)
    }

    /// Metric deltas and changed files between two versions.
    pub fn compare(
        &self,
        trust: &dyn TrustPolicy,
        name: &str,
        a: &str,
        b: &str,
    ) -> Result<Comparison, RegistryError> {
        let (model, _) = self.model(trust, name)?;
        let ma = self.manifest(find_version(&model, a)?)?;
        let mb = self.manifest(find_version(&model, b)?)?;
        let (xa, xb) = (metrics_of(&ma), metrics_of(&mb));
        let keys: BTreeSet<&String> = xa.keys().chain(xb.keys()).collect();
        let metrics = keys
            .into_iter()
            .map(|k| {
                let (va, vb) = (xa.get(k).copied(), xb.get(k).copied());
                MetricDelta {
                    metric: k.clone(),
                    a: va,
                    b: vb,
                    delta: va.zip(vb).map(|(x, y)| y - x),
                }
            })
            .collect();
        let fa: BTreeMap<&str, Sha256Digest> = ma
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.digest))
            .collect();
        let fb: BTreeMap<&str, Sha256Digest> = mb
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.digest))
            .collect();
        let paths: BTreeSet<&str> = fa.keys().chain(fb.keys()).copied().collect();
        let mut files = Vec::new();
        let mut unchanged_files = 0;
        for p in paths {
            let (da, db) = (fa.get(p).copied(), fb.get(p).copied());
            let change = match (da, db) {
                (Some(x), Some(y)) if x == y => {
                    unchanged_files += 1;
                    continue;
                }
                (Some(_), Some(_)) => "changed",
                (Some(_), None) => "removed",
                _ => "added",
            };
            files.push(FileChange {
                path: p.to_string(),
                change,
                a: da,
                b: db,
            });
        }
        Ok(Comparison {
            name: name.into(),
            a: a.into(),
            b: b.into(),
            metrics,
            files,
            unchanged_files,
        })
    }

    /// The version with the highest (or, with `minimize`, lowest) value of `metric`; ties
    /// go to the most recently published.
    pub fn best(
        &self,
        trust: &dyn TrustPolicy,
        name: &str,
        metric: &str,
        minimize: bool,
    ) -> Result<Best, RegistryError> {
        let (model, _) = self.model(trust, name)?;
        let mut ranking = Vec::new();
        let mut missing = Vec::new();
        for (order, v) in model.versions.iter().enumerate() {
            match metrics_of(&self.manifest(v)?).get(metric) {
                Some(x) if x.is_finite() => ranking.push((order, v.version.clone(), *x)),
                _ => missing.push(v.version.clone()),
            }
        }
        ranking.sort_by(|(oa, _, a), (ob, _, b)| {
            let by_value = if minimize {
                a.total_cmp(b)
            } else {
                b.total_cmp(a)
            };
            by_value.then(ob.cmp(oa))
        });
        let best = ranking.first().map(|(_, v, _)| v.clone()).ok_or_else(|| {
            RegistryError::Refused(format!(
                "no version of {name} has a numeric metric {metric:?} in metadata.metrics"
            ))
        })?;
        Ok(Best {
            name: name.into(),
            metric: metric.into(),
            minimize,
            best,
            ranking: ranking.into_iter().map(|(_, v, x)| (v, x)).collect(),
            missing,
        })
    }

    /// Put `name@version` into `stage`, signed by `key`. For production and staging the
    /// bundle is fetched and verified under `trust` first.
    pub fn promote(
        &self,
        trust: &dyn TrustPolicy,
        key: &SecretKey,
        name: &str,
        version: &str,
        stage: Stage,
        options: &VerifyOptions,
    ) -> Result<StageChange, RegistryError> {
        check_actor(trust, key, Some(name))?;
        let (model, _) = self.model(trust, name)?;
        let v = find_version(&model, version)?.clone();
        if stage.is_deployable() {
            let dir = self.store.staging_dir().map(Path::to_path_buf);
            let (_file, verified) =
                fetch_and_verify(self.store(), &v, trust, options, dir.as_deref())?;
            drop(verified);
        }
        let mut log = Log::new();
        let mut previous = None;
        let entry = log.append(self.store(), trust, key, |log| {
            let view = View::build(log);
            let model = view
                .model(name)
                .ok_or_else(|| RegistryError::NoSuchModel(name.into()))?;
            let v = find_version(model, version)?;
            if stage == Stage::Archived {
                if model.stages_of(version).contains(&Stage::Archived) {
                    return Ok(None);
                }
                for s in [Stage::Production, Stage::Staging] {
                    if model.current(s).is_some_and(|c| c.version == version) {
                        return Err(RegistryError::Refused(format!(
                            "{name}@{version} is in {s}: promote or roll back another version there before archiving it"
                        )));
                    }
                }
            } else if model.current(stage).is_some_and(|c| c.version == version) {
                previous = Some(version.to_string());
                return Ok(None);
            }
            previous = model.current(stage).map(|c| c.version.clone());
            Ok(Some(Draft {
                action: Action::Promote,
                name: name.into(),
                version: version.into(),
                bundle: v.bundle,
                stage: Some(stage),
                size: None,
                manifest: None,
                signers: None,
                from_version: None,
            }))
        })?;
        Ok(StageChange {
            name: name.into(),
            stage,
            version: version.into(),
            bundle: v.bundle,
            previous,
            entry: entry.map(|e| e.body.index),
            actor: key.id(),
        })
    }

    /// Put `stage` back to the version it held before its current one, signed by `key`.
    pub fn rollback(
        &self,
        trust: &dyn TrustPolicy,
        key: &SecretKey,
        name: &str,
        stage: Stage,
    ) -> Result<StageChange, RegistryError> {
        check_actor(trust, key, Some(name))?;
        if !stage.is_deployable() {
            return Err(RegistryError::Refused(format!(
                "only production and staging can be rolled back, not {stage}"
            )));
        }
        let mut log = Log::new();
        let mut change = None;
        let entry = log.append(self.store(), trust, key, |log| {
            let view = View::build(log);
            let model = view
                .model(name)
                .ok_or_else(|| RegistryError::NoSuchModel(name.into()))?;
            let current = model
                .current(stage)
                .ok_or_else(|| RegistryError::Refused(format!("{name} has nothing in {stage}")))?;
            let target = model.rollback_target(stage).ok_or_else(|| {
                RegistryError::Refused(format!(
                    "{name} {stage} has no earlier version to roll back to (it holds {})",
                    current.version
                ))
            })?;
            if !self.store.has_blob(&target.bundle)? {
                return Err(RegistryError::Store(StoreError::NotFound(format!(
                    "the bundle of {name}@{} (blob sha256:{})",
                    target.version, target.bundle
                ))));
            }
            change = Some((
                target.version.clone(),
                target.bundle,
                current.version.clone(),
            ));
            Ok(Some(Draft {
                action: Action::Rollback,
                name: name.into(),
                version: target.version.clone(),
                bundle: target.bundle,
                stage: Some(stage),
                size: None,
                manifest: None,
                signers: None,
                from_version: Some(current.version.clone()),
            }))
        })?;
        let (version, bundle, previous) =
            change.ok_or_else(|| RegistryError::Refused("nothing to roll back".into()))?;
        Ok(StageChange {
            name: name.into(),
            stage,
            version,
            bundle,
            previous: Some(previous),
            entry: entry.map(|e| e.body.index),
            actor: key.id(),
        })
    }

    /// Check the whole registry: the log (chain and signatures) and, for every trusted
    /// version, that its bundle and manifest blobs exist with the right digests; with
    /// `deep`, also verify every bundle. Returns one line per problem and the warnings.
    pub fn check(
        &self,
        trust: &dyn TrustPolicy,
        deep: bool,
        options: &VerifyOptions,
    ) -> Result<CheckReport, RegistryError> {
        let (log, view) = self.view(trust)?;
        let mut problems = Vec::new();
        let mut versions = 0;
        for model in view.models() {
            for v in &model.versions {
                versions += 1;
                if let Err(e) = self.manifest(v) {
                    problems.push(format!("{}@{}: {e}", v.name, v.version));
                }
                let result = if deep {
                    let dir = self.store.staging_dir().map(Path::to_path_buf);
                    fetch_and_verify(self.store(), v, trust, options, dir.as_deref()).map(|_| ())
                } else {
                    let mut hasher = HashingSink::default();
                    self.store
                        .get_blob(&v.bundle, &mut hasher)
                        .map_err(RegistryError::from)
                        .and_then(|_| {
                            let actual = hasher.finish();
                            if actual == v.bundle {
                                Ok(())
                            } else {
                                Err(RegistryError::BlobMismatch {
                                    expected: v.bundle,
                                    actual,
                                })
                            }
                        })
                };
                if let Err(e) = result {
                    problems.push(format!("{}@{}: {e}", v.name, v.version));
                }
            }
        }
        Ok(CheckReport {
            entries: log.next_index(),
            trusted_entries: log.trusted().count() as u64,
            versions,
            warnings: view.warnings,
            problems,
        })
    }
}

/// The result of [`Registry::check`].
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// Log entries.
    pub entries: u64,
    /// Of which trusted.
    pub trusted_entries: u64,
    /// Versions checked.
    pub versions: usize,
    /// Ignored entries.
    pub warnings: Vec<String>,
    /// Missing or damaged blobs, bundles that do not verify.
    pub problems: Vec<String>,
}

fn published(
    name: &str,
    version: &str,
    bundle: Sha256Digest,
    size: u64,
    signers: Vec<KeyId>,
    entry: Option<u64>,
) -> Published {
    Published {
        name: name.into(),
        version: version.into(),
        bundle,
        size,
        signers,
        entry,
    }
}

/// Whether `name@version` is already published with `digest` (`Ok(true)`), not yet
/// (`Ok(false)`), or with other content (error).
fn duplicate(
    view: &View,
    name: &str,
    version: &str,
    digest: &Sha256Digest,
) -> Result<bool, RegistryError> {
    match view.model(name).and_then(|m| m.version(version)) {
        None => Ok(false),
        Some(v) if v.bundle == *digest => Ok(true),
        Some(v) => Err(RegistryError::Duplicate {
            name: name.into(),
            version: version.into(),
            existing: v.bundle,
        }),
    }
}

/// Refuse an acting key whose entries the trust would ignore (for model `name`, when known).
fn check_actor(
    trust: &dyn TrustPolicy,
    key: &SecretKey,
    name: Option<&str>,
) -> Result<(), RegistryError> {
    let refused = |reason: String| RegistryError::KeyNotTrusted {
        key: key.id(),
        reason,
    };
    if !trust.keys().iter().any(|k| k.id() == key.id()) {
        return Err(refused("it is not in the trust".into()));
    }
    if let Some(name) = name {
        trust
            .accept_registry_signer(key.id(), name, std::time::SystemTime::now())
            .map_err(refused)?;
    }
    Ok(())
}

fn find_version<'m>(model: &'m Model, version: &str) -> Result<&'m Version, RegistryError> {
    model
        .version(version)
        .ok_or_else(|| RegistryError::NoSuchVersion {
            name: model.name.clone(),
            version: version.into(),
        })
}

/// Download the bundle of `v` into a private temporary file in `dir` (the system temp
/// directory if `None`), check its SHA-256 and verify it under `trust`. The returned file
/// must be kept alive as long as the bundle is used.
pub(crate) fn fetch_and_verify(
    store: &dyn Store,
    v: &Version,
    trust: &dyn TrustPolicy,
    options: &VerifyOptions,
    dir: Option<&Path>,
) -> Result<(tempfile::NamedTempFile, VerifiedBundle), RegistryError> {
    let file = fetch_blob(store, &v.bundle, dir)?;
    let verified = bundle::verify(file.path(), trust, options)?;
    let m = verified.manifest();
    if m.name != v.name || m.version != v.version {
        return Err(RegistryError::Refused(format!(
            "blob sha256:{} holds {}@{}, not {}@{}",
            v.bundle, m.name, m.version, v.name, v.version
        )));
    }
    Ok((file, verified))
}

/// Download blob `digest` into a private temporary file in `dir` and check its SHA-256.
pub(crate) fn fetch_blob(
    store: &dyn Store,
    digest: &Sha256Digest,
    dir: Option<&Path>,
) -> Result<tempfile::NamedTempFile, RegistryError> {
    let file = store::staging_file(dir, ".modelseal-download.")
        .map_err(io_err("temporary file for the download"))?;
    let mut sink = HashingSink {
        inner: Some(file.as_file()),
        ..HashingSink::default()
    };
    store.get_blob(digest, &mut sink)?;
    let actual = sink.finish();
    if actual != *digest {
        return Err(RegistryError::BlobMismatch {
            expected: *digest,
            actual,
        });
    }
    file.as_file()
        .sync_all()
        .map_err(io_err(file.path().display()))?;
    Ok(file)
}

/// A writer that hashes what passes through (and optionally writes it on).
#[derive(Default)]
struct HashingSink<'a> {
    hasher: sha2::Sha256,
    inner: Option<&'a std::fs::File>,
}

impl HashingSink<'_> {
    fn finish(self) -> Sha256Digest {
        use sha2::Digest as _;
        Sha256Digest(self.hasher.finalize().into())
    }
}

impl Write for HashingSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use sha2::Digest as _;
        let n = match &mut self.inner {
            Some(f) => f.write(buf)?,
            None => buf.len(),
        };
        self.hasher.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

/// An in-memory buffer that refuses to grow past a limit.
struct LimitedBuf {
    buf: Vec<u8>,
    limit: usize,
    over: bool,
}

impl LimitedBuf {
    fn new(limit: usize) -> Self {
        LimitedBuf {
            buf: Vec::new(),
            limit,
            over: false,
        }
    }

    fn into_inner(self) -> Result<Vec<u8>, String> {
        if self.over {
            return Err(format!("larger than {} bytes", self.limit));
        }
        Ok(self.buf)
    }
}

impl Write for LimitedBuf {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len().saturating_add(data.len()) > self.limit {
            self.over = true;
            return Err(io::Error::other(format!(
                "larger than {} bytes",
                self.limit
            )));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The numeric metrics of a manifest: `metadata.metrics`, nested objects flattened with
/// `.` (`{"eval": {"f1": 0.9}}` → `eval.f1`); non-numbers are skipped.
pub fn metrics_of(m: &Manifest) -> BTreeMap<String, f64> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, f64>, depth: usize) {
        match v {
            Value::Number(n) => {
                if let Some(x) = n.as_f64() {
                    out.insert(prefix.to_string(), x);
                }
            }
            Value::Object(map) if depth < 8 => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out, depth + 1);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    if let Some(Value::Object(metrics)) = m.metadata.get("metrics") {
        for (k, v) in metrics {
            walk(k, v, &mut out, 0);
        }
    }
    out
}
