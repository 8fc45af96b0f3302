//! Key files: public, secret and passphrase-encrypted secret keys (whose KDF parameters
//! must be checked before scrypt runs: a hostile file cannot make the reader spend more
//! than the documented memory). Whatever parses is consistent with its key material.
#![no_main]
#![forbid(unsafe_code)]

use modelseal::fuzzing;
use modelseal::keys::{PublicKey, SecretKey};

fn check_secret(k: &SecretKey) {
    let sig = k.sign(b"fuzz");
    assert!(
        k.public().verify(b"fuzz", &sig),
        "secret and public key disagree"
    );
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz");
    if let Ok(k) = PublicKey::from_file_bytes(data, path) {
        let again = PublicKey::from_file_bytes(k.to_file_string().as_bytes(), path)
            .expect("a written public key parses");
        assert_eq!(again.id(), k.id());
    }
    if let Ok(k) = SecretKey::from_file_bytes(data, path) {
        check_secret(&k);
    }
    // The seed files are encrypted with this passphrase (scrypt log_n 10).
    if let Ok(k) = fuzzing::secret_key_from_bytes(data, "fuzz") {
        check_secret(&k);
    }
});
