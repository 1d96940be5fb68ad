//! The `/api/v1` handlers. Each calls what the matching CLI command calls:
//! daemon requests for status, start/stop/restart and apply; the library
//! for plan, validate, logs, models, names and GPUs.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::Web;
use super::events::WebEvent;
use super::problem::{Kind, Problem, chain};
use crate::config::interpolate::Vars;
use crate::config::load::read_dotenv;
use crate::config::resolve::{Secrets, models_dir, ollama_url, resolve};
use crate::config::{Diagnostic, LoadError, Loaded, SourceFile};
use crate::model::spec::ProjectSpec;
use crate::model::wire::{ErrorKind, Request, Response as Wire, StatusReport};
use crate::plan::{Action, Plan, Severity};

type Answer = Result<Response, Problem>;

/// The query string as a map (first value of each key wins).
pub fn query(q: Option<&str>) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for (k, v) in form_urlencoded::parse(q.unwrap_or("").as_bytes()) {
        m.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    m
}

/// A JSON body (any content type: the token, `Host` and `Origin` checks
/// guard writes, not the content type).
fn parse<T: serde::de::DeserializeOwned>(body: &str, want: &str) -> Result<T, Problem> {
    serde_json::from_str(body).map_err(|e| {
        Problem::new(
            Kind::BadRequest,
            format!("the body is not what this route takes ({e}); send {want}"),
        )
    })
}

/// The project file: the one that owns this project's directories.
pub fn project_file(web: &Web) -> Result<PathBuf, Problem> {
    let record = web.dirs.owner_file();
    let bytes = crate::safefs::read_private_bounded(&record, 64 * 1024).map_err(|e| {
        Problem::new(
            Kind::Internal,
            format!(
                "cannot read which file owns the project ({}): {}; run `facerunner up` from the project",
                record.display(),
                chain(&e)
            ),
        )
    })?;
    use std::os::unix::ffi::OsStrExt;
    Ok(PathBuf::from(std::ffi::OsStr::from_bytes(
        bytes.strip_suffix(b"\n").unwrap_or(&bytes),
    )))
}

/// The JSON of `validate --json`: `{valid, error_count, warning_count, diagnostics}`.
pub fn report(file: &SourceFile, diags: &[Diagnostic]) -> serde_json::Value {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    serde_json::json!({
        "valid": errors == 0,
        "error_count": errors,
        "warning_count": diags.len() - errors,
        "diagnostics": diags.iter().map(|d| d.to_json(file)).collect::<Vec<_>>(),
    })
}

/// `gpus:` entries this machine lacks, as warnings (as `validate` says them).
fn gpu_warnings(loaded: &Loaded) -> Vec<Diagnostic> {
    use crate::config::gpus::{Outcome, check, declared};
    match check(&declared(loaded), &crate::gpu::local()) {
        Outcome::Skipped(_) => Vec::new(),
        Outcome::Checked(unmatched) => unmatched
            .into_iter()
            .map(|u| Diagnostic::warning(u.message, u.gpu.span).with_help(u.help))
            .collect(),
    }
}

fn vars_for(path: &std::path::Path) -> Result<Vars, Problem> {
    let base = path
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    read_dotenv(&base.join(".env"))
        .map(Vars::from_env_over)
        .map_err(|e| load_problem(e).unwrap_or_else(|p| p))
}

/// A load error as a problem (`invalid-file` with its diagnostics).
fn load_problem(e: LoadError) -> Result<Problem, Problem> {
    Ok(match e {
        LoadError::Invalid { file, diagnostics } => {
            let n = diagnostics.iter().filter(|d| d.is_error()).count();
            Problem::new(
                Kind::Invalid,
                format!(
                    "{} has {n} error(s); nothing was changed",
                    file.path.display()
                ),
            )
            .with_diagnostics(report(&file, &diagnostics))
        }
        other => Problem::new(Kind::Internal, chain(&other)),
    })
}

/// Load and resolve the project file (as `plan` or `apply` does).
pub fn load_project(web: &Web, secrets: Secrets) -> Result<(Loaded, ProjectSpec), Problem> {
    let path = project_file(web)?;
    let mut loaded =
        crate::config::load(&path).map_err(|e| load_problem(e).unwrap_or_else(|p| p))?;
    if crate::config::replicas::needs_inventory(&loaded.config) {
        crate::config::replicas::expand(&mut loaded, &crate::gpu::local())
            .map_err(|e| Problem::new(Kind::Invalid, chain(&e)))?;
    }
    let spec =
        resolve(&loaded, &web.dirs, secrets).map_err(|e| Problem::new(Kind::Invalid, chain(&e)))?;
    Ok((loaded, spec))
}

/// Send one request to the daemon; progress goes to `on_progress`.
pub async fn ask_daemon(
    web: &Web,
    request: &Request,
    on_progress: impl FnMut(&Wire),
) -> Result<Wire, Problem> {
    let client = crate::client::Client::connect(&web.dirs.socket())
        .await
        .map_err(|e| Problem::new(Kind::Daemon, chain(&e)))?
        .ok_or_else(|| {
            Problem::new(
                Kind::Daemon,
                "the project's daemon is not running; run `facerunner up`",
            )
        })?;
    client
        .request_streaming(request, on_progress)
        .await
        .map_err(|e| match e {
            crate::client::SupervisorError::Remote(w) => {
                let kind = match w.kind {
                    ErrorKind::UnknownService => Kind::NotFound,
                    ErrorKind::StalePlan => Kind::StalePlan,
                    ErrorKind::PlanErrors => Kind::PlanErrors,
                    ErrorKind::InvalidConfig | ErrorKind::InvalidPlan | ErrorKind::PlanVersion => {
                        Kind::BadRequest
                    }
                    _ => Kind::Daemon,
                };
                Problem::new(kind, w.message)
            }
            other => Problem::new(Kind::Daemon, chain(&other)),
        })
}

/// The daemon's status report.
pub async fn status_report(web: &Web) -> Result<StatusReport, Problem> {
    match ask_daemon(web, &Request::Status, |_| {}).await? {
        Wire::Status(r) => Ok(r),
        other => Err(Problem::new(
            Kind::Daemon,
            format!("unexpected answer to status: {other:?}"),
        )),
    }
}

/// `GET /api/v1/status`: the same report as `status --json`.
pub async fn status(State(web): State<Arc<Web>>) -> Answer {
    Ok(Json(status_report(&web).await?).into_response())
}

/// What a control request did.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Controlled {
    /// The service.
    pub service: String,
    /// `start`, `stop` or `restart`.
    pub action: String,
    /// Services that failed to reach their goal.
    pub failed: Vec<String>,
}

/// `POST /api/v1/services/{name}/{start|stop|restart}`.
pub async fn control(
    State(web): State<Arc<Web>>,
    Path((name, action)): Path<(String, String)>,
) -> Answer {
    let services = vec![name.clone()];
    let request = match action.as_str() {
        "start" => Request::Start { services },
        "stop" => Request::Stop { services },
        "restart" => Request::Restart { services },
        _ => {
            return Err(Problem::new(
                Kind::NotFound,
                format!("`{action}` is not an action; use start, stop or restart"),
            ));
        }
    };
    match ask_daemon(&web, &request, |_| {}).await? {
        Wire::Done { failed } => Ok(Json(Controlled {
            service: name,
            action,
            failed,
        })
        .into_response()),
        other => Err(Problem::new(
            Kind::Daemon,
            format!("unexpected answer to {action}: {other:?}"),
        )),
    }
}

/// The service exists in the running project (so its name is safe in a path).
pub async fn known_service(web: &Web, name: &str) -> Result<(), Problem> {
    let report = status_report(web).await?;
    if report.services.iter().any(|s| s.name == name) {
        Ok(())
    } else {
        Err(Problem::new(
            Kind::NotFound,
            format!("the project has no service `{name}`"),
        ))
    }
}

/// The most lines one logs request returns.
const MAX_TAIL: usize = 5000;
/// Rotated files read back at most.
const KEEP_MAX: u32 = 20;

/// `GET /api/v1/services/{name}/logs?tail=N&filter=TEXT&stream=out|err|fr`.
pub async fn logs(
    State(web): State<Arc<Web>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer {
    known_service(&web, &name).await?;
    let q = query(q.as_deref());
    let tail = match q.get("tail") {
        Some(t) => t.parse::<usize>().map_err(|_| {
            Problem::new(
                Kind::BadRequest,
                format!("`tail={t}` is not a number of lines"),
            )
        })?,
        None => 200,
    }
    .min(MAX_TAIL);
    let filter = q.get("filter").cloned().unwrap_or_default().to_lowercase();
    let stream = q.get("stream").cloned();
    let path = web.dirs.log_file(&name);
    let lines = tokio::task::spawn_blocking(move || {
        crate::supervisor::logread::read_all(&name, &path, KEEP_MAX)
    })
    .await
    .map_err(|e| Problem::new(Kind::Internal, e.to_string()))?
    .map_err(|e| {
        Problem::new(
            Kind::Internal,
            format!("cannot read the log: {}", chain(&e)),
        )
    })?;
    let mut kept: Vec<_> = lines
        .into_iter()
        .filter(|l| filter.is_empty() || l.text.to_lowercase().contains(&filter))
        .filter(|l| stream.as_ref().is_none_or(|s| &l.stream == s))
        .collect();
    let skip = kept.len().saturating_sub(tail);
    kept.drain(..skip);
    Ok(Json(serde_json::json!({ "lines": kept })).into_response())
}

/// `GET /api/v1/plan`: the same JSON as `plan --json`.
pub async fn plan(State(web): State<Arc<Web>>) -> Answer {
    let (loaded, spec) = load_project(&web, Secrets::Peek)?;
    let prepared =
        crate::execute::prepare::prepare(&loaded, &spec, &web.dirs, &crate::gpu::local())
            .await
            .map_err(|e| Problem::new(Kind::Internal, chain(&e)))?;
    Ok(Json(prepared.plan).into_response())
}

/// `POST /api/v1/apply` with the plan the caller saw: the daemon runs it,
/// or refuses it when the file or the live world moved since (409).
pub async fn apply(State(web): State<Arc<Web>>, body: String) -> Answer {
    let plan: Plan = parse(&body, "a plan as GET /api/v1/plan returns it")?;
    let _one = web.applying.lock().await;
    if plan.checks.iter().any(|c| c.severity == Severity::Error) {
        return Err(Problem::new(
            Kind::PlanErrors,
            "the plan has errors; fix the file and plan again",
        ));
    }
    let (loaded, _spec) = load_project(&web, Secrets::Create)?;
    let vars = vars_for(&loaded.file.path)?;
    let request = Request::Apply {
        config: loaded.file.path.clone(),
        vars: vars.map,
        plan: Box::new(plan),
        gpus: None,
    };
    let events = web.clone();
    let started = std::time::Instant::now();
    let answer = ask_daemon(&web, &request, move |r| {
        if let Wire::Exec(e) = r {
            events.publish(WebEvent::Apply { event: e.clone() });
        }
    })
    .await;
    let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    web.counters
        .apply_millis
        .fetch_add(millis, Ordering::Relaxed);
    let ok = matches!(&answer, Ok(Wire::Applied { report }) if report.is_success());
    if matches!(&answer, Ok(Wire::Applied { .. })) || answer.is_err() {
        let c = if ok {
            &web.counters.applies_ok
        } else {
            &web.counters.applies_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
    let answer = match answer {
        Ok(Wire::Applied { report }) => serde_json::json!({ "applied": true, "report": report }),
        Ok(Wire::NoChanges) => serde_json::json!({ "applied": false, "no_changes": true }),
        Ok(other) => {
            return Err(Problem::new(
                Kind::Daemon,
                format!("unexpected answer to apply: {other:?}"),
            ));
        }
        Err(p) => {
            web.publish(WebEvent::ApplyFailed {
                detail: p.detail.clone(),
            });
            return Err(p);
        }
    };
    web.publish(WebEvent::ApplyDone {});
    Ok(Json(answer).into_response())
}

/// `POST /api/v1/validate` with the file's text: the located diagnostics
/// `validate --json` gives (always 200; `valid` says).
pub async fn validate(State(web): State<Arc<Web>>, text: String) -> Answer {
    let path = project_file(&web)?;
    let vars = vars_for(&path)?;
    let (file, diags) = match crate::config::load_str(&path, &text, &vars) {
        Ok(l) => {
            let mut d = l.warnings.clone();
            d.extend(gpu_warnings(&l));
            (l.file, d)
        }
        Err(LoadError::Invalid { file, diagnostics }) => (file, diagnostics),
        Err(e) => return Err(Problem::new(Kind::Internal, chain(&e))),
    };
    Ok(Json(report(&file, &diags)).into_response())
}

/// The largest file text accepted.
const MAX_FILE_BYTES: usize = 1 << 20;

/// The lines (1-based) of `text` that write a secret value inline: a
/// value marked `secret: true`, or a literal value of a key whose name says
/// secret (as plans mask them). `${VAR}` references are fine.
pub fn inline_secrets(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.split(" #").next().unwrap_or("").trim();
            if l.contains("secret: true") || l.contains("secret:true") {
                return true;
            }
            let Some((key, value)) = l.trim_start_matches("- ").split_once(':') else {
                return false;
            };
            let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
            let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
            crate::plan::diff::looks_secret(key)
                && !value.is_empty()
                && !value.starts_with("${")
                && !value.starts_with('{')
        })
        .map(|(i, _)| i + 1)
        .collect()
}

/// `GET /api/v1/file`: the project file's path and text — refused when the
/// text writes a secret inline (no secret leaves through the API).
pub async fn file_get(State(web): State<Arc<Web>>) -> Answer {
    let path = project_file(&web)?;
    let bytes = crate::safefs::read_bounded(&path, MAX_FILE_BYTES as u64).map_err(|e| {
        Problem::new(
            Kind::Internal,
            format!("cannot read {}: {}", path.display(), chain(&e)),
        )
    })?;
    let secret = inline_secrets(&String::from_utf8_lossy(&bytes));
    if !secret.is_empty() {
        return Err(Problem::new(
            Kind::SecretInline,
            format!(
                "{} writes secret values inline (line {}); the dashboard does not send them to a browser. \
                 Move them to `.env` and write `${{VAR}}`, or edit the file locally",
                path.display(),
                secret
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(Json(serde_json::json!({
        "path": path.display().to_string(),
        "text": String::from_utf8_lossy(&bytes),
    }))
    .into_response())
}

/// `PUT /api/v1/file` with the new text: refused (422, with diagnostics)
/// unless it validates; then written atomically and planned. Applying is
/// the normal path: `POST /api/v1/apply` with that plan (or watch mode,
/// when on, applies it by itself).
pub async fn file_put(State(web): State<Arc<Web>>, text: String) -> Answer {
    if text.len() > MAX_FILE_BYTES {
        return Err(Problem::new(
            Kind::BadRequest,
            "the text is larger than 1 MiB",
        ));
    }
    let path = project_file(&web)?;
    let vars = vars_for(&path)?;
    if let Err(e) = crate::config::load_str(&path, &text, &vars) {
        return Err(load_problem(e).unwrap_or_else(|p| p));
    }
    let mode = std::fs::metadata(&path).ok().map(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode() & 0o777
    });
    // Atomic, replacing (never following) a link at the path.
    crate::safefs::write_private_atomic(&path, text.as_bytes()).map_err(|e| {
        Problem::new(
            Kind::Internal,
            format!("cannot write {}: {}", path.display(), chain(&e)),
        )
    })?;
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode));
    }
    let (loaded, spec) = load_project(&web, Secrets::Peek)?;
    let prepared =
        crate::execute::prepare::prepare(&loaded, &spec, &web.dirs, &crate::gpu::local())
            .await
            .map_err(|e| Problem::new(Kind::Internal, chain(&e)))?;
    Ok(Json(serde_json::json!({ "saved": true, "plan": prepared.plan })).into_response())
}

/// `GET /api/v1/gpus`: the inventory with fresh telemetry.
pub async fn gpus(State(_web): State<Arc<Web>>) -> Answer {
    let inv = tokio::task::spawn_blocking(|| {
        let mut inv = crate::gpu::local();
        crate::gpu::refresh(&mut inv);
        inv
    })
    .await
    .map_err(|e| Problem::new(Kind::Internal, e.to_string()))?;
    Ok(Json(inv).into_response())
}

/// `GET /api/v1/convert?name=ORG/REPO[:QUANT][&quant=Q][&offline=true]`:
/// the Ollama name of a Hugging Face repo, with the reason and what
/// answered: what `facerunner convert --json` prints for the name (the
/// Hub, as the daemon's environment configures it; the table with
/// `offline=true` or when the Hub does not answer). A name that does not
/// convert is a `bad-request` problem with the reason and what to do.
pub async fn convert(RawQuery(q): RawQuery) -> Answer {
    let q = query(q.as_deref());
    let Some(name) = q.get("name") else {
        return Err(Problem::new(Kind::BadRequest, "give `name=org/repo`"));
    };
    let offline = matches!(q.get("offline").map(String::as_str), Some("true" | "1"))
        .then_some("offline=true");
    let c =
        crate::plan::hf_convert::convert(name.trim(), q.get("quant").map(String::as_str), offline)
            .await;
    if !c.ok {
        let help = c.help.map(|h| format!("; {h}")).unwrap_or_default();
        return Err(Problem::new(
            Kind::BadRequest,
            format!("cannot convert {}: {}{help}", c.input, c.reason),
        ));
    }
    Ok(Json(c).into_response())
}

/// One model of one ollama service.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ModelRow {
    /// Its name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Its digest.
    pub digest: String,
    /// Pulled by FaceRunner (recorded in the state).
    pub owned: bool,
    /// Loaded in memory (absent when the server does not run).
    pub loaded: Option<bool>,
}

/// The file's ollama services: name → (URL, store directory).
fn ollama_targets(loaded: &Loaded) -> BTreeMap<String, (String, PathBuf)> {
    loaded
        .config
        .ollama_services()
        .map(|(n, s)| {
            (
                n.clone(),
                (
                    ollama_url(&loaded.config, s),
                    models_dir(s, &loaded.base_dir),
                ),
            )
        })
        .collect()
}

/// `GET /api/v1/models`: per ollama service, what `models --json` lists.
pub async fn models(State(web): State<Arc<Web>>) -> Answer {
    let (loaded, _) = load_project(&web, Secrets::Peek)?;
    let state = crate::execute::store::load(&web.dirs.state)
        .map_err(|e| Problem::new(Kind::Internal, chain(&e)))?;
    let mut out = serde_json::Map::new();
    for (svc, (url, dir)) in ollama_targets(&loaded) {
        let store = crate::observe::models::observe_store(&url, &dir, true).await;
        let mut rows: Vec<ModelRow> = store
            .models
            .iter()
            .map(|(key, m)| ModelRow {
                name: m.name.clone(),
                size: m.size,
                digest: m.digest.clone(),
                owned: state.owns(&svc, key),
                loaded: store.loaded.as_ref().map(|l| l.contains(key)),
            })
            .collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        out.insert(
            svc,
            serde_json::json!({ "source": store.source, "models": rows }),
        );
    }
    Ok(Json(out).into_response())
}

/// The body of a pull.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct PullBody {
    /// An Ollama name, or `hf:ORG/REPO[:QUANT]` (or a huggingface.co
    /// address), resolved with the Hub as `facerunner pull` does.
    pub name: String,
    /// The ollama service (needed when the file has several).
    #[serde(default)]
    pub service: Option<String>,
}

/// The one ollama service `asked` names (or the only one).
fn one_target(loaded: &Loaded, asked: Option<&str>) -> Result<(String, String, PathBuf), Problem> {
    let all = ollama_targets(loaded);
    let pick = match asked {
        Some(a) => all.get_key_value(a),
        None if all.len() == 1 => all.iter().next(),
        None => {
            return Err(Problem::new(
                Kind::BadRequest,
                format!(
                    "there are several ollama services; give `service`, one of: {}",
                    all.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
    };
    let Some((name, (url, dir))) = pick else {
        return Err(Problem::new(
            Kind::NotFound,
            format!("no ollama service named {:?}", asked.unwrap_or("")),
        ));
    };
    Ok((name.clone(), url.clone(), dir.clone()))
}

/// Run model actions through the engine (apply lock, ownership recorded),
/// publishing progress as `event_kind` events.
async fn run_models(
    web: &Arc<Web>,
    spec: &ProjectSpec,
    service: &str,
    url: &str,
    actions: Vec<Action>,
) -> Result<(serde_json::Value, bool), Problem> {
    let exe = std::env::current_exe()
        .map_err(|e| Problem::new(Kind::Internal, format!("cannot find our executable: {e}")))?;
    let driver = Arc::new(crate::execute::Remote {
        dirs: web.dirs.clone(),
        exe,
    });
    let events = web.clone();
    let sink = move |e: &crate::model::events::ExecEvent| {
        events.publish(WebEvent::Pull { event: e.clone() });
    };
    let urls = [(service.to_string(), url.to_string())].into();
    let report = crate::execute::run_actions(spec, &web.dirs, urls, actions, driver, &sink)
        .await
        .map_err(|e| Problem::new(Kind::Ollama, chain(&e)))?;
    let ok = report.is_success();
    serde_json::to_value(&report)
        .map(|v| (v, ok))
        .map_err(|e| Problem::new(Kind::Internal, e.to_string()))
}

/// `POST /api/v1/models/pull` `{name, service?}`: pull with progress on
/// the event stream (`pull` events); answers when done.
pub async fn pull(State(web): State<Arc<Web>>, body: String) -> Answer {
    let body: PullBody = parse(&body, r#"{"name": "llama3.2:1b", "service": "ollama"}"#)?;
    let (loaded, spec) = load_project(&web, Secrets::Peek)?;
    let (service, url, dir) = one_target(&loaded, body.service.as_deref())?;
    // A Hugging Face name is resolved as `facerunner pull` resolves it
    // (the Hub, else the table): an Ollama pull or a download and import.
    let input = body.name.trim();
    let action = match crate::plan::hf_pull::hf_input(input) {
        Some(hf) => crate::plan::hf_pull::action(&service, input, hf)
            .await
            .map_err(|e| Problem::new(Kind::BadRequest, format!("{e}; {}", e.help)))?,
        None => Action::PullModel {
            service: service.clone(),
            model: crate::names::ModelName::parse(input)
                .map_err(|e| Problem::new(Kind::BadRequest, chain(&e)))?
                .display_shortest(),
            source: None,
            hf: None,
        },
    };
    if !crate::observe::models::observe_store(&url, &dir, false)
        .await
        .is_served()
    {
        return Err(Problem::new(
            Kind::Ollama,
            format!("service {service} is not running (nothing answers at {url}); start it first"),
        ));
    }
    let actions = vec![action];
    let report = run_models(&web, &spec, &service, &url, actions).await;
    let ok = report.as_ref().is_ok_and(|(_, ok)| *ok);
    let c = if ok {
        &web.counters.pulls_ok
    } else {
        &web.counters.pulls_failed
    };
    c.fetch_add(1, Ordering::Relaxed);
    Ok(Json(report?.0).into_response())
}

/// `DELETE /api/v1/models/{service}/{name}`.
pub async fn remove(
    State(web): State<Arc<Web>>,
    Path((service, name)): Path<(String, String)>,
) -> Answer {
    let (loaded, spec) = load_project(&web, Secrets::Peek)?;
    let (service, url, dir) = one_target(&loaded, Some(&service))?;
    let parsed = crate::names::ModelName::parse(&name)
        .map_err(|e| Problem::new(Kind::BadRequest, chain(&e)))?;
    let store = crate::observe::models::observe_store(&url, &dir, false).await;
    if !store.is_served() {
        return Err(Problem::new(
            Kind::Ollama,
            format!("service {service} is not running (nothing answers at {url})"),
        ));
    }
    let Some(m) = store.models.get(&parsed.key()) else {
        return Err(Problem::new(
            Kind::NotFound,
            format!("{name} is not installed on {service}"),
        ));
    };
    let actions = vec![Action::RemoveModel {
        service: service.clone(),
        model: m.name.clone(),
    }];
    let (report, _) = run_models(&web, &spec, &service, &url, actions).await?;
    Ok(Json(report).into_response())
}

#[cfg(test)]
mod tests {
    use super::inline_secrets;

    #[test]
    fn inline_secret_values_are_found_and_references_are_not() {
        let text = "services:\n  a:\n    env:\n      API_KEY: abc123\n      TOKEN: \"${TOKEN}\"\n      PLAIN: hello\n      X: { value: s3cr3t, secret: true }\n      DB_PASSWORD:\n";
        assert_eq!(inline_secrets(text), vec![4, 7]);
    }
}
