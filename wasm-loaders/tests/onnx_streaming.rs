//! Payloads are described, not copied: loading a model whose initializers hold 32 MiB of
//! `raw_data` reads only a small window of it through the host.

mod onnx_gguf_support;

use modelseal_loaders::{Options, SliceHost, StorageSource, onnx};
use onnx_gguf_support::CountingHost;

fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn field_len(field: u64, payload: &[u8], out: &mut Vec<u8>) {
    varint(field << 3 | 2, out);
    varint(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

fn field_varint(field: u64, v: u64, out: &mut Vec<u8>) {
    varint(field << 3, out);
    varint(v, out);
}

#[test]
fn raw_data_is_not_read() {
    const TENSORS: usize = 8;
    const ELEMS: u64 = 1 << 20; // 4 MiB of f32 each
    let mut graph = Vec::new();
    for i in 0..TENSORS {
        let mut t = Vec::new();
        field_varint(1, ELEMS, &mut t); // dims
        field_varint(2, 1, &mut t); // FLOAT
        field_len(8, format!("w{i}").as_bytes(), &mut t);
        let payload: Vec<u8> = (0..ELEMS * 4).map(|k| (k % 251) as u8).collect();
        field_len(9, &payload, &mut t); // raw_data
        field_len(5, &t, &mut graph);
    }
    let mut model = Vec::new();
    field_varint(1, 10, &mut model);
    field_len(7, &graph, &mut model);
    let total = model.len() as u64;

    let mut host = CountingHost {
        inner: SliceHost::new(model),
        read: 0,
    };
    let result = onnx::load(&mut host, &Options::default()).expect("loads");
    assert_eq!(result.tensors.len(), TENSORS);
    for t in &result.tensors {
        assert_eq!(t.storage.source, StorageSource::Input);
        assert_eq!(t.storage.length, ELEMS * 4);
    }
    // A small window per tensor header, against 32 MiB of payload.
    assert!(
        host.read <= (TENSORS as u64 + 1) * 8 * 1024,
        "read {} of {total} bytes",
        host.read
    );
}
