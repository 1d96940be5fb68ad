//! `facerunner backup` / `restore` end to end: back up a running project,
//! delete it, restore it into an empty directory, and find that the plan
//! asks only for the model pulls.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{Project, describe, free_port, text};

fn standin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/ollama_standin.py")
}

fn in_dir(p: &Project, dir: &Path, args: &[&str]) -> std::process::Output {
    let mut c = p.cmd(args);
    c.current_dir(dir);
    assert_cmd::Command::from_std(c)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("run facerunner")
}

#[test]
fn backup_then_delete_then_restore_gives_a_project_whose_plan_only_pulls() {
    let port = free_port();
    let p = Project::new(&format!(
        "  llm:\n    kind: ollama\n    port: {port}\n    binary: {}\n    models_dir: ./models\nmodels:\n  - ollama: smollm:135m\n  - ollama: qwen2.5:0.5b\n",
        standin().display()
    ));
    let dir = p.dir.path().join("p");
    std::fs::write(dir.join(".env"), "TOKEN=not-for-backups\n").expect("env");
    let out = p.run(&["apply", "--yes", "--color", "never"]);
    assert!(out.status.success(), "{}", describe(&out));

    let archive = p.dir.path().join("b.tar.gz");
    let a = archive.display().to_string();
    let out = p.ok(&["backup", &a]);
    assert!(text(&out.stdout).contains("left out"), "{}", describe(&out));
    assert!(!p.run(&["backup", &a]).status.success(), "never overwrites");

    // What it holds: the file, the state, the model list with digests; no .env.
    let check = p.dir.path().join("check");
    let m = facerunner::backup::open(&archive, &check).expect("a valid backup");
    let names: Vec<&str> = m.members.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["models.json", "project/facerunner.yaml", "state/state.json"]
    );
    let models: serde_json::Value =
        serde_json::from_slice(&std::fs::read(check.join("models.json")).expect("models"))
            .expect("json");
    let listed: Vec<&str> = models["llm"]["models"]
        .as_array()
        .expect("llm's models")
        .iter()
        .map(|m| {
            assert_eq!(m["digest"].as_str().map(str::len), Some(64), "{m}");
            m["name"].as_str().expect("name")
        })
        .collect();
    assert_eq!(listed, ["qwen2.5:0.5b", "smollm:135m"]);

    // The project is gone (its directory, its model store).
    p.ok(&["down"]);
    std::fs::remove_dir_all(&dir).expect("delete the project");

    // Restore refuses a non-empty directory...
    let busy = p.dir.path().join("busy");
    std::fs::create_dir_all(&busy).expect("mkdir");
    std::fs::write(busy.join("x"), "x").expect("write");
    let out = in_dir(
        &p,
        p.dir.path(),
        &["restore", &a, "--into", &busy.display().to_string()],
    );
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("is not empty"),
        "{}",
        describe(&out)
    );

    // ...and restores into an empty one.
    let q = p.dir.path().join("q");
    let out = in_dir(
        &p,
        p.dir.path(),
        &["restore", &a, "--into", &q.display().to_string()],
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(q.join("facerunner.yaml").is_file());
    assert!(
        !q.join(".env").exists(),
        "no secrets without --include-secrets"
    );

    // The plan: start the service (nothing runs here yet) and pull exactly
    // the backup's models; nothing to change or remove.
    let out = in_dir(&p, &q, &["plan", "--color", "never"]);
    let plan = text(&out.stdout);
    assert!(
        plan.contains("Plan: 3 to add, 0 to change, 0 to remove."),
        "{}",
        describe(&out)
    );
    let steps: Vec<&str> = plan
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with(['+', '-', '~']))
        .collect();
    let pulls: Vec<&str> = steps
        .iter()
        .copied()
        .filter(|l| l.contains("pull"))
        .collect();
    assert_eq!(steps.len(), 3, "{plan}");
    assert_eq!(pulls.len(), 2, "{plan}");
    for m in listed {
        assert!(
            pulls.iter().any(|l| l.contains(m)),
            "{m} not pulled:\n{plan}"
        );
    }
    assert!(
        steps
            .iter()
            .any(|l| l.contains("llm") && !l.contains("pull")),
        "{plan}"
    );
    let out = in_dir(&p, &q, &["down"]);
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn restore_refuses_an_archive_that_is_not_a_backup() {
    let p = Project::new("");
    let bogus = p.dir.path().join("x.tar.gz");
    std::fs::write(&bogus, b"\x1f\x8b not really").expect("write");
    let q = p.dir.path().join("q");
    let out = in_dir(
        &p,
        p.dir.path(),
        &[
            "restore",
            &bogus.display().to_string(),
            "--into",
            &q.display().to_string(),
        ],
    );
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        std::fs::read_dir(&q)
            .map(|mut d| d.next().is_none())
            .unwrap_or(true),
        "nothing restored"
    );
}

#[test]
fn with_data_copies_open_webui_data_with_the_service_stopped_then_restarts_it() {
    let p = Project::new(&format!(
        "  ui:\n    kind: open-webui\n    port: {}\n    binary: {}/fake_webui.py\n",
        free_port(),
        crate::support::programs().display()
    ));
    p.ok(&["up"]);
    let pid = |p: &Project| p.service("ui").and_then(|s| s["state"]["pid"].as_u64());
    let before = pid(&p).expect("ui runs");
    let db = p.dirs().data.join("ui/webui.db");
    assert!(db.is_file(), "the service wrote its data");

    let archive = p.dir.path().join("b.tar.gz");
    let out = p.ok(&["backup", "--with-data", &archive.display().to_string()]);
    assert!(
        text(&out.stdout).contains("stopping ui"),
        "{}",
        describe(&out)
    );
    let after = crate::support::wait_until("ui running again", Duration::from_secs(30), || {
        p.service("ui")
            .filter(|s| s["state"]["state"] == "running")
            .and_then(|s| s["state"]["pid"].as_u64())
    });
    assert_ne!(before, after, "it was stopped and started again");

    let check = p.dir.path().join("check");
    let m = facerunner::backup::open(&archive, &check).expect("valid");
    assert_eq!(m.data, ["ui"]);
    assert_eq!(
        std::fs::read(check.join("data/ui/webui.db")).expect("in the backup"),
        b"chats: 1\n"
    );

    // Restored elsewhere (the old data gone): the data comes back.
    p.ok(&["down"]);
    std::fs::remove_dir_all(p.dirs().data.join("ui")).expect("rm data");
    std::fs::remove_dir_all(p.dir.path().join("p")).expect("rm project");
    let q = p.dir.path().join("q");
    let out = in_dir(
        &p,
        p.dir.path(),
        &[
            "restore",
            &archive.display().to_string(),
            "--into",
            &q.display().to_string(),
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(std::fs::read(&db).expect("restored"), b"chats: 1\n");
}
