//! The guest's strict zip reader (npz, PyTorch, Keras archives): open the archive, then read
//! every member both at once and piece by piece; both must agree and respect the limit.
#![no_main]
#![forbid(unsafe_code)]

use modelseal_loaders::SliceHost;
use modelseal_loaders::zip::ZipArchive;

/// Most bytes one member may produce here.
const LIMIT: u64 = 16 << 20;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut host = SliceHost::new(data.to_vec());
    let Ok(archive) = ZipArchive::open(&mut host, 0) else {
        return;
    };
    for entry in archive.entries() {
        let whole = archive.read(&mut host, entry, LIMIT);
        let mut pieces = Vec::new();
        let streamed = archive.stream(&mut host, entry, LIMIT, &mut |piece| {
            pieces.extend_from_slice(piece);
            Ok(())
        });
        match (whole, streamed) {
            (Ok(bytes), Ok(())) => {
                assert_eq!(bytes, pieces, "read and stream disagree on {}", entry.name);
                assert_eq!(bytes.len() as u64, entry.size, "{}", entry.name);
                assert!(bytes.len() as u64 <= LIMIT);
            }
            (Err(_), Err(_)) => {}
            (a, b) => panic!(
                "read and stream disagree on {}: {:?} vs {:?}",
                entry.name,
                a.map(|v| v.len()),
                b
            ),
        }
    }
});
