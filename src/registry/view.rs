//! What the trusted log entries say: the versions of each model and what each stage holds
//! (`docs/format.md` §10.3).
//!
//! Only [`Standing::Trusted`](super::log::Standing) entries count, in log order:
//! * publish adds a version; the first publish of a name+version wins, a later one with
//!   other content is ignored (writers refuse to make one);
//! * promote pushes the version onto the stage's history;
//! * rollback pops the stage's history back to the entry's version;
//! * promote and rollback count only for a version published earlier with the same bundle.
//!
//! Anything ignored is reported in [`View::warnings`].

use std::collections::{BTreeMap, BTreeSet};

use super::log::{Action, Log, LogEntry, Stage};
use crate::digest::Sha256Digest;
use crate::keys::KeyId;

/// A published version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// Model name.
    pub name: String,
    /// Version.
    pub version: String,
    /// SHA-256 of the bundle file.
    pub bundle: Sha256Digest,
    /// Bundle size in bytes.
    pub size: u64,
    /// SHA-256 of the bundle's manifest.
    pub manifest: Sha256Digest,
    /// Keys whose bundle signatures verified at publish time.
    pub signers: Vec<KeyId>,
    /// When it was published.
    pub published: String,
    /// Who published it.
    pub publisher: KeyId,
    /// Its publish entry.
    pub index: u64,
}

/// A promote or rollback that took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageEvent {
    /// Log index.
    pub index: u64,
    /// Promote or rollback.
    pub action: Action,
    /// The version the stage holds after the event.
    pub version: String,
    /// Its bundle.
    pub bundle: Sha256Digest,
    /// Rollback: the version it replaced.
    pub from_version: Option<String>,
    /// When.
    pub time: String,
    /// Who.
    pub actor: KeyId,
}

/// One model: its versions and stages.
#[derive(Debug, Clone, Default)]
pub struct Model {
    /// Name.
    pub name: String,
    /// Versions in publish order.
    pub versions: Vec<Version>,
    /// Every event per stage, in log order.
    pub history: BTreeMap<Stage, Vec<StageEvent>>,
    stacks: BTreeMap<Stage, Vec<String>>,
    archived: BTreeSet<String>,
}

impl Model {
    /// The version called `version`.
    pub fn version(&self, version: &str) -> Option<&Version> {
        self.versions.iter().find(|v| v.version == version)
    }

    /// What `stage` holds now (production, staging), or the last version archived.
    pub fn current(&self, stage: Stage) -> Option<&Version> {
        let top = self.stacks.get(&stage)?.last()?;
        self.version(top)
    }

    /// The event that put the current version into `stage`.
    pub fn current_event(&self, stage: Stage) -> Option<&StageEvent> {
        self.history.get(&stage)?.last()
    }

    /// What a rollback of `stage` would go back to.
    pub fn rollback_target(&self, stage: Stage) -> Option<&Version> {
        let stack = self.stacks.get(&stage)?;
        let below = stack.len().checked_sub(2)?;
        self.version(stack.get(below)?)
    }

    /// The stages `version` is in: production/staging if it is their current version,
    /// archived if its latest promotion was to archived.
    pub fn stages_of(&self, version: &str) -> Vec<Stage> {
        let mut out: Vec<Stage> = [Stage::Production, Stage::Staging]
            .into_iter()
            .filter(|s| self.current(*s).is_some_and(|v| v.version == version))
            .collect();
        if self.archived.contains(version) {
            out.push(Stage::Archived);
        }
        out
    }

    fn apply_stage(&mut self, e: &LogEntry, stage: Stage) -> Result<(), String> {
        let b = &e.body;
        match self.version(&b.version) {
            Some(v) if v.bundle == b.bundle => {}
            Some(_) => {
                return Err(format!(
                    "{} of {}@{} names another bundle than the one published",
                    b.action, b.name, b.version
                ));
            }
            None => {
                return Err(format!(
                    "{} of {}@{}, which is not published",
                    b.action, b.name, b.version
                ));
            }
        }
        let stack = self.stacks.entry(stage).or_default();
        match b.action {
            Action::Promote => {
                if stack.last() != Some(&b.version) {
                    stack.push(b.version.clone());
                }
                if stage == Stage::Archived {
                    self.archived.insert(b.version.clone());
                } else {
                    self.archived.remove(&b.version);
                }
            }
            Action::Rollback => {
                if stack.last() == Some(&b.version) {
                    return Err(format!(
                        "rollback of {} {stage} to {}, which it already holds",
                        b.name, b.version
                    ));
                }
                stack.pop();
                while stack.last().is_some_and(|top| *top != b.version) {
                    stack.pop();
                }
                if stack.is_empty() {
                    stack.push(b.version.clone());
                }
            }
            Action::Publish => {}
        }
        self.history.entry(stage).or_default().push(StageEvent {
            index: b.index,
            action: b.action,
            version: b.version.clone(),
            bundle: b.bundle,
            from_version: b.from_version.clone(),
            time: b.time.clone(),
            actor: b.actor,
        });
        Ok(())
    }
}

/// The registry state derived from a log.
#[derive(Debug, Clone, Default)]
pub struct View {
    models: BTreeMap<String, Model>,
    /// Entries that were ignored, and why.
    pub warnings: Vec<String>,
}

impl View {
    /// Derive the state from the trusted entries of `log`.
    pub fn build(log: &Log) -> View {
        let mut view = View::default();
        let mut untrusted: BTreeMap<String, usize> = BTreeMap::new();
        for e in log.entries() {
            if let super::log::Standing::Untrusted(why) = &e.standing {
                *untrusted.entry(why.clone()).or_default() += 1;
                continue;
            }
            if let Err(w) = view.apply(e) {
                view.warnings
                    .push(format!("log entry {} ignored: {w}", e.body.index));
            }
        }
        for (why, n) in untrusted {
            view.warnings
                .push(format!("{n} log entries ignored: {why}"));
        }
        view
    }

    fn apply(&mut self, e: &LogEntry) -> Result<(), String> {
        let b = &e.body;
        let model = self.models.entry(b.name.clone()).or_insert_with(|| Model {
            name: b.name.clone(),
            ..Model::default()
        });
        match (b.action, b.stage) {
            (Action::Publish, _) => {
                if let Some(v) = model.version(&b.version) {
                    return Err(if v.bundle == b.bundle {
                        format!("{}@{} published again", b.name, b.version)
                    } else {
                        format!(
                            "{}@{} published again with other content (entry {} wins)",
                            b.name, b.version, v.index
                        )
                    });
                }
                model.versions.push(Version {
                    name: b.name.clone(),
                    version: b.version.clone(),
                    bundle: b.bundle,
                    size: b.size.unwrap_or_default(),
                    manifest: b.manifest.unwrap_or(b.bundle),
                    signers: b.signers.clone().unwrap_or_default(),
                    published: b.time.clone(),
                    publisher: b.actor,
                    index: b.index,
                });
                Ok(())
            }
            (_, Some(stage)) => model.apply_stage(e, stage),
            (_, None) => Err("no stage".into()),
        }
    }

    /// The model called `name`.
    pub fn model(&self, name: &str) -> Option<&Model> {
        self.models.get(name).filter(|m| !m.versions.is_empty())
    }

    /// Every model with at least one version.
    pub fn models(&self) -> impl Iterator<Item = &Model> {
        self.models.values().filter(|m| !m.versions.is_empty())
    }
}
