//! Object header messages the reader interprets.

pub(crate) mod attribute;
pub(crate) mod dataspace;
pub(crate) mod datatype;
pub(crate) mod fill;
pub(crate) mod filters;
pub(crate) mod layout;
pub(crate) mod link;
