//! A Hugging Face Hub client: repo info and file trees, search, and a
//! resuming, verifying downloader into the cache the Python tools share
//! (`HF_HUB_CACHE`, `models--org--name/{blobs,snapshots,refs}`).
//!
//! Why not the `hf-hub` crate: version 1.0.0 (even with
//! `default-features = false`) pulls 221 crates, among them `hf-xet`,
//! `reqwest-middleware` and `aws-lc-rs`/`aws-lc-sys` — a second TLS
//! provider, built with a C compiler and cmake, which FaceRunner avoids
//! (see `crate::http`). It also cannot resume a download (its
//! `.incomplete` is truncated on each attempt, hf-hub#196) and reads no
//! environment (`HF_HUB_OFFLINE` nowhere). Its cache helpers are not
//! available without the rest. The layout is small and documented, so it
//! is written here, from huggingface_hub's file_download.py, and tested
//! against files huggingface_hub itself wrote.
//!
//! Settings come from the same variables as huggingface_hub ([`HfSettings`]).

mod cache;
mod client;
mod download;
mod env;
mod error;
mod header;

pub use cache::{HfCache, check_repo_id};
pub use client::{Hub, SearchHit};
pub use download::{DownloadProgress, FileState};
pub use env::{DEFAULT_ENDPOINT, HfSettings, HubVars};
pub use error::HfError;
pub use header::HeadSource;
