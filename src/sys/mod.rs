//! Platform-specific code, one file (or folder) per OS.
//!
//! Everything that depends on the kernel's process model — reading a
//! process's identity from `/proc`, signalling a process group, the
//! parent-death signal — is reached through here, so a port to another OS
//! (macOS: `proc_pidinfo`, `kqueue`) adds one folder beside `linux/` and
//! touches nothing above it.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;

#[cfg(not(target_os = "linux"))]
compile_error!("FaceRunner supports Linux only for now: add src/sys/<os>/ for another OS");
