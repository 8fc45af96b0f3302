//! One test per attack on a signed bundle: each mutation must be rejected with its own
//! specific problem, and the untouched bundle must pass.

mod common;

use std::fs;
use std::path::PathBuf;

use common::*;
use modelseal::bundle::zip::{Method, ZipError};
use modelseal::bundle::{FILES_PREFIX, MANIFEST_NAME, Problem, SIGNATURES_NAME, VerifyError};
use modelseal::canonical::CanonicalError;
use modelseal::keys::SecretKey;
use modelseal::manifest::{Manifest, ManifestError};
use modelseal::signing::{self, SignatureEnvelope};

struct Case {
    _dir: tempfile::TempDir,
    bundle: PathBuf,
    bytes: Vec<u8>,
    key: SecretKey,
}

fn case() -> Case {
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir(dir.path());
    let bundle = dir.path().join("b.zip");
    let key = key(1);
    sign_dir(&model, &bundle, &key);
    let bytes = fs::read(&bundle).unwrap();
    Case {
        _dir: dir,
        bundle,
        bytes,
        key,
    }
}

impl Case {
    /// Write `bytes` as the bundle and return the problems verification reports.
    fn rejected(&self, bytes: &[u8]) -> Vec<Problem> {
        let path = self.bundle.with_file_name("mutated.zip");
        fs::write(&path, bytes).unwrap();
        match verify_with(&path, &self.key) {
            Ok(_) => panic!("mutated bundle verified"),
            Err(VerifyError::Rejected(p)) => p,
            Err(other) => panic!("expected a rejection, got {other}"),
        }
    }

    fn members(&self) -> Vec<RawMember> {
        explode(&self.bytes)
    }

    fn weights_index(&self) -> usize {
        self.members()
            .iter()
            .position(|m| m.entry.name == "files/weights.bin")
            .unwrap()
    }
}

fn only(problems: Vec<Problem>) -> Problem {
    assert_eq!(problems.len(), 1, "{problems:?}");
    problems.into_iter().next().unwrap()
}

/// Re-sign a changed manifest with the trusted key (to test checks beyond the signature).
fn resign(members: &mut [RawMember], manifest_bytes: &[u8], key: &SecretKey) {
    let n = members.len();
    members[n - 2] = stored(MANIFEST_NAME, manifest_bytes);
    let env = SignatureEnvelope::new(vec![signing::sign(
        key,
        signing::MANIFEST_CONTEXT,
        manifest_bytes,
    )]);
    members[n - 1] = stored(SIGNATURES_NAME, &env.to_bytes());
}

#[test]
fn untouched_bundle_verifies_and_reads_back() {
    let c = case();
    let v = verify_with(&c.bundle, &c.key).unwrap();
    assert_eq!(v.manifest().name, "demo");
    assert_eq!(v.manifest().files.len(), 3);
    assert_eq!(v.signers(), &[c.key.id()]);
    let src = c.bundle.parent().unwrap().join("model");
    for f in &v.manifest().files {
        assert_eq!(
            v.read(f.path.as_str()).unwrap(),
            fs::read(src.join(f.path.as_str())).unwrap()
        );
    }
    // Re-assembling the exploded members with the canonical writer is the identity.
    assert_eq!(assemble(&c.members()), c.bytes);
}

#[test]
fn byte_flipped_inside_a_member() {
    let c = case();
    let mut bytes = c.bytes.clone();
    let m = &c.members()[c.weights_index()];
    bytes[m.entry.data_offset as usize + 1234] ^= 0x01;
    let p = only(c.rejected(&bytes));
    assert!(
        matches!(&p, Problem::DigestMismatch(path) if path.as_str() == "weights.bin"),
        "{p}"
    );
}

#[test]
fn member_replaced_with_same_size_content_and_fixed_crc() {
    let c = case();
    let mut members = c.members();
    let i = c.weights_index();
    let evil = vec![0x42u8; members[i].data.len()];
    members[i] = stored("files/weights.bin", &evil);
    let p = only(c.rejected(&assemble(&members)));
    assert!(
        matches!(&p, Problem::DigestMismatch(path) if path.as_str() == "weights.bin"),
        "{p}"
    );
}

#[test]
fn member_replaced_with_different_size() {
    let c = case();
    let mut members = c.members();
    let i = c.weights_index();
    members[i] = stored("files/weights.bin", b"pickle payload");
    let p = only(c.rejected(&assemble(&members)));
    assert!(
        matches!(&p, Problem::SizeMismatch { path, expected: 300_000, actual: 14 } if path.as_str() == "weights.bin"),
        "{p}"
    );
}

#[test]
fn member_added() {
    let c = case();
    let mut members = c.members();
    members.insert(0, stored("files/extra.pkl", b"cos\nsystem\n"));
    let p = only(c.rejected(&assemble(&members)));
    assert!(
        matches!(&p, Problem::UnlistedMember(n) if n == "files/extra.pkl"),
        "{p}"
    );
}

#[test]
fn member_added_outside_files() {
    let c = case();
    let mut members = c.members();
    members.insert(0, stored("README", b"hi"));
    let p = only(c.rejected(&assemble(&members)));
    assert!(
        matches!(&p, Problem::UnlistedMember(n) if n == "README"),
        "{p}"
    );
}

#[test]
fn member_removed() {
    let c = case();
    let mut members = c.members();
    members.remove(c.weights_index());
    let p = only(c.rejected(&assemble(&members)));
    assert!(
        matches!(&p, Problem::MissingFile(path) if path.as_str() == "weights.bin"),
        "{p}"
    );
}

#[test]
fn member_renamed() {
    let c = case();
    let mut members = c.members();
    let i = c.weights_index();
    members[i].entry.name = "files/weights2.bin".into();
    let problems = c.rejected(&assemble(&members));
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(matches!(&problems[0], Problem::UnlistedMember(n) if n == "files/weights2.bin"));
    assert!(matches!(&problems[1], Problem::MissingFile(p) if p.as_str() == "weights.bin"));
}

#[test]
fn member_duplicated() {
    let c = case();
    let mut members = c.members();
    let i = c.weights_index();
    let mut evil = stored("files/weights.bin", &vec![7u8; 300_000]);
    evil.entry.name = members[i].entry.name.clone();
    members.insert(i + 1, evil);
    let p = only(c.rejected(&assemble(&members)));
    assert!(
        matches!(&p, Problem::Container(ZipError::DuplicateName(n)) if n == "files/weights.bin"),
        "{p}"
    );
}

#[test]
fn bytes_prepended() {
    let c = case();
    let mut bytes = b"#!/bin/sh\necho pwned\nexit 0\n".to_vec();
    bytes.extend_from_slice(&c.bytes);
    let p = only(c.rejected(&bytes));
    assert!(
        matches!(
            &p,
            Problem::Container(ZipError::CentralDirectoryLocation(_))
        ),
        "{p}"
    );
}

#[test]
fn bytes_prepended_with_offsets_adjusted() {
    // The Janus-style variant: every offset shifted so standard readers accept the file.
    let c = case();
    let prefix = vec![0x55u8; 4096];
    // Patch every offset in the central directory and end record by the prefix length.
    let mut bytes = prefix.clone();
    bytes.extend_from_slice(&c.bytes);
    let shift = prefix.len() as u32;
    for (_, _, cd_at) in header_offsets(&c.bytes) {
        let at = prefix.len() + cd_at + 42;
        let v = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) + shift;
        bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    let eocd = bytes.len() - 22;
    let v = u32::from_le_bytes(bytes[eocd + 16..eocd + 20].try_into().unwrap()) + shift;
    bytes[eocd + 16..eocd + 20].copy_from_slice(&v.to_le_bytes());
    let p = only(c.rejected(&bytes));
    assert!(
        matches!(&p, Problem::Container(ZipError::PrependedData(4096))),
        "{p}"
    );
}

#[test]
fn bytes_appended() {
    let c = case();
    let mut bytes = c.bytes.clone();
    bytes.extend_from_slice(b"PK\x03\x04 trailing payload");
    let p = only(c.rejected(&bytes));
    assert!(
        matches!(&p, Problem::Container(ZipError::TrailingData(21))),
        "{p}"
    );
}

#[test]
fn archive_comment() {
    let c = case();
    let mut bytes = c.bytes.clone();
    let n = bytes.len();
    bytes[n - 2..].copy_from_slice(&7u16.to_le_bytes());
    bytes.extend_from_slice(b"comment");
    let p = only(c.rejected(&bytes));
    assert!(
        matches!(&p, Problem::Container(ZipError::ArchiveComment(7))),
        "{p}"
    );
}

#[test]
fn local_and_central_names_disagree() {
    let c = case();
    let mut bytes = c.bytes.clone();
    let (_, local, _) = header_offsets(&c.bytes)
        .into_iter()
        .find(|(n, _, _)| n == "files/weights.bin")
        .unwrap();
    // Same length name in the local header only: "files/weights.bin" -> "files/weights.pkl".
    let name_at = local + 30;
    bytes[name_at + 14..name_at + 17].copy_from_slice(b"pkl");
    let p = only(c.rejected(&bytes));
    assert!(
        matches!(&p, Problem::Container(ZipError::LocalHeaderMismatch { name, field: "name" }) if name == "files/weights.bin"),
        "{p}"
    );
}

#[test]
fn encryption_flag_set() {
    let c = case();
    let mut bytes = c.bytes.clone();
    for (name, local, central) in header_offsets(&c.bytes) {
        if name == "files/weights.bin" {
            bytes[local + 6] |= 1;
            bytes[central + 8] |= 1;
        }
    }
    let p = only(c.rejected(&bytes));
    assert!(
        matches!(&p, Problem::Container(ZipError::Encrypted(n)) if n == "files/weights.bin"),
        "{p}"
    );
}

#[test]
fn unknown_compression_method() {
    let c = case();
    let mut bytes = c.bytes.clone();
    for (name, local, central) in header_offsets(&c.bytes) {
        if name == "files/weights.bin" {
            bytes[local + 8..local + 10].copy_from_slice(&12u16.to_le_bytes());
            bytes[central + 10..central + 12].copy_from_slice(&12u16.to_le_bytes());
        }
    }
    let p = only(c.rejected(&bytes));
    assert!(
        matches!(&p, Problem::Container(ZipError::UnsupportedMethod { name, method: 12 }) if name == "files/weights.bin"),
        "{p}"
    );
}

#[test]
fn data_descriptor_flag_set() {
    let c = case();
    let mut bytes = c.bytes.clone();
    let (_, _, central) = header_offsets(&c.bytes)[0].clone();
    bytes[central + 8] |= 0x08;
    let p = only(c.rejected(&bytes));
    assert!(
        matches!(&p, Problem::Container(ZipError::UnsupportedFlags { .. })),
        "{p}"
    );
}

#[test]
fn crc_changed_in_both_headers() {
    let c = case();
    let mut bytes = c.bytes.clone();
    for (name, local, central) in header_offsets(&c.bytes) {
        if name == "files/weights.bin" {
            bytes[local + 14] ^= 0xff;
            bytes[central + 16] ^= 0xff;
        }
    }
    let p = only(c.rejected(&bytes));
    assert!(
        matches!(&p, Problem::CrcMismatch(n) if n == "files/weights.bin"),
        "{p}"
    );
}

#[test]
fn manifest_edited() {
    let c = case();
    let mut members = c.members();
    let n = members.len();
    let text = String::from_utf8(content(&members[n - 2])).unwrap();
    let edited = text.replace("\"accuracy\":0.5", "\"accuracy\":0.99");
    assert_ne!(edited, text);
    members[n - 2] = stored(MANIFEST_NAME, edited.as_bytes());
    let p = only(c.rejected(&assemble(&members)));
    assert!(
        matches!(&p, Problem::InvalidSignature(k) if *k == c.key.id()),
        "{p}"
    );
}

#[test]
fn signature_from_another_bundle() {
    let c = case();
    let other_dir = tempfile::tempdir().unwrap();
    let model = model_dir(other_dir.path());
    fs::write(model.join("config.json"), b"{\"other\": true}").unwrap();
    let other = other_dir.path().join("other.zip");
    sign_dir(&model, &other, &c.key);
    let theirs = explode(&fs::read(&other).unwrap());
    let mut members = c.members();
    let n = members.len();
    members[n - 1] = theirs[theirs.len() - 1].clone();
    let p = only(c.rejected(&assemble(&members)));
    assert!(
        matches!(&p, Problem::InvalidSignature(k) if *k == c.key.id()),
        "{p}"
    );
}

#[test]
fn signed_by_an_untrusted_key() {
    let c = case();
    let stranger = key(9);
    let err = verify_with(&c.bundle, &stranger).unwrap_err();
    let p = only(match err {
        VerifyError::Rejected(p) => p,
        other => panic!("{other}"),
    });
    assert!(
        matches!(&p, Problem::NoTrustedSignature { signers } if signers == &[c.key.id()]),
        "{p}"
    );
}

#[test]
fn truncated_file() {
    let c = case();
    for cut in [1, 22, 500, c.bytes.len() / 2] {
        let p = only(c.rejected(&c.bytes[..c.bytes.len() - cut]));
        assert!(
            matches!(&p, Problem::Container(ZipError::NoEndRecord)),
            "cut {cut}: {p}"
        );
    }
}

#[test]
fn path_traversal_entries() {
    let c = case();
    for name in [
        "files/../../etc/cron.d/x",
        "../evil",
        "/abs",
        "files/a\\b",
        "files//x",
    ] {
        let mut members = c.members();
        members.insert(0, stored(name, b"x"));
        let p = only(c.rejected(&assemble(&members)));
        assert!(
            matches!(&p, Problem::BadMemberName { name: n, .. } if n == name),
            "{name}: {p}"
        );
    }
}

#[test]
fn gap_between_members() {
    let c = case();
    // Insert bytes before the second local header and shift all later offsets.
    let plain = assemble(&c.members());
    let second = header_offsets(&plain)[1].1;
    let mut bytes = plain[..second].to_vec();
    bytes.extend_from_slice(b"hidden payload!!");
    bytes.extend_from_slice(&plain[second..]);
    let shift = 16u32;
    let base = header_offsets(&plain);
    for (i, (_, _, central)) in base.iter().enumerate() {
        let at = central + 16 + 42;
        let v = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
            + if i >= 1 { shift } else { 0 };
        bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    let eocd = bytes.len() - 22;
    let v = u32::from_le_bytes(bytes[eocd + 16..eocd + 20].try_into().unwrap()) + shift;
    bytes[eocd + 16..eocd + 20].copy_from_slice(&v.to_le_bytes());
    let p = only(c.rejected(&bytes));
    assert!(
        matches!(&p, Problem::Container(ZipError::Gap { bytes: 16, .. })),
        "{p}"
    );
}

#[test]
fn zip_bomb_declared_sizes() {
    let c = case();
    let mut members = c.members();
    let deflated = members
        .iter()
        .position(|m| m.entry.method == Method::Deflated && m.entry.name.starts_with(FILES_PREFIX))
        .expect("a deflated member");
    members[deflated].entry.size = 1 << 40;
    let p = only(c.rejected(&assemble(&members)));
    assert!(
        matches!(&p, Problem::Container(ZipError::Sizes { .. })),
        "{p}"
    );
}

#[test]
fn hidden_bytes_after_the_deflate_stream() {
    let c = case();
    let mut members = c.members();
    let i = members
        .iter()
        .position(|m| m.entry.method == Method::Deflated && m.entry.name.starts_with(FILES_PREFIX))
        .unwrap();
    members[i].data.extend_from_slice(b"smuggled");
    let p = only(c.rejected(&assemble(&members)));
    let path = &members[i].entry.name[FILES_PREFIX.len()..];
    assert!(
        matches!(&p, Problem::EncodingMismatch(f) if f.as_str() == path),
        "{p}"
    );
}

#[test]
fn re_encoding_a_member_with_the_same_content_is_refused() {
    // Same bytes once inflated, same CRC, but not the encoding that was signed.
    let c = case();
    let mut members = c.members();
    let i = c.weights_index();
    let content = members[i].data.clone();
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &content).unwrap();
    members[i].data = enc.finish().unwrap();
    members[i].entry.method = Method::Deflated;
    members[i].entry.size = content.len() as u64;
    let p = only(c.rejected(&assemble(&members)));
    assert!(
        matches!(&p, Problem::EncodingMismatch(f) if f.as_str() == "weights.bin"),
        "{p}"
    );
}

#[test]
fn non_canonical_manifest_is_refused_even_when_signed() {
    let c = case();
    let mut members = c.members();
    let n = members.len();
    let text = String::from_utf8(content(&members[n - 2])).unwrap();
    // A duplicate key: two readers could see two different names.
    let dup = text.replacen("{\"created\"", "{\"name\":\"evil\",\"created\"", 1);
    resign(&mut members, dup.as_bytes(), &c.key);
    let p = only(c.rejected(&assemble(&members)));
    assert!(
        matches!(
            &p,
            Problem::Manifest(ManifestError::Encoding(CanonicalError::DuplicateKey { .. }))
        ),
        "{p}"
    );
    // Whitespace: same value, different bytes.
    let pretty = serde_json::to_vec_pretty(&Manifest::parse(text.as_bytes()).unwrap()).unwrap();
    let mut members = c.members();
    resign(&mut members, &pretty, &c.key);
    let p = only(c.rejected(&assemble(&members)));
    assert!(
        matches!(
            &p,
            Problem::Manifest(ManifestError::Encoding(CanonicalError::NotCanonical { .. }))
        ),
        "{p}"
    );
}

#[test]
fn signed_manifest_with_traversal_path_is_refused() {
    let c = case();
    let mut members = c.members();
    let n = members.len();
    let text = String::from_utf8(content(&members[n - 2])).unwrap();
    let evil = text.replace("tokenizer/vocab.txt", "../../etc/vocab.txt");
    resign(&mut members, evil.as_bytes(), &c.key);
    let problems = c.rejected(&assemble(&members));
    assert!(
        matches!(
            &problems[0],
            Problem::Manifest(ManifestError::Encoding(CanonicalError::Schema { .. }))
        ),
        "{problems:?}"
    );
}

#[test]
fn metadata_members_out_of_place() {
    let c = case();
    let mut members = c.members();
    let n = members.len();
    members.swap(n - 1, n - 2);
    let p = only(c.rejected(&assemble(&members)));
    assert!(matches!(p, Problem::MissingSignatures), "{p}");
    let mut members = c.members();
    members.remove(n - 2);
    let p = only(c.rejected(&assemble(&members)));
    assert!(matches!(p, Problem::MissingManifest), "{p}");
}

#[test]
fn rejected_bundle_is_never_extracted() {
    let c = case();
    let mut bytes = c.bytes.clone();
    let m = &c.members()[c.weights_index()];
    bytes[m.entry.data_offset as usize + 10] ^= 0x80;
    let bad = c.bundle.with_file_name("bad.zip");
    fs::write(&bad, &bytes).unwrap();
    let dest = c.bundle.with_file_name("out");
    let options = modelseal::bundle::VerifyOptions {
        extract_to: Some(dest.clone()),
        ..Default::default()
    };
    let trust = modelseal::bundle::TrustedKeys(vec![c.key.public().clone()]);
    assert!(modelseal::bundle::verify(&bad, &trust, &options).is_err());
    assert!(!dest.exists());
    let leftovers: Vec<_> = fs::read_dir(c.bundle.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The good bundle extracts exactly the signed files.
    modelseal::bundle::verify(&c.bundle, &trust, &options).unwrap();
    let src = c.bundle.parent().unwrap().join("model");
    for rel in ["weights.bin", "config.json", "tokenizer/vocab.txt"] {
        assert_eq!(
            fs::read(dest.join(rel)).unwrap(),
            fs::read(src.join(rel)).unwrap()
        );
    }
    // A non-empty destination is refused before any work.
    assert!(matches!(
        modelseal::bundle::verify(&c.bundle, &trust, &options),
        Err(VerifyError::DestinationNotEmpty(_))
    ));
}

#[test]
fn reading_after_tampering_detects_the_change() {
    let c = case();
    let v = verify_with(&c.bundle, &c.key).unwrap();
    let m = &c.members()[c.weights_index()];
    let mut bytes = c.bytes.clone();
    bytes[m.entry.data_offset as usize + 5] ^= 1;
    // Modify the file in place (same inode) after verification.
    use std::os::unix::fs::FileExt;
    let f = fs::OpenOptions::new().write(true).open(&c.bundle).unwrap();
    f.write_all_at(
        &bytes[m.entry.data_offset as usize..m.entry.data_offset as usize + 16],
        m.entry.data_offset,
    )
    .unwrap();
    let err = v.read("weights.bin").unwrap_err();
    assert!(
        err.to_string()
            .contains("changed since the bundle was verified"),
        "{err}"
    );
    assert!(v.read("config.json").is_ok());
}

#[test]
fn standard_zip_readers_accept_bundles() {
    let c = case();
    let mut z = zip::ZipArchive::new(fs::File::open(&c.bundle).unwrap()).unwrap();
    let names: Vec<String> = (0..z.len())
        .map(|i| z.by_index(i).unwrap().name().unwrap().to_string())
        .collect();
    assert!(names.contains(&"files/weights.bin".to_string()));
    let mut w = z.by_name("files/weights.bin").unwrap();
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut w, &mut data).unwrap();
    assert_eq!(
        data,
        fs::read(c.bundle.parent().unwrap().join("model/weights.bin")).unwrap()
    );
}
