//! Watch mode through the real binary: editors' ways of saving, invalid
//! saves, coalescing, and which services restart (by pid, never by time).

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use serde_json::Value;

use crate::support::{Project, free_port, wait_until};

const PATIENCE: Duration = Duration::from_secs(60);

fn services(a_level: &str, pa: u16, pb: u16) -> String {
    format!(
        "  a:\n    command: [python3, \"{{programs}}/http_ready.py\", \"{pa}\", \"0\", \"{{marker}}\"]\n    env: {{ LEVEL: \"{a_level}\" }}\n    health: {{ http: \"http://127.0.0.1:{pa}/\", interval: 100ms }}\n  b:\n    command: [python3, \"{{programs}}/http_ready.py\", \"{pb}\", \"0\", \"{{marker}}\"]\n    health: {{ http: \"http://127.0.0.1:{pb}/\", interval: 100ms }}\n"
    )
}

fn settings(p: &Project, extra: &str) -> String {
    let file = std::fs::read_to_string(p.dir.path().join("p/facerunner.yaml")).unwrap();
    file.replacen(
        "services:\n",
        &format!("settings: {{ watch_debounce: 100ms{extra} }}\nservices:\n"),
        1,
    )
}

fn pid(p: &Project, name: &str) -> u64 {
    p.service(name)
        .and_then(|s| s["state"]["pid"].as_u64())
        .unwrap_or_else(|| panic!("{name} has no pid"))
}

/// `facerunner watch --json`, its NDJSON events arriving on a channel.
struct Watch {
    child: Child,
    events: Receiver<Value>,
}

impl Watch {
    fn start(p: &Project) -> Watch {
        let mut child = p
            .cmd(&["watch", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start watch");
        let out = child.stdout.take().expect("stdout");
        let (tx, events) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        Watch { child, events }
    }

    /// Wait for the end of the next apply: a summary, or "no_changes".
    fn next_result(&self) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let v = self
                .events
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("no apply result; saw {seen:#?}"));
            let done =
                v["event"] == "summary" || v["event"] == "no_changes" || v["event"] == "invalid";
            seen.push(v);
            if done {
                return seen;
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn count(events: &[Value], name: &str) -> usize {
    events.iter().filter(|e| e["event"] == name).count()
}

#[test]
fn saves_apply_only_what_changed_and_invalid_saves_touch_nothing() {
    let (pa, pb) = (free_port(), free_port());
    let p = Project::new(&services("1", pa, pb));
    let file = p.dir.path().join("p/facerunner.yaml");
    std::fs::write(&file, settings(&p, "")).unwrap();
    let base = std::fs::read_to_string(&file).unwrap();
    let w = Watch::start(&p);
    let first = w.next_result();
    assert_eq!(first.last().unwrap()["event"], "summary", "{first:#?}");
    let (a0, b0) = (pid(&p, "a"), pid(&p, "b"));
    let with_level = |l: &str| base.replace("LEVEL: \"1\"", &format!("LEVEL: \"{l}\""));

    // In-place write: only `a` restarts.
    std::fs::write(&file, with_level("2")).unwrap();
    let ev = w.next_result();
    assert_eq!(count(&ev, "plan"), 1, "{ev:#?}");
    let (a1, b1) = (pid(&p, "a"), pid(&p, "b"));
    assert_ne!(a1, a0, "a's env changed: it restarts");
    assert_eq!(b1, b0, "b did not change: same pid");

    // Write a temp file and rename it over (vim, VS Code, sed -i).
    let tmp = p.dir.path().join("p/.facerunner.yaml.tmp");
    std::fs::write(&tmp, with_level("3")).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    w.next_result();
    let a2 = pid(&p, "a");
    assert_ne!(a2, a1);
    assert_eq!(pid(&p, "b"), b0);

    // Delete, then create.
    std::fs::remove_file(&file).unwrap();
    std::fs::write(&file, with_level("4")).unwrap();
    w.next_result();
    let a3 = pid(&p, "a");
    assert_ne!(a3, a2);

    // Rapid saves coalesce: one apply, with the newest content.
    for l in 5..12 {
        std::fs::write(&file, with_level(&l.to_string())).unwrap();
    }
    let ev = w.next_result();
    assert_eq!(count(&ev, "plan"), 1, "{ev:#?}");
    let a4 = pid(&p, "a");
    let env = std::fs::read_to_string(format!("/proc/{a4}/environ")).unwrap_or_default();
    assert!(
        env.split('\0').any(|kv| kv == "LEVEL=11"),
        "the newest save wins"
    );

    // A swap file beside it does nothing; the next real save is the next apply.
    std::fs::write(p.dir.path().join("p/.facerunner.yaml.swp"), "junk").unwrap();
    std::fs::write(p.dir.path().join("p/facerunner.yaml~"), "junk").unwrap();
    std::fs::write(&file, with_level("12")).unwrap();
    let ev = w.next_result();
    let changed: Vec<&Value> = ev.iter().filter(|e| e["event"] == "changed").collect();
    assert_eq!(changed.len(), 1, "{ev:#?}");
    assert_eq!(
        changed[0]["files"].as_array().unwrap().len(),
        1,
        "only the project file: {ev:#?}"
    );
    let a5 = pid(&p, "a");

    // An invalid save: reported with line and column, nothing stops.
    std::fs::write(
        &file,
        with_level("13").replace("  b:\n", "  b:\n    bogus_key: 1\n"),
    )
    .unwrap();
    let ev = w.next_result();
    let invalid = ev.last().unwrap();
    assert_eq!(invalid["event"], "invalid", "{ev:#?}");
    assert_eq!(invalid["keeping_last_good"], true);
    let d = &invalid["diagnostics"][0];
    assert!(d["summary"].as_str().unwrap().contains("bogus_key"), "{d}");
    assert!(
        d["range"]["start"]["line"].as_u64().unwrap() > 1
            && d["range"]["start"]["column"].as_u64().unwrap() > 1
    );
    assert_eq!(
        (pid(&p, "a"), pid(&p, "b")),
        (a5, b0),
        "an invalid file touches nothing"
    );

    // Fixed: it applies.
    std::fs::write(&file, with_level("13")).unwrap();
    let ev = w.next_result();
    assert_eq!(ev.last().unwrap()["event"], "summary", "{ev:#?}");
    assert_ne!(pid(&p, "a"), a5);
    assert_eq!(pid(&p, "b"), b0);

    // Ctrl-C stops watching and leaves the services running.
    let mut w = w;
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(w.child.id() as i32).unwrap(),
        rustix::process::Signal::INT,
    )
    .unwrap();
    let status = w.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(pid(&p, "b"), b0, "services keep running after watch stops");
}

#[test]
fn the_daemon_watches_when_settings_say_so() {
    let (pa, pb) = (free_port(), free_port());
    let p = Project::new(&services("1", pa, pb));
    let file = p.dir.path().join("p/facerunner.yaml");
    std::fs::write(&file, settings(&p, ", watch: true")).unwrap();
    p.ok(&["up"]);
    let (a0, b0) = (pid(&p, "a"), pid(&p, "b"));
    assert!(
        p.status()["watch"]["file"].is_string(),
        "status shows watching: {:#}",
        p.status()
    );
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("LEVEL: \"1\"", "LEVEL: \"2\"")).unwrap();
    let last = wait_until("the daemon's automatic apply", PATIENCE, || {
        let s = p.status();
        let last = s["watch"]["last"].clone();
        (!last.is_null()).then_some(last)
    });
    assert_eq!(last["ok"], true, "{last:#}");
    // While it restarts, `a` has no pid for a moment: not yet restarted.
    wait_until("a restarted", PATIENCE, || {
        p.service("a")
            .and_then(|s| s["state"]["pid"].as_u64())
            .filter(|&now| now != a0)
    });
    assert_eq!(pid(&p, "b"), b0);
    let out = p.ok(&["status"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("watch: on"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // An invalid save is recorded as such and nothing stops.
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("  b:\n", "  b:\n    bogus_key: 1\n")).unwrap();
    let last = wait_until("the invalid save to be seen", PATIENCE, || {
        let last = p.status()["watch"]["last"].clone();
        (last["ok"] == false).then_some(last)
    });
    assert!(
        last["summary"].as_str().unwrap().contains("invalid"),
        "{last:#}"
    );
    assert_eq!(pid(&p, "b"), b0);
}

#[test]
fn a_save_during_an_apply_is_applied_after_it_with_the_newest_content() {
    let (pa, pb) = (free_port(), free_port());
    // `a` takes 2 s to become ready after each restart: applies are slow.
    let p = Project::new(&services("1", pa, pb).replacen("\"0\"", "\"2\"", 1));
    let file = p.dir.path().join("p/facerunner.yaml");
    std::fs::write(&file, settings(&p, "")).unwrap();
    let base = std::fs::read_to_string(&file).unwrap();
    let with_level = |l: &str| base.replace("LEVEL: \"1\"", &format!("LEVEL: \"{l}\""));
    let w = Watch::start(&p);
    w.next_result();

    std::fs::write(&file, with_level("2")).unwrap();
    // Wait until that apply has started, then save twice while it runs.
    loop {
        let v = w.events.recv_timeout(PATIENCE).expect("the apply starts");
        if v["event"] == "plan" {
            break;
        }
    }
    std::fs::write(&file, with_level("3")).unwrap();
    std::fs::write(&file, with_level("4")).unwrap();
    let first = w.next_result();
    assert_eq!(first.last().unwrap()["event"], "summary", "{first:#?}");
    assert_eq!(
        count(&first, "plan"),
        0,
        "the saves waited for the running apply: {first:#?}"
    );

    // Then exactly one more apply, straight to the newest content.
    let second = w.next_result();
    assert_eq!(count(&second, "plan"), 1, "{second:#?}");
    let plan = &second.iter().find(|e| e["event"] == "plan").unwrap()["plan"];
    let change = &plan["steps"][0]["changes"][0];
    assert_eq!(
        (change["old"].as_str(), change["new"].as_str()),
        (Some("2"), Some("4")),
        "intermediate content is skipped: {plan:#}"
    );
    let a = pid(&p, "a");
    let env = std::fs::read_to_string(format!("/proc/{a}/environ")).unwrap_or_default();
    assert!(env.split('\0').any(|kv| kv == "LEVEL=4"));
}

#[test]
fn turning_watch_on_and_off_is_a_plan_change_that_apply_makes() {
    let port = free_port();
    let only_a = services("1", port, free_port());
    let p = Project::new(only_a.split("  b:\n").next().unwrap());
    let file = p.dir.path().join("p/facerunner.yaml");
    let base = std::fs::read_to_string(&file).unwrap();
    p.ok(&["up"]);
    let a0 = pid(&p, "a");
    assert_eq!(p.status()["settings"]["watch"], false, "{:#}", p.status());

    // On, with a debounce long enough that the daemon's own watcher cannot
    // apply the next save before `apply` does.
    let with = |s: &str| base.replacen("services:\n", &format!("settings: {s}\nservices:\n"), 1);
    std::fs::write(&file, with("{ watch: true, watch_debounce: 1h }")).unwrap();
    let out = p.ok(&["apply", "--yes", "--color", "never"]);
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        shown.contains("~ update the daemon's settings  (changed: watch)")
            && shown.contains("watch: false → true"),
        "{shown}"
    );
    let s = p.status();
    assert_eq!(s["settings"]["watch"], true, "{s:#}");
    assert_eq!(s["settings"]["watch_debounce_ms"], 3_600_000, "{s:#}");
    assert!(s["watch"]["file"].is_string(), "{s:#}");
    let out = p.run(&["plan", "--detailed-exitcode", "--color", "never"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        crate::support::describe(&out)
    );

    // And off again.
    std::fs::write(&file, with("{ watch: false }")).unwrap();
    let out = p.ok(&["apply", "--yes", "--color", "never"]);
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(shown.contains("watch: true → false"), "{shown}");
    let s = p.status();
    assert_eq!(s["settings"]["watch"], false, "{s:#}");
    assert!(s["watch"].is_null(), "{s:#}");
    let out = p.run(&["plan", "--detailed-exitcode", "--color", "never"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        crate::support::describe(&out)
    );
    assert_eq!(pid(&p, "a"), a0, "a daemon setting restarts no service");
}
