//! The zip reader against archives written by `torch.save` and numpy (through Python's
//! zipfile): same members, same order, same bytes as Python reads them
//! (`tests/fixtures/containers/zip_members.json`).

mod common;

use common::*;
use modelseal_loaders::zip::ZipArchive;
use modelseal_loaders::{ErrorKind, SliceHost};
use serde_json::Value;

fn members() -> serde_json::Map<String, Value> {
    match read_json(&fixtures().join("zip_members.json")) {
        Value::Object(m) => m,
        _ => panic!("zip_members.json is not an object"),
    }
}

#[test]
fn members_match_python_zipfile() {
    let all = members();
    assert!(all.len() >= 6, "zip fixtures missing");
    for (file, want) in &all {
        let bytes = std::fs::read(fixtures().join(file)).unwrap_or_default();
        let mut host = SliceHost::new(bytes);
        let archive =
            ZipArchive::open(&mut host, 0).unwrap_or_else(|e| panic!("{file}: {}", e.message));
        let want = want.as_array().cloned().unwrap_or_default();
        let names: Vec<&str> = archive.entries().iter().map(|e| e.name.as_str()).collect();
        let want_names: Vec<&str> = want.iter().filter_map(|w| w["name"].as_str()).collect();
        assert_eq!(names, want_names, "{file}: member order");
        for w in &want {
            let name = w["name"].as_str().unwrap_or_default();
            let entry = archive
                .find(name)
                .unwrap_or_else(|| panic!("{file}: {name} missing"))
                .clone();
            assert_eq!(
                Some(u64::from(entry.method)),
                w["method"].as_u64(),
                "{file}/{name}: method"
            );
            assert_eq!(Some(entry.size), w["size"].as_u64(), "{file}/{name}: size");
            let data = archive
                .read(&mut host, &entry, 1 << 30)
                .unwrap_or_else(|e| panic!("{file}/{name}: {}", e.message));
            assert_eq!(
                Some(sha256_hex(&data).as_str()),
                w["sha256"].as_str(),
                "{file}/{name}: bytes"
            );
            if entry.size > 0 {
                let small = archive.read(&mut host, &entry, entry.size - 1);
                assert_eq!(
                    small.err().map(|e| e.kind),
                    Some(ErrorKind::Limit),
                    "{file}/{name}: limit"
                );
            }
        }
    }
}

#[test]
fn pytorch_archive_is_found_behind_a_prefix() {
    let file = "zip_torch_state_dict.pt";
    let Some(want) = members().get(file).cloned() else {
        eprintln!("SKIPPED: torch was not installed when the fixtures were made");
        return;
    };
    let mut bytes = b"#!prefix bytes\n".repeat(7);
    let prefix = bytes.len() as u64;
    bytes.extend(std::fs::read(fixtures().join(file)).unwrap_or_default());
    let mut host = SliceHost::new(bytes);
    let archive = ZipArchive::open(&mut host, 0).unwrap_or_else(|e| panic!("{}", e.message));
    assert_eq!(archive.prefix_len(), prefix);
    let first = want
        .as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_default();
    let entry = archive
        .entries()
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("no entries"));
    let data = archive.read(&mut host, &entry, 1 << 20).unwrap_or_default();
    assert_eq!(Some(sha256_hex(&data).as_str()), first["sha256"].as_str());
    let mut host = SliceHost::new(host.sources[0].clone());
    assert_eq!(
        modelseal_loaders::detect(&mut host).map_err(|e| e.message),
        Ok(modelseal_loaders::Format::PytorchZip)
    );
}
