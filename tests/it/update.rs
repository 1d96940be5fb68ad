//! `facerunner update` against a local release feed
//! (`tests/support/release_server.py`): check, replace atomically after a
//! SHA-256 check, refuse a bad checksum, and the once-a-day notice.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::release::ReleaseServer;
use crate::support::{Project, describe, text};

fn asset() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "facerunner-linux-arm64"
    } else {
        "facerunner-linux-amd64"
    }
}

const NEW: &[u8] = b"#!/bin/sh\necho facerunner 9.9.9\n";

/// Run `exe` (the binary under test, or a copy) with the feed set and the
/// automatic-check switches cleared.
fn run(p: &Project, exe: &Path, server: &ReleaseServer, args: &[&str]) -> Output {
    let c = p.cmd(args);
    let mut cmd = std::process::Command::new(exe);
    cmd.args(args)
        .current_dir(c.get_current_dir().expect("dir"))
        .envs(
            c.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env("FACERUNNER_UPDATE_URL", server.base())
        .env_remove("CI")
        .env_remove("FACERUNNER_NO_UPDATE_CHECK")
        .env_remove("NO_UPDATE_NOTIFIER")
        .env_remove("DO_NOT_TRACK");
    cmd.output().expect("run facerunner")
}

/// A copy of the binary under test in a directory of its own.
fn copy_of_binary(p: &Project) -> PathBuf {
    let dir = p.dir.path().join("bin");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let exe = dir.join("facerunner");
    std::fs::copy(crate::support::bin(), &exe).expect("copy the binary");
    exe
}

fn downloads(server: &ReleaseServer) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.contains("/download/") && r.ends_with(asset()))
        .count()
}

#[test]
fn update_check_says_a_newer_version_exists_and_downloads_nothing() {
    let p = Project::new("");
    let server = ReleaseServer::start(&p.dir.path().join("srv/root"));
    server.publish("9.9.9", &[(asset(), NEW.to_vec())], false);
    let out = run(&p, &crate::support::bin(), &server, &["update", "--check"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains(&format!(
            "facerunner 9.9.9 is available (this is {})",
            env!("CARGO_PKG_VERSION")
        )),
        "{}",
        describe(&out)
    );
    assert_eq!(downloads(&server), 0);

    // An older latest: up to date.
    server.publish("0.0.1", &[(asset(), NEW.to_vec())], false);
    let out = run(&p, &crate::support::bin(), &server, &["update", "--check"]);
    assert!(
        text(&out.stdout).contains("is up to date"),
        "{}",
        describe(&out)
    );
}

#[test]
fn update_replaces_a_copy_of_itself_after_checking_its_sha256() {
    let p = Project::new("");
    let server = ReleaseServer::start(&p.dir.path().join("srv/root"));
    let exe = copy_of_binary(&p);
    let before = std::fs::read(&exe).expect("read");

    // A wrong checksum: refused, the binary untouched, no temp file left.
    server.publish("9.9.9", &[(asset(), NEW.to_vec())], true);
    let out = run(&p, &exe, &server, &["update"]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("does not match its published SHA-256"),
        "{}",
        describe(&out)
    );
    assert!(std::fs::read(&exe).expect("read") == before, "unchanged");
    assert_eq!(
        std::fs::read_dir(exe.parent().expect("dir"))
            .expect("ls")
            .count(),
        1
    );

    // The right one: replaced; the new program runs.
    server.publish("9.9.9", &[(asset(), NEW.to_vec())], false);
    let out = run(&p, &exe, &server, &["update"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(text(&out.stdout).contains("updated"), "{}", describe(&out));
    assert_eq!(std::fs::read(&exe).expect("read"), NEW);
    let out = std::process::Command::new(&exe)
        .arg("--version")
        .output()
        .expect("run");
    assert_eq!(text(&out.stdout), "facerunner 9.9.9\n");
}

#[test]
fn the_notice_asks_the_feed_at_most_once_a_day_and_never_under_ci() {
    let p = Project::new("");
    let server = ReleaseServer::start(&p.dir.path().join("srv/root"));
    server.publish("9.9.9", &[(asset(), NEW.to_vec())], false);
    let latest = |s: &ReleaseServer| {
        s.requests()
            .iter()
            .filter(|r| r.ends_with("/latest"))
            .count()
    };

    // Under CI, or opted out: never.
    let mut c = p.cmd(&["status"]);
    c.env("FACERUNNER_UPDATE_URL", server.base())
        .env("CI", "true");
    let out = c.output().expect("status");
    assert!(out.status.success(), "{}", describe(&out));
    let mut c = p.cmd(&["status"]);
    c.env("FACERUNNER_UPDATE_URL", server.base())
        .env_remove("CI")
        .env("FACERUNNER_NO_UPDATE_CHECK", "1");
    c.output().expect("status");
    assert_eq!(latest(&server), 0);

    // Otherwise once, then not again the same day.
    let out = run(&p, &crate::support::bin(), &server, &["status"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("facerunner 9.9.9 is available"),
        "{}",
        describe(&out)
    );
    let out = run(&p, &crate::support::bin(), &server, &["status"]);
    assert!(
        !text(&out.stderr).contains("is available"),
        "{}",
        describe(&out)
    );
    assert_eq!(latest(&server), 1);
}
