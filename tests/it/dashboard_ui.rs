//! The dashboard in a real headless Chromium, driven through chromedriver
//! (W3C WebDriver over plain HTTP; no extra crate): the overview follows a
//! service stopped from the CLI, a pull's bar reaches 100%, an edit with an
//! error shows it at its line with Save disabled, and a valid edit applied
//! from the browser restarts exactly the changed service. Screenshots of
//! each page go to the test's temp dir (and to `$FR_SCREENSHOTS_DIR` when
//! set). Without chromium and chromedriver the test skips, saying so;
//! under `CI=true` it fails instead (`.ci/run` installs them).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::dashboard_api::{Dash, http, try_http};
use crate::support::{free_port, wait_until};

const WAIT: Duration = Duration::from_secs(30);

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|n| {
        std::env::split_paths(&path)
            .map(|d| d.join(n))
            .find(|p| p.is_file())
    })
}

/// Chromium and chromedriver, or why the test cannot run.
fn tools() -> Result<(PathBuf, PathBuf), String> {
    let chromium = find(&["chromium", "chromium-browser", "google-chrome"])
        .ok_or("chromium is not installed (apt-get install chromium chromium-driver)")?;
    let driver = find(&["chromedriver"])
        .ok_or("chromedriver is not installed (apt-get install chromium-driver)")?;
    Ok((chromium, driver))
}

struct Driver {
    child: Child,
    port: u16,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = try_http(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            &[],
            "",
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start(chromium: &Path, driver: &Path, profile: &Path) -> Driver {
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut d = Driver {
            child,
            port,
            session: String::new(),
        };
        wait_until("chromedriver answers", WAIT, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
            (try_http(port, "GET", "/status", &[], "").ok()?.0 == 200).then_some(())
        });
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,800",
                    format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let v = d.cmd("POST", "/session", caps);
        d.session = v["sessionId"].as_str().expect("a session").to_string();
        d
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let path = if path == "/session" {
            path.to_string()
        } else {
            format!("/session/{}{path}", self.session)
        };
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let r = http(
            self.port,
            method,
            &path,
            &[("Content-Type", "application/json")],
            &body,
        );
        let v: Value = serde_json::from_str(&r.2).unwrap_or_default();
        assert_eq!(r.0, 200, "webdriver {method} {path}: {}", r.2);
        v["value"].clone()
    }

    fn go(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url }));
    }

    fn js(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
    }

    /// Wait (bounded) until `script` returns something truthy; on timeout
    /// fail with the page's text.
    fn until(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let v = self.js(script);
            if !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0)) {
                return v;
            }
            if std::time::Instant::now() >= deadline {
                let page = self.js("return location.href + '\\n' + document.body.innerText;");
                panic!("timed out after {timeout:?} waiting for: {what}\npage: {page}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn screenshot(&self, dir: &Path, name: &str) {
        let b64 = self.cmd("GET", "/screenshot", Value::Null);
        let png = base64(b64.as_str().expect("base64"));
        std::fs::write(dir.join(name), &png).expect("write screenshot");
        if let Some(out) = std::env::var_os("FR_SCREENSHOTS_DIR") {
            std::fs::write(Path::new(&out).join(name), &png).expect("write screenshot copy");
        }
    }
}

fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for v in s.bytes().filter_map(val) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[test]
fn the_dashboard_in_chromium_follows_pulls_edits_and_applies() {
    let (chromium, chromedriver) = match tools() {
        Ok(t) => t,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true and the browser test cannot run: {why}")
        }
        Err(why) => {
            eprintln!("skipping the dashboard browser test: {why}");
            return;
        }
    };
    let d = Dash::start();
    let shots = d.p.dir.path().join("screenshots");
    std::fs::create_dir_all(&shots).expect("mkdir");
    let b = Driver::start(
        &chromium,
        &chromedriver,
        &d.p.dir.path().join("chromium-profile"),
    );
    let base = format!("http://127.0.0.1:{}", d.port);

    // Log in with the link; the overview lists every service, live.
    b.go(&format!("{base}/login?token={}", d.token));
    b.until(
        "the overview shows web running",
        WAIT,
        "const c = document.querySelector('tr[data-service=web] td[data-state]'); return c && c.dataset.state === 'running' && document.getElementById('live').textContent === 'live';",
    );
    b.screenshot(&shots, "overview.png");
    d.p.ok(&["stop", "web"]);
    b.until(
        "the overview shows web stopped (within a second of the CLI's stop)",
        Duration::from_secs(1),
        "const c = document.querySelector('tr[data-service=web] td[data-state]'); return c && c.dataset.state === 'stopped';",
    );
    d.p.ok(&["start", "web"]);

    // The service page follows its log.
    b.go(&format!("{base}/#/service/web"));
    b.until(
        "the log shows web's lines",
        WAIT,
        "const l = document.getElementById('log'); return l && l.textContent.includes('listening');",
    );
    b.screenshot(&shots, "service.png");

    // A pull's progress bar reaches 100%.
    b.go(&format!("{base}/#/models"));
    b.until(
        "the models page",
        WAIT,
        "return document.getElementById('pull');",
    );
    b.js("document.getElementById('pull-name').value = 'tinyllama:latest'; document.getElementById('pull').click(); return true;");
    b.until(
        "the pull bar at 100%",
        WAIT,
        "return document.getElementById('pull-progress').dataset.eventPercent === '100' && document.getElementById('pull-progress').value === 100 && document.getElementById('pull-percent').textContent === '100%' && document.getElementById('pull-msg').textContent === 'done';",
    );
    b.until(
        "the pulled model listed",
        WAIT,
        "return document.querySelector('tr[data-model^=\"tinyllama\"]');",
    );
    b.screenshot(&shots, "models.png");

    // An edit with an error: shown at its line, Save disabled.
    let file = d.p.dir.path().join("p/facerunner.yaml");
    let text = std::fs::read_to_string(&file).expect("read");
    let broken = text.replace("restart: \"no\"", "restart: sometimes");
    let line = broken
        .lines()
        .position(|l| l.contains("sometimes"))
        .expect("line")
        + 1;
    b.go(&format!("{base}/#/file"));
    b.until(
        "the editor holds the file",
        WAIT,
        "const t = document.getElementById('file-text'); return t && t.value.includes('kind: dashboard');",
    );
    let set = |t: &str| {
        b.js(&format!(
            "const t = document.getElementById('file-text'); t.value = {}; t.dispatchEvent(new Event('input')); return true;",
            json!(t)
        ));
    };
    set(&broken);
    b.until(
        "the error at its line",
        WAIT,
        &format!("return document.querySelector('#diags li.bad[data-line=\"{line}\"]') && [...document.querySelectorAll('#gutter .e')].some(e => e.textContent === '● {line}');"),
    );
    assert_eq!(
        b.js("return document.getElementById('save').disabled;"),
        json!(true)
    );
    b.screenshot(&shots, "file-error.png");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), text);

    // A valid edit, saved, then applied from the plan page: web restarts, nothing else.
    let pid = |name: &str| d.p.service(name).and_then(|s| s["state"]["pid"].as_u64());
    let (web0, llm0, ui0) = (pid("web"), pid("llm"), pid("ui"));
    set(&text.replace("FLAVOR: plain", "FLAVOR: spicy"));
    b.until(
        "Save enabled",
        WAIT,
        "return !document.getElementById('save').disabled;",
    );
    b.js("document.getElementById('save').click(); return true;");
    b.until(
        "saved",
        WAIT,
        "return document.getElementById('save-msg').textContent.startsWith('Saved');",
    );
    b.go(&format!("{base}/#/plan"));
    b.until(
        "the plan restarts web",
        WAIT,
        "const s = document.querySelectorAll('#plan li.step'); return s.length === 1 && s[0].textContent.includes('web') && !document.getElementById('apply').disabled;",
    );
    b.screenshot(&shots, "plan.png");
    b.js("window.confirm = () => true; document.getElementById('apply').click(); return true;");
    b.until(
        "applied",
        WAIT,
        "return document.getElementById('apply-msg').textContent === 'Applied.';",
    );
    b.until(
        "the progress list",
        WAIT,
        "return document.querySelector('#apply-progress li.ok');",
    );
    b.screenshot(&shots, "applied.png");
    assert_ne!(pid("web"), web0);
    assert_eq!(pid("llm"), llm0);
    assert_eq!(pid("ui"), ui0);

    // The integrations page shows the editor config `integrations show` prints.
    b.go(&format!("{base}/#/integrations"));
    let shown = b.until(
        "the editor config",
        WAIT,
        "const c = document.getElementById('continue-config'), z = document.getElementById('zed-config'); return c && z && c.textContent.includes('schema: v1') && z.textContent.includes('language_models') && [c.textContent, z.textContent];",
    );
    assert_eq!(
        shown[0].as_str(),
        Some(crate::support::text(&d.p.ok(&["integrations", "show", "continue"]).stdout).as_str())
    );
    assert_eq!(
        shown[1].as_str(),
        Some(crate::support::text(&d.p.ok(&["integrations", "show", "zed"]).stdout).as_str())
    );
    b.screenshot(&shots, "integrations.png");

    // Phone width still shows the overview.
    b.cmd("POST", "/window/rect", json!({"width": 390, "height": 844}));
    b.go(&format!("{base}/#/"));
    b.until(
        "the overview at phone width",
        WAIT,
        "return document.querySelector('tr[data-service=web]');",
    );
    b.screenshot(&shots, "overview-phone.png");
}
