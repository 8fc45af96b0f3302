//! Tensor data is described, not copied: loading a GGUF with 16 MiB of tensor data reads
//! only its header through the host.

mod onnx_gguf_support;

use modelseal_loaders::{Options, SliceHost, gguf};
use onnx_gguf_support::CountingHost;

#[test]
fn tensor_data_is_not_read() {
    let mut f = Vec::new();
    f.extend_from_slice(b"GGUF");
    f.extend_from_slice(&3u32.to_le_bytes());
    f.extend_from_slice(&2u64.to_le_bytes()); // tensors
    f.extend_from_slice(&0u64.to_le_bytes()); // kvs
    let elems: u64 = 2 << 20; // 8 MiB of f32 each
    for (i, name) in ["a", "b"].iter().enumerate() {
        f.extend_from_slice(&(name.len() as u64).to_le_bytes());
        f.extend_from_slice(name.as_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        f.extend_from_slice(&elems.to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes()); // F32
        f.extend_from_slice(&(i as u64 * elems * 4).to_le_bytes());
    }
    while f.len() % 32 != 0 {
        f.push(0);
    }
    f.resize(f.len() + (elems * 8) as usize, 0x3f);
    let total = f.len() as u64;
    let mut host = CountingHost {
        inner: SliceHost::new(f),
        read: 0,
    };
    let result = gguf::load(&mut host, &Options::default()).expect("loads");
    assert_eq!(result.tensors.len(), 2);
    assert_eq!(result.tensors[1].shape, vec![elems]);
    assert!(host.read <= 8 * 1024, "read {} of {total} bytes", host.read);
}
