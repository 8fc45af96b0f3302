//! Every HDF5 / Keras fixture made by `tests/fixtures/keras/make_fixtures.py` (h5py and
//! Keras 3) loads to exactly the tensors h5py reports, or fails as its expectation says.

mod hdf5_common;

use hdf5_common::{check_bad, check_good, fixtures};

#[test]
fn fixtures_match_h5py() {
    let all = fixtures();
    assert!(all.len() >= 20, "fixtures missing: {}", all.len());
    let mut diffs = Vec::new();
    let mut good = 0;
    let mut bad = 0;
    for (name, expected) in &all {
        if expected.get("error").is_some() {
            bad += 1;
            diffs.extend(check_bad(name, expected));
        } else {
            good += 1;
            diffs.extend(check_good(name, expected));
        }
    }
    assert!(
        diffs.is_empty(),
        "{} problems:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
    assert!(good >= 10 && bad >= 8, "good {good}, bad {bad}");
}
