//! The real Open WebUI, started by the supervisor against the Ollama
//! stand-in. Runs where `open-webui` is on PATH (CI installs a slim one,
//! see `.ci/run`); elsewhere it says it was skipped and why.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{Project, alive, component, describe, free_port, processes_with, wait_until};

/// Open WebUI takes 10–20 s to become healthy here; leave room for a busy
/// machine.
const GENEROUS: Duration = Duration::from_secs(180);

/// One HTTP request: status and body, or why it failed.
fn http(
    method: &str,
    url: &str,
    body: Option<serde_json::Value>,
    token: Option<&str>,
) -> Result<(u16, String), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let client = facerunner::http::client_builder()
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut req = client.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| format!("{url}: {e}"))?;
        Ok((status, text))
    })
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The environment of a live process.
fn environ(pid: u32) -> BTreeMap<String, String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).expect("read /proc/PID/environ");
    raw.split(|b| *b == 0)
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

#[test]
fn the_real_open_webui_starts_against_the_ollama_standin_and_answers_health() {
    let Some(exe) = component(
        "open-webui",
        "pip install open-webui (`.ci/run` installs a slim one)",
    ) else {
        return;
    };
    eprintln!("using {}", exe.display());
    let (po, pw) = (free_port(), free_port());
    let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/ollama_standin.py");
    let p = Project::new("");
    let models = p.dir.path().join("models");
    p.write(&format!(
        r#"  ollama:
    kind: ollama
    port: {po}
    binary: {standin}
    models_dir: {models}
    stop: {{ signal: SIGTERM, timeout: 2s }}
  webui:
    kind: open-webui
    port: {pw}
    depends_on:
      ollama: {{ condition: healthy }}
    env:
      USE_SLIM_DOCKER: "true"
      RAG_EMBEDDING_ENGINE: ollama
      OFFLINE_MODE: "true"
      HF_HUB_OFFLINE: "1"
      RAG_EMBEDDING_MODEL_AUTO_UPDATE: "false"
      WEBUI_AUTH: "False"
"#,
        standin = standin.display(),
        models = models.display(),
    ));

    // `up` returns once both pass their built-in probes (Open WebUI's is
    // GET /health).
    let started = std::time::Instant::now();
    let out = assert_cmd::Command::from_std(p.cmd(&["up"]))
        .timeout(GENEROUS)
        .output()
        .expect("run facerunner up");
    assert!(out.status.success(), "up failed:\n{}", describe(&out));
    eprintln!(
        "open-webui ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let base = format!("http://127.0.0.1:{pw}");
    let (status, body) = http("GET", &format!("{base}/health"), None, None).expect("GET /health");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body), serde_json::json!({"status": true}));
    let (status, body) =
        http("GET", &format!("{base}/api/version"), None, None).expect("GET /api/version");
    assert_eq!(status, 200, "{body}");
    assert!(json(&body)["version"].is_string(), "{body}");

    // What the daemon gave it: DATA_DIR under FACERUNNER_HOME, a generated
    // secret key in a 0600 file of the project's secrets directory, the
    // stand-in as its Ollama backend.
    let svc = p.service("webui").expect("webui listed");
    assert_eq!(svc["state"]["health"]["health"], "healthy", "{svc}");
    let pid = svc["state"]["pid"].as_u64().expect("webui pid") as u32;
    let env = environ(pid);
    let dirs = p.dirs();
    let data = PathBuf::from(env.get("DATA_DIR").expect("DATA_DIR set"));
    assert_eq!(data, dirs.data.join("webui"));
    assert!(data.starts_with(p.home()), "{}", data.display());
    assert!(data.is_dir(), "Open WebUI did not use {}", data.display());
    let key_file = dirs.secrets.join("webui.webui_secret_key");
    let mode = std::fs::metadata(&key_file)
        .unwrap_or_else(|e| panic!("{}: {e}", key_file.display()))
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "{}", key_file.display());
    let key = std::fs::read_to_string(&key_file).expect("read the secret key");
    assert_eq!(
        env.get("WEBUI_SECRET_KEY").map(String::as_str),
        Some(key.trim())
    );
    assert_eq!(
        env.get("OLLAMA_BASE_URLS").map(String::as_str),
        Some(format!("http://127.0.0.1:{po}").as_str())
    );

    // It lists the stand-in's models through its Ollama proxy. With
    // WEBUI_AUTH=False on a fresh database, signing in with no credentials
    // gives the single (admin) user's token.
    let (status, body) = http(
        "POST",
        &format!("http://127.0.0.1:{po}/api/pull"),
        Some(serde_json::json!({"model": "smollm:135m", "stream": false})),
        None,
    )
    .expect("pull into the stand-in");
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        "POST",
        &format!("{base}/api/v1/auths/signin"),
        Some(serde_json::json!({"email": "", "password": ""})),
        None,
    )
    .expect("sign in");
    assert_eq!(status, 200, "{body}");
    let token = json(&body)["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {body}"))
        .to_string();
    let (status, body) = http(
        "GET",
        &format!("{base}/ollama/api/tags"),
        None,
        Some(&token),
    )
    .expect("GET /ollama/api/tags");
    assert_eq!(status, 200, "{body}");
    let names: Vec<String> = json(&body)["models"]
        .as_array()
        .unwrap_or_else(|| panic!("no models in {body}"))
        .iter()
        .filter_map(|m| m["name"].as_str().map(str::to_string))
        .collect();
    assert!(
        names.iter().any(|n| n == "smollm:135m"),
        "{names:?} in {body}"
    );

    // `verify` signs in the same way and finds Open WebUI healthy and
    // seeing the Ollama models (the file lists none, so none are missing).
    let out = p.ok(&["verify", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("verify --json");
    assert_eq!(v["ok"], true, "{v}");
    let webui = v["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["service"] == "webui"))
        .unwrap_or_else(|| panic!("webui verified: {v}"));
    let check = |name: &str| {
        webui["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["check"] == name))
            .unwrap_or_else(|| panic!("{name} checked: {webui}"))
            .clone()
    };
    assert_eq!(check("health")["ok"], true, "{webui}");
    let models = check("models");
    assert_eq!(models["ok"], true, "{webui}");
    assert!(
        models["detail"]
            .as_str()
            .is_some_and(|d| d.contains("listed")),
        "signed in and listed: {webui}"
    );

    // down stops it; no Open WebUI process of ours remains.
    p.ok(&["down"]);
    let ours = format!("serve --host 127.0.0.1 --port {pw}");
    wait_until("no open-webui process left", GENEROUS, || {
        (!alive(pid) && processes_with(&ours).is_empty()).then_some(())
    });
}

/// Issue #11's "done when": Open WebUI pointed at the gateway alone lists
/// every model of three Ollama instances and chats with each; killing one
/// instance makes only its models unavailable, and `status` says so.
#[test]
fn open_webui_through_the_gateway_sees_three_instances_and_loses_only_a_killed_ones_models() {
    let Some(_) = component(
        "open-webui",
        "pip install open-webui (`.ci/run` installs a slim one)",
    ) else {
        return;
    };
    let standin = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/ollama_standin.py");
    let p = Project::new("");
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let (pg, pw) = (free_port(), free_port());
    let mut yaml = String::new();
    for (i, port) in ports.iter().enumerate() {
        yaml.push_str(&format!(
            "  o{i}:\n    kind: ollama\n    port: {port}\n    binary: {standin}\n    models_dir: {models}\n    stop: {{ signal: SIGTERM, timeout: 2s }}\n    restart: 'no'\n",
            standin = standin.display(),
            models = p.dir.path().join(format!("models{i}")).display(),
        ));
    }
    yaml.push_str(&format!(
        r#"  gw:
    kind: gateway
    port: {pg}
    depends_on: [o0, o1, o2]
  webui:
    kind: open-webui
    port: {pw}
    depends_on:
      gw: {{ condition: healthy }}
    env:
      USE_SLIM_DOCKER: "true"
      RAG_EMBEDDING_ENGINE: ollama
      OFFLINE_MODE: "true"
      HF_HUB_OFFLINE: "1"
      RAG_EMBEDDING_MODEL_AUTO_UPDATE: "false"
      WEBUI_AUTH: "False"
"#
    ));
    p.write(&yaml);
    let out = assert_cmd::Command::from_std(p.cmd(&["up"]))
        .timeout(GENEROUS)
        .output()
        .expect("run facerunner up");
    assert!(out.status.success(), "up failed:\n{}", describe(&out));

    // Open WebUI talks to the gateway alone.
    let pid = p.service("webui").expect("webui")["state"]["pid"]
        .as_u64()
        .expect("pid") as u32;
    assert_eq!(
        environ(pid).get("OLLAMA_BASE_URLS").map(String::as_str),
        Some(format!("http://127.0.0.1:{pg}").as_str())
    );

    // A different model on each instance.
    let models = ["alpha:1b", "beta:1b", "gamma:1b"];
    for (port, model) in ports.iter().zip(models) {
        let (status, body) = http(
            "POST",
            &format!("http://127.0.0.1:{port}/api/pull"),
            Some(serde_json::json!({"model": model, "stream": false})),
            None,
        )
        .expect("pull into a stand-in");
        assert_eq!(status, 200, "{body}");
    }
    let base = format!("http://127.0.0.1:{pw}");
    let (status, body) = http(
        "POST",
        &format!("{base}/api/v1/auths/signin"),
        Some(serde_json::json!({"email": "", "password": ""})),
        None,
    )
    .expect("sign in");
    assert_eq!(status, 200, "{body}");
    let token = json(&body)["token"].as_str().expect("token").to_string();
    let listed = |token: &str| -> Vec<String> {
        let (status, body) =
            http("GET", &format!("{base}/ollama/api/tags"), None, Some(token)).expect("tags");
        assert_eq!(status, 200, "{body}");
        json(&body)["models"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let chat = |token: &str, model: &str| -> u16 {
        http(
            "POST",
            &format!("{base}/ollama/api/chat"),
            Some(serde_json::json!({
                "model": model, "stream": false,
                "messages": [{"role": "user", "content": "hi"}]
            })),
            Some(token),
        )
        .map(|(s, _)| s)
        .unwrap_or(0)
    };
    // The gateway polls its backends every few seconds: wait for all three.
    wait_until("Open WebUI lists every instance's model", GENEROUS, || {
        let names = listed(&token);
        models
            .iter()
            .all(|m| names.iter().any(|n| n == m))
            .then_some(())
    });
    for model in models {
        assert_eq!(chat(&token, model), 200, "chat with {model}");
    }

    // Kill one instance: only its model goes, and status says so.
    let victim = p.service("o1").expect("o1")["state"]["pid"]
        .as_u64()
        .expect("pid") as u32;
    crate::support::kill9(victim);
    wait_until("beta:1b is gone from the list", GENEROUS, || {
        let names = listed(&token);
        (!names.iter().any(|n| n == "beta:1b")).then_some(names)
    });
    assert_ne!(chat(&token, "beta:1b"), 200, "the killed instance's model");
    for model in ["alpha:1b", "gamma:1b"] {
        assert_eq!(chat(&token, model), 200, "chat with {model} after the kill");
    }
    let gw = p.service("gw").expect("gw listed");
    let backends = gw["gateway"]["backends"]
        .as_array()
        .unwrap_or_else(|| panic!("no gateway backends in {gw}"));
    let o1 = backends
        .iter()
        .find(|b| b["name"] == "o1")
        .unwrap_or_else(|| panic!("o1 in {gw}"));
    assert_eq!(o1["healthy"], false, "{o1}");
    p.ok(&["down"]);
}
