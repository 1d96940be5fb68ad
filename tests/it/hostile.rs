//! Hostile files end to end: devices, FIFOs and planted links where
//! FaceRunner reads or writes, driven through the real binary. Every run has
//! assert_cmd's timeout, so a read that hangs fails the test instead of
//! hanging it.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use crate::support::{Project, describe, free_port, text};

fn mkfifo(p: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        p,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
}

fn sleeper(env_file: &str) -> String {
    format!("  w:\n    command: [sleep, \"9\"]\n    env_file: {env_file}\n")
}

#[test]
fn a_device_or_fifo_as_the_project_file_is_refused_at_once() {
    let p = Project::new(&sleeper("w.env"));
    let fifo = p.dir.path().join("fifo.yaml");
    mkfifo(&fifo);
    for (file, what) in [
        (Path::new("/dev/zero"), "character device"),
        (fifo.as_path(), "FIFO"),
    ] {
        let file_s = file.display().to_string();
        for cmd in ["validate", "plan"] {
            let out = p.run(&["-f", &file_s, cmd]);
            assert_eq!(out.status.code(), Some(1), "{cmd}: {}", describe(&out));
            let err = text(&out.stderr);
            assert!(err.contains(what) && err.contains(&file_s), "{cmd}: {err}");
        }
    }
}

#[test]
fn a_device_or_fifo_as_an_env_file_is_refused_at_once() {
    let p = Project::new("");
    let fifo = p.dir.path().join("p/fifo.env");
    mkfifo(&fifo);
    for (file, what) in [("/dev/zero", "character device"), ("fifo.env", "FIFO")] {
        p.write(&sleeper(file));
        let out = p.run(&["config", "--hash"]);
        assert_eq!(out.status.code(), Some(1), "{file}: {}", describe(&out));
        let err = text(&out.stderr);
        assert!(err.contains(what) && err.contains(file), "{file}: {err}");
    }
    // `.env` beside the project file, read by every command.
    p.write("  w:\n    command: [sleep, \"9\"]\n");
    std::fs::rename(&fifo, p.dir.path().join("p/.env")).expect("mv");
    let out = p.run(&["validate"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(text(&out.stderr).contains("FIFO"), "{}", describe(&out));
}

#[test]
fn an_env_file_that_is_not_one_is_not_echoed() {
    let p = Project::new(&sleeper("shadow"));
    std::fs::write(
        p.dir.path().join("p/shadow"),
        "root:$6$hunter2SECRETHASH:19000:0:99999:7:::\n",
    )
    .expect("write");
    let out = p.run(&["config", "--hash"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains("hunter2"), "{all}");
    assert!(all.contains("shadow") && all.contains("line 1"), "{all}");
}

#[test]
fn a_file_model_that_is_not_gguf_is_a_plan_error() {
    let port = free_port();
    let services =
        format!("  ollama:\n    kind: ollama\n    binary: /nonexistent/ollama\n    port: {port}\n");
    let p = Project::new(&services);
    for (file, says) in [
        ("/etc/passwd", "not a GGUF file"),
        ("missing.gguf", "does not exist"),
    ] {
        let yaml = format!(
            "version: 1\nname: {}\nservices:\n{services}models:\n  - name: mine:1b\n    file: {file}\n",
            p.name
        );
        std::fs::write(p.dir.path().join("p/facerunner.yaml"), yaml).expect("write");
        let out = p.run(&["plan"]);
        assert_eq!(out.status.code(), Some(1), "{file}: {}", describe(&out));
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(all.contains(says) && all.contains(file), "{file}: {all}");
        assert!(all.contains("GGUF"), "{all}");
        assert!(!all.contains("root:x"), "no content echoed: {all}");
    }
}

#[test]
fn plan_out_replaces_a_planted_link_and_writes_0600() {
    let p = Project::new("  w:\n    command: [sleep, \"9\"]\n");
    let victim = p.dir.path().join("victim");
    std::fs::write(&victim, "precious").expect("write");
    let out = p.dir.path().join("plan.json");
    symlink(&victim, &out).expect("symlink");
    p.ok(&["plan", "--out", &out.display().to_string()]);
    assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");
    let meta = std::fs::symlink_metadata(&out).expect("stat");
    assert!(meta.is_file(), "the link was replaced by the plan");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("read")).expect("json");
    assert!(plan.is_object());
}

#[test]
fn a_world_writable_facerunner_home_is_refused() {
    let p = Project::new("  w:\n    command: [sleep, \"9\"]\n");
    std::fs::create_dir_all(p.home()).expect("mkdir");
    std::fs::set_permissions(p.home(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let out = p.run(&["up"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(err.contains("writable by other users"), "{err}");
    assert!(err.contains(&p.home().display().to_string()), "{err}");
    assert!(!p.dirs().state.exists(), "nothing created in it");
}

#[test]
fn a_fifo_as_a_saved_plan_is_refused_at_once() {
    let p = Project::new("  w:\n    command: [sleep, \"9\"]\n");
    let fifo = p.dir.path().join("plan.json");
    mkfifo(&fifo);
    let out = p.run(&["apply", "--yes", &fifo.display().to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(text(&out.stderr).contains("FIFO"), "{}", describe(&out));
}

#[test]
fn the_daemon_refuses_a_fifo_as_the_project_file() {
    let p = Project::new("  w:\n    command: [sleep, \"60\", \"{marker}\"]\n");
    p.ok(&["up"]);
    let saved = p.dir.path().join("plan.json");
    p.ok(&["plan", "--out", &saved.display().to_string()]);
    let plan: facerunner::plan::Plan =
        serde_json::from_str(&std::fs::read_to_string(&saved).expect("read")).expect("a plan");
    let fifo = p.dir.path().join("p/fifo.yaml");
    mkfifo(&fifo);
    let request = facerunner::model::wire::Request::Apply {
        config: fifo,
        vars: Default::default(),
        plan: Box::new(plan),
        gpus: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let err = rt
        .block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(60), async {
                facerunner::client::Client::connect(&p.dirs().socket())
                    .await?
                    .expect("the daemon runs")
                    .request_streaming(&request, |_| {})
                    .await
            })
            .await
            .expect("the daemon answers instead of hanging")
        })
        .expect_err("refused");
    p.ok(&["down"]);
    match err {
        facerunner::supervisor::SupervisorError::Remote(w) => {
            assert_eq!(
                w.kind,
                facerunner::model::wire::ErrorKind::InvalidConfig,
                "{w}"
            );
            assert!(w.message.contains("FIFO"), "{w}");
        }
        other => panic!("{other}"),
    }
}
