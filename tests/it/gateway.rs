//! `kind: gateway` end to end: three Ollama stand-ins with different and
//! overlapping models behind one gateway, all started by `facerunner up`.
//! Which backend served a request is read from each stand-in's request log.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{Project, free_port, kill9, text, wait_until};

fn standin() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/ollama_standin.py")
}

const WAIT: Duration = Duration::from_secs(30);

struct Standin {
    name: &'static str,
    port: u16,
    log: PathBuf,
}

impl Standin {
    fn new(p: &Project, name: &'static str) -> Standin {
        Standin {
            name,
            port: free_port(),
            log: p.dir.path().join(format!("{name}.requests")),
        }
    }

    fn yaml(&self, p: &Project) -> String {
        format!(
            "  {name}:\n    kind: ollama\n    port: {port}\n    binary: {bin}\n    models_dir: {dir}\n    restart: \"no\"\n    env: {{ STANDIN_REQUEST_LOG: {log} }}\n",
            name = self.name,
            port = self.port,
            bin = standin().display(),
            dir = p.dir.path().join(format!("{}-models", self.name)).display(),
            log = self.log.display(),
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Requests to `path` it has seen.
    fn served(&self, path: &str) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains(&format!("\"path\":\"{path}\"")))
            .count()
    }

    fn events(&self, event: &str) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains(&format!("\"event\":\"{event}\"")))
            .count()
    }

    fn call(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        http(self.port, method, path, body, &[])
    }

    fn pull(&self, model: &str) {
        let (status, body) = self.call(
            "POST",
            "/api/pull",
            &format!(r#"{{"model":"{model}","stream":false}}"#),
        );
        assert_eq!(status, 200, "pull {model} into {}: {body}", self.name);
    }
}

/// One HTTP/1.0 request (no chunked framing in the answer); the whole answer.
fn raw(port: u16, method: &str, path: &str, body: &str, headers: &[(&str, &str)]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: localhost:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out)
        .expect("read the answer (nothing may hang)");
    out
}

/// [`raw`]'s status and body.
fn http(
    port: u16,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let out = raw(port, method, path, body, headers);
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

fn tag_names(port: u16, headers: &[(&str, &str)]) -> Vec<String> {
    let (status, body) = http(port, "GET", "/api/tags", "", headers);
    assert_eq!(status, 200, "{body}");
    let mut v: Vec<String> = json(&body)["models"]
        .as_array()
        .expect("models")
        .iter()
        .map(|m| m["name"].as_str().expect("name").to_string())
        .collect();
    v.sort();
    v
}

/// The gateway's own view of one backend.
fn backend(port: u16, name: &str) -> serde_json::Value {
    let (_, body) = http(port, "GET", "/__facerunner/status", "", &[]);
    json(&body)["backends"]
        .as_array()
        .expect("backends")
        .iter()
        .find(|b| b["name"] == name)
        .cloned()
        .expect("backend listed")
}

#[test]
fn the_gateway_routes_by_model_merges_lists_streams_and_survives_a_dead_backend() {
    let p = Project::new("");
    let (a, b, c) = (
        Standin::new(&p, "a"),
        Standin::new(&p, "b"),
        Standin::new(&p, "c"),
    );
    let gw = free_port();
    p.write(&format!(
        "{}{}{}  gw:\n    kind: gateway\n    port: {gw}\n",
        a.yaml(&p),
        b.yaml(&p),
        c.yaml(&p)
    ));
    p.ok(&["up"]);
    // a: m1 and the shared s; b: m2 and s; c: an embedding model.
    a.pull("m1:1b");
    a.pull("s:1b");
    b.pull("m2:1b");
    b.pull("s:1b");
    c.pull("e-embed:1b");
    let all = ["e-embed:1b", "m1:1b", "m2:1b", "s:1b"];
    wait_until(
        "the gateway lists every backend's models once",
        WAIT,
        || (tag_names(gw, &[]) == all).then_some(()),
    );
    // Health like Ollama's.
    assert_eq!(
        http(gw, "GET", "/", "", &[]),
        (200, "Ollama is running".into())
    );

    // Every route goes to the backend that holds the model.
    let chat = |m: &str| {
        format!(r#"{{"model":"{m}","messages":[{{"role":"user","content":"hi"}}],"stream":false}}"#)
    };
    let cases: Vec<(&str, &str, String, &Standin)> = vec![
        ("POST", "/api/chat", chat("m2:1b"), &b),
        (
            "POST",
            "/api/generate",
            r#"{"model":"m1:1b","prompt":"hi","stream":false}"#.into(),
            &a,
        ),
        (
            "POST",
            "/api/embed",
            r#"{"model":"e-embed:1b","input":"hi"}"#.into(),
            &c,
        ),
        (
            "POST",
            "/api/embeddings",
            r#"{"model":"e-embed:1b","prompt":"hi"}"#.into(),
            &c,
        ),
        ("POST", "/api/show", r#"{"model":"m1:1b"}"#.into(), &a),
        ("POST", "/v1/chat/completions", chat("m2:1b"), &b),
        (
            "POST",
            "/v1/completions",
            r#"{"model":"m1:1b","prompt":"hi"}"#.into(),
            &a,
        ),
        (
            "POST",
            "/v1/embeddings",
            r#"{"model":"e-embed:1b","input":"hi"}"#.into(),
            &c,
        ),
        ("GET", "/v1/models/m2:1b", String::new(), &b),
    ];
    for (method, path, body, want) in &cases {
        let before: Vec<usize> = [&a, &b, &c].iter().map(|s| s.served(path)).collect();
        let (status, answer) = http(gw, method, path, body, &[]);
        if path.starts_with("/api/") {
            assert_eq!(status, 200, "{method} {path}: {answer}");
        }
        wait_until(&format!("{path} reaches {}", want.name), WAIT, || {
            (want.served(path)
                > before[[&a, &b, &c]
                    .iter()
                    .position(|s| s.name == want.name)
                    .expect("one")])
            .then_some(())
        });
        for (s, n) in [&a, &b, &c].iter().zip(&before) {
            if s.name != want.name {
                assert_eq!(s.served(path), *n, "{path} also went to {}", s.name);
            }
        }
    }

    // Metrics: N more requests are N more in a's series for m1, each with
    // its latency and time to first byte; the page is Prometheus' text format.
    let metric = |name: &str| -> f64 {
        let (status, text) = http(gw, "GET", "/metrics", "", &[]);
        assert_eq!(status, 200, "{text}");
        let want = format!("{name}{{backend=\"a\",model=\"m1:1b\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&want)?.parse().ok())
            .unwrap_or(0.0)
    };
    // generate, show and completions reached a with m1 (each is counted
    // when its answer is done, which may be a moment after the client has it).
    let before = 3.0;
    wait_until("a/m1's three requests counted", WAIT, || {
        (metric("facerunner_gateway_requests_total") == before).then_some(())
    });
    for _ in 0..5 {
        let (status, body) = http(
            gw,
            "POST",
            "/api/generate",
            r#"{"model":"m1:1b","prompt":"hi","stream":false}"#,
            &[],
        );
        assert_eq!(status, 200, "{body}");
    }
    wait_until("five more requests counted for a/m1", WAIT, || {
        (metric("facerunner_gateway_requests_total") == before + 5.0
            && metric("facerunner_gateway_request_duration_seconds_count") == before + 5.0
            && metric("facerunner_gateway_time_to_first_byte_seconds_count") == before + 5.0)
            .then_some(())
    });
    assert_eq!(metric("facerunner_gateway_errors_total"), 0.0);

    // Unknown model: 404 in Ollama's own shape.
    let (status, body) = http(gw, "POST", "/api/chat", &chat("nope:1b"), &[]);
    assert_eq!(status, 404, "{body}");
    assert_eq!(json(&body)["error"], "model 'nope:1b' not found");

    // The shared model goes where it is loaded (b).
    assert_eq!(
        b.call("POST", "/api/generate", r#"{"model":"s:1b"}"#).0,
        200
    );
    wait_until("the gateway sees s loaded on b", WAIT, || {
        let loaded = backend(gw, "b")["loaded"].clone();
        loaded.as_array()?.iter().any(|m| m == "s:1b").then_some(())
    });
    let on_b = b.served("/api/generate");
    for _ in 0..3 {
        let (status, _) = http(
            gw,
            "POST",
            "/api/generate",
            r#"{"model":"s:1b","prompt":"x","stream":false}"#,
            &[],
        );
        assert_eq!(status, 200);
    }
    assert_eq!(
        b.served("/api/generate"),
        on_b + 3,
        "all to the backend with s loaded"
    );

    // Streaming: the first line reaches the client while the backend is
    // still streaming; hanging up cancels the backend's stream.
    assert_eq!(
        a.call("POST", "/__standin/faults", r#"{"stream_delay":0.5}"#)
            .0,
        200
    );
    {
        let mut s = TcpStream::connect(("127.0.0.1", gw)).expect("connect");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        let body = r#"{"model":"m1:1b","messages":[{"role":"user","content":"hi"}]}"#;
        write!(
            s,
            "POST /api/chat HTTP/1.0\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut r = BufReader::new(s);
        let mut line = String::new();
        loop {
            line.clear();
            r.read_line(&mut line).expect("read");
            if line.starts_with('{') {
                break;
            }
        }
        assert_eq!(json(&line)["done"], false, "{line}");
        assert_eq!(
            a.events("stream_done"),
            0,
            "the first line came before the backend finished"
        );
    }
    wait_until("the backend sees the client gone", WAIT, || {
        (a.events("client_gone") == 1).then_some(())
    });
    assert_eq!(a.events("stream_done"), 0);
    assert_eq!(
        a.call("POST", "/__standin/faults", r#"{"reset":true}"#).0,
        200
    );

    // b dies (s is loaded there, so b would be chosen): s is served by a
    // at once, b's own model becomes unknown, and the gateway reports it.
    let pid = p.service("b").expect("b")["state"]["pid"]
        .as_u64()
        .expect("b runs") as u32;
    kill9(pid);
    let on_a = a.served("/api/generate");
    let (status, body) = http(
        gw,
        "POST",
        "/api/generate",
        r#"{"model":"s:1b","prompt":"x","stream":false}"#,
        &[],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(a.served("/api/generate"), on_a + 1);
    wait_until("the gateway marks b down", WAIT, || {
        (backend(gw, "b")["healthy"] == false).then_some(())
    });
    assert_eq!(tag_names(gw, &[]), ["e-embed:1b", "m1:1b", "s:1b"]);
    // `status` says so: b unhealthy, its models unavailable; a healthy with its models.
    wait_until("status shows b down through the gateway", WAIT, || {
        let g = p.service("gw")?["gateway"].clone();
        let by = |n: &str| {
            g["backends"]
                .as_array()?
                .iter()
                .find(|b| b["name"] == n)
                .cloned()
        };
        let (a_, b_) = (by("a")?, by("b")?);
        (g["answered"] == true
            && b_["healthy"] == false
            && b_["models"].as_array()?.is_empty()
            && a_["healthy"] == true
            && a_["models"] == serde_json::json!(["m1:1b", "s:1b"])
            && a_["total"].as_u64()? > 0)
            .then_some(())
    });
    let text = String::from_utf8_lossy(&p.ok(&["status"]).stdout).to_string();
    assert!(
        text.contains("gateway gw:")
            && text.contains("b DOWN")
            && text.contains("its models are unavailable"),
        "{text}"
    );
    let (status, body) = http(gw, "POST", "/api/chat", &chat("m2:1b"), &[]);
    assert_eq!(status, 404, "{body}");
    p.ok(&["down"]);
}

#[test]
fn a_gateway_on_an_open_bind_requires_its_token() {
    let p = Project::new("");
    let a = Standin::new(&p, "a");
    let gw = free_port();
    p.write(&format!(
        "{}  gw:\n    kind: gateway\n    port: {gw}\n    bind: 0.0.0.0\n",
        a.yaml(&p)
    ));
    p.ok(&["up"]);
    let token =
        std::fs::read_to_string(p.dirs().secrets.join("gw.gateway_token")).expect("token file");
    let token = token.trim();
    assert_eq!(
        http(gw, "GET", "/", "", &[]).0,
        200,
        "health needs no token"
    );
    let (status, body) = http(gw, "GET", "/api/tags", "", &[]);
    assert_eq!(status, 401, "{body}");
    assert!(
        json(&body)["error"]
            .as_str()
            .expect("error")
            .contains("token")
    );
    let (status, _) = http(
        gw,
        "GET",
        "/api/tags",
        "",
        &[("Authorization", "Bearer wrong")],
    );
    assert_eq!(status, 401);
    let auth = format!("Bearer {token}");
    assert_eq!(
        tag_names(gw, &[("Authorization", &auth)]),
        Vec::<String>::new()
    );
    // `status` asks the gateway with the token and shows where it is, never what.
    let g = p.service("gw").expect("gw")["gateway"].clone();
    assert_eq!(g["answered"], true, "{g}");
    assert_eq!(
        g["token_file"].as_str().map(PathBuf::from),
        Some(p.dirs().secrets.join("gw.gateway_token"))
    );
    let text = String::from_utf8_lossy(&p.ok(&["status"]).stdout).to_string();
    assert!(text.contains("requires its token, in"), "{text}");
    assert!(!text.contains(token), "the token itself is never shown");
    p.ok(&["down"]);
}

#[test]
fn store_changes_go_where_the_project_places_the_model_and_a_new_model_is_routable_at_once() {
    let p = Project::new("");
    let (a, b) = (Standin::new(&p, "a"), Standin::new(&p, "b"));
    let gw = free_port();
    p.write(&format!(
        "{}{}  gw:\n    kind: gateway\n    port: {gw}\nmodels:\n  - ollama: d1:1b\n    service: a\n  - ollama: both:1b\n    service: a\n  - ollama: both:1b\n    service: b\n",
        a.yaml(&p),
        b.yaml(&p),
    ));
    p.ok(&["up"]);
    let pulls = |s: &Standin| s.served("/api/pull");
    let pull = |model: &str, stream: bool| {
        http(
            gw,
            "POST",
            "/api/pull",
            &format!(r#"{{"model":"{model}","stream":{stream}}}"#),
            &[],
        )
    };

    // A model declared on a goes to a only.
    let (pa, pb) = (pulls(&a), pulls(&b));
    let (status, body) = pull("d1:1b", false);
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["status"], "success");
    assert_eq!((pulls(&a), pulls(&b)), (pa + 1, pb));

    // A model declared on both goes to both; the stream ends in success.
    let (status, body) = pull("both:1b", true);
    assert_eq!(status, 200, "{body}");
    let last = body.lines().last().expect("a line");
    assert_eq!(json(last)["status"], "success", "{body}");
    assert_eq!((pulls(&a), pulls(&b)), (pa + 2, pb + 1));
    let (status, body) = pull("both:1b", false);
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["backends"], serde_json::json!(["a", "b"]));

    // An undeclared model with two backends: refused, saying how to fix it.
    let (status, body) = pull("stray:1b", false);
    assert_eq!(status, 409, "{body}");
    let msg = json(&body)["error"].as_str().expect("error").to_string();
    assert!(
        msg.contains("'stray:1b' is not declared") && msg.contains("x-facerunner-backend"),
        "{msg}"
    );
    assert_eq!((pulls(&a), pulls(&b)), (pa + 3, pb + 2), "nothing was sent");
    // The header still picks one explicitly.
    let (status, body) = http(
        gw,
        "POST",
        "/api/pull",
        r#"{"model":"stray:1b","stream":false}"#,
        &[("X-FaceRunner-Backend", "b")],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(pulls(&b), pb + 3);

    // Delete of the declared d1 goes to a.
    let before = (a.served("/api/delete"), b.served("/api/delete"));
    let (status, body) = http(gw, "DELETE", "/api/delete", r#"{"model":"d1:1b"}"#, &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (a.served("/api/delete"), b.served("/api/delete")),
        (before.0 + 1, before.1)
    );

    // A model pulled straight into b a moment after a miss is routable at
    // once: a miss polls again (never waits for the poll interval).
    let chat = |m: &str| {
        http(
            gw,
            "POST",
            "/api/chat",
            &format!(
                r#"{{"model":"{m}","messages":[{{"role":"user","content":"hi"}}],"stream":false}}"#
            ),
            &[],
        )
    };
    assert_eq!(chat("late:1b").0, 404);
    b.pull("late:1b");
    let (status, body) = chat("late:1b");
    assert_eq!(status, 200, "{body}");
    p.ok(&["down"]);
}

#[test]
fn a_change_of_models_reaches_the_gateway_at_the_apply_without_restarting_it() {
    let p = Project::new("");
    let (a, b) = (Standin::new(&p, "a"), Standin::new(&p, "b"));
    let gw = free_port();
    let file = |models: &str| {
        format!(
            "{}{}  gw:\n    kind: gateway\n    port: {gw}\nmodels:\n  - ollama: d1:1b\n    service: a\n{models}",
            a.yaml(&p),
            b.yaml(&p),
        )
    };
    p.write(&file(""));
    p.ok(&["up"]);
    let pid = |p: &Project| p.service("gw").expect("gw")["state"]["pid"].as_u64();
    let before = pid(&p).expect("the gateway runs");

    // A model newly declared on b: the plan does not touch the gateway.
    p.write(&file("  - ollama: new:1b\n    service: b\n"));
    let plan = text(&p.ok(&["plan"]).stdout);
    assert!(
        !plan.contains("gw"),
        "the gateway is not restarted:\n{plan}"
    );
    p.ok(&["apply", "--yes"]);
    assert_eq!(pid(&p), Some(before), "same gateway process");
    // The daemon told it after the apply: it read the placement again.
    let logs = text(&p.ok(&["logs", "gw", "-n", "50"]).stdout);
    assert!(logs.contains("refreshed on request"), "{logs}");
    // So a pull of the new model goes to b alone, no header needed.
    let pb = b.served("/api/pull");
    let pa = a.served("/api/pull");
    let (status, body) = http(
        gw,
        "POST",
        "/api/pull",
        r#"{"model":"new:1b","stream":false}"#,
        &[],
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!((a.served("/api/pull"), b.served("/api/pull")), (pa, pb + 1));
    p.ok(&["down"]);
}

/// The backend the gateway sent a request to (its `X-FaceRunner-Backend` answer header).
fn served_by(port: u16, path: &str, body: &str, headers: &[(&str, &str)]) -> String {
    let out = raw(port, "POST", path, body, headers);
    assert!(
        out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200"),
        "{out}"
    );
    out.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("x-facerunner-backend")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no backend header: {out}"))
}

#[test]
fn with_sticky_prefix_each_turn_of_a_conversation_goes_where_the_first_went() {
    let p = Project::new("");
    let (a, b) = (Standin::new(&p, "a"), Standin::new(&p, "b"));
    let gw = free_port();
    p.write(&format!(
        "{}{}  gw:\n    kind: gateway\n    port: {gw}\n    sticky: prefix\n",
        a.yaml(&p),
        b.yaml(&p)
    ));
    p.ok(&["up"]);
    a.pull("s:1b");
    b.pull("s:1b");
    wait_until("both backends hold the model", WAIT, || {
        let both = backend(gw, "a")["models"].to_string().contains("s:1b")
            && backend(gw, "b")["models"].to_string().contains("s:1b");
        both.then_some(())
    });
    // Seven conversations of three turns each, turns interleaved across
    // conversations: an odd count, so taking turns between the backends
    // (least busy, then fewest served) alone would move each conversation.
    let turn = |c: usize, n: usize| {
        let mut msgs = vec![
            serde_json::json!({"role": "system", "content": "be brief"}),
            serde_json::json!({"role": "user", "content": format!("question {c}")}),
        ];
        for i in 1..n {
            msgs.push(serde_json::json!({"role": "assistant", "content": format!("answer {i}")}));
            msgs.push(serde_json::json!({"role": "user", "content": format!("more {i}")}));
        }
        serde_json::json!({"model": "s:1b", "messages": msgs, "stream": false}).to_string()
    };
    let mut first: Vec<String> = Vec::new();
    for n in 1..=3 {
        for c in 0..7 {
            let by = served_by(gw, "/api/chat", &turn(c, n), &[]);
            if n == 1 {
                first.push(by);
            } else {
                assert_eq!(by, first[c], "conversation {c}, turn {n}");
            }
        }
    }
    // The generate route too: the same prompt start, the same backend.
    let generate = |tail: &str| {
        serde_json::json!({"model": "s:1b", "system": "s", "prompt": format!("{}{tail}", "p".repeat(5000)), "stream": false}).to_string()
    };
    assert_eq!(
        served_by(gw, "/api/generate", &generate("1"), &[]),
        served_by(gw, "/api/generate", &generate("2"), &[])
    );
    // A session header still wins over the prefix: across sessions, both backends serve.
    let mut seen = std::collections::BTreeSet::new();
    for c in 0..16 {
        let session = format!("user-{c}");
        seen.insert(served_by(
            gw,
            "/api/chat",
            &turn(0, 1),
            &[("X-FaceRunner-Session", &session)],
        ));
    }
    assert_eq!(
        seen.len(),
        2,
        "sessions spread over both backends: {seen:?}"
    );
    p.ok(&["down"]);
}
