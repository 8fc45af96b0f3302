//! Canonical JSON (every signed document goes through it): an accepted document is its own
//! re-encoding; the lenient reader (for user-supplied metadata) accepts a superset.
#![no_main]
#![forbid(unsafe_code)]

use modelseal::canonical;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let strict = canonical::parse_value(data, "fuzz", 1 << 20);
    let lenient = canonical::parse_value_lenient_format(data, "fuzz", 1 << 20);
    if let Ok(v) = &strict {
        assert_eq!(canonical::to_vec(v).expect("re-encodes"), data);
        assert_eq!(lenient.as_ref().ok(), Some(v));
    }
    if let Ok(v) = lenient {
        // Canonical re-encoding of anything the lenient reader accepts is accepted strictly.
        let bytes = canonical::to_vec(&v).expect("re-encodes");
        assert_eq!(
            canonical::parse_value(&bytes, "fuzz", usize::MAX).ok(),
            Some(v)
        );
    }
});
