//! `facerunner service install` (the systemd unit) and the daemon's
//! `READY=1` over `$NOTIFY_SOCKET` once its services are up.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::support::{Project, describe, free_port, text};

fn standin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/ollama_standin.py")
}

fn project() -> Project {
    Project::new(&format!(
        "  llm:\n    kind: ollama\n    port: {}\n    binary: {}\n    models_dir: ./models\n  worker:\n    command: [python3, \"{}/http_ready.py\", \"{}\", \"0\", \"{{marker}}\"]\n    depends_on: [llm]\n",
        free_port(),
        standin().display(),
        crate::support::programs().display(),
        free_port()
    ))
}

#[test]
fn service_install_writes_a_notify_unit_that_systemd_accepts() {
    let p = project();
    let units = p.dir.path().join("units");
    let u = units.display().to_string();
    let out = p.ok(&[
        "service",
        "install",
        "--user",
        "--unit-dir",
        &u,
        "--no-enable",
    ]);
    let stdout = text(&out.stdout);
    assert!(stdout.contains("loginctl enable-linger"), "{stdout}");
    assert!(stdout.contains("systemctl --user enable --now"), "{stdout}");
    let unit = units.join(format!("facerunner-{}.service", p.name));
    let body = std::fs::read_to_string(&unit).expect("the unit");
    let file = std::fs::canonicalize(p.dir.path().join("p/facerunner.yaml")).expect("canon");
    let exe = std::fs::canonicalize(crate::support::bin()).expect("canon");
    for line in [
        "Type=notify".to_string(),
        "KillMode=mixed".into(),
        "Restart=on-failure".into(),
        format!(
            "ExecStart={} -f {} daemon --foreground --up",
            exe.display(),
            file.display()
        ),
        format!("Environment=\"FACERUNNER_HOME={}\"", p.home().display()),
        "WantedBy=default.target".into(),
    ] {
        assert!(body.lines().any(|l| l == line), "{line} missing:\n{body}");
    }

    if let Some(analyze) = facerunner::installs::on_path("systemd-analyze") {
        // A user manager's view, with a runtime directory of its own.
        let runtime = p.dir.path().join("xdg-runtime");
        std::fs::create_dir_all(&runtime).expect("mkdir");
        let out = std::process::Command::new(analyze)
            .env("XDG_RUNTIME_DIR", &runtime)
            .args(["verify", "--user"])
            .arg(&unit)
            .output()
            .expect("systemd-analyze");
        assert!(
            out.status.success() && text(&out.stderr).trim().is_empty(),
            "systemd-analyze verify:\n{}",
            describe(&out)
        );
    }

    // A dry run prints the same unit and writes nothing.
    let other = p.dir.path().join("other");
    let out = p.ok(&[
        "service",
        "install",
        "--user",
        "--dry-run",
        "--unit-dir",
        &other.display().to_string(),
    ]);
    assert!(
        text(&out.stdout).contains("Type=notify"),
        "{}",
        describe(&out)
    );
    assert!(!other.exists());

    // A unit FaceRunner did not write is left alone.
    std::fs::write(&unit, "[Unit]\nDescription=mine\n").expect("write");
    let out = p.run(&[
        "service",
        "install",
        "--user",
        "--unit-dir",
        &u,
        "--no-enable",
    ]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert_eq!(
        std::fs::read_to_string(&unit).expect("kept"),
        "[Unit]\nDescription=mine\n"
    );
    let out = p.run(&[
        "service",
        "uninstall",
        "--user",
        "--unit-dir",
        &u,
        "--no-enable",
    ]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(unit.exists());

    // Ours is removed by uninstall.
    std::fs::remove_file(&unit).expect("rm");
    p.ok(&[
        "service",
        "install",
        "--user",
        "--unit-dir",
        &u,
        "--no-enable",
    ]);
    p.ok(&[
        "service",
        "uninstall",
        "--user",
        "--unit-dir",
        &u,
        "--no-enable",
    ]);
    assert!(!unit.exists());
}

#[test]
fn the_daemon_says_ready_on_notify_socket_once_its_services_are_up() {
    let p = project();
    let sock_path = p.dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind the notify socket");
    sock.set_read_timeout(Some(Duration::from_secs(90)))
        .expect("timeout");
    let mut c = p.cmd(&["daemon", "--foreground", "--up"]);
    c.env("NOTIFY_SOCKET", &sock_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().expect("start the daemon");

    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen
        .iter()
        .any(|m: &String| m.lines().any(|l| l == "READY=1"))
    {
        match sock.recv(&mut buf) {
            Ok(n) => seen.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e) => {
                let _ = child.kill();
                panic!("no READY=1 (got {seen:?}): {e}");
            }
        }
    }
    // READY=1 came once the services were up: both run now.
    for name in ["llm", "worker"] {
        let s = p.service(name).expect("service in status");
        assert_eq!(s["state"]["state"], "running", "{name}: {s}");
    }
    assert!(
        seen.iter().any(|m| m.contains("STATUS=starting services")),
        "{seen:?}"
    );
    assert_eq!(child.try_wait().expect("wait"), None, "still running");

    p.ok(&["down"]);
    let status = child.wait().expect("the daemon exits after down");
    assert!(status.success(), "{status:?}");
}
