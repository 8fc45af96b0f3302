//! The host side of `import` after the sandbox: the loader's answer (tainted JSON) parsed
//! and validated, every accepted tensor gathered from its source, and the safetensors file
//! written, exactly as the pipeline does but in memory.
//!
//! Input: two bytes giving the length of the input source and two the length of the output
//! buffer (their contents are a fixed pattern), then the loader's result JSON. Oracles: an
//! accepted descriptor never reads outside its storage or source; the gathered bytes equal
//! a naive element-by-element gather (with the default block sizes and with tiny ones that
//! reach every strided path); the written file reads back with the strict reader and
//! holds exactly those bytes.
#![no_main]
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use modelseal::fuzzing;
use modelseal::import::descriptor::RawOutcome;
use modelseal::import::validate::{SourceLengths, SourceRef, ValidationLimits, validate};
use modelseal::import::{ValidatedTensor, assemble, policy};
use modelseal::tensor::safetensors::{PlannedTensor, SafetensorsWriter, read_header};

/// Most output bytes accepted here (keeps every run fast and small).
const MAX_OUTPUT: u64 = 1 << 20;

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add((i >> 8) as u8) ^ salt)
        .collect()
}

/// Element-by-element gather straight from the definition in `docs/sandbox-abi.md`.
fn reference(t: &ValidatedTensor, data: &[u8]) -> Vec<u8> {
    let isz = t.dtype().size() as usize;
    let mut out = Vec::new();
    if t.numel() == 0 {
        return out;
    }
    let shape = t.shape();
    let mut idx = vec![0u64; shape.len()];
    loop {
        let rel: u64 = idx.iter().zip(t.strides()).map(|(i, s)| i * s).sum();
        let at = (t.first_byte() + rel * isz as u64) as usize;
        let mut el = data
            .get(at..at + isz)
            .unwrap_or_else(|| panic!("{}: element at byte {at} outside the source", t.name()))
            .to_vec();
        if t.big_endian() {
            el.reverse();
        }
        out.extend(el);
        // Row-major increment.
        let mut d = shape.len();
        loop {
            if d == 0 {
                return out;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let [a, b, c, d, json @ ..] = data else {
        return;
    };
    let input = pattern(usize::from(u16::from_le_bytes([*a, *b])), 0);
    let output = pattern(usize::from(u16::from_le_bytes([*c, *d])), 0x5a);
    let external = pattern(300, 0xa5);
    let Ok(raw) = serde_json::from_slice::<RawOutcome>(json) else {
        return;
    };
    let lengths = SourceLengths {
        input: input.len() as u64,
        output: output.len() as u64,
        external: vec![external.len() as u64],
    };
    let limits = ValidationLimits {
        max_tensors: 1000,
        max_output: MAX_OUTPUT,
    };
    let Ok(model) = validate(raw, &lengths, limits, false) else {
        return;
    };
    let _ = policy::refusal(&model.globals, false);
    let files = [&input, &output, &external].map(|b| fuzzing::memory_file(b).expect("memfd"));
    let source = |s: SourceRef| match s {
        SourceRef::Input => (&files[0], &input),
        SourceRef::Output => (&files[1], &output),
        SourceRef::External(_) => (&files[2], &external),
    };
    let mut expected = BTreeMap::new();
    for t in &model.tensors {
        let (file, bytes) = source(t.source());
        let want = reference(t, bytes);
        assert_eq!(want.len() as u64, t.nbytes(), "{}", t.name());
        let mut got = Vec::new();
        assemble::write_tensor(t, file, &mut got).expect("assembles");
        assert!(got == want, "{}: gathered bytes differ", t.name());
        let small = fuzzing::assemble_small_blocks(t, file).expect("assembles");
        assert!(
            small == want,
            "{}: gathered bytes differ (small blocks)",
            t.name()
        );
        expected.insert(t.name().to_string(), want);
    }
    // The safetensors file, as the pipeline writes it.
    let Ok(metadata) = model.header_metadata() else {
        return;
    };
    let plan = model
        .tensors
        .iter()
        .map(|t| PlannedTensor {
            name: t.name().to_string(),
            dtype: t.dtype(),
            shape: t.shape().to_vec(),
            nbytes: t.nbytes(),
        })
        .collect();
    let mut writer = SafetensorsWriter::begin(Vec::new(), plan, &metadata).expect("header");
    for t in &model.tensors {
        writer
            .write_tensor(|w| {
                std::io::Write::write_all(w, &expected[t.name()])
                    .map_err(modelseal::tensor::safetensors::SafetensorsError::from)
            })
            .expect("tensor written");
    }
    let file = writer.finish().expect("finished");
    let stored = read_header(&file[..], file.len() as u64).expect("written file reads back");
    assert_eq!(stored.metadata, metadata);
    assert_eq!(stored.tensors.len(), model.tensors.len());
    for s in &stored.tensors {
        let bytes = &file[s.start as usize..s.end as usize];
        assert!(
            expected.get(&s.name).map(Vec::as_slice) == Some(bytes),
            "{}",
            s.name
        );
    }
});
