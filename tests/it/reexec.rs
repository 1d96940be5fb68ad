//! A running daemon re-executes itself (`daemon --reexec`, and `update`
//! after replacing the binary) and keeps its services: same pids, still
//! supervised (stop, restart after SIGKILL), logs still flowing, `down`
//! stops everything. A new binary that cannot take services over is
//! refused and nothing changes.

use std::time::Duration;

use crate::support::release::ReleaseServer;
use crate::support::{Project, alive, describe, kill9, text, wait_until};

fn ticker(name: &str) -> String {
    format!(
        r#"  {name}:
    kind: process
    command: [python3, "{{programs}}/ticker.py", "{{marker}}"]
    restart: {{ policy: always, backoff: {{ initial: 100ms, max: 1s }} }}
    stop: {{ signal: SIGTERM, timeout: 2s }}
"#
    )
}

fn pid_of(p: &Project, name: &str) -> Option<u32> {
    let s = p.service(name)?;
    (s["state"]["state"] == "running")
        .then(|| s["state"]["pid"].as_u64().map(|p| p as u32))
        .flatten()
}

fn daemon_pid(p: &Project) -> u32 {
    p.status()["daemon_pid"].as_u64().expect("daemon pid") as u32
}

/// The highest `tick N` in the service's log.
fn last_tick(p: &Project, name: &str) -> Option<u64> {
    text(&p.ok(&["logs", name, "-n", "20"]).stdout)
        .lines()
        .filter_map(|l| l.rsplit_once("tick ")?.1.trim().parse().ok())
        .max()
}

/// Words only: a report wraps its lines.
fn words(report: &str) -> String {
    report
        .split_whitespace()
        .filter(|w| *w != "|")
        .collect::<Vec<_>>()
        .join(" ")
}

fn up_two_tickers() -> (Project, u32, u32, u32) {
    let p = Project::new(&format!("{}{}", ticker("a"), ticker("b")));
    p.ok(&["up"]);
    let a = pid_of(&p, "a").expect("a runs");
    let b = pid_of(&p, "b").expect("b runs");
    wait_until("a logs", Duration::from_secs(10), || last_tick(&p, "a"));
    let daemon = daemon_pid(&p);
    (p, daemon, a, b)
}

/// The re-executed daemon runs the same services, still supervised.
fn still_supervised(p: &Project, daemon: u32, a: u32, b: u32) {
    assert_eq!(daemon_pid(p), daemon, "execve keeps the daemon's pid");
    assert_eq!(pid_of(p, "a"), Some(a), "a kept running");
    assert_eq!(pid_of(p, "b"), Some(b), "b kept running");
    assert!(alive(a) && alive(b));
    let log = std::fs::read_to_string(p.dirs().daemon_log()).expect("daemon log");
    assert!(log.contains("adopting the running services"), "{log}");

    // Logs still flow: lines written after the re-exec reach the log.
    let before = last_tick(p, "a").expect("ticks");
    wait_until("a's log goes on", Duration::from_secs(10), || {
        (last_tick(p, "a")? > before + 3).then_some(())
    });

    // `stop` stops an adopted service.
    p.ok(&["stop", "a"]);
    let s = p.service("a").expect("a listed");
    assert_eq!(s["state"]["state"], "stopped", "{s}");
    wait_until("a's process gone", Duration::from_secs(10), || {
        (!alive(a)).then_some(())
    });

    // SIGKILL of an adopted service: restarted by its policy.
    kill9(b);
    let back = wait_until("b restarted", Duration::from_secs(20), || {
        pid_of(p, "b").filter(|pid| *pid != b)
    });
    let s = p.service("b").expect("b listed");
    assert_eq!(s["last_exit"]["signal"], 9, "{s}");
    assert!(s["restarts"].as_u64() >= Some(1), "{s}");

    p.ok(&["down"]);
    wait_until("everything stopped", Duration::from_secs(20), || {
        p.processes().is_empty().then_some(())
    });
    assert!(!alive(back) && !alive(daemon));
}

#[test]
fn a_reexecuted_daemon_keeps_its_services_supervised_and_logging() {
    let (p, daemon, a, b) = up_two_tickers();
    let out = p.ok(&["daemon", "--reexec"]);
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!(
            "(pid {daemon}) now runs facerunner {}",
            env!("CARGO_PKG_VERSION")
        )) && said.contains("services a, b kept running"),
        "{}",
        describe(&out)
    );
    assert!(
        !p.dirs().socket().with_file_name("handover.json").exists(),
        "the handover is deleted once read"
    );
    // A second re-exec works from the adopted state too.
    let out = p.ok(&["daemon", "--reexec"]);
    assert!(
        text(&out.stdout).contains("kept running"),
        "{}",
        describe(&out)
    );
    still_supervised(&p, daemon, a, b);
}

#[test]
fn a_binary_that_cannot_take_services_over_is_refused_and_nothing_changes() {
    let (p, daemon, a, b) = up_two_tickers();
    let fake = p.dir.path().join("old-facerunner");
    std::fs::write(&fake, "#!/bin/sh\necho facerunner 0.0.1\n").expect("write");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let err = rt.block_on(async {
        let c = facerunner::client::Client::connect(&p.dirs().socket())
            .await
            .expect("connect")
            .expect("a daemon");
        c.request(
            &facerunner::model::wire::Request::Reexec { exe: fake },
            |_| {},
        )
        .await
        .expect_err("refused")
    });
    let msg = err.to_string();
    assert!(msg.contains("cannot take over running services"), "{msg}");
    // Nothing changed: same daemon, same services, still supervised.
    assert_eq!(pid_of(&p, "a"), Some(a));
    let log = std::fs::read_to_string(p.dirs().daemon_log()).expect("daemon log");
    assert!(!log.contains("adopting"), "{log}");
    kill9(b);
    wait_until("b restarted", Duration::from_secs(20), || {
        pid_of(&p, "b").filter(|pid| *pid != b)
    });
    assert_eq!(daemon_pid(&p), daemon);
}

fn asset() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "facerunner-linux-arm64"
    } else {
        "facerunner-linux-amd64"
    }
}

#[test]
fn update_replaces_the_binary_and_the_daemon_becomes_it_keeping_its_services() {
    let (p, daemon, a, b) = up_two_tickers();
    // The "new release" is the binary under test, served by a local feed;
    // `update` runs from a copy of it, which it replaces.
    let server = ReleaseServer::start(&p.dir.path().join("srv/root"));
    let new = std::fs::read(crate::support::bin()).expect("read the binary");
    server.publish("9.9.9", &[(asset(), new.clone())], false);
    let dir = p.dir.path().join("bin");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let exe = dir.join("facerunner");
    std::fs::copy(crate::support::bin(), &exe).expect("copy");
    let c = p.cmd(&["update"]);
    let out = std::process::Command::new(&exe)
        .arg("update")
        .current_dir(c.get_current_dir().expect("dir"))
        .envs(
            c.get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .env("FACERUNNER_UPDATE_URL", server.base())
        .env_remove("CI")
        .env_remove("FACERUNNER_NO_UPDATE_CHECK")
        .output()
        .expect("run update");
    assert!(out.status.success(), "{}", describe(&out));
    let said = text(&out.stdout);
    assert!(said.contains("updated"), "{}", describe(&out));
    assert!(
        said.contains(&format!("(pid {daemon}) now runs facerunner"))
            && said.contains("kept running"),
        "{}",
        describe(&out)
    );
    assert_eq!(std::fs::read(&exe).expect("read"), new);
    // The daemon's image is the replaced file now.
    let image = std::fs::read_link(format!("/proc/{daemon}/exe")).expect("readlink");
    assert_eq!(image, exe, "the daemon runs the new binary");
    still_supervised(&p, daemon, a, b);
}

#[test]
fn a_service_waiting_to_restart_makes_the_daemon_refuse_and_keep_everything() {
    let yaml = format!(
        r#"{}  crashy:
    kind: process
    command: [python3, "{{programs}}/crasher.py", "0", "1", "{{marker}}"]
    restart: {{ policy: always, backoff: {{ initial: 1h, max: 1h }} }}
"#,
        ticker("a")
    );
    let p = Project::new(&yaml);
    let _ = p.run(&["up"]); // crashy fails to come up; that is the point
    let a = pid_of(&p, "a").expect("a runs");
    wait_until("crashy waits to restart", Duration::from_secs(20), || {
        (p.service("crashy")?["state"]["state"] == "backoff").then_some(())
    });
    let daemon = daemon_pid(&p);
    let out = p.run(&["daemon", "--reexec"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = words(&text(&out.stderr));
    assert!(
        err.contains("service crashy is waiting to restart") && err.contains("keeps running"),
        "{}",
        describe(&out)
    );
    assert_eq!(daemon_pid(&p), daemon);
    assert_eq!(pid_of(&p, "a"), Some(a));
    assert!(!p.dirs().socket().with_file_name("handover.json").exists());
    // An apply in flight (it holds state/apply.lock) would be cut: refused too.
    let held = match facerunner::pidlock::PidLock::try_acquire(&p.dirs().state.join("apply.lock"))
        .expect("lock")
    {
        facerunner::pidlock::Attempt::Held(l) => l,
        facerunner::pidlock::Attempt::Busy { holder } => panic!("held by {holder}"),
    };
    let out = p.run(&["daemon", "--reexec"]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        words(&text(&out.stderr))
            .contains(&format!("an apply is running (pid {})", std::process::id())),
        "{}",
        describe(&out)
    );
    drop(held);
    // The daemon still takes requests that change what runs (the apply lock is free).
    p.ok(&["stop", "crashy"]);
    let out = p.ok(&["daemon", "--reexec"]);
    assert!(
        text(&out.stdout).contains("service a kept running"),
        "{}",
        describe(&out)
    );
    assert_eq!(pid_of(&p, "a"), Some(a));
}

#[test]
fn a_failed_execve_is_reported_and_the_daemon_goes_on_as_it_was() {
    let (p, daemon, a, _) = up_two_tickers();
    // Answers the check, then removes itself: the execve that follows fails.
    let vanishing = p.dir.path().join("vanishing-facerunner");
    std::fs::write(
        &vanishing,
        "#!/bin/sh\necho facerunner-handover 1\nrm -f -- \"$0\"\n",
    )
    .expect("write");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&vanishing, std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let answer = rt.block_on(async {
        let c = facerunner::client::Client::connect(&p.dirs().socket())
            .await
            .expect("connect")
            .expect("a daemon");
        c.request(
            &facerunner::model::wire::Request::Reexec {
                exe: vanishing.clone(),
            },
            |_| {},
        )
        .await
        .expect("the daemon answers before its execve")
    });
    assert_eq!(
        answer,
        facerunner::model::wire::Response::Reexecuting {
            services: vec!["a".into(), "b".into()]
        }
    );
    let failed = p.dirs().socket().with_file_name("reexec.failed");
    let why = wait_until("the failure reported", Duration::from_secs(10), || {
        std::fs::read_to_string(&failed).ok()
    });
    assert!(why.contains("cannot execute"), "{why}");
    wait_until("the handover removed", Duration::from_secs(10), || {
        (!p.dirs().socket().with_file_name("handover.json").exists()).then_some(())
    });
    // The same daemon, its services, and the apply lock free again: a real
    // re-exec works, and everything is still supervised after it.
    assert_eq!(daemon_pid(&p), daemon);
    assert_eq!(pid_of(&p, "a"), Some(a));
    // Close-on-exec is back: a shim spawned now does not inherit the
    // daemon's lock file.
    p.ok(&["restart", "b"]);
    let b = pid_of(&p, "b").expect("b runs again");
    let lock = p.dirs().lock_file();
    for (shim, _) in p.processes().iter().filter(|(_, c)| c.contains("__shim")) {
        let fds = std::fs::read_dir(format!("/proc/{shim}/fd")).expect("fds");
        for fd in fds.flatten() {
            assert_ne!(
                std::fs::read_link(fd.path()).ok(),
                Some(lock.clone()),
                "shim {shim}"
            );
        }
    }
    let out = p.ok(&["daemon", "--reexec"]);
    assert!(
        text(&out.stdout).contains("services a, b kept running"),
        "{}",
        describe(&out)
    );
    assert!(!failed.exists(), "a new re-exec clears the old failure");
    still_supervised(&p, daemon, a, b);
}
