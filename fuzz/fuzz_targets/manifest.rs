//! The manifest parser (canonical JSON, schema, names, paths, digests, limits): whatever it
//! accepts re-encodes to exactly the same bytes (one encoding per manifest) and validates.
#![no_main]
#![forbid(unsafe_code)]

use modelseal::manifest::Manifest;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Manifest::parse(data) {
        assert_eq!(m.to_bytes(), data, "accepted a non-canonical manifest");
        m.validate().expect("a parsed manifest validates");
        let _ = m.total_size();
    }
});
