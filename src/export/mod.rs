//! Exports of the project file for other engines: today Kubernetes
//! manifests (`facerunner export kubernetes`).
//!
//! An export is a pure function of the loaded file and an optional GPU
//! inventory: no clock, no randomness, no machine state, so the same file
//! gives the same bytes (the export can live in git and be reviewed with
//! `--diff`). What the target cannot express comes back as located
//! diagnostics, like `validate`'s.

pub mod kubernetes;
