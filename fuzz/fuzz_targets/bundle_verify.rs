//! The whole bundle verification path on arbitrary bytes: the strict zip reader, the
//! signature envelope, the manifest, member matching, inflating and hashing. Run twice:
//! trusting the seed corpus's signing key (the `verify --trust` path), and accepting any
//! signature envelope (the countersigning path, which reaches the member checks whatever
//! the signatures say). Also the unverified read behind `inspect`.
#![no_main]
#![forbid(unsafe_code)]

use modelseal::bundle::TrustedKeys;
use modelseal::fuzzing;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let trusted = TrustedKeys(vec![modelseal_fuzz::keys::signer_public()]);
    let strict = fuzzing::verify_bytes(data, Some(&trusted));
    let any = fuzzing::verify_bytes(data, None);
    if strict.is_ok() {
        assert!(any.is_ok(), "trusted bundle fails without trust: {any:?}");
    }
    if let Ok(bundle) = any {
        // Verified: the manifest is canonical and every member reads back with its size.
        assert_eq!(bundle.manifest().to_bytes(), bundle.manifest_bytes());
        for f in &bundle.manifest().files {
            let bytes = bundle
                .read(f.path.as_str())
                .unwrap_or_else(|e| panic!("verified member {} unreadable: {e}", f.path));
            assert_eq!(bytes.len() as u64, f.size);
        }
    }
    if let Ok(unverified) = fuzzing::read_unverified_bytes(data) {
        assert!(!unverified.claimed_signers.is_empty());
    }
});
