//! The guest's decompressors (deflate, zlib, gzip, bzip2, xz, lzma, lz4 frames): the first
//! byte picks the codec, the rest is the stream. Output never exceeds the limit, and the
//! one-shot and streaming inflaters agree.
#![no_main]
#![forbid(unsafe_code)]

use miniz_oxide::DataFormat;
use modelseal_loaders::decompress::{Codec, Inflater, decompress, sniff};

/// Most bytes a stream may produce here.
const LIMIT: u64 = 8 << 20;

const CODECS: [Codec; 7] = [
    Codec::Deflate,
    Codec::Zlib,
    Codec::Gzip,
    Codec::Bzip2,
    Codec::Xz,
    Codec::Lzma,
    Codec::Lz4Frame,
];

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&selector, stream)) = data.split_first() else {
        return;
    };
    let _ = sniff(stream);
    let codec = CODECS[usize::from(selector) % CODECS.len()];
    let once = decompress(stream, codec, LIMIT);
    if let Ok(out) = &once {
        assert!(
            out.len() as u64 <= LIMIT,
            "{} produced {} bytes",
            codec.name(),
            out.len()
        );
    }
    // The streaming inflater, fed in small pieces, must reach the same verdict.
    let format = match codec {
        Codec::Deflate => DataFormat::Raw,
        Codec::Zlib => DataFormat::Zlib,
        _ => return,
    };
    let mut inflater = Inflater::new(format, "fuzz", LIMIT);
    let mut out = Vec::new();
    let mut used_total = 0usize;
    let mut failed = false;
    for piece in stream.chunks(7) {
        match inflater.feed(piece, &mut |p| {
            out.extend_from_slice(p);
            Ok(())
        }) {
            Ok(used) => {
                used_total += used;
                if used < piece.len() {
                    break;
                }
            }
            Err(_) => {
                failed = true;
                break;
            }
        }
        if inflater.is_done() {
            break;
        }
    }
    let streamed_ok = !failed && inflater.finish().is_ok() && used_total == stream.len();
    match once {
        Ok(bytes) => {
            assert!(streamed_ok, "streaming failed where one-shot succeeded");
            assert_eq!(bytes, out, "streaming and one-shot inflate differ");
        }
        Err(_) => assert!(!streamed_ok, "streaming succeeded where one-shot failed"),
    }
});
