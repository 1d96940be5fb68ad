//! Host facts the checks need, for services that would have to be started:
//! is their port free, does their binary exist, is their working directory
//! a directory?
//!
//! A port is probed by binding it for an instant (and releasing it); a
//! process of ours that is running is never probed, so only a port held by
//! something FaceRunner did not start shows up as taken.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use crate::model::live::{HostFacts, LiveService};
use crate::model::spec::ProjectSpec;

/// Probe ports and binaries of every service that is not running.
pub fn observe(spec: &ProjectSpec, live: &BTreeMap<String, LiveService>) -> HostFacts {
    let mut facts = HostFacts::default();
    for svc in &spec.services {
        if live.get(&svc.name).is_some_and(LiveService::is_running) {
            continue;
        }
        if let Some(port) = svc.port {
            let bind = svc.bind.as_deref().unwrap_or("127.0.0.1");
            if port_taken(bind, port) {
                facts
                    .ports_taken
                    .insert(svc.name.clone(), format!("{bind}:{port}"));
            }
        }
        if let Some(why) = working_dir_problem(&svc.working_dir) {
            facts.bad_working_dirs.insert(svc.name.clone(), why);
        }
        if let Some(program) = svc.argv.first()
            && find_program(program, &svc.working_dir).is_none()
        {
            facts
                .missing_binaries
                .insert(svc.name.clone(), program.clone());
        }
    }
    facts
}

fn port_taken(bind: &str, port: u16) -> bool {
    let host = bind.trim_matches(['[', ']']);
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    match TcpListener::bind((host, port)) {
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::AddrInUse,
    }
}

/// What keeps `dir` from being a working directory, if anything.
pub fn working_dir_problem(dir: &Path) -> Option<String> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => None,
        Ok(_) => Some(format!("{} is not a directory", dir.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Some(format!("{} does not exist", dir.display()))
        }
        Err(e) => Some(format!("{} cannot be used: {e}", dir.display())),
    }
}

/// `program` as a path (relative to `cwd` when it has a `/`), or on `PATH`.
pub fn find_program(program: &str, cwd: &Path) -> Option<PathBuf> {
    if program.contains('/') {
        let p = cwd.join(program);
        return p.is_file().then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_port_is_taken_and_a_released_one_is_free() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        assert!(port_taken("127.0.0.1", port));
        drop(l);
        assert!(!port_taken("127.0.0.1", port));
    }

    #[test]
    fn a_missing_or_non_directory_working_dir_is_a_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(working_dir_problem(dir.path()), None);
        let missing = dir.path().join("nope");
        assert_eq!(
            working_dir_problem(&missing),
            Some(format!("{} does not exist", missing.display()))
        );
        let file = dir.path().join("file");
        std::fs::write(&file, "").expect("write");
        assert!(working_dir_problem(&file).is_some_and(|w| w.ends_with("is not a directory")));
    }

    #[test]
    fn programs_are_found_on_path_or_as_files() {
        assert!(find_program("sh", Path::new("/")).is_some());
        assert!(find_program("/bin/sh", Path::new("/")).is_some());
        assert!(find_program("no-such-program-xyz", Path::new("/")).is_none());
    }
}
