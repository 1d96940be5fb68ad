//! `facerunner setup` end to end: Ollama installed from a local release
//! server (a fake release holding the stand-in as `bin/ollama`), checked
//! against its `sha256sum.txt`, from a local archive offline; Open WebUI
//! found where `.ci/run` installed it.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::support::release::{ReleaseServer, fake_ollama_archive, ollama_asset};
use crate::support::{Project, describe, free_port, text, wait_until};

/// A `PATH` with Python (for the stand-in's `#!/usr/bin/env python3`) and
/// the system directories, but no `ollama` or `open-webui`.
fn plain_path() -> String {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3");
    let python = PathBuf::from(text(&out.stdout).trim());
    let dir = python.parent().expect("python's dir").display().to_string();
    let path = format!("{dir}:/usr/bin:/bin");
    for d in std::env::split_paths(&path) {
        assert!(!d.join("ollama").exists(), "{} has an ollama", d.display());
    }
    path
}

/// Text with miette's line wrapping undone (words joined by one space).
fn flat(b: &[u8]) -> String {
    text(b)
        .split_whitespace()
        .filter(|w| *w != "|" && *w != "x")
        .collect::<Vec<_>>()
        .join(" ")
}

fn setup(p: &Project, server: Option<&ReleaseServer>, args: &[&str]) -> Output {
    let mut c = p.cmd(&[&["setup"], args].concat());
    c.env("PATH", plain_path()).env(
        "FACERUNNER_OLLAMA_RELEASES",
        server.map_or_else(|| "http://127.0.0.1:1/releases".into(), ReleaseServer::base),
    );
    assert_cmd::Command::from_std(c)
        .timeout(Duration::from_secs(120))
        .output()
        .expect("run setup")
}

fn ollama_project(port: u16) -> Project {
    Project::new(&format!(
        "  llm:\n    kind: ollama\n    port: {port}\n    models_dir: ./models\n"
    ))
}

fn tools(p: &Project) -> PathBuf {
    p.home().join("_tools/ollama")
}

/// Nothing under `_tools/ollama` but what `keep` names (no version, no
/// leftover download or unpacked directory).
fn assert_nothing_installed(p: &Project) {
    let left: Vec<_> = std::fs::read_dir(tools(p))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn setup_installs_ollama_from_the_latest_release_and_a_second_run_downloads_nothing() {
    let port = free_port();
    let p = ollama_project(port);
    let server = ReleaseServer::start(&p.dir.path().join("srv/root"));
    server.publish("0.1.2", &[(&ollama_asset(), fake_ollama_archive())], false);

    let out = setup(&p, Some(&server), &["--yes"]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("ollama 0.1.2: installed ("), "{stdout}");
    let exe = tools(&p).join("0.1.2/bin/ollama");
    assert!(exe.is_file(), "{}", describe(&out));
    assert_eq!(
        std::fs::read_to_string(tools(&p).join("current")).expect("current"),
        "0.1.2\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(tools(&p).join("0.1.2"))
        .expect("dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(
        tools(&p)
            .join("0.1.2/lib/ollama/libggml-base.so.0")
            .is_symlink(),
        "the library link is kept"
    );
    let asked = server.requests();
    assert_eq!(
        asked,
        vec![
            "/releases/latest".to_string(),
            "/releases/tag/v0.1.2".into(),
            "/releases/download/v0.1.2/sha256sum.txt".into(),
            format!("/releases/download/v0.1.2/{}", ollama_asset()),
        ]
    );

    // Apply ran the service with the installed program.
    let svc = wait_until("llm running", Duration::from_secs(30), || {
        p.service("llm")
            .filter(|s| s["state"]["state"] == "running")
    });
    let pid = svc["state"]["pid"].as_u64().expect("pid") as u32;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    assert!(
        text(&cmdline).contains(&exe.display().to_string()),
        "{}",
        text(&cmdline)
    );

    // Again: nothing is asked of the server, nothing changes.
    let out = setup(&p, Some(&server), &["--yes"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains("ollama 0.1.2: installed already"),
        "{}",
        describe(&out)
    );
    assert_eq!(server.requests().len(), 4, "{:?}", server.requests());

    // The same version asked for explicitly: still nothing downloaded.
    let out = setup(
        &p,
        Some(&server),
        &["--ollama-version", "v0.1.2", "--no-apply"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(server.requests().len(), 4, "{:?}", server.requests());
}

#[test]
fn a_wrong_checksum_is_refused_and_nothing_is_installed() {
    let p = ollama_project(free_port());
    let server = ReleaseServer::start(&p.dir.path().join("srv/root"));
    server.publish("0.1.2", &[(&ollama_asset(), fake_ollama_archive())], true);

    let out = setup(&p, Some(&server), &["--yes"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = flat(&out.stderr);
    assert!(
        err.contains("does not match its published SHA-256"),
        "{err}"
    );
    assert!(err.contains("nothing was installed"), "{err}");
    assert_nothing_installed(&p);
    assert!(p.processes().is_empty(), "nothing was applied");
}

#[test]
fn a_release_without_an_archive_for_this_machine_says_so() {
    let p = ollama_project(free_port());
    let server = ReleaseServer::start(&p.dir.path().join("srv/root"));
    server.publish(
        "0.1.2",
        &[("ollama-windows-amd64.zip", b"zip".to_vec())],
        false,
    );
    let out = setup(&p, Some(&server), &["--no-apply"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = flat(&out.stderr);
    assert!(
        err.contains(&format!("lists no {}", ollama_asset())),
        "{err}"
    );
    assert!(err.contains("--ollama-version"), "{err}");
    assert_nothing_installed(&p);
}

#[test]
fn setup_installs_from_a_local_archive_without_the_network() {
    let p = ollama_project(free_port());
    let dl = p.dir.path().join("dl");
    std::fs::create_dir_all(&dl).expect("mkdir");
    let archive = dl.join(ollama_asset());
    let bytes = fake_ollama_archive();
    std::fs::write(&archive, &bytes).expect("write");
    let a = archive.display().to_string();

    // A checksum file beside it that disagrees: refused.
    std::fs::write(
        dl.join("sha256sum.txt"),
        format!("{}  {}\n", "0".repeat(64), ollama_asset()),
    )
    .expect("sums");
    let out = setup(&p, None, &["--ollama-archive", &a, "--no-apply"]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        flat(&out.stderr).contains("does not match"),
        "{}",
        describe(&out)
    );
    assert_nothing_installed(&p);

    // The right one: installed, checked, no request made (the releases URL is unreachable).
    use sha2::Digest;
    std::fs::write(
        dl.join("sha256sum.txt"),
        format!(
            "{}  ./{}\n",
            hex::encode(sha2::Sha256::digest(&bytes)),
            ollama_asset()
        ),
    )
    .expect("sums");
    let out = setup(
        &p,
        None,
        &[
            "--ollama-archive",
            &a,
            "--ollama-version",
            "0.1.2",
            "--no-apply",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("checked against"), "{stdout}");
    assert!(stdout.contains("ollama 0.1.2: installed ("), "{stdout}");
    assert!(tools(&p).join("0.1.2/bin/ollama").is_file());

    // The service's spec now names the installed program: its hash
    // changed from before the install, and stays the same run after run.
    let hash = || {
        let mut c = p.cmd(&["config", "--hash"]);
        c.env("PATH", plain_path());
        let out = c.output().expect("config");
        assert!(out.status.success(), "{}", describe(&out));
        text(&out.stdout)
    };
    let after = hash();
    assert_eq!(after, hash(), "resolution is deterministic");
    std::fs::remove_file(tools(&p).join("current")).expect("forget the install");
    assert_ne!(
        after,
        hash(),
        "without the install the service runs `ollama`"
    );
}

#[test]
fn a_hostile_archive_is_refused_and_nothing_is_installed() {
    let p = ollama_project(free_port());
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_link_name("/etc").expect("link");
    b.append_data(&mut h, "bin", &b""[..]).expect("append");
    let tar = b.into_inner().expect("tar");
    let bytes = ruzstd::encoding::compress_to_vec(
        tar.as_slice(),
        ruzstd::encoding::CompressionLevel::Fastest,
    );
    let archive = p.dir.path().join(ollama_asset());
    std::fs::write(&archive, bytes).expect("write");
    let out = setup(
        &p,
        None,
        &[
            "--ollama-archive",
            &archive.display().to_string(),
            "--no-apply",
        ],
    );
    assert!(!out.status.success(), "{}", describe(&out));
    let err = flat(&out.stderr);
    assert!(err.contains("refused entry `bin`"), "{err}");
    assert_nothing_installed(&p);
}

/// The venv `.ci/run` installs Open WebUI into.
fn ci_open_webui() -> Option<PathBuf> {
    let venv = std::env::var_os("FACERUNNER_OPEN_WEBUI_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/facerunner-ci/open-webui"))
        })?;
    let bin = venv.join("bin");
    if bin.join("open-webui").is_file() {
        return Some(bin);
    }
    crate::support::component(
        "open-webui",
        "run .ci/run once, which installs it into a cached venv",
    )
    .and_then(|p| p.parent().map(Path::to_path_buf))
}

#[test]
fn setup_finds_an_installed_open_webui_and_installs_nothing() {
    let Some(bin) = ci_open_webui() else { return };
    let p = Project::new(&format!(
        "  ui:\n    kind: open-webui\n    port: {}\n",
        free_port()
    ));
    let mut c = p.cmd(&["setup", "--no-apply"]);
    c.env("PATH", format!("{}:{}", bin.display(), plain_path()));
    let out = assert_cmd::Command::from_std(c)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("setup");
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "open-webui: using {} (on PATH)",
            bin.join("open-webui").display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("ollama: not needed"), "{stdout}");
    assert!(!p.home().join("_tools").exists(), "nothing installed");
}

#[test]
fn setup_without_a_suitable_python_says_what_to_install() {
    let p = Project::new(&format!(
        "  ui:\n    kind: open-webui\n    port: {}\n",
        free_port()
    ));
    let empty = p.dir.path().join("empty-bin");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let mut c = p.cmd(&["setup", "--no-apply"]);
    c.env("PATH", &empty);
    let out = c.output().expect("setup");
    assert!(!out.status.success(), "{}", describe(&out));
    let err = flat(&out.stderr);
    assert!(
        err.contains("Open WebUI needs Python 3.11 or 3.12"),
        "{err}"
    );
    assert!(err.contains("python3.11-venv"), "{err}");
    assert!(!p.home().join("_tools/open-webui/current").exists());
}

#[test]
fn plan_without_ollama_anywhere_points_to_setup() {
    let p = ollama_project(free_port());
    let mut c = p.cmd(&["plan", "--color", "never"]);
    c.env("PATH", plain_path());
    let out = c.output().expect("plan");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        all.contains("`ollama` is not on PATH"),
        "{}",
        describe(&out)
    );
    assert!(
        all.contains("run `facerunner setup` to install it"),
        "{}",
        describe(&out)
    );
}
