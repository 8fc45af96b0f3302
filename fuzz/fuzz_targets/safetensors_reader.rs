//! The host's strict safetensors reader (`tensor::safetensors::read_header`): whatever it
//! accepts has tensors that tile the data section exactly and lie inside the file.
#![no_main]
#![forbid(unsafe_code)]

use modelseal::tensor::safetensors::read_header;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(file) = read_header(data, data.len() as u64) else {
        return;
    };
    let mut at = None;
    for t in &file.tensors {
        assert!(t.start <= t.end && t.end <= data.len() as u64, "{}", t.name);
        if let Some(prev) = at {
            assert_eq!(prev, t.start, "hole or overlap before {}", t.name);
        }
        at = Some(t.end);
    }
    if let Some(end) = at {
        assert_eq!(end, data.len() as u64, "bytes after the last tensor");
    }
});
