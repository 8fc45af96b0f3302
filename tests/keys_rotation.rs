//! Trust-root rotation, revocation, expiry and threshold rules, table-driven in the style of
//! python-tuf's `tests/test_updater_key_rotations.py`: each case lists trust-root versions
//! (root keys, threshold, who signed) or bundle signatures, and the one outcome expected.
//! The clock is injected; nothing here depends on the real time.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use modelseal::bundle::{self, Problem, SignOptions, VerifyError, VerifyOptions};
use modelseal::keys::{KeyId, SecretKey};
use modelseal::trust::{
    self, Change, Expiry, LoadOptions, Requirement, SCHEMA, Saved, ScopePattern, SignedTrustRoot,
    Timestamp, TrustError, TrustFiles, TrustRoot, TrustRootPolicy,
};

const DAY: u64 = 86_400;
/// Day 0 of every scenario (2026-09-21T...Z).
const T0: u64 = 1_790_000_000;

fn at(day: i64) -> SystemTime {
    let secs = (T0 as i64 + day * DAY as i64) as u64;
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn ts(day: i64) -> Timestamp {
    Timestamp::from_system(at(day))
}

/// Root key `i` (deterministic).
fn root_key(i: usize) -> SecretKey {
    SecretKey::from_seed(&[100 + i as u8; 32], format!("root {i}"))
}

/// Signing key `i` (deterministic).
fn signing_key(i: usize) -> SecretKey {
    SecretKey::from_seed(&[200 + i as u8; 32], format!("signer {i}"))
}

/// One trust-root version: its root keys, threshold and the root keys that sign it.
#[derive(Clone, Copy)]
struct RootVersion {
    keys: &'static [usize],
    threshold: u32,
    sigs: &'static [usize],
    /// Version number override (default: position + 1).
    version: Option<u64>,
    /// Expiry day (default: day 365).
    expires: i64,
}

const fn v(keys: &'static [usize], threshold: u32, sigs: &'static [usize]) -> RootVersion {
    RootVersion {
        keys,
        threshold,
        sigs,
        version: None,
        expires: 365,
    }
}

fn build(versions: &[RootVersion]) -> Vec<SignedTrustRoot> {
    versions
        .iter()
        .enumerate()
        .map(|(i, rv)| {
            let version = rv.version.unwrap_or(i as u64 + 1);
            let root = TrustRoot {
                schema: SCHEMA.into(),
                version,
                issued: ts(version as i64 - 10),
                expires: ts(rv.expires),
                root: trust::RootRole {
                    threshold: rv.threshold,
                    keys: rv
                        .keys
                        .iter()
                        .map(|&k| trust::TrustedKey(root_key(k).public().clone()))
                        .collect(),
                },
                signing_keys: Vec::new(),
                thresholds: Vec::new(),
            };
            let mut doc = SignedTrustRoot::new(root).unwrap();
            for &s in rv.sigs {
                doc.sign(&root_key(s));
            }
            doc
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Ok,
    /// Refused: not enough signatures by the previous version's root keys.
    OldThreshold,
    /// Refused: not enough signatures by the version's own root keys.
    OwnThreshold,
    Gap,
    Expired,
}

fn outcome(result: Result<u64, TrustError>) -> Result<u64, Expect> {
    result.map_err(|e| match e {
        TrustError::Threshold { role, .. } if role.starts_with("root keys of version") => {
            Expect::OldThreshold
        }
        TrustError::Threshold { .. } => Expect::OwnThreshold,
        TrustError::VersionGap { .. } => Expect::Gap,
        TrustError::Expired { .. } => Expect::Expired,
        other => panic!("unexpected error {other}"),
    })
}

#[test]
fn root_rotation_chains() {
    #[rustfmt::skip]
    let cases: &[(&str, &[RootVersion], Expect)] = &[
        ("1-of-1 key rotation", &[
            v(&[1], 1, &[1]),
            v(&[2], 1, &[2, 1]),
            v(&[2], 1, &[2]),
        ], Expect::Ok),
        ("1-of-1 key rotation, unused signatures", &[
            v(&[1], 1, &[3, 1, 4]),
            v(&[2], 1, &[3, 2, 1, 4]),
            v(&[2], 1, &[3, 2, 4]),
        ], Expect::Ok),
        ("1-of-1 rotation refused: signed by the new key only", &[
            v(&[1], 1, &[1]),
            v(&[2], 1, &[2, 3, 4]),
        ], Expect::OldThreshold),
        ("1-of-1 rotation refused: signed by the old key only", &[
            v(&[1], 1, &[1]),
            v(&[2], 1, &[1, 3, 4]),
        ], Expect::OwnThreshold),
        ("2-of-3, different key combinations", &[
            v(&[0, 1, 2], 2, &[0, 1]),
            v(&[0, 1, 2], 2, &[1, 2]),
            v(&[0, 1, 2], 2, &[2, 0]),
        ], Expect::Ok),
        ("2-of-3, one key rotated", &[
            v(&[0, 1, 2], 2, &[0, 1]),
            v(&[0, 1, 3], 2, &[0, 1]),
        ], Expect::Ok),
        ("2-of-3 rotation refused: only one old key signed", &[
            v(&[0, 1, 2], 2, &[0, 1]),
            v(&[3, 4, 5], 2, &[0, 3, 4]),
        ], Expect::OldThreshold),
        ("2-of-3 rotation refused: only one new key signed", &[
            v(&[0, 1, 2], 2, &[0, 1]),
            v(&[3, 4, 5], 2, &[0, 1, 3]),
        ], Expect::OwnThreshold),
        ("2-of-3, all keys rotated with both thresholds signing", &[
            v(&[0, 1, 2], 2, &[0, 1]),
            v(&[3, 4, 5], 2, &[0, 2, 3, 5]),
            v(&[3, 4, 5], 2, &[4, 5]),
        ], Expect::Ok),
        ("threshold raised 1-of-3 to 2-of-3", &[
            v(&[1, 2, 3], 1, &[1]),
            v(&[1, 2, 3], 2, &[1, 2]),
        ], Expect::Ok),
        ("threshold raise refused: new threshold not reached", &[
            v(&[1, 2, 3], 1, &[1]),
            v(&[1, 2, 3], 2, &[2]),
        ], Expect::OwnThreshold),
        ("threshold lowered 2-of-3 to 1-of-3", &[
            v(&[1, 2, 3], 2, &[1, 2]),
            v(&[1, 2, 3], 1, &[1, 2]),
            v(&[1, 2, 3], 1, &[1]),
        ], Expect::Ok),
        ("threshold lowering refused: old threshold not reached", &[
            v(&[1, 2, 3], 2, &[1, 2]),
            v(&[1, 2, 3], 1, &[1]),
        ], Expect::OldThreshold),
        ("a duplicated signature counts once (GHSA-r7vq-6425-j94w)", &[
            v(&[0, 1, 2], 2, &[0, 1]),
            v(&[0, 1, 2], 2, &[0, 0, 0]),
        ], Expect::OldThreshold),
        ("a skipped version is refused", &[
            v(&[1], 1, &[1]),
            RootVersion { version: Some(3), ..v(&[1], 1, &[1]) },
        ], Expect::Gap),
        ("a repeated version is refused", &[
            v(&[1], 1, &[1]),
            RootVersion { version: Some(1), ..v(&[1], 1, &[1]) },
        ], Expect::Gap),
        ("an expired final root is refused", &[
            v(&[1], 1, &[1]),
            RootVersion { expires: -1, ..v(&[1], 1, &[1]) },
        ], Expect::Expired),
        ("an expired intermediate root is fine", &[
            v(&[1], 1, &[1]),
            RootVersion { expires: -1, ..v(&[2], 1, &[1, 2]) },
            v(&[2], 1, &[2]),
        ], Expect::Ok),
        ("an anchor not signed by its own threshold is refused", &[
            v(&[1, 2], 2, &[1]),
        ], Expect::OwnThreshold),
    ];
    for (name, versions, expected) in cases {
        let docs = build(versions);
        let result =
            trust::verify_chain(&docs[0], &docs[1..], at(0), Expiry::Enforce).map(|d| d.version());
        let got = outcome(result);
        match expected {
            Expect::Ok => assert_eq!(got, Ok(versions.len() as u64), "{name}"),
            e => assert_eq!(got, Err(*e), "{name}"),
        }
    }
}

#[test]
fn a_signature_not_over_the_exact_bytes_is_refused() {
    let docs = build(&[v(&[1], 1, &[1])]);
    let mut bytes = docs[0].to_file_bytes();
    // Change the expiry inside the signed part; the file stays canonical.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let changed = text.replace(&ts(365).to_string(), &ts(3650).to_string());
    assert_ne!(changed, text);
    bytes = changed.into_bytes();
    let doc = SignedTrustRoot::parse(&bytes, "t").unwrap();
    let err = trust::verify_chain(&doc, &[], at(0), Expiry::Enforce).unwrap_err();
    assert!(
        matches!(err, TrustError::BadSignature { version: 1, .. }),
        "{err}"
    );
}

#[test]
fn trust_root_files_are_strict() {
    let docs = build(&[v(&[1], 1, &[1])]);
    let bytes = docs[0].to_file_bytes();
    let text = String::from_utf8(bytes).unwrap();
    for (what, bad) in [
        ("pretty printed", text.replacen("{", "{ ", 1)),
        (
            "unknown field",
            text.replacen("\"version\"", "\"extra\":1,\"version\"", 1),
        ),
        (
            "explicit null",
            text.replacen("\"root\"", "\"not_before\":null,\"root\"", 1),
        ),
        ("schema", text.replace(SCHEMA, "modelseal-trust-root-v2")),
    ] {
        assert!(
            SignedTrustRoot::parse(bad.as_bytes(), "t").is_err(),
            "{what}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Files on disk: history, pin, rollback.

fn publish(files: &TrustFiles, versions: &[SignedTrustRoot]) {
    let mut prev: Option<&SignedTrustRoot> = None;
    for d in versions {
        assert!(matches!(
            trust::save(files, prev, d).unwrap(),
            Saved::Published(_)
        ));
        prev = Some(d);
    }
}

fn load_at(file: &Path, state: Option<PathBuf>, day: i64) -> Result<u64, TrustError> {
    let options = LoadOptions {
        state,
        update_state: true,
        now: at(day),
        expiry: Expiry::Enforce,
    };
    trust::load(file, &options).map(|v| v.root().version)
}

#[test]
fn pinned_state_refuses_rollback_gaps_and_equivocation() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trust.json");
    let state = dir.path().join("trust.state");
    let files = TrustFiles::new(&file);
    let docs = build(&[
        v(&[1], 1, &[1]),
        v(&[1, 2], 1, &[1, 2]),
        v(&[2], 1, &[1, 2]),
    ]);
    publish(&files, &docs[..1]);
    assert_eq!(load_at(&file, Some(state.clone()), 0).unwrap(), 1);
    publish_next(&files, &docs[0], &docs[1]);
    publish_next(&files, &docs[1], &docs[2]);
    assert!(files.history_file(1).exists() && files.history_file(2).exists());
    assert_eq!(load_at(&file, Some(state.clone()), 0).unwrap(), 3);
    assert_eq!(trust::read_document(&state).unwrap().version(), 3);

    // Rollback: an attacker serves version 2 again.
    fs::write(&file, docs[1].to_file_bytes()).unwrap();
    let err = load_at(&file, Some(state.clone()), 0).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::Rollback {
                pinned: 3,
                found: 2
            }
        ),
        "{err}"
    );
    // Without the pin the same files are accepted (trust on first use).
    assert_eq!(load_at(&file, None, 0).unwrap(), 2);

    // Equivocation: another document claiming version 3.
    let other = build(&[
        v(&[1], 1, &[1]),
        v(&[1, 2], 1, &[1, 2]),
        RootVersion {
            expires: 300,
            ..v(&[2], 1, &[1, 2])
        },
    ]);
    fs::write(&file, other[2].to_file_bytes()).unwrap();
    let err = load_at(&file, Some(state.clone()), 0).unwrap_err();
    assert!(
        matches!(err, TrustError::Equivocation { version: 3 }),
        "{err}"
    );

    // A gap: pinned at 1, version 2 missing from the history.
    let state1 = dir.path().join("pin1.state");
    fs::write(&state1, docs[0].to_file_bytes()).unwrap();
    fs::write(&file, docs[2].to_file_bytes()).unwrap();
    fs::remove_file(files.history_file(2)).unwrap();
    let err = load_at(&file, Some(state1), 0).unwrap_err();
    assert!(
        matches!(err, TrustError::MissingVersion { version: 2, .. }),
        "{err}"
    );

    // Freeze: the pinned newest version has expired.
    fs::write(&file, docs[2].to_file_bytes()).unwrap();
    let err = load_at(&file, Some(state), 400).unwrap_err();
    assert!(
        matches!(err, TrustError::Expired { version: 3, .. }),
        "{err}"
    );
}

fn publish_next(files: &TrustFiles, prev: &SignedTrustRoot, next: &SignedTrustRoot) {
    assert!(matches!(
        trust::save(files, Some(prev), next).unwrap(),
        Saved::Published(_)
    ));
}

#[test]
fn a_version_short_of_root_signatures_waits_as_pending() {
    let dir = tempfile::tempdir().unwrap();
    let files = TrustFiles::new(&dir.path().join("trust.json"));
    let docs = build(&[v(&[0, 1, 2], 2, &[0, 1])]);
    publish(&files, &docs);
    let mut next = SignedTrustRoot::new(
        trust::next_version(docs[0].root(), &Change::Renew, ts(1), Some(ts(400))).unwrap(),
    )
    .unwrap();
    trust::sign_version(&mut next, &[root_key(0)], Some(&docs[0])).unwrap();
    let saved = trust::save(&files, Some(&docs[0]), &next).unwrap();
    assert!(
        matches!(saved, Saved::Pending(ref s) if s.own == (1, 2)),
        "{saved:?}"
    );
    assert_eq!(trust::read_document(files.file()).unwrap().version(), 1);
    // A key that is not a root key cannot sign.
    assert!(trust::sign_version(&mut next, &[root_key(7)], Some(&docs[0])).is_err());
    trust::sign_version(&mut next, &[root_key(2)], Some(&docs[0])).unwrap();
    assert!(matches!(
        trust::save(&files, Some(&docs[0]), &next).unwrap(),
        Saved::Published(_)
    ));
    assert!(!files.pending_file().exists());
    assert_eq!(load_at(files.file(), None, 2).unwrap(), 2);
}

// ---------------------------------------------------------------------------------------
// Bundles under a trust root.

/// The trust root of the bundle cases, as of day 30:
/// signer 1 active for everything; signer 2 retired on day 10 with grace until day 40;
/// signer 3 revoked on day 20; signer 4 active for `fraud-*` only; signer 5 valid from
/// day 0 to day 100; signers 6 and 7 active for `release-*`, which needs 2 signatures.
fn bundle_trust_root(dir: &Path) -> PathBuf {
    let file = dir.join("trust.json");
    let files = TrustFiles::new(&file);
    let roots = [root_key(0)];
    let mut current = SignedTrustRoot::new(
        trust::initial(vec![root_key(0).public().clone()], None, ts(-5), ts(365)).unwrap(),
    )
    .unwrap();
    trust::sign_version(&mut current, &roots, None).unwrap();
    trust::save(&files, None, &current).unwrap();
    let any = Vec::new;
    let scope = |s: &str| vec![ScopePattern::new(s).unwrap()];
    let add = |i: usize, scopes: Vec<ScopePattern>| Change::AddKey {
        key: signing_key(i).public().clone(),
        scopes,
        not_before: None,
        not_after: None,
    };
    let changes: Vec<(i64, Change)> = vec![
        (-4, add(1, any())),
        (-4, add(2, any())),
        (-4, add(3, any())),
        (-4, add(4, scope("fraud-*"))),
        (
            -4,
            Change::AddKey {
                key: signing_key(5).public().clone(),
                scopes: any(),
                not_before: Some(ts(0)),
                not_after: Some(ts(100)),
            },
        ),
        (-4, add(6, scope("release-*"))),
        (-4, add(7, scope("release-*"))),
        (
            -4,
            Change::SetThreshold {
                scope: ScopePattern::new("release-*").unwrap(),
                signatures: 2,
            },
        ),
        (
            10,
            Change::Rotate {
                from: signing_key(2).id(),
                to: signing_key(8).public().clone(),
                grace: Duration::from_secs(30 * DAY),
                scopes: Vec::new(),
            },
        ),
        (
            20,
            Change::Revoke {
                key: signing_key(3).id(),
                reason: "leaked CI secret".into(),
            },
        ),
    ];
    for (day, change) in changes {
        let root = trust::next_version(current.root(), &change, ts(day), None).unwrap();
        let mut next = SignedTrustRoot::new(root).unwrap();
        trust::sign_version(&mut next, &roots, Some(&current)).unwrap();
        trust::save(&files, Some(&current), &next).unwrap();
        current = next;
    }
    file
}

fn model(dir: &Path) -> PathBuf {
    let m = dir.join("model");
    fs::create_dir_all(&m).unwrap();
    fs::write(m.join("weights.bin"), [7u8; 4096]).unwrap();
    m
}

/// Sign a bundle named `name`, claiming creation on `created`, by `signers` in order.
fn bundle(dir: &Path, name: &str, created: i64, signers: &[usize]) -> PathBuf {
    let out = dir.join(format!("{name}-{created}-{signers:?}.zip"));
    let mut o = SignOptions::new(name, "1.0.0");
    o.created = at(created);
    bundle::sign(&[model(dir)], &signing_key(signers[0]), &out, &o).unwrap();
    for &s in &signers[1..] {
        bundle::add_signature(&out, &signing_key(s), &out, None).unwrap();
    }
    out
}

fn verify_at(file: &Path, bundle_path: &Path, day: i64) -> Result<Vec<KeyId>, Vec<String>> {
    let options = LoadOptions {
        state: None,
        update_state: false,
        now: at(day),
        expiry: Expiry::Enforce,
    };
    let verified = trust::load(file, &options).unwrap();
    let policy = TrustRootPolicy::new(&verified, at(day), Requirement::Threshold);
    match bundle::verify(bundle_path, &policy, &VerifyOptions::default()) {
        Ok(v) => Ok(v.signers().to_vec()),
        Err(VerifyError::Rejected(problems)) => Err(problems
            .iter()
            .map(|p| match p {
                Problem::Policy(line) => line.clone(),
                other => format!("[{}] {other}", other.code()),
            })
            .collect()),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn bundles_under_rotation_revocation_scope_and_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let file = bundle_trust_root(dir.path());
    // (case, bundle name, created day, signers, verification day, expected: Ok(counting
    // signers) or Err(text every problem line must jointly contain)).
    type Case = (
        &'static str,
        &'static str,
        i64,
        &'static [usize],
        i64,
        Result<&'static [usize], &'static str>,
    );
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("active key", "iris", 30, &[1], 30, Ok(&[1])),
        ("retired key inside its grace period", "iris", 5, &[2], 30, Ok(&[2])),
        ("retired key after its grace period", "iris", 5, &[2], 41,
            Err("grace period ended on")),
        ("retired key, bundle claims creation after retirement", "iris", 12, &[2], 30,
            Err("but the bundle claims to be created at")),
        ("rotated-in key", "iris", 30, &[8], 30, Ok(&[8])),
        ("revoked key", "iris", 5, &[3], 30, Err("was revoked on 2026-10-11T")),
        ("revoked key names the reason", "iris", 5, &[3], 30, Err("leaked CI secret")),
        ("revoked key poisons a countersigned bundle", "iris", 5, &[1, 3], 30,
            Err("was revoked on")),
        ("key inside its scope", "fraud-detector", 30, &[4], 30, Ok(&[4])),
        ("key outside its scope", "iris", 30, &[4], 30,
            Err("may only sign bundles named fraud-*, not \"iris\"")),
        ("key inside its validity window", "iris", 30, &[5], 30, Ok(&[5])),
        ("key past its validity window", "iris", 30, &[5], 101, Err("expired on")),
        ("bundle claims creation before the key was valid", "iris", -1, &[5], 30,
            Err("before key")),
        ("threshold 2 met by two keys", "release-app", 30, &[6, 7], 30, Ok(&[6, 7])),
        ("threshold 2 missed with one key", "release-app", 30, &[6], 30,
            Err("needs 2 signature(s) by distinct trusted keys valid for it, and has 1")),
        ("duplicate signatures by one key count once", "release-app", 30, &[6, 6, 6], 30,
            Err("needs 2 signature(s)")),
        ("an out-of-scope key does not help meet a threshold", "release-app", 30, &[6, 4], 30,
            Err("may only sign bundles named fraud-*")),
        ("a key for every name meets a threshold with a scoped one", "release-app", 30,
            &[6, 1], 30, Ok(&[1, 6])),
        ("unknown signer only", "iris", 30, &[9], 30, Err("[no-trusted-signature]")),
    ];
    for (case, name, created, signers, day, expected) in cases {
        let b = bundle(dir.path(), name, *created, signers);
        let got = verify_at(&file, &b, *day);
        match expected {
            Ok(ids) => {
                let mut want: Vec<KeyId> = ids.iter().map(|&i| signing_key(i).id()).collect();
                want.sort();
                assert_eq!(got, Ok(want), "{case}");
            }
            Err(text) => {
                let lines = got.expect_err(case);
                assert!(lines.join("\n").contains(text), "{case}: {lines:?}");
            }
        }
    }
}

#[test]
fn countersigning_needs_one_counting_signature_not_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let file = bundle_trust_root(dir.path());
    let b = bundle(dir.path(), "release-app", 30, &[6]);
    let verified = trust::load(
        &file,
        &LoadOptions {
            now: at(30),
            ..LoadOptions::unpinned()
        },
    )
    .unwrap();
    let partial = TrustRootPolicy::new(&verified, at(30), Requirement::AtLeastOne);
    bundle::add_signature(&b, &signing_key(7), &b, Some(&partial)).unwrap();
    assert!(verify_at(&file, &b, 30).is_ok());
    // A bundle signed by a revoked key cannot be countersigned into acceptance.
    let bad = bundle(dir.path(), "release-app", 5, &[3]);
    assert!(bundle::add_signature(&bad, &signing_key(7), &bad, Some(&partial)).is_err());
}
