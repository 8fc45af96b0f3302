//! Tensors on the host side: element types, checked shape/stride arithmetic, and the
//! safetensors format (canonical writer, strict reader).

pub mod dtype;
pub mod layout;
pub mod safetensors;
pub mod sink;

pub use dtype::Dtype;
pub use layout::{MAX_DIMS, Simplified};
