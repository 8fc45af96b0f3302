//! The library face of `modelseal deploy --watch`: a [`Watcher`] owns a trust policy and a
//! [`Deployer`] and hands the application a verified bundle whenever the stage changes, so
//! a Rust serving process can hot-swap models in-process.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

use super::deploy::{DeployError, DeployOptions, Deployed, Deployer, Deployment};
use super::log::Stage;
use super::ops::Registry;
use crate::bundle::TrustPolicy;

/// Follows one model stage of a registry into a target directory.
///
/// [`Watcher::poll`] returns `Ok(Some(deployment))` when the application should load a
/// model: on the first call (the version in place, re-verified, or the stage's version
/// freshly deployed) and whenever the stage moves (promotion or rollback). A version that
/// fails verification is refused with `Err` once — `current` and the application's model
/// stay as they were — and not retried until the stage changes again.
#[derive(Debug)]
pub struct Watcher<P: TrustPolicy> {
    deployer: Deployer,
    trust: P,
}

impl<P: TrustPolicy> Watcher<P> {
    /// Watch `name`'s `stage` in `registry`, deploying into `target`, trusting `trust`
    /// for both the log entries and the bundles.
    pub fn new(
        registry: Registry,
        trust: P,
        name: &str,
        stage: Stage,
        target: &Path,
    ) -> Result<Self, DeployError> {
        Self::with_options(
            registry,
            trust,
            name,
            stage,
            target,
            DeployOptions::default(),
        )
    }

    /// [`Watcher::new`] with options (versions kept, verification threads).
    pub fn with_options(
        registry: Registry,
        trust: P,
        name: &str,
        stage: Stage,
        target: &Path,
        options: DeployOptions,
    ) -> Result<Self, DeployError> {
        Ok(Watcher {
            deployer: Deployer::new(registry, name, stage, target, options)?,
            trust,
        })
    }

    /// Check the registry once (see the type's docs).
    pub fn poll(&mut self) -> Result<Option<Deployment>, DeployError> {
        self.deployer.poll(&self.trust)
    }

    /// What is deployed now.
    pub fn current(&self) -> Option<&Deployed> {
        self.deployer.current()
    }

    /// The underlying deployer.
    pub fn deployer(&self) -> &Deployer {
        &self.deployer
    }

    /// Poll every `interval` until `on_event` returns [`ControlFlow::Break`]. `on_event`
    /// gets every new deployment and every error; errors never stop the loop by
    /// themselves.
    pub fn run(
        &mut self,
        interval: Duration,
        mut on_event: impl FnMut(Result<Deployment, DeployError>) -> ControlFlow<()>,
    ) {
        loop {
            let flow = match self.poll() {
                Ok(Some(d)) => on_event(Ok(d)),
                Ok(None) => ControlFlow::Continue(()),
                Err(e) => on_event(Err(e)),
            };
            if flow.is_break() {
                return;
            }
            std::thread::sleep(interval);
        }
    }
}
