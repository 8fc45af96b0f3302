//! The guest loader for `safetensors`, compiled natively (the same code that runs in the sandbox),
//! on arbitrary bytes; every answer is checked against the host's validation.
#![no_main]
#![forbid(unsafe_code)]

libfuzzer_sys::fuzz_target!(|data: &[u8]| modelseal_fuzz::run_guest("safetensors", data));
