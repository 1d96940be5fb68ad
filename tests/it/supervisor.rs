//! The supervisor end to end: the real binary, a YAML file, real processes
//! (the small programs in `tests/programs/`), FACERUNNER_HOME in a temp dir.

use std::time::Duration;

use crate::support::{
    Project, alive, describe, free_port, kill9, processes_with, text, wait_until,
};

/// An HTTP service ready after `delay` seconds, with an HTTP probe.
fn http_service(name: &str, port: u16, delay: f32, extra: &str) -> String {
    format!(
        r#"  {name}:
    kind: process
    command: [python3, "{{programs}}/http_ready.py", "{port}", "{delay}", "{{marker}}"]
    health:
      http: http://127.0.0.1:{port}/
      interval: 100ms
      timeout: 1s
      retries: 3
      start_period: 20s
    stop: {{ signal: SIGTERM, timeout: 2s }}
{extra}"#
    )
}

fn pid_of(svc: &serde_json::Value) -> Option<u32> {
    svc["state"]["pid"].as_u64().map(|p| p as u32)
}

fn is_healthy(svc: &serde_json::Value) -> bool {
    svc["state"]["state"] == "running" && svc["state"]["health"]["health"] == "healthy"
}

#[test]
fn up_starts_in_dependency_order_with_independent_services_in_parallel() {
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let depends =
        "    depends_on:\n      a: { condition: healthy }\n      b: { condition: healthy }\n";
    let yaml = [
        http_service("a", pa, 1.0, ""),
        http_service("b", pb, 1.0, ""),
        http_service("c", pc, 0.0, depends),
    ]
    .concat();
    let p = Project::new(&yaml);
    let out = p.ok(&["up"]);
    let err = text(&out.stderr);
    let at = |needle: &str| {
        err.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{err}"))
    };
    // a and b both start before either is ready (each takes 1 s): parallel.
    assert!(
        at("a started") < at("b ready") && at("b started") < at("a ready"),
        "{err}"
    );
    // c starts only after both are ready.
    assert!(
        at("c starting") > at("a ready") && at("c starting") > at("b ready"),
        "{err}"
    );
    assert!(at("c ready") > at("c starting"));
    let status = p.status();
    for s in status["services"].as_array().expect("services") {
        assert!(is_healthy(s), "{s}");
    }
}

#[test]
fn a_service_that_never_becomes_ready_fails_up_with_its_name_probe_and_log_tail() {
    let port = free_port();
    let yaml = format!(
        r#"  stuck:
    kind: process
    command: [python3, "{{programs}}/http_ready.py", "{port}", "600", "{{marker}}"]
    health:
      http: http://127.0.0.1:{port}/
      interval: 100ms
      timeout: 500ms
      retries: 3
      start_period: 1s
    stop: {{ signal: SIGTERM, timeout: 1s }}
"#
    );
    let p = Project::new(&yaml);
    let out = p.run(&["up"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(err.contains("stuck failed"), "{err}");
    assert!(
        err.contains(&format!("probe: http GET http://127.0.0.1:{port}/")),
        "{err}"
    );
    assert!(
        err.contains("warming up for 600"),
        "log tail missing:\n{err}"
    );
    // Unhealthy shows in status.
    let svc = p.service("stuck").expect("listed");
    assert_eq!(svc["state"]["health"]["health"], "unhealthy", "{svc}");
}

#[test]
fn kill_9_of_a_service_brings_it_back_healthy() {
    let port = free_port();
    let restart = "    restart: { policy: always, backoff: { initial: 100ms, max: 1s } }\n";
    let p = Project::new(&http_service("web", port, 0.0, restart));
    p.ok(&["up"]);
    let first = pid_of(&p.service("web").expect("web")).expect("running");
    kill9(first);
    let back = wait_until("web restarted and healthy", Duration::from_secs(20), || {
        let s = p.service("web")?;
        (is_healthy(&s) && pid_of(&s) != Some(first)).then_some(s)
    });
    assert!(back["restarts"].as_u64() >= Some(1), "{back}");
    assert_eq!(back["last_exit"]["signal"], 9, "{back}");
}

#[test]
fn a_crash_loop_is_visible_with_exit_code_and_log_tail() {
    let yaml = r#"  crashy:
    kind: process
    command: [python3, "{programs}/crasher.py", "0.1", "3", "{marker}"]
    restart: { policy: on-failure, max_retries: 2, backoff: { initial: 100ms, max: 200ms } }
"#;
    let p = Project::new(yaml);
    p.run(&["up"]);
    let s = wait_until("crashy gave up", Duration::from_secs(20), || {
        let s = p.service("crashy")?;
        (s["state"]["state"] == "failed").then_some(s)
    });
    assert_eq!(s["last_exit"]["code"], 3, "{s}");
    assert_eq!(s["restarts"], 2, "{s}");
    let tail = s["log_tail"].to_string();
    assert!(tail.contains("crasher exiting with 3"), "{s}");
    let table = text(&p.ok(&["status"]).stdout);
    assert!(
        table.contains("failed") && table.contains("gave up after 2 restarts"),
        "{table}"
    );
}

#[test]
fn a_process_that_merely_shares_the_command_line_survives_stop_and_down() {
    let port = free_port();
    let p = Project::new(&http_service("web", port, 0.0, ""));
    p.ok(&["up"]);
    // Same program, same marker, not started by FaceRunner.
    let mut stranger = std::process::Command::new("python3")
        .args([
            &format!("{}/http_ready.py", crate::support::programs().display()),
            &free_port().to_string(),
            "0",
            &p.name,
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn stranger");
    let stranger_pid = stranger.id();
    p.ok(&["stop", "web"]);
    assert_eq!(p.service("web").expect("web")["state"]["state"], "stopped");
    assert!(
        alive(stranger_pid),
        "stop killed a process it did not start"
    );
    p.ok(&["down"]);
    assert!(
        alive(stranger_pid),
        "down killed a process it did not start"
    );
    let _ = stranger.kill();
    let _ = stranger.wait();
}

#[test]
fn kill_9_of_the_daemon_leaves_no_orphan_grandchildren_included() {
    let yaml = r#"  forky:
    kind: process
    command: [python3, "{programs}/forker.py", "{marker}"]
    stop: { signal: SIGTERM, timeout: 1s }
"#;
    let p = Project::new(yaml);
    p.ok(&["up"]);
    let daemon = p.status()["daemon_pid"].as_u64().expect("daemon pid") as u32;
    // forker + its grandchild, plus the shim and the daemon.
    wait_until("the grandchild forked", Duration::from_secs(10), || {
        (p.processes()
            .iter()
            .filter(|(_, c)| c.contains("forker.py") && !c.contains("__shim"))
            .count()
            == 2)
            .then_some(())
    });
    kill9(daemon);
    wait_until(
        "every process of the project gone",
        Duration::from_secs(15),
        || p.processes().is_empty().then_some(()),
    );
    // Nothing running means status says so, and down is a no-op.
    let out = p.ok(&["status"]);
    assert!(
        text(&out.stdout).contains("nothing is running"),
        "{}",
        describe(&out)
    );
    p.ok(&["down"]);
    // The lock and the stale socket do not stop the next daemon.
    p.ok(&["up"]);
    assert_ne!(p.status()["daemon_pid"].as_u64(), Some(u64::from(daemon)));
    p.ok(&["down"]);
    assert_eq!(p.processes(), vec![], "left behind");
}

#[test]
fn two_ups_at_once_make_one_daemon() {
    let port = free_port();
    let p = Project::new(&http_service("web", port, 0.5, ""));
    let spawn = || {
        p.cmd(&["up"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn up")
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (
        a.wait_with_output().expect("up a"),
        b.wait_with_output().expect("up b"),
    );
    assert!(a.status.success(), "{}", describe(&a));
    assert!(b.status.success(), "{}", describe(&b));
    let daemons: Vec<_> = p
        .processes()
        .into_iter()
        .filter(|(_, c)| c.contains(" daemon "))
        .collect();
    assert_eq!(daemons.len(), 1, "{daemons:?}");
    let services: Vec<_> = p
        .processes()
        .into_iter()
        .filter(|(_, c)| c.contains("http_ready.py") && !c.contains("__shim"))
        .collect();
    assert_eq!(services.len(), 1, "{services:?}");
    // A second daemon refuses, naming the holder.
    let out = p.run(&["daemon", "--foreground"]);
    assert!(!out.status.success());
    let daemon_pid = daemons[0].0.to_string();
    assert!(
        text(&out.stderr).contains(&daemon_pid),
        "{}",
        describe(&out)
    );
}

#[test]
fn after_down_nothing_remains() {
    let port = free_port();
    let yaml = [
        http_service("web", port, 0.0, ""),
        r#"  forky:
    kind: process
    command: [python3, "{programs}/forker.py", "{marker}"]
    stop: { signal: SIGTERM, timeout: 1s }
  stubborn:
    kind: process
    command: [python3, "{programs}/ignore_term.py", "{marker}"]
    stop: { signal: SIGTERM, timeout: 500ms }
    depends_on:
      web: { condition: healthy }
"#
        .to_string(),
    ]
    .concat();
    let p = Project::new(&yaml);
    p.ok(&["up"]);
    assert!(p.processes().len() >= 7, "{:?}", p.processes()); // daemon, 3 shims, 4 programs
    let out = p.ok(&["down"]);
    let err = text(&out.stderr);
    assert!(
        err.find("stubborn stopped") < err.find("web stopping"),
        "dependents first:\n{err}"
    );
    assert_eq!(p.processes(), vec![], "left behind");
    assert!(!p.dirs().socket().exists(), "socket left behind");
    let out = p.ok(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["services"], serde_json::json!([]));
}

#[test]
fn completed_dependency_and_logs() {
    let port = free_port();
    let depends = "    depends_on:\n      job: { condition: completed }\n";
    let yaml = [
        r#"  job:
    kind: process
    command: [python3, "{programs}/crasher.py", "0.2", "0", "{marker}"]
    restart: "no"
"#
        .to_string(),
        http_service("web", port, 0.0, depends),
    ]
    .concat();
    let p = Project::new(&yaml);
    let out = p.ok(&["up"]);
    let err = text(&out.stderr);
    assert!(
        err.find("web starting") > err.find("waiting for job (completed)"),
        "{err}"
    );
    assert_eq!(p.service("job").expect("job")["state"]["state"], "exited");
    let logs = text(&p.ok(&["logs", "job"]).stdout);
    assert!(
        logs.contains("job | crasher running") && logs.contains("crasher exiting with 0"),
        "{logs}"
    );
    let last = text(&p.ok(&["logs", "job", "-n", "1", "--json"]).stdout);
    let line: serde_json::Value = serde_json::from_str(last.trim()).expect("one JSON line");
    assert_eq!(line["service"], "job");
    // Logs work without a daemon too.
    p.ok(&["down"]);
    assert!(text(&p.ok(&["logs"]).stdout).contains("web | listening on"));
    assert!(processes_with(&p.name).is_empty());
}

#[test]
fn a_stale_socket_is_replaced_and_a_wrong_protocol_version_is_refused() {
    use facerunner::client::protocol::{Hello, HelloReply, read_frame, write_frame};

    let port = free_port();
    let p = Project::new(&http_service("web", port, 0.0, ""));
    // A socket file nobody listens on, as a crashed daemon leaves it.
    let dirs = p.dirs();
    dirs.create().expect("dirs");
    drop(std::os::unix::net::UnixListener::bind(dirs.socket()).expect("bind"));
    assert!(dirs.socket().exists());
    p.ok(&["up"]);

    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dirs.socket())
            .expect("socket")
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let reply: Option<HelloReply> = rt.block_on(async {
        let mut s = tokio::net::UnixStream::connect(dirs.socket())
            .await
            .expect("connect");
        let hello = Hello {
            protocol: 999,
            version: "9.9.9".into(),
        };
        write_frame(&mut s, &hello).await.expect("write");
        read_frame(&mut s).await.expect("read")
    });
    assert!(
        matches!(reply, Some(HelloReply::Refused { .. })),
        "{reply:?}"
    );

    let err = rt
        .block_on(async {
            let c = facerunner::client::Client::connect(&dirs.socket())
                .await?
                .expect("daemon");
            c.request(
                &facerunner::model::wire::Request::Stop {
                    services: vec!["nope".into()],
                },
                |_| {},
            )
            .await
        })
        .expect_err("unknown service");
    match err {
        facerunner::supervisor::SupervisorError::Remote(w) => {
            assert_eq!(w.kind, facerunner::model::wire::ErrorKind::UnknownService)
        }
        other => panic!("{other}"),
    }
}

#[test]
fn up_foreground_prints_logs_and_ctrl_c_stops_everything() {
    let port = free_port();
    let p = Project::new(&http_service("web", port, 0.0, ""));
    let mut child = p
        .cmd(&["up", "--foreground"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn up --foreground");
    let mut stdout = child.stdout.take().expect("stdout");
    // Wait for the service to be up, then for a log line the follower printed.
    wait_until("web healthy", Duration::from_secs(20), || {
        p.service("web").filter(is_healthy)
    });
    let daemon = p.status()["daemon_pid"].as_u64().expect("daemon pid") as u32;
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("pid");
    rustix::process::kill_process(pid, rustix::process::Signal::INT).expect("SIGINT");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut out).expect("read");
    let _ = out; // the follower starts at the end of the logs; content is timing-dependent
    assert!(!alive(daemon), "daemon still running");
    assert_eq!(p.processes(), vec![], "left behind");
}

#[test]
fn restart_gives_a_new_process_and_start_brings_a_stopped_one_back() {
    let port = free_port();
    let p = Project::new(&http_service("web", port, 0.0, ""));
    p.ok(&["up"]);
    let first = pid_of(&p.service("web").expect("web")).expect("pid");
    p.ok(&["restart", "web"]);
    let s = p.service("web").expect("web");
    assert!(is_healthy(&s) && pid_of(&s) != Some(first), "{s}");
    // No names: every service, as compose does.
    let second = pid_of(&s).expect("pid");
    p.ok(&["restart"]);
    let s = p.service("web").expect("web");
    assert!(is_healthy(&s) && pid_of(&s) != Some(second), "{s}");
    p.ok(&["stop", "web"]);
    assert_eq!(p.service("web").expect("web")["state"]["state"], "stopped");
    p.ok(&["start", "web"]);
    assert!(is_healthy(&p.service("web").expect("web")));
    let out = p.run(&["start", "nope"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("nope"),
        "{}",
        describe(&out)
    );
}

#[test]
fn an_ollama_service_uses_its_built_in_probe_and_comes_back_after_kill_9() {
    let port = free_port();
    let standin =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/ollama_standin.py");
    let p = Project::new("");
    let models = p.dir.path().join("models");
    p.write(&format!(
        r#"  ollama:
    kind: ollama
    port: {port}
    binary: {}
    models_dir: {}
    env: {{ STANDIN_STARTUP_DELAY: "0.5" }}
    restart: {{ policy: always, backoff: {{ initial: 100ms, max: 1s }} }}
    stop: {{ signal: SIGTERM, timeout: 2s }}
"#,
        standin.display(),
        models.display()
    ));
    let out = p.ok(&["up"]);
    assert!(
        text(&out.stderr).contains("ollama ready"),
        "{}",
        describe(&out)
    );
    let first = p.service("ollama").expect("ollama");
    assert!(is_healthy(&first), "{first}");
    let pid = pid_of(&first).expect("pid");
    kill9(pid);
    let second = wait_until("ollama back and healthy", Duration::from_secs(20), || {
        let s = p.service("ollama")?;
        pid_of(&s).filter(|new| is_healthy(&s) && *new != pid)
    });
    let logs = text(&p.ok(&["logs", "ollama"]).stdout);
    assert!(logs.contains("Listening on 127.0.0.1"), "{logs}");
    p.ok(&["down"]);
    assert_eq!(p.processes(), vec![]);
    assert!(!alive(second), "the stand-in survived down");
}

/// `escaper.py`: a service whose grandchild calls `setsid` and outlives its
/// parent, ignoring SIGTERM. Starts it (with `FACERUNNER_CONTAINMENT` set
/// to `mode`, if any), checks that status names the containment, then ends
/// it with `down` or by SIGKILL of the daemon and waits for the escaped
/// process to be gone.
fn escaped_process_is_stopped(mode: Option<&str>, kill_daemon: bool) {
    let p = Project::new("");
    let pidfile = p.dir.path().join("escaped.pid");
    p.write(&format!(
        r#"  escaper:
    kind: process
    command: [python3, "{{programs}}/escaper.py", "{}", "{{marker}}"]
    stop: {{ signal: SIGTERM, timeout: 1s }}
"#,
        pidfile.display()
    ));
    let mut up = p.cmd(&["up"]);
    if let Some(m) = mode {
        up.env("FACERUNNER_CONTAINMENT", m);
    }
    let out = assert_cmd::Command::from_std(up)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("run up");
    assert!(out.status.success(), "{}", describe(&out));
    let escaped: u32 = wait_until("the escaped pid file", Duration::from_secs(10), || {
        std::fs::read_to_string(&pidfile).ok()?.trim().parse().ok()
    });
    assert!(alive(escaped));
    let svc = p.service("escaper").expect("escaper in status");
    let kind = svc["containment"]["kind"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match mode {
        Some("subreaper") => assert_eq!(kind, "subreaper", "{svc}"),
        _ => assert!(kind == "cgroup" || kind == "subreaper", "{svc}"),
    }
    let table = text(&p.ok(&["status"]).stdout);
    assert!(table.contains(&format!("escaper ({kind}")), "{table}");
    if kill_daemon {
        let daemon = p.status()["daemon_pid"].as_u64().expect("daemon pid") as u32;
        kill9(daemon);
    } else {
        p.ok(&["down"]);
    }
    wait_until(
        "the process that left its group to be gone",
        Duration::from_secs(15),
        || (!alive(escaped)).then_some(()),
    );
    wait_until(
        "every process of the project gone",
        Duration::from_secs(15),
        || p.processes().is_empty().then_some(()),
    );
    if let Some(Some(dir)) = (kind == "cgroup").then(|| svc["containment"]["path"].as_str()) {
        wait_until("the cgroup removed", Duration::from_secs(15), || {
            (!std::path::Path::new(dir).exists()).then_some(())
        });
    }
}

#[test]
fn a_process_that_calls_setsid_stops_with_down() {
    escaped_process_is_stopped(None, false);
}

#[test]
fn a_process_that_calls_setsid_stops_when_the_daemon_is_killed() {
    escaped_process_is_stopped(None, true);
}

#[test]
fn without_a_cgroup_the_subreaper_stops_a_process_that_calls_setsid() {
    escaped_process_is_stopped(Some("subreaper"), false);
}

#[test]
fn without_a_cgroup_the_subreaper_acts_when_the_daemon_is_killed() {
    escaped_process_is_stopped(Some("subreaper"), true);
}

/// A service crashes, leaving a child that ignores SIGTERM (so its shim
/// is still clearing the group for the stop timeout) and that makes the
/// probe pass after the crash, as another program's listener would: a
/// process that has exited is never ready.
#[test]
fn a_crashed_service_is_not_ready_even_if_its_probe_passes() {
    let p = Project::new("");
    let flag = p.dir.path().join("probe-passes");
    p.write(&format!(
        r#"  liar:
    kind: process
    command: [sh, -c, "trap '' TERM; (sleep 0.3; touch '{flag}'; sleep 30) & exit 3", "{{marker}}"]
    restart: {{ policy: "no" }}
    health:
      exec: [test, -f, "{flag}"]
      interval: 100ms
      start_period: 20s
    stop: {{ signal: SIGTERM, timeout: 3s }}
"#,
        flag = flag.display()
    ));
    let out = p.run(&["up"]);
    assert!(flag.exists(), "the probe could pass: {}", describe(&out));
    assert!(!out.status.success(), "{}", describe(&out));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(all.contains("before becoming ready"), "{all}");
}

/// A symlink planted where a service's log goes is refused, with the path
/// and what to do, and the file it points to is left untouched.
#[test]
fn a_symlink_at_a_service_log_path_is_refused_and_its_target_untouched() {
    let p =
        Project::new("  victim:\n    kind: process\n    command: [sleep, \"30\", \"{marker}\"]\n");
    let target = p.dir.path().join("precious");
    std::fs::write(&target, "keep me\n").expect("write");
    let logs = p.dirs().logs;
    std::fs::create_dir_all(&logs).expect("mkdir");
    let link = logs.join("victim.log");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    let out = p.run(&["up"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        all.contains(&format!("{} is a symbolic link", link.display())),
        "{all}"
    );
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "keep me\n");
}

#[test]
fn a_missing_file_and_an_unknown_service_are_errors_not_silence() {
    let p = Project::new("  w: { command: [python3, -c, 'pass'], restart: 'no' }\n");
    for args in [
        &["-f", "nosuch.yaml", "status"][..],
        &["-f", "nosuch.yaml", "down"][..],
    ] {
        let out = p.run(args);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        let err = text(&out.stderr);
        assert!(err.contains("nosuch.yaml does not exist"), "{err}");
        assert!(err.contains("goes before the command"), "{err}");
    }
    let out = p.run(&["logs", "nosuch"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(err.contains("no service named `nosuch`"), "{err}");
    assert!(err.contains("services of project"), "{err}");
    // A declared service without logs yet is not unknown.
    let out = p.run(&["logs", "w"]);
    assert!(
        !text(&out.stderr).contains("no service named"),
        "{}",
        describe(&out)
    );
}

#[test]
fn two_projects_in_directories_of_the_same_name_never_share_a_daemon() {
    // a/<name>/ and b/<name>/ without `name:`: both derive the project
    // name from the directory. The second is refused; the first keeps running.
    let p = Project::new("  unused: { command: [python3, -c, 'pass'], restart: 'no' }\n");
    let sleeper = format!(
        "version: 1\nservices:\n  s:\n    command: [python3, -c, 'import time; time.sleep(600)', {}]\n",
        p.name
    );
    let dir = |side: &str| {
        let d = p.dir.path().join(side).join(&p.name);
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::write(d.join("facerunner.yaml"), &sleeper).expect("write");
        d
    };
    let (a, b) = (dir("a"), dir("b"));
    let run = |cwd: &std::path::Path, args: &[&str]| {
        let mut c = p.cmd(args);
        c.current_dir(cwd);
        assert_cmd::Command::from_std(c)
            .timeout(Duration::from_secs(60))
            .output()
            .expect("run facerunner")
    };
    let out = run(&a, &["up"]);
    assert!(out.status.success(), "{}", describe(&out));
    let pid_in_a = || {
        let out = run(&a, &["status", "--json"]);
        assert!(out.status.success(), "{}", describe(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        pid_of(&v["services"][0])
    };
    let before = wait_until("a's service runs", Duration::from_secs(30), pid_in_a);

    let owner = std::fs::canonicalize(a.join("facerunner.yaml")).expect("canonical");
    let theirs = b.join("facerunner.yaml");
    for args in [&["up"][..], &["apply", "--yes"], &["down"], &["status"]] {
        let out = run(&b, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", describe(&out));
        // miette wraps long lines, paths included: compare without the wrapping.
        let squash = |s: &str| -> String {
            s.chars()
                .filter(|c| !c.is_whitespace() && *c != '|')
                .collect()
        };
        let err = squash(&text(&out.stderr));
        let canon = std::fs::canonicalize(&theirs).expect("canon");
        let want = format!(
            "project `{}` belongs to {}; set `name:` in {} to another name",
            p.name,
            owner.display(),
            canon.display()
        );
        assert!(err.contains(&squash(&want)), "{args:?}: {err}");
    }
    assert_eq!(pid_in_a(), Some(before), "a's service was not touched");
    assert!(alive(before));

    // With a name of its own, b runs beside a.
    std::fs::write(&theirs, format!("name: {}-b\n{sleeper}", p.name)).expect("rename");
    let out = run(&b, &["up"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(pid_in_a(), Some(before), "a's service still runs");
    for d in [&a, &b] {
        let out = run(d, &["down"]);
        assert!(out.status.success(), "{}", describe(&out));
    }
}

#[test]
fn a_socket_path_too_long_for_unix_sockets_says_so_and_what_to_do() {
    let p = Project::new("  w: { command: [python3, -c, 'pass'], restart: 'no' }\n");
    // Deeper than the 108 bytes a Unix socket address holds.
    let home = p.dir.path().join("h".repeat(120));
    let socket = home.join(&p.name).join("run/daemon.sock");
    for args in [&["status"][..], &["up"]] {
        let out = assert_cmd::Command::from_std({
            let mut c = p.cmd(args);
            c.env("FACERUNNER_HOME", &home);
            c
        })
        .timeout(Duration::from_secs(60))
        .output()
        .expect("run");
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", describe(&out));
        // miette wraps long lines, paths included: compare without the wrapping.
        let squash = |s: &str| -> String {
            s.chars()
                .filter(|c| !c.is_whitespace() && *c != '|')
                .collect()
        };
        let err = squash(&text(&out.stderr));
        let want = format!(
            "the daemon's socket path {} is {} bytes long; a Unix socket path may have at most 107",
            socket.display(),
            socket.as_os_str().len()
        );
        assert!(err.contains(&squash(&want)), "{args:?}: {err}");
        assert!(
            err.contains(&squash(
                "set FACERUNNER_HOME (or XDG_RUNTIME_DIR) to a shorter directory"
            )),
            "{args:?}: {err}"
        );
    }
    assert!(p.processes().is_empty(), "no daemon was left behind");
}
