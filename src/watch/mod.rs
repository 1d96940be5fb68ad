//! Watch mode: a saved edit to the project file is applied by itself.
//!
//! [`files`] turns editors' many ways of saving into one "content changed"
//! signal; [`run`] is the loop shared by `facerunner watch` and the daemon.

pub mod files;
pub mod run;
