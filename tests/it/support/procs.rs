//! Finding processes by command line through /proc, shared by the
//! integration tests and `benches/supervisor_bench.rs` (which includes this
//! file with `#[path]`): both must tell whether anything of a project is
//! left running.

/// Live processes whose command line contains `needle`.
pub fn processes_with(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
        if !cmd.contains(needle) || is_zombie(pid) {
            continue;
        }
        found.push((pid, cmd.trim().to_string()));
    }
    found
}

/// Whether `pid` is gone or a zombie (also true when it cannot be read).
pub fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rfind(')')
                .map(|i| s[i + 1..].trim_start().starts_with(['Z', 'X']))
        })
        .unwrap_or(true)
}
