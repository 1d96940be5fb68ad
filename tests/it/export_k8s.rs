//! `facerunner export kubernetes`: the manifests of the examples
//! (snapshots), valid against Kubernetes 1.37's strict schemas
//! (`kubernetes-validate`), with GPUs, probes, volumes and labels where
//! they belong; byte-identical on a second export; `--diff`; the checks of
//! what cannot be expressed; and the model Job's script run against the
//! Ollama stand-in.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{bin, component, describe, free_port, text, wait_until};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn example(name: &str) -> PathBuf {
    repo().join("examples").join(name).join("facerunner.yaml")
}

/// `facerunner -f FILE [--gpus-from INV] export kubernetes ARGS…`, with an
/// empty FACERUNNER_HOME and no inherited FACERUNNER_* settings.
fn export(file: &Path, args: &[&str]) -> Output {
    let home = tempfile::tempdir().expect("tempdir");
    Command::new(bin())
        .arg("-f")
        .arg(file)
        .args(["export", "kubernetes"])
        .args(args)
        .env("FACERUNNER_HOME", home.path())
        .env_remove("FACERUNNER_GPUS_FROM")
        .env_remove("FACERUNNER_FILE")
        .env("NO_COLOR", "1")
        .output()
        .expect("run facerunner")
}

fn ok(file: &Path, args: &[&str]) -> Output {
    let out = export(file, args);
    assert!(out.status.success(), "{}", describe(&out));
    out
}

/// Each document of a `---` stream, parsed.
fn docs(stream: &str) -> Vec<Value> {
    stream
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_saphyr::from_str::<Value>(d).expect("each document is YAML"))
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {docs:#?}"))
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).expect("write");
    p
}

/// Validate every manifest in `dir` with `kubernetes-validate --strict`
/// against 1.37; skipped (saying why) without it, failing under CI=true.
fn validate_strict(dir: &Path) {
    let Some(kv) = component(
        "kubernetes-validate",
        "python3 -m venv ~/.cache/facerunner-ci/kubernetes-validate && ~/.cache/facerunner-ci/kubernetes-validate/bin/pip install kubernetes-validate, then put its bin/ on PATH (.ci/run does)",
    ) else {
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let out = Command::new(kv)
        .args(["--strict", "-k", "1.37.0"])
        .args(&files)
        .output()
        .expect("run kubernetes-validate");
    assert!(
        out.status.success(),
        "kubernetes-validate --strict rejected the export:\n{}",
        describe(&out)
    );
    // Every file was checked against a schema, none skipped.
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    for f in &files {
        assert!(
            said.contains(&format!("{} passed", f.display())),
            "{} was not validated:\n{said}",
            f.display()
        );
    }
}

#[test]
fn kubernetes_validate_strict_rejects_what_the_schema_does_not_know() {
    // The validator itself must be able to fail, or the test above proves nothing.
    let Some(kv) = component("kubernetes-validate", "see .ci/run") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let bad = write(
        tmp.path(),
        "bad.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 80}], notAField: 1}\n",
    );
    let out = Command::new(kv)
        .args(["--strict", "-k", "1.37.0"])
        .arg(&bad)
        .output()
        .expect("run");
    assert!(!out.status.success(), "{}", describe(&out));
}

#[test]
fn multi_gpu_example_exports_valid_manifests_one_gpu_per_ollama() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("k8s");
    let out = ok(&example("multi-gpu"), &["-o", dir.to_str().unwrap()]);
    assert!(
        text(&out.stderr).contains("Kubernetes 1.37"),
        "{}",
        describe(&out)
    );
    validate_strict(&dir);

    let stream = text(&ok(&example("multi-gpu"), &[]).stdout);
    insta::assert_snapshot!("multi_gpu_manifests", stream);
    let docs = docs(&stream);
    for name in ["ollama-a", "ollama-b"] {
        let ss = find(&docs, "StatefulSet", name);
        assert_eq!(ss["spec"]["replicas"], 1);
        let c = &ss["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], "1");
        assert_eq!(c["resources"]["requests"]["nvidia.com/gpu"], "1");
        let t = &ss["spec"]["template"]["spec"]["tolerations"][0];
        assert_eq!(t["key"], "nvidia.com/gpu");
        assert_eq!(t["effect"], "NoSchedule");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/");
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/");
        assert_eq!(
            ss["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
            "30Gi"
        );
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/root/.ollama");
        for l in [
            &ss["metadata"]["labels"],
            &ss["spec"]["template"]["metadata"]["labels"],
        ] {
            assert_eq!(l["app.kubernetes.io/name"], "ollama");
            assert_eq!(l["app.kubernetes.io/instance"], name);
            assert_eq!(l["app.kubernetes.io/part-of"], "multi-gpu");
            assert_eq!(l["app.kubernetes.io/managed-by"], "facerunner");
        }
        find(&docs, "Service", name);
        find(&docs, "Service", &format!("{name}-pods"));
    }
    // Each Ollama listens on its own port, and its models go to it.
    let a = &find(&docs, "StatefulSet", "ollama-a")["spec"]["template"]["spec"]["containers"][0];
    assert!(
        a["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "OLLAMA_HOST" && e["value"] == "0.0.0.0:11434")
    );
    assert_eq!(
        find(&docs, "ConfigMap", "ollama-a-models")["data"]["pull"],
        "qwen2.5:7b\n"
    );
    assert_eq!(
        find(&docs, "ConfigMap", "ollama-b-models")["data"]["pull"],
        "nomic-embed-text:latest\n"
    );
    let jobs: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Job").collect();
    assert_eq!(jobs.len(), 2);
    // Open WebUI: wired to both, persistent config off, the key from a Secret.
    let web = find(&docs, "Deployment", "webui");
    let c = &web["spec"]["template"]["spec"]["containers"][0];
    let env = |n: &str| {
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == n)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        env("OLLAMA_BASE_URLS")["value"],
        "http://ollama-a:11434;http://ollama-b:11435"
    );
    assert_eq!(env("ENABLE_PERSISTENT_CONFIG")["value"], "False");
    assert_eq!(
        env("WEBUI_SECRET_KEY")["valueFrom"]["secretKeyRef"]["name"],
        "webui-secret"
    );
    assert!(env("WEBUI_SECRET_KEY")["value"].is_null());
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/health");
    // Its slow first start is waited out, as locally (5 minutes).
    assert_eq!(c["livenessProbe"]["initialDelaySeconds"], 300);
    assert_eq!(
        web["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "webui-data"
    );
    find(&docs, "PersistentVolumeClaim", "webui-data");
    // depends_on: one init container per dependency, waiting on its Service.
    let init = web["spec"]["template"]["spec"]["initContainers"]
        .as_array()
        .unwrap();
    assert_eq!(init.len(), 2);
    assert!(
        init[0]["command"][2]
            .as_str()
            .unwrap()
            .contains("http://ollama-a:11434/")
    );
    // The user is told which Secret to create.
    assert!(text(&out.stderr).contains("kubectl create secret generic webui-secret"));
}

#[test]
fn demo_example_exports_valid_manifests_and_says_what_it_left_out() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("k8s");
    let out = ok(
        &example("demo"),
        &["-o", dir.to_str().unwrap(), "--namespace", "llm"],
    );
    validate_strict(&dir);
    let err = text(&out.stderr);
    // Located, like `validate`: the binary: path, and the process without an image.
    let file = example("demo").display().to_string();
    assert!(
        err.contains(&format!(
            "{file}:13:5: warning: `binary:` of `ollama` is a local path"
        )),
        "{err}"
    );
    assert!(
        err.contains("service `worker` (process) is not exported"),
        "{err}"
    );
    let stream = text(&ok(&example("demo"), &[]).stdout);
    insta::assert_snapshot!("demo_manifests", stream);
    let docs = docs(&stream);
    let cm = find(&docs, "ConfigMap", "ollama-models");
    assert_eq!(cm["data"]["pull"], "llama3.2:1b\n");
    assert_eq!(cm["data"]["create"], "coder:latest create-1.json\n");
    let req: Value = serde_json::from_str(cm["data"]["create-1.json"].as_str().unwrap()).unwrap();
    assert_eq!(req["from"], "llama3.2:1b");
    assert_eq!(req["system"], "You are a concise coding assistant.");
    assert!(!docs.iter().any(|d| d["metadata"]["name"] == "worker"));
    // --namespace puts every object in it.
    for f in std::fs::read_dir(&dir).unwrap() {
        let body = std::fs::read_to_string(f.unwrap().path()).unwrap();
        let v: Value = serde_saphyr::from_str(&body).unwrap();
        assert_eq!(v["metadata"]["namespace"], "llm", "{body}");
    }
}

#[test]
fn a_second_export_gives_the_same_bytes_and_diff_says_so() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    ok(&example("multi-gpu"), &["-o", a.to_str().unwrap()]);
    ok(&example("multi-gpu"), &["-o", b.to_str().unwrap()]);
    let list = |d: &Path| {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(list(&a), list(&b));
    assert_eq!(
        text(&ok(&example("multi-gpu"), &[]).stdout),
        text(&ok(&example("multi-gpu"), &[]).stdout)
    );
    // --diff: nothing to say, exit 0.
    let same = export(&example("multi-gpu"), &["--diff", a.to_str().unwrap()]);
    assert_eq!(same.status.code(), Some(0), "{}", describe(&same));
    assert!(same.stdout.is_empty(), "{}", describe(&same));
    // A change in the file: a unified diff, exit 2.
    let changed = tmp.path().join("facerunner.yaml");
    let body = std::fs::read_to_string(example("multi-gpu"))
        .unwrap()
        .replace("port: 8080", "port: 8081");
    std::fs::write(&changed, body).unwrap();
    let d = export(&changed, &["--diff", a.to_str().unwrap()]);
    assert_eq!(d.status.code(), Some(2), "{}", describe(&d));
    let diff = text(&d.stdout);
    assert!(
        diff.contains("--- a/08-service-webui.yaml\n+++ b/08-service-webui.yaml\n"),
        "{diff}"
    );
    assert!(
        diff.contains("-    port: 8080\n+    port: 8081\n"),
        "{diff}"
    );
    // Writing an export with fewer objects over the old one removes the
    // stale files it wrote, never a person's file named alike.
    write(&a, "01-notes.yaml", "mine: true\n");
    let fewer = tmp.path().join("fewer.yaml");
    let body = std::fs::read_to_string(&changed).unwrap();
    let body = body.split("\nmodels:").next().unwrap().to_string() + "\n";
    std::fs::write(&fewer, body).unwrap();
    ok(&fewer, &["-o", a.to_str().unwrap()]);
    let names: Vec<String> = list(&a).into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&"01-notes.yaml".to_string()), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.contains("-job-") || n.contains("configmap")),
        "{names:?}"
    );
    let fresh = export(&fewer, &["--diff", a.to_str().unwrap()]);
    assert_eq!(fresh.status.code(), Some(0), "{}", describe(&fresh));
}

#[test]
fn per_gpu_replicas_are_one_pod_per_gpu_and_the_job_reaches_each() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let f = write(
        tmp.path(),
        "facerunner.yaml",
        "version: 1\nname: pg\ngpus:\n  a: { index: 0 }\n  b: { index: 1 }\n  c: { index: 2 }\nservices:\n  ollama:\n    kind: ollama\n    replicas: per-gpu\n    gpus: [a, b, c]\n    health: { http: \"http://127.0.0.1:11434/api/version\", interval: 5s, retries: 4, start_period: 90s }\nmodels:\n  - ollama: llama3.2:1b\n",
    );
    let dir = tmp.path().join("k8s");
    ok(&f, &["-o", dir.to_str().unwrap()]);
    validate_strict(&dir);
    let docs = docs(&text(&ok(&f, &[]).stdout));
    let ss = find(&docs, "StatefulSet", "ollama");
    assert_eq!(ss["spec"]["replicas"], 3);
    let c = &ss["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], "1");
    let p = &c["readinessProbe"];
    assert_eq!(p["httpGet"]["path"], "/api/version");
    assert_eq!(p["periodSeconds"], 5);
    assert_eq!(p["failureThreshold"], 4);
    assert_eq!(c["livenessProbe"]["initialDelaySeconds"], 90);
    let job = docs.iter().find(|d| d["kind"] == "Job").unwrap();
    let env = &job["spec"]["template"]["spec"]["containers"][0]["env"][0];
    assert_eq!(env["name"], "OLLAMA_URLS");
    assert_eq!(
        env["value"],
        "http://ollama-0.ollama-pods:11434 http://ollama-1.ollama-pods:11434 http://ollama-2.ollama-pods:11434"
    );
}

fn inventory(dir: &Path, gpus: &[(u32, &str, &str)]) -> PathBuf {
    let list: Vec<Value> = gpus
        .iter()
        .map(|(i, vendor, name)| {
            serde_json::json!({"index": i, "uuid": format!("GPU-{i}"), "name": name, "vendor": vendor,
                "memory_total_bytes": 25769803776u64})
        })
        .collect();
    write(
        dir,
        "gpus.json",
        &serde_json::json!({"gpus": list, "source": "test"}).to_string(),
    )
}

#[test]
fn amd_gpus_in_the_inventory_give_amd_resources_and_the_rocm_image() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let inv = inventory(tmp.path(), &[(0, "amd", "MI300X"), (1, "amd", "MI300X")]);
    let out = Command::new(bin())
        .arg("--gpus-from")
        .arg(&inv)
        .arg("-f")
        .arg(example("multi-gpu"))
        .args(["export", "kubernetes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let docs = docs(&text(&out.stdout));
    let c = &find(&docs, "StatefulSet", "ollama-a")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["resources"]["limits"]["amd.com/gpu"], "1");
    assert!(c["resources"]["limits"]["nvidia.com/gpu"].is_null());
    assert_eq!(c["image"], "ollama/ollama:0.32.15-rocm");
}

#[test]
fn gpus_by_index_on_a_heterogeneous_inventory_is_a_located_error_and_nothing_is_written() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let inv = inventory(
        tmp.path(),
        &[(0, "nvidia", "NVIDIA H100"), (1, "nvidia", "NVIDIA L4")],
    );
    let dir = tmp.path().join("k8s");
    let out = Command::new(bin())
        .arg("--gpus-from")
        .arg(&inv)
        .arg("-f")
        .arg(example("multi-gpu"))
        .args(["export", "kubernetes", "-o"])
        .arg(&dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = text(&out.stderr);
    let file = example("multi-gpu").display().to_string();
    assert!(err.contains(&format!("{file}:10:6")), "{err}");
    assert!(
        err.contains("GPU `a` is chosen by index, but the cluster's GPUs differ"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!dir.exists());
}

#[test]
fn file_models_processes_gateways_and_images() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("m.gguf"), b"GGUF....").unwrap();
    let f = write(
        tmp.path(),
        "facerunner.yaml",
        "version: 1\nname: mix\nservices:\n  ollama:\n    kind: ollama\n    gpus: []\n  gw:\n    kind: gateway\n    image: registry.example/facerunner:1\n  api:\n    command: [python3, -m, http.server, \"9000\"]\n    image: python:3.12-slim\n    port: 9000\n    env: { TOKEN: { value: hush, secret: true }, MODE: fast }\n    depends_on: [gw]\n  job:\n    command: [\"true\"]\n  web:\n    kind: open-webui\nmodels:\n  - name: local\n    file: m.gguf\n  - ollama: qwen2.5:0.5b\n    alias: small\n    keep_alive: 10m\n",
    );
    let dir = tmp.path().join("k8s");
    let out = ok(&f, &["-o", dir.to_str().unwrap()]);
    validate_strict(&dir);
    let err = text(&out.stderr);
    let file = f.display().to_string();
    assert!(err.contains(&format!("{file}:22:11")), "{err}");
    assert!(
        err.contains("model `local` comes from a local file"),
        "{err}"
    );
    assert!(
        err.contains("service `job` (process) is not exported"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{file}:25:5: warning: `keep_alive` of model `qwen2.5:0.5b` is not exported"
        )),
        "{err}"
    );
    assert!(
        !err.contains("names no `gpus:`"),
        "gpus: [] says CPU only: {err}"
    );
    let docs = docs(&text(&ok(&f, &[]).stdout));
    // The gateway runs its image with the facerunner gateway arguments and a token from a Secret.
    let gw = &find(&docs, "Deployment", "gw")["spec"]["template"]["spec"];
    let args: Vec<&str> = gw["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(&args[..3], &["gateway", "--project", "mix"]);
    assert!(args.contains(&"ollama=http://ollama:11434"), "{args:?}");
    assert!(args.contains(&"/var/run/facerunner/token"), "{args:?}");
    assert_eq!(gw["volumes"][0]["secret"]["secretName"], "gw-token");
    find(&docs, "Service", "gw");
    // Open WebUI talks to the ollama Services: the cluster's gateway needs a token.
    let web = &find(&docs, "Deployment", "web")["spec"]["template"]["spec"]["containers"][0];
    let urls = web["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "OLLAMA_BASE_URLS")
        .unwrap();
    assert_eq!(urls["value"], "http://ollama:11434");
    assert!(
        err.contains("`web` talks to the ollama Services directly"),
        "{err}"
    );
    assert_eq!(
        gw["containers"][0]["readinessProbe"]["httpGet"]["path"],
        "/"
    );
    // A process with an image: its argv, env (secret values from a Secret), Service, init container.
    let api = &find(&docs, "Deployment", "api")["spec"]["template"]["spec"];
    assert_eq!(api["containers"][0]["command"][0], "python3");
    let env = api["containers"][0]["env"].as_array().unwrap();
    assert!(
        env.iter()
            .any(|e| e["name"] == "MODE" && e["value"] == "fast")
    );
    let token = env.iter().find(|e| e["name"] == "TOKEN").unwrap();
    assert!(token["value"].is_null());
    assert_eq!(token["valueFrom"]["secretKeyRef"]["name"], "api-env");
    assert_eq!(api["initContainers"][0]["name"], "wait-for-gw");
    find(&docs, "Service", "api");
    // CPU only: no GPU request. Models: the pull and the alias, not the file model.
    let c = &find(&docs, "StatefulSet", "ollama")["spec"]["template"]["spec"]["containers"][0];
    assert!(c["resources"].is_null());
    let cm = find(&docs, "ConfigMap", "ollama-models");
    assert_eq!(cm["data"]["pull"], "qwen2.5:0.5b\n");
    assert_eq!(cm["data"]["copy"], "qwen2.5:0.5b small:latest\n");
    assert!(cm["data"]["create"].is_null());
    let secrets = text(&out.stderr);
    for s in [
        "api-env --from-literal=TOKEN=",
        "gw-token --from-literal=token=",
        "web-secret --from-literal=WEBUI_SECRET_KEY=",
    ] {
        assert!(secrets.contains(s), "{secrets}");
    }
}

/// The stand-in on a free port, with a request log; killed on drop.
struct Standin {
    child: std::process::Child,
    url: String,
    log: PathBuf,
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn standin(dir: &Path) -> Standin {
    let port = free_port();
    let log = dir.join("requests.log");
    let child = Command::new("python3")
        .arg(repo().join("tests/support/ollama_standin.py"))
        .arg("serve")
        .env("OLLAMA_HOST", format!("127.0.0.1:{port}"))
        .env("OLLAMA_MODELS", dir.join("models"))
        .env("STANDIN_REQUEST_LOG", &log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the stand-in");
    let url = format!("http://127.0.0.1:{port}");
    Standin { child, url, log }
}

fn tags(url: &str) -> Vec<String> {
    let out = Command::new("curl")
        .args(["-sf", &format!("{url}/api/tags")])
        .output()
        .expect("curl");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let mut names: Vec<String> = v["models"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The request log's `METHOD path` lines for model changes.
fn changes(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| Some(format!("{} {}", v["method"].as_str()?, v["path"].as_str()?)))
        .filter(|l| {
            ["/api/pull", "/api/create", "/api/copy", "/api/delete"]
                .iter()
                .any(|p| l.ends_with(p))
        })
        .collect()
}

#[test]
fn the_model_jobs_script_pulls_and_creates_what_the_file_declares_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let f = write(
        tmp.path(),
        "facerunner.yaml",
        "version: 1\nname: jobs\nservices:\n  ollama:\n    kind: ollama\n    gpus: []\nmodels:\n  - ollama: llama3.2:1b\n  - hf: bartowski/Llama-3.2-1B-Instruct-GGUF\n  - name: coder\n    from: llama3.2:1b\n    system: You are a concise coding assistant.\n    parameters: { temperature: 0.2 }\n    alias: helper\n",
    );
    let docs = docs(&text(&ok(&f, &[]).stdout));
    // The ConfigMap, as the Job's pod sees it.
    let mount = tmp.path().join("configmap");
    std::fs::create_dir(&mount).unwrap();
    let cm = find(&docs, "ConfigMap", "ollama-models");
    for (k, v) in cm["data"].as_object().unwrap() {
        std::fs::write(mount.join(k), v.as_str().unwrap()).unwrap();
    }
    let job = docs.iter().find(|d| d["kind"] == "Job").unwrap();
    let argv: Vec<&str> = job["spec"]["template"]["spec"]["containers"][0]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(argv, ["/bin/sh", "/facerunner/models.sh"]);

    let s = standin(tmp.path());
    let run = || {
        let out = Command::new("sh")
            .arg(mount.join("models.sh"))
            .env("OLLAMA_URLS", &s.url)
            .env("FACERUNNER_MODELS", &mount)
            .env("FACERUNNER_WAIT_TRIES", "60")
            .output()
            .expect("run the script");
        assert!(out.status.success(), "{}", describe(&out));
        text(&out.stdout)
    };
    // The script waits for the server itself; started right after it.
    let first = run();
    assert!(first.contains("llama3.2:1b: pulling"), "{first}");
    assert!(first.contains("coder:latest: creating"), "{first}");
    assert!(
        first.contains("helper:latest: copying from coder:latest"),
        "{first}"
    );
    let want = [
        "coder:latest",
        "helper:latest",
        "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
        "llama3.2:1b",
    ];
    wait_until("the models listed", Duration::from_secs(10), || {
        (tags(&s.url) == want).then_some(())
    });
    let after_first = changes(&s.log);
    assert_eq!(
        after_first,
        [
            "POST /api/pull",
            "POST /api/pull",
            "POST /api/create",
            "POST /api/copy"
        ]
    );
    // Idempotent: the second run changes nothing.
    let second = run();
    assert!(
        !second.contains("pulling") && !second.contains("creating") && !second.contains("copying"),
        "{second}"
    );
    assert_eq!(changes(&s.log), after_first);
    assert_eq!(tags(&s.url), want);
}

#[test]
fn validate_says_image_is_for_the_export_only() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let f = write(
        tmp.path(),
        "facerunner.yaml",
        "version: 1\nname: img\nservices:\n  api:\n    command: [\"true\"]\n    image: busybox:1.37\n    health: { disable: true }\n",
    );
    let out = Command::new(bin())
        .arg("-f")
        .arg(&f)
        .arg("validate")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:6:5: warning: `image:` of `api` is used by `facerunner export kubernetes` only",
            f.display()
        )),
        "{err}"
    );
}

/// The `facerunner` lines of the ```sh block in README's "## Kubernetes".
fn readme_commands() -> Vec<Vec<String>> {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README");
    let section = readme
        .split("\n## Kubernetes\n")
        .nth(1)
        .expect("README has a Kubernetes section");
    assert!(
        section.contains(&format!(
            "Kubernetes API {}",
            facerunner::export::kubernetes::API_VERSION
        )),
        "the README names the pinned API version"
    );
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the section has a ```sh block");
    block
        .lines()
        .filter(|l| l.starts_with("facerunner "))
        .map(|l| l.split_whitespace().skip(1).map(String::from).collect())
        .collect()
}

#[test]
fn the_readme_kubernetes_commands_work_as_shown() {
    let cmds = readme_commands();
    assert_eq!(cmds.len(), 3, "{cmds:?}");
    let tmp = tempfile::tempdir().expect("tempdir");
    // The README's relative paths, from a copy of the repository's examples.
    std::os::unix::fs::symlink(repo().join("examples"), tmp.path().join("examples")).unwrap();
    let home = tmp.path().join("home");
    for args in cmds {
        let out = Command::new(bin())
            .args(&args)
            .current_dir(tmp.path())
            .env("FACERUNNER_HOME", &home)
            .env_remove("FACERUNNER_GPUS_FROM")
            .output()
            .unwrap();
        // `--diff k8s/` right after `-o k8s/`: the same, exit 0.
        assert!(out.status.success(), "{args:?}: {}", describe(&out));
    }
    validate_strict(&tmp.path().join("k8s"));
}

#[test]
fn a_namespace_that_kubernetes_would_refuse_is_refused_first() {
    let out = export(&example("demo"), &["--namespace", "Not_A_Namespace"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("`Not_A_Namespace` is not a Kubernetes namespace name"));
}

#[test]
fn services_that_would_share_a_kubernetes_name_are_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let f = write(
        tmp.path(),
        "facerunner.yaml",
        "version: 1\nname: clash\nservices:\n  web_ui:\n    kind: open-webui\n    port: 8080\n  web-ui:\n    kind: open-webui\n    port: 8081\n  x:\n    kind: ollama\n    gpus: []\n  x-pods:\n    image: busybox:1.37\n    command: [sleep, \"3600\"]\n    port: 9000\n    health: { disable: true }\n",
    );
    let out = export(&f, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(
        err.contains("services `web-ui` and `web_ui` get the same Kubernetes name `web-ui`"),
        "{err}"
    );
    assert!(
        err.contains("two Service objects would be named `x-pods`"),
        "{err}"
    );
}
