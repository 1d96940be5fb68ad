//! Model steps against an Ollama server: pull, create, copy, remove, load.
//!
//! Pulls and creates stream progress; layer byte counts are summed per
//! step so one bar covers the whole model. An in-stream error fails the
//! step with Ollama's own message; a dropped connection fails it too and
//! leaves Ollama's partial download, which the next apply's pull resumes.
//! Each success is recorded in the state file before the step settles.

use std::collections::BTreeMap;
use std::path::Path;
use std::pin::pin;
use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt};

use super::engine::Run;
use super::error::StepError;
use crate::model::state::{ModelRecord, Origin};
use crate::names::ModelName;
use crate::ollama::{Client, KeepAlive, OllamaError, Progress};
use crate::plan::{Action, Step};

/// Run one model step.
pub(crate) async fn run(step: &Step, run: &Run<'_>) -> Result<(), StepError> {
    let service = step.action.service();
    let url =
        run.ctx.urls.get(service).ok_or_else(|| {
            StepError::BadStep(format!("service {service} is not an ollama service"))
        })?;
    let client = Client::new(url)?;
    match &step.action {
        Action::PullModel { model, hf, .. } => {
            let _permit = run
                .pulls
                .acquire()
                .await
                .map_err(|e| StepError::BadStep(format!("the pull queue is closed: {e}")))?;
            let parsed = ModelName::parse(model).map_err(|e| StepError::BadStep(e.to_string()))?;
            follow(step.id, run, client.pull(model, parsed.is_insecure())).await?;
            let origin = if run.ctx.by_hand {
                Origin::PulledByHand
            } else {
                Origin::Pulled
            };
            let commit = hf.as_ref().and_then(|h| h.commit.clone());
            own(run, service, model, origin, None, None, commit).await
        }
        Action::CreateModel {
            model,
            request,
            file,
            create_hash,
            hf,
            ..
        } => {
            let mut request = request.clone();
            if let Some(hf) = hf {
                super::hf_import::upload(step.id, run, &client, hf, &mut request).await?;
            }
            if let Some(f) = file {
                run.progress(step.id, format!("uploading {f}"), None, None);
                let digest = client.ensure_blob(Path::new(f)).await?;
                let base = Path::new(f)
                    .file_name()
                    .map_or_else(|| "model.gguf".into(), |n| n.to_string_lossy().into_owned());
                request.files.insert(base, digest);
            }
            let definition = serde_json::to_value(step_request(&step.action))
                .expect("a create request always serializes");
            follow(step.id, run, client.create(*request)).await?;
            // An import by `facerunner pull` is by hand: never pruned.
            let origin = if run.ctx.by_hand && hf.is_some() {
                Origin::PulledByHand
            } else {
                Origin::Created
            };
            own(
                run,
                service,
                model,
                origin,
                Some(create_hash.clone()),
                Some(definition),
                hf.as_ref().and_then(|h| h.commit.clone()),
            )
            .await
        }
        Action::CopyModel { source, model, .. } => {
            client.copy(source, model).await?;
            own(run, service, model, Origin::Copied, None, None, None).await
        }
        Action::RemoveModel { model, .. } => {
            client.delete(model).await?;
            let key = key(model)?;
            run.record(|s| {
                if let Some(m) = s.models.get_mut(service) {
                    m.remove(&key);
                }
            })
            .await
            .map_err(|source| StepError::State {
                done: "removed",
                source,
            })
        }
        Action::PreloadModel {
            model, keep_alive, ..
        } => {
            let keep: KeepAlive = keep_alive
                .parse()
                .map_err(|e: crate::ollama::InvalidKeepAlive| StepError::BadStep(e.to_string()))?;
            Ok(client.load(model, Some(keep)).await?)
        }
        Action::StartService { .. }
        | Action::RestartService { .. }
        | Action::StopService { .. }
        | Action::UpdateDaemon { .. }
        | Action::WriteFile { .. }
        | Action::RemoveFile { .. }
        | Action::MergeJson { .. } => Err(StepError::BadStep(
            "a service step is not a model step".into(),
        )),
    }
}

fn key(model: &str) -> Result<String, StepError> {
    ModelName::parse(model)
        .map(|n| n.key())
        .map_err(|e| StepError::BadStep(e.to_string()))
}

/// Record that FaceRunner installed `model`.
/// The create request as planned (before file digests are filled in).
fn step_request(action: &Action) -> Option<&crate::ollama::CreateRequest> {
    match action {
        Action::CreateModel { request, .. } => Some(request),
        _ => None,
    }
}

async fn own(
    run: &Run<'_>,
    service: &str,
    model: &str,
    origin: Origin,
    create_hash: Option<String>,
    definition: Option<serde_json::Value>,
    hf_commit: Option<String>,
) -> Result<(), StepError> {
    let key = key(model)?;
    run.record(|s| {
        s.models.entry(service.to_string()).or_default().insert(
            key,
            ModelRecord {
                name: model.to_string(),
                origin,
                create_hash,
                definition,
                hf_commit,
            },
        );
    })
    .await
    .map_err(|source| StepError::State {
        done: "installed",
        source,
    })
}

/// Drain a progress stream, reporting summed layer bytes at most every 200 ms
/// (and on every status change).
async fn follow(
    id: usize,
    run: &Run<'_>,
    stream: impl Stream<Item = Result<Progress, OllamaError>>,
) -> Result<(), StepError> {
    let mut stream = pin!(stream);
    let mut layers: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut last_status = String::new();
    let mut last_report = Instant::now() - Duration::from_secs(1);
    while let Some(item) = stream.next().await {
        let p = item?;
        if let (Some(d), Some(total)) = (p.layer_digest(), p.total) {
            layers.insert(d.to_string(), (p.completed.unwrap_or(0), total));
        }
        let status_changed = p.status != last_status;
        if status_changed || last_report.elapsed() >= Duration::from_millis(200) || p.is_success() {
            let (done, total) = layers.values().fold((0, 0), |a, l| (a.0 + l.0, a.1 + l.1));
            let bytes = (total > 0).then_some((done, total));
            run.progress(id, p.status.clone(), bytes.map(|b| b.0), bytes.map(|b| b.1));
            last_status = p.status.clone();
            last_report = Instant::now();
        }
        if p.is_success() {
            return Ok(());
        }
    }
    Err(StepError::Incomplete { last_status })
}
