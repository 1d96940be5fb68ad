//! Linux: process identity and process-group signals through `/proc` and
//! rustix.

pub mod contain;
pub mod identity;
pub mod inherit;
pub mod process;
pub mod tree;
