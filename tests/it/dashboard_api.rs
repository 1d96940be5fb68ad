//! `kind: dashboard` end to end: `facerunner up` starts the dashboard as a
//! service; every API route is driven over real HTTP on 127.0.0.1, with the
//! token from `facerunner dashboard`, and the auth, Host and Origin checks,
//! the stale-plan refusal and the refusal of an invalid file are checked.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{Project, free_port, text, wait_until};

const WAIT: Duration = Duration::from_secs(30);

fn standin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/ollama_standin.py")
}

/// A project with a dashboard, an Ollama stand-in and a small web server.
pub struct Dash {
    pub p: Project,
    pub port: u16,
    pub web_port: u16,
    pub token: String,
    pub readonly: String,
}

/// The file's services, with `web`'s `env:` value `flavor`.
pub fn services(p: &Project, port: u16, llm_port: u16, web_port: u16, flavor: &str) -> String {
    format!(
        "  ui:\n    kind: dashboard\n    port: {port}\n\
         \x20 llm:\n    kind: ollama\n    port: {llm_port}\n    binary: {bin}\n    models_dir: {dir}\n    restart: \"no\"\n\
         \x20 web:\n    command: [python3, {{programs}}/http_ready.py, \"{web_port}\", \"0\", \"{{marker}}\"]\n    env: {{ FLAVOR: {flavor} }}\n",
        bin = standin().display(),
        dir = p.dir.path().join("models").display(),
    )
}

impl Dash {
    pub fn start() -> Dash {
        let p = Project::new("");
        let (port, llm_port, web_port) = (free_port(), free_port(), free_port());
        p.write(&services(&p, port, llm_port, web_port, "plain"));
        p.ok(&["up"]);
        let out = p.ok(&["dashboard", "--read-only"]);
        let stdout = text(&out.stdout);
        let mut lines = stdout.lines();
        let token_of = |l: Option<&str>| {
            l.and_then(|l| l.split("token=").nth(1))
                .expect("a login link")
                .to_string()
        };
        let token = token_of(lines.next());
        let readonly = token_of(lines.next());
        assert_eq!(token.len(), 64, "{stdout}");
        assert_ne!(token, readonly);
        let d = Dash {
            p,
            port,
            web_port,
            token,
            readonly,
        };
        wait_until("the dashboard answers", WAIT, || {
            (d.get("/healthz").0 == 200).then_some(())
        });
        d
    }

    /// A request with the full token.
    pub fn call(&self, method: &str, path: &str, body: &str) -> Reply {
        let auth = format!("Bearer {}", self.token);
        http(self.port, method, path, &[("Authorization", &auth)], body)
    }

    pub fn get(&self, path: &str) -> Reply {
        self.call("GET", path, "")
    }

    pub fn json(&self, method: &str, path: &str, body: &str) -> serde_json::Value {
        let r = self.call(method, path, body);
        assert!(r.0 / 100 == 2, "{method} {path} answered {}: {}", r.0, r.2);
        serde_json::from_str(&r.2).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.2))
    }

    pub fn service(&self, name: &str) -> serde_json::Value {
        let s = self.json("GET", "/api/v1/status", "");
        s["services"]
            .as_array()
            .expect("services")
            .iter()
            .find(|v| v["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {s}"))
    }

    pub fn pid(&self, name: &str) -> Option<u64> {
        self.service(name)["state"]["pid"].as_u64()
    }

    pub fn state(&self, name: &str) -> String {
        self.service(name)["state"]["state"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

/// Status, headers (lowercased names), body.
pub type Reply = (u16, HashMap<String, String>, String);

/// One HTTP/1.1 request on a fresh connection (`Host` defaults to ours).
pub fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    try_http(port, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} {path} on port {port}: {e}"))
}

/// [`http`], with I/O errors returned. The body is read by its
/// `Content-Length` (a server may keep the connection open), else to the
/// end of the chunks or of the connection.
pub fn try_http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes())?;
    let mut reader = BufReader::new(s);
    let mut status_line = String::new();
    reader.read_line(&mut status_line)?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut h = HashMap::new();
    loop {
        let mut l = String::new();
        if reader.read_line(&mut l)? == 0 || l.trim_end().is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            h.entry(k.trim().to_ascii_lowercase())
                .and_modify(|x: &mut String| {
                    x.push('\n');
                    x.push_str(v.trim());
                })
                .or_insert_with(|| v.trim().to_string());
        }
    }
    let mut raw = Vec::new();
    if let Some(n) = h
        .get("content-length")
        .and_then(|n| n.parse::<usize>().ok())
    {
        raw.resize(n, 0);
        reader.read_exact(&mut raw)?;
    } else if h.get("transfer-encoding").is_some_and(|t| t == "chunked") {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            raw.extend_from_slice(&chunk[..n]);
        }
    } else {
        reader.read_to_end(&mut raw)?;
    }
    Ok((status, h, String::from_utf8_lossy(&raw).into_owned()))
}

fn problem_type(r: &Reply) -> String {
    assert_eq!(
        r.1.get("content-type").map(String::as_str),
        Some("application/problem+json"),
        "{r:?}"
    );
    let v: serde_json::Value = serde_json::from_str(&r.2).expect("problem json");
    v["type"].as_str().unwrap_or("").to_string()
}

/// An open SSE stream; `until` reads events until one matches.
pub struct Sse {
    reader: BufReader<TcpStream>,
}

impl Sse {
    pub fn open(d: &Dash, query: &str) -> Sse {
        let mut s = TcpStream::connect(("127.0.0.1", d.port)).expect("connect");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        write!(
            s,
            "GET /api/v1/events{query} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n\r\n",
            d.port, d.token
        )
        .expect("send");
        let mut reader = BufReader::new(s);
        let mut line = String::new();
        reader.read_line(&mut line).expect("status line");
        assert!(line.contains(" 200 "), "{line}");
        Sse { reader }
    }

    /// Read `event:`/`data:` pairs until `f(event, data)` (bounded by [`WAIT`]).
    pub fn until(&mut self, what: &str, mut f: impl FnMut(&str, &serde_json::Value) -> bool) {
        let mut event = String::new();
        let mut seen: Vec<String> = Vec::new();
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what}; saw {seen:?}"
            );
            self.reader
                .get_ref()
                .set_read_timeout(Some(left))
                .expect("timeout");
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) | Err(_) => panic!("the stream ended before {what}; saw {seen:?}"),
                Ok(_) => {}
            }
            let line = line.trim_end();
            if let Some(e) = line
                .strip_prefix("event: ")
                .or_else(|| line.strip_prefix("event:"))
            {
                event = e.trim().to_string();
            } else if let Some(d) = line
                .strip_prefix("data: ")
                .or_else(|| line.strip_prefix("data:"))
            {
                let v: serde_json::Value = serde_json::from_str(d.trim()).unwrap_or_default();
                seen.push(format!(
                    "{event} {}",
                    d.chars().take(160).collect::<String>()
                ));
                if f(&event, &v) {
                    return;
                }
            }
        }
    }
}

#[test]
fn every_route_answers_over_http_and_refuses_without_the_right_token() {
    let d = Dash::start();
    let port = d.port;

    // The dashboard is a service like any other, healthy by its probe.
    let ui = d.p.service("ui").expect("ui in status");
    assert_eq!(ui["state"]["state"], "running", "{ui}");
    assert_eq!(ui["port"], port);
    wait_until("the dashboard is healthy", WAIT, || {
        (d.p.service("ui")?["state"]["health"]["health"] == "healthy").then_some(())
    });

    // Auth: none, wrong, read-only on a write; Host; Origin.
    let r = http(port, "GET", "/api/v1/status", &[], "");
    assert_eq!(r.0, 401);
    assert_eq!(problem_type(&r), "urn:facerunner:problem:unauthorized");
    let wrong = format!("Bearer {}", "0".repeat(64));
    let r = http(
        port,
        "GET",
        "/api/v1/status",
        &[("Authorization", &wrong)],
        "",
    );
    assert_eq!(r.0, 401);
    let ro = format!("Bearer {}", d.readonly);
    assert_eq!(
        http(port, "GET", "/api/v1/status", &[("Authorization", &ro)], "").0,
        200
    );
    let r = http(
        port,
        "POST",
        "/api/v1/services/web/stop",
        &[("Authorization", &ro)],
        "",
    );
    assert_eq!(r.0, 403);
    assert_eq!(problem_type(&r), "urn:facerunner:problem:read-only-token");
    let full = format!("Bearer {}", d.token);
    let r = http(
        port,
        "GET",
        "/api/v1/status",
        &[
            ("Authorization", &full),
            ("Host", &format!("attacker.example:{port}")),
        ],
        "",
    );
    assert_eq!(r.0, 400);
    assert_eq!(problem_type(&r), "urn:facerunner:problem:bad-host");
    let r = http(
        port,
        "POST",
        "/api/v1/services/web/stop",
        &[
            ("Authorization", &full),
            ("Origin", "http://attacker.example"),
        ],
        "",
    );
    assert_eq!(r.0, 403);
    assert_eq!(problem_type(&r), "urn:facerunner:problem:bad-origin");
    assert_eq!(
        d.state("web"),
        "running",
        "refused requests changed nothing"
    );

    // The login link sets a strict, HttpOnly cookie; the cookie reads, and
    // writes only with this origin.
    let r = http(port, "GET", &format!("/login?token={}", d.token), &[], "");
    assert_eq!(r.0, 303);
    let cookie = r.1.get("set-cookie").expect("a cookie").clone();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("name=value").to_string();
    assert_eq!(
        http(port, "GET", "/api/v1/status", &[("Cookie", &pair)], "").0,
        200
    );
    let r = http(
        port,
        "POST",
        "/api/v1/services/web/restart",
        &[("Cookie", &pair)],
        "",
    );
    assert_eq!(problem_type(&r), "urn:facerunner:problem:bad-origin");
    assert_eq!(http(port, "GET", "/login?token=nope", &[], "").0, 401);

    // Public: the probe and the UI's files (no data in them).
    assert_eq!(http(port, "GET", "/healthz", &[], "").0, 200);
    let page = http(port, "GET", "/", &[], "");
    assert_eq!(page.0, 200);
    assert!(page.2.contains("/app.js"));
    assert_eq!(http(port, "GET", "/app.js", &[], "").0, 200);
    assert_eq!(http(port, "GET", "/app.css", &[], "").0, 200);

    // OpenAPI and its page.
    let doc = d.json("GET", "/api/v1/openapi.json", "");
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v1/apply"]["post"].is_object());
    let r = d.get("/api/v1/docs");
    assert_eq!(r.0, 200);
    assert!(r.2.contains("/api.js"));
    assert_eq!(
        problem_type(&d.get("/api/v1/nope")),
        "urn:facerunner:problem:not-found"
    );

    // Prometheus metrics: a token of either role.
    assert_eq!(http(port, "GET", "/metrics", &[], "").0, 401);
    let m = http(port, "GET", "/metrics", &[("Authorization", &ro)], "");
    assert_eq!(m.0, 200);
    assert!(
        m.2.contains("facerunner_service_up{service=\"web\",kind=\"process\"} 1"),
        "{}",
        m.2
    );
    assert!(m.2.contains("# TYPE DCGM_FI_DEV_FB_USED gauge"), "{}", m.2);

    // Status: every service, with pids; nothing secret in it.
    let status = d.call("GET", "/api/v1/status", "");
    assert!(!status.2.contains(&d.token) && !status.2.contains(&d.readonly));
    assert!(d.pid("web").is_some() && d.pid("llm").is_some());

    // Stop, start, restart.
    let web0 = d.pid("web").expect("web pid");
    let r = d.json("POST", "/api/v1/services/web/stop", "");
    assert_eq!(r["failed"], serde_json::json!([]));
    assert_eq!(
        d.p.service("web").expect("web")["state"]["state"],
        "stopped"
    );
    d.json("POST", "/api/v1/services/web/start", "");
    assert_eq!(d.state("web"), "running");
    d.json("POST", "/api/v1/services/web/restart", "");
    assert_ne!(d.pid("web"), Some(web0));
    let r = d.call("POST", "/api/v1/services/nope/stop", "");
    assert_eq!(r.0, 404, "{}", r.2);
    assert_eq!(d.call("POST", "/api/v1/services/web/explode", "").0, 404);

    // Logs: tail and filter; an unknown service is not a path.
    let logs = d.json(
        "GET",
        "/api/v1/services/web/logs?tail=50&filter=LISTENING",
        "",
    );
    let lines = logs["lines"].as_array().expect("lines");
    assert!(!lines.is_empty(), "{logs}");
    assert!(
        lines
            .iter()
            .all(|l| l["text"].as_str().unwrap_or("").contains("listening"))
    );
    let logs = d.json("GET", "/api/v1/services/web/logs?tail=1", "");
    assert_eq!(logs["lines"].as_array().map(Vec::len), Some(1));
    assert_eq!(d.get("/api/v1/services/..%2Fx/logs").0, 404);

    // Plan: the same document as `plan --json`.
    let plan = d.json("GET", "/api/v1/plan", "");
    assert_eq!(plan["format_version"], 1);
    let cli: serde_json::Value =
        serde_json::from_slice(&d.p.ok(&["plan", "--json"]).stdout).expect("plan json");
    assert_eq!(plan["steps"], cli["steps"]);
    assert_eq!(plan["fingerprint"]["config"], cli["fingerprint"]["config"]);

    // GPUs, names.
    let gpus = d.json("GET", "/api/v1/gpus", "");
    assert!(gpus["gpus"].is_array(), "{gpus}");
    let c = d.json(
        "GET",
        "/api/v1/convert?name=bartowski/Llama-3.2-1B-Instruct-GGUF%3AQ4_K_M",
        "",
    );
    assert!(
        c["ollama"].as_str().is_some_and(|n| n.contains("Q4_K_M")),
        "{c}"
    );
    assert_eq!(
        problem_type(&d.get("/api/v1/convert?name=not%20a%20repo")),
        "urn:facerunner:problem:bad-request"
    );

    // Models: pull, list, remove.
    let r = d.json(
        "POST",
        "/api/v1/models/pull",
        r#"{"name":"tinyllama:latest"}"#,
    );
    assert!(r.to_string().contains("succeeded"), "{r}");
    let models = d.json("GET", "/api/v1/models", "");
    let names = |m: &serde_json::Value| -> Vec<String> {
        m["llm"]["models"]
            .as_array()
            .expect("models")
            .iter()
            .map(|x| x["name"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert!(
        names(&models).iter().any(|n| n.starts_with("tinyllama")),
        "{models}"
    );
    assert!(
        models["llm"]["models"][0]["owned"]
            .as_bool()
            .unwrap_or(false),
        "{models}"
    );
    d.json("DELETE", "/api/v1/models/llm/tinyllama:latest", "");
    assert!(names(&d.json("GET", "/api/v1/models", "")).is_empty());
    assert_eq!(
        d.call("DELETE", "/api/v1/models/llm/tinyllama:latest", "")
            .0,
        404
    );

    // Validate: located diagnostics, like `validate --json`.
    let file = d.json("GET", "/api/v1/file", "");
    let text = file["text"].as_str().expect("text").to_string();
    assert_eq!(
        text,
        std::fs::read_to_string(d.p.dir.path().join("p/facerunner.yaml")).expect("read")
    );
    let v = d.json("POST", "/api/v1/validate", &text);
    assert_eq!(v["valid"], true, "{v}");
    let broken = text.replace("restart: \"no\"", "restart: sometimes");
    let v = d.json("POST", "/api/v1/validate", &broken);
    assert_eq!(v["valid"], false);
    let line = broken
        .lines()
        .position(|l| l.contains("sometimes"))
        .expect("the line")
        + 1;
    assert_eq!(v["diagnostics"][0]["range"]["start"]["line"], line, "{v}");

    // The file: an invalid text is refused with its diagnostics, unchanged on disk.
    let r = d.call("PUT", "/api/v1/file", &broken);
    assert_eq!(r.0, 422);
    assert_eq!(problem_type(&r), "urn:facerunner:problem:invalid-file");
    let p: serde_json::Value = serde_json::from_str(&r.2).expect("json");
    assert_eq!(
        p["diagnostics"]["diagnostics"][0]["range"]["start"]["line"],
        line
    );
    assert_eq!(
        std::fs::read_to_string(d.p.dir.path().join("p/facerunner.yaml")).expect("read"),
        text
    );
    assert_eq!(
        problem_type(&http(
            port,
            "PUT",
            "/api/v1/file",
            &[("Authorization", &ro)],
            &text
        )),
        "urn:facerunner:problem:read-only-token"
    );
}

#[test]
fn a_stale_plan_is_refused_and_the_plan_the_caller_saw_applies() {
    let d = Dash::start();
    let file = d.p.dir.path().join("p/facerunner.yaml");
    let text = std::fs::read_to_string(&file).expect("read");
    let (web0, llm0, ui0) = (d.pid("web"), d.pid("llm"), d.pid("ui"));

    // A valid edit through the API: saved, and the plan it makes restarts web only.
    let edited = text.replace("FLAVOR: plain", "FLAVOR: spicy");
    let r = d.json("PUT", "/api/v1/file", &edited);
    assert_eq!(r["saved"], true);
    assert_eq!(std::fs::read_to_string(&file).expect("read"), edited);
    let seen = d.json("GET", "/api/v1/plan", "");
    let steps = seen["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 1, "{seen}");
    assert_eq!(steps[0]["service"], "web", "{seen}");

    // The file moves on before the plan is applied: refused, nothing changed.
    std::fs::write(&file, text.replace("FLAVOR: plain", "FLAVOR: sweet")).expect("write");
    let r = d.call("POST", "/api/v1/apply", &seen.to_string());
    assert_eq!(r.0, 409, "{}", r.2);
    assert_eq!(problem_type(&r), "urn:facerunner:problem:stale-plan");
    assert_eq!(d.pid("web"), web0);

    // The fresh plan applies: exactly web restarts.
    let mut sse = Sse::open(&d, "");
    let fresh = d.json("GET", "/api/v1/plan", "");
    let r = d.json("POST", "/api/v1/apply", &fresh.to_string());
    assert_eq!(r["applied"], true, "{r}");
    sse.until("apply progress", |e, v| {
        e == "apply" && v["event"]["event"] == "step_finished"
    });
    assert_ne!(d.pid("web"), web0);
    assert_eq!(d.pid("llm"), llm0);
    assert_eq!(d.pid("ui"), ui0);
    let m = d.get("/metrics").2;
    assert!(
        m.contains("facerunner_applies_total{outcome=\"succeeded\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("facerunner_applies_total{outcome=\"failed\"} 1"),
        "the stale one: {m}"
    );
    let empty = d.json("GET", "/api/v1/plan", "");
    assert_eq!(empty["steps"], serde_json::json!([]));
    // Applying a plan with nothing to do is not an error.
    let r = d.json("POST", "/api/v1/apply", &empty.to_string());
    assert_eq!(r["applied"], false);
}

#[test]
fn the_event_stream_shows_state_changes_pull_progress_and_followed_log_lines() {
    let d = Dash::start();
    let mut sse = Sse::open(&d, "?logs=web");
    // A service stopped from the CLI shows up as a typed event.
    d.p.ok(&["stop", "web"]);
    sse.until("web stopped", |e, v| {
        e == "service"
            && v["service"]["name"] == "web"
            && v["service"]["state"]["state"] == "stopped"
    });
    // Its next start writes log lines, which the stream follows.
    d.p.ok(&["start", "web"]);
    sse.until("a followed log line", |e, v| {
        e == "log"
            && v["line"]["text"]
                .as_str()
                .is_some_and(|t| t.contains("listening"))
    });
    // A pull's progress reaches its total.
    let port = d.port;
    let token = d.token.clone();
    let pull = std::thread::spawn(move || {
        http(
            port,
            "POST",
            "/api/v1/models/pull",
            &[("Authorization", &format!("Bearer {token}"))],
            r#"{"name":"tinyllama:latest"}"#,
        )
    });
    sse.until("pull progress at 100%", |e, v| {
        e == "pull"
            && v["event"]["event"] == "progress"
            && v["event"]["total"].as_u64().is_some_and(|t| t > 0)
            && v["event"]["completed"] == v["event"]["total"]
    });
    let r = pull.join().expect("pull thread");
    assert_eq!(r.0, 200, "{}", r.2);
    let _ = d.web_port;
}

#[test]
fn webhooks_get_signed_events_with_retries_and_failures_are_listed() {
    let p = Project::new("");
    let (port, hook_port, dead_port) = (free_port(), free_port(), free_port());
    let log = p.dir.path().join("hooks.jsonl");
    let secret = "hook-secret-for-the-test-0123456789";
    std::fs::write(
        p.dir.path().join("p/.env"),
        format!("HOOK_SECRET={secret}\n"),
    )
    .expect("env");
    let body = format!(
        "  ui:\n    kind: dashboard\n    port: {port}\n\
         \x20 hook:\n    command: [python3, {{programs}}/webhook_receiver.py, \"{hook_port}\", \"{log}\", \"{secret}\", \"1\", \"{{marker}}\"]\n\
         \x20 web:\n    command: [python3, {{programs}}/http_ready.py, \"{w}\", \"0\", \"{{marker}}\"]\n\
         settings:\n  webhooks:\n    - url: http://127.0.0.1:{hook_port}/hook\n      events: [service]\n      secret: ${{HOOK_SECRET}}\n    - url: http://127.0.0.1:{dead_port}/gone\n      events: [apply, service]\n",
        log = log.display(),
        w = free_port(),
    );
    p.write(&body);
    // Without a dashboard the key would do nothing: refused.
    p.write(&body.replace("kind: dashboard", "kind: process\n    command: [\"true\"]"));
    let out = p.run(&["validate"]);
    assert!(!out.status.success());
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        said.contains("webhooks are sent by the dashboard"),
        "{said}"
    );
    p.write(&body);
    p.ok(&["up"]);
    let token = text(&p.ok(&["dashboard"]).stdout)
        .trim()
        .split("token=")
        .nth(1)
        .expect("link")
        .to_string();
    wait_until("the receiver listens", WAIT, || {
        TcpStream::connect(("127.0.0.1", hook_port)).ok()
    });
    p.ok(&["stop", "web"]);
    let lines = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    wait_until("web's stop delivered", WAIT, || {
        lines()
            .iter()
            .any(|l| {
                l["status"] == 204
                    && l["event"] == "service"
                    && l["body"]["event"]["service"]["name"] == "web"
                    && l["body"]["event"]["service"]["state"]["state"] == "stopped"
            })
            .then_some(())
    });
    let all = lines();
    assert!(all.iter().all(|l| l["signature_ok"] == true), "{all:?}");
    assert!(
        all.iter().any(|l| l["status"] == 500),
        "the first delivery failed and was retried: {all:?}"
    );
    // The dead webhook's failures are listed, without any secret.
    let auth = format!("Bearer {token}");
    let listed = wait_until("a failure listed", WAIT, || {
        let r = http(
            port,
            "GET",
            "/api/v1/webhooks",
            &[("Authorization", &auth)],
            "",
        );
        let v: serde_json::Value = serde_json::from_str(&r.2).ok()?;
        let f = v["failures"].as_array()?;
        f.iter()
            .any(|f| f["url"].as_str().is_some_and(|u| u.contains("/gone")) && f["attempts"] == 4)
            .then_some(r.2)
    });
    assert!(!listed.contains(secret), "{listed}");
    // `status` asks the dashboard and shows the same failures, in JSON and text.
    let st: serde_json::Value =
        serde_json::from_str(&text(&p.ok(&["status", "--json"]).stdout)).expect("status json");
    let ui = st["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "ui"))
        .unwrap_or_else(|| panic!("no ui in {st}"));
    assert_eq!(ui["dashboard"]["answered"], true, "{ui}");
    assert_eq!(ui["dashboard"]["webhooks"], 2, "{ui}");
    let failures = ui["dashboard"]["webhook_failures"]
        .as_array()
        .unwrap_or_else(|| panic!("no failures in {ui}"));
    assert!(
        failures
            .iter()
            .any(|f| f["url"].as_str().is_some_and(|u| u.ends_with("/gone")) && f["attempts"] == 4),
        "{ui}"
    );
    assert!(!st.to_string().contains(secret));
    // The report, its dashboard part included, matches the OpenAPI schema.
    let doc: serde_json::Value = serde_json::from_str(
        &http(
            port,
            "GET",
            "/api/v1/openapi.json",
            &[("Authorization", &auth)],
            "",
        )
        .2,
    )
    .expect("openapi");
    assert_valid(
        &component_validator(&doc, "StatusReport"),
        "status --json",
        &st,
    );
    let table = text(&p.ok(&["status"]).stdout);
    let gone = format!("http://127.0.0.1:{dead_port}/gone after 4 attempts");
    assert!(
        table.contains("failed deliver") && table.contains(&gone),
        "{table}"
    );
    assert!(!table.contains(secret), "{table}");
}

/// `components.schemas.NAME` of the OpenAPI document as a schema of its
/// own (its references resolve inside the document's components).
fn component_validator(doc: &serde_json::Value, name: &str) -> jsonschema::Validator {
    assert!(
        doc["components"]["schemas"][name].is_object(),
        "no schema {name} in {}",
        doc["components"]["schemas"]
    );
    let root = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{name}"),
        "components": doc["components"],
    });
    jsonschema::validator_for(&root).unwrap_or_else(|e| panic!("{name} is not a valid schema: {e}"))
}

fn assert_valid(v: &jsonschema::Validator, what: &str, value: &serde_json::Value) {
    let errors: Vec<String> = v
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match its schema: {errors:#?}\n{value:#}"
    );
}

#[test]
fn status_and_plan_answers_match_the_schemas_of_the_openapi_document() {
    let d = Dash::start();
    let doc = d.json("GET", "/api/v1/openapi.json", "");
    // The routes name their schemas.
    for (path, method, name) in [
        ("/api/v1/status", "get", "StatusReport"),
        ("/api/v1/plan", "get", "Plan"),
    ] {
        assert_eq!(
            doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
                ["$ref"],
            format!("#/components/schemas/{name}"),
            "{path}"
        );
    }
    let status = component_validator(&doc, "StatusReport");
    let plan = component_validator(&doc, "Plan");

    // A status with a running, healthy dashboard (its webhook part), a
    // stopped service and a running Ollama stand-in.
    wait_until("the dashboard is healthy", WAIT, || {
        (d.state("ui") == "running" && d.service("ui")["state"]["health"]["health"] == "healthy")
            .then_some(())
    });
    d.p.ok(&["stop", "web"]);
    let report = d.json("GET", "/api/v1/status", "");
    assert_eq!(
        report["services"].as_array().map(Vec::len),
        Some(3),
        "{report}"
    );
    assert_valid(&status, "GET /api/v1/status", &report);
    // The schema is not vacuous: a state it does not know is refused.
    let mut wrong = report.clone();
    wrong["services"][0]["state"] = serde_json::json!({"state": "flying"});
    assert!(!status.is_valid(&wrong), "a made-up state passed");
    let mut wrong = report.clone();
    wrong["daemon_pid"] = serde_json::json!("one");
    assert!(!status.is_valid(&wrong));

    // A plan with a service update (its field changes), a start and a model pull.
    let file = d.p.dir.path().join("p/facerunner.yaml");
    let original = std::fs::read_to_string(&file).expect("read");
    std::fs::write(
        &file,
        format!(
            "{}models:\n  - ollama: tinyllama:latest\n",
            original.replace("FLAVOR: plain", "FLAVOR: spicy")
        ),
    )
    .expect("write");
    let seen = d.json("GET", "/api/v1/plan", "");
    let actions: Vec<&str> = seen["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["action"].as_str())
        .collect();
    assert!(actions.contains(&"pull_model"), "{seen}");
    assert!(actions.len() >= 2, "{seen}");
    assert_valid(&plan, "GET /api/v1/plan", &seen);
    let mut wrong = seen.clone();
    wrong["steps"][0]["action"] = serde_json::json!("launch_rockets");
    assert!(!plan.is_valid(&wrong), "a made-up action passed");
    // `plan --json` prints the same shape.
    let cli: serde_json::Value =
        serde_json::from_str(&text(&d.p.ok(&["plan", "--json"]).stdout)).expect("plan json");
    assert_valid(&plan, "plan --json", &cli);
}

#[test]
fn the_dashboards_pull_of_a_hugging_face_name_asks_the_hub_as_the_cli_does() {
    use crate::hf_plan::{HubStandin, gguf, write_repo};
    let p = Project::new("");
    let q4 = gguf(1 << 20, 3);
    write_repo(
        &p,
        "someone/Some-Model-GGUF",
        &[("Some-Model-Q4_K_M.gguf", &q4)],
    );
    let hub = HubStandin::start(&p.dir.path().join("repos"));
    let (port, llm_port, web_port) = (free_port(), free_port(), free_port());
    p.write(&services(&p, port, llm_port, web_port, "plain"));
    // The daemon, and so the dashboard it starts, sees this Hub.
    let out = hub.run(&p, &["up"], &[]);
    assert!(out.status.success(), "{}", crate::support::describe(&out));
    let token = text(&p.ok(&["dashboard"]).stdout)
        .trim()
        .split("token=")
        .nth(1)
        .expect("link")
        .to_string();
    let auth = format!("Bearer {token}");
    wait_until("the dashboard answers", WAIT, || {
        (http(port, "GET", "/healthz", &[], "").0 == 200).then_some(())
    });
    wait_until("the Ollama stand-in is up", WAIT, || {
        TcpStream::connect(("127.0.0.1", llm_port)).ok()
    });

    // The Hub answers: with HF_ENDPOINT set, Ollama could not pull from
    // there, so the file is downloaded (into the Hugging Face cache) and
    // imported — what `facerunner pull hf:…` does, not the offline table's
    // `hf.co/…` pull.
    let r = http(
        port,
        "POST",
        "/api/v1/models/pull",
        &[("Authorization", &auth)],
        r#"{"name":"hf:someone/Some-Model-GGUF"}"#,
    );
    assert_eq!(r.0, 200, "{}", r.2);
    let blob = p
        .dir
        .path()
        .join("hf-home/hub/models--someone--Some-Model-GGUF/blobs")
        .join(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&q4)));
    assert_eq!(std::fs::read(&blob).expect("downloaded into the cache"), q4);
    let models = http(
        port,
        "GET",
        "/api/v1/models",
        &[("Authorization", &auth)],
        "",
    );
    assert!(
        models.2.contains("hf.co/someone/Some-Model-GGUF:Q4_K_M"),
        "{}",
        models.2
    );
    let state = std::fs::read_to_string(p.dirs().state.join("state.json")).expect("state");
    assert!(state.contains("Some-Model-GGUF"), "{state}");

    // `convert` answers what `convert --json` prints: the Hub's answer.
    let get = |path: &str| http(port, "GET", path, &[("Authorization", &auth)], "");
    let r = get("/api/v1/convert?name=someone/Some-Model-GGUF");
    assert_eq!(r.0, 200, "{}", r.2);
    let web: serde_json::Value = serde_json::from_str(&r.2).expect("json");
    let out = hub.run(&p, &["convert", "--json", "someone/Some-Model-GGUF"], &[]);
    assert!(out.status.success(), "{}", crate::support::describe(&out));
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(web, cli[0]);
    assert_eq!(web["answered_by"], "hub", "{web}");
    assert_eq!(
        web["ollama"], "hf.co/someone/Some-Model-GGUF:Q4_K_M",
        "{web}"
    );
    // Offline by request: the table.
    let r = get("/api/v1/convert?name=someone/Some-Model-GGUF&offline=true");
    assert_eq!(r.0, 200, "{}", r.2);
    let table: serde_json::Value = serde_json::from_str(&r.2).expect("json");
    assert_eq!(table["answered_by"], "table", "{table}");
    assert_eq!(table["offline_reason"], "offline=true", "{table}");
    // Not convertible: the Hub's reason, as a problem.
    let r = get("/api/v1/convert?name=someone/No-Such-Model");
    assert_eq!(r.0, 400, "{}", r.2);
    assert!(
        r.2.contains("cannot convert someone/No-Such-Model"),
        "{}",
        r.2
    );

    // A repo the Hub does not have: refused with the Hub's reason.
    let r = http(
        port,
        "POST",
        "/api/v1/models/pull",
        &[("Authorization", &auth)],
        r#"{"name":"hf:someone/No-Such-Model"}"#,
    );
    assert_eq!(r.0, 400, "{}", r.2);
    assert!(
        r.2.contains("cannot pull hf:someone/No-Such-Model"),
        "{}",
        r.2
    );
    p.run(&["down"]);
}

#[test]
fn the_integrations_route_gives_the_editor_config_integrations_show_prints() {
    let d = Dash::start();
    assert_eq!(http(d.port, "GET", "/api/v1/integrations", &[], "").0, 401);
    let file = d.p.dir.path().join("p/facerunner.yaml");
    let original = std::fs::read_to_string(&file).expect("read");
    let check = |continue_on: bool, zed_on: bool| {
        let c = d.json("GET", "/api/v1/integrations", "");
        assert_eq!(c["continue"]["enabled"], continue_on, "{c}");
        assert_eq!(c["zed"]["enabled"], zed_on, "{c}");
        // Exactly what the command prints.
        for which in ["continue", "zed"] {
            let printed = text(&d.p.ok(&["integrations", "show", which]).stdout);
            assert_eq!(c[which]["text"], printed.as_str(), "{which}");
        }
        c
    };
    let c = check(false, false);
    assert_eq!(c["zed"]["how"], "to paste into");
    assert!(
        c["continue"]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with(".continue/models/facerunner.yaml")),
        "{c}"
    );

    // With a model and both integrations on: the model is in both blocks.
    std::fs::write(
        &file,
        format!(
            "{original}models:\n  - ollama: tinyllama:latest\nintegrations:\n  continue: {{}}\n  zed: {{ merge: true }}\n"
        ),
    )
    .expect("write");
    let c = check(true, true);
    assert_eq!(c["zed"]["how"], "merged into");
    let cont = c["continue"]["text"].as_str().expect("text");
    assert!(
        cont.contains("model: \"tinyllama:latest\"") && cont.contains("provider: ollama"),
        "{cont}"
    );
    let zed: serde_json::Value =
        serde_json::from_str(c["zed"]["text"].as_str().expect("text")).expect("zed json");
    assert_eq!(
        zed["language_models"]["ollama"]["available_models"][0]["name"], "tinyllama:latest",
        "{zed}"
    );
    // Described in the OpenAPI document with its schema.
    let doc = d.json("GET", "/api/v1/openapi.json", "");
    let v = component_validator(&doc, "EditorConfig");
    assert_valid(&v, "GET /api/v1/integrations", &c);
}
