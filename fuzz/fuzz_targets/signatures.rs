//! The signature envelope parser and the signature check: an accepted envelope re-encodes
//! to the same bytes; checking it against the seed key over a fixed document never panics,
//! and a signature only counts when it verifies.
#![no_main]
#![forbid(unsafe_code)]

use modelseal::signing::{self, SignatureEnvelope};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = SignatureEnvelope::parse(data) else {
        return;
    };
    assert_eq!(
        envelope.to_bytes(),
        data,
        "accepted a non-canonical envelope"
    );
    let key = modelseal_fuzz::keys::signer_public();
    let check = signing::check(
        &envelope.signatures,
        signing::MANIFEST_CONTEXT,
        b"fuzz document",
        std::slice::from_ref(&key),
    );
    // Nobody can forge the seed key's signature over this document.
    assert!(check.valid.is_empty());
});
