//! The backends a gateway fronts: what each holds (`/api/tags`), what it has
//! loaded (`/api/ps`), whether it answers, and its request counters; and
//! the choice of a backend for a model.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::model::wire::GatewayBackend;

/// How often each backend is asked for its models.
pub const REFRESH: Duration = Duration::from_secs(2);
/// How long one of those calls may take.
const POLL_TIMEOUT: Duration = Duration::from_secs(2);

/// The key a model is compared by: its normalized long form
/// (`llama3.2` = `registry.ollama.ai/library/llama3.2:latest`), else the
/// name as given, lowercased.
pub fn model_key(name: &str) -> String {
    ModelNames::read(name).key
}

/// A model name as routing uses it: its [`model_key`], and its shortest
/// display form (the metrics' label).
#[derive(Debug)]
pub struct ModelNames {
    /// The key it is compared by.
    pub key: String,
    /// How it is shown.
    pub label: String,
}

impl ModelNames {
    /// Read `name` (a name that is not a valid Ollama name is its own
    /// label, and lowercased its own key).
    pub fn read(name: &str) -> ModelNames {
        match crate::names::ModelName::parse(name) {
            Ok(n) => ModelNames {
                key: n.key(),
                label: n.display_shortest(),
            },
            Err(_) => ModelNames {
                key: name.to_ascii_lowercase(),
                label: name.to_string(),
            },
        }
    }
}

/// Model names already read, by the name as clients send it: reading a
/// name costs more than the rest of choosing a backend, and clients send
/// the same few names again and again. At most [`NAMES_KEPT`] are kept
/// (all forgotten when full, so a flood of made-up names costs memory
/// once, never more).
#[derive(Debug, Default)]
pub struct Names {
    seen: Mutex<std::collections::HashMap<String, Arc<ModelNames>>>,
}

/// How many names [`Names`] keeps.
pub const NAMES_KEPT: usize = 4096;

impl Names {
    /// `name`'s key and label.
    pub fn of(&self, name: &str) -> Arc<ModelNames> {
        if let Some(n) = self.seen.lock().ok().and_then(|s| s.get(name).cloned()) {
            return n;
        }
        let n = Arc::new(ModelNames::read(name));
        if let Ok(mut s) = self.seen.lock() {
            if s.len() >= NAMES_KEPT {
                s.clear();
            }
            s.insert(name.to_string(), n.clone());
        }
        n
    }
}

/// What the last poll saw.
#[derive(Debug, Default, Clone)]
pub struct View {
    /// Whether the last poll succeeded.
    pub healthy: bool,
    /// Whether a poll has finished at all.
    pub polled: bool,
    /// Model keys it holds.
    pub models: HashSet<String>,
    /// Model keys it has loaded.
    pub loaded: HashSet<String>,
    /// `/api/tags` entries, as the backend wrote them.
    pub tags: Vec<Value>,
    /// `/api/ps` entries, as the backend wrote them.
    pub ps: Vec<Value>,
    /// Why the last poll failed.
    pub error: Option<String>,
}

/// One Ollama server behind the gateway.
#[derive(Debug)]
pub struct Backend {
    /// Its service name.
    pub name: String,
    /// Its base URL (`http://127.0.0.1:11434`).
    pub url: String,
    view: Mutex<View>,
    /// Requests being served now.
    pub in_flight: AtomicU64,
    /// Requests sent to it.
    pub total: AtomicU64,
    /// Requests that failed (no answer, a 5xx, a stream cut).
    pub errors: AtomicU64,
    /// The gateway's kept connections to it.
    pub upstream: Arc<super::upstream::Upstream>,
    /// Its name as the value of [`super::BACKEND_HEADER`] (none if a header cannot carry it).
    pub name_header: Option<axum::http::HeaderValue>,
}

/// Counts a request in flight until dropped (also when the client goes away).
pub struct InFlight(Arc<Backend>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Backend {
    /// A backend not yet polled; `url` as [`super::upstream::Target::parse`] reads it.
    pub fn new(name: String, url: String) -> Result<Backend, String> {
        let target = super::upstream::Target::parse(&url)?;
        Ok(Backend {
            name_header: axum::http::HeaderValue::from_str(&name).ok(),
            name,
            url: url.trim_end_matches('/').to_string(),
            upstream: Arc::new(super::upstream::Upstream::new(target)),
            view: Mutex::new(View::default()),
            in_flight: AtomicU64::new(0),
            total: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        })
    }

    /// A copy of what the last poll saw.
    pub fn view(&self) -> View {
        self.with_view(View::clone)
    }

    /// Look at what the last poll saw without copying it (the request
    /// path: a copy holds every model entry the backend listed).
    pub fn with_view<R>(&self, f: impl FnOnce(&View) -> R) -> R {
        match self.view.lock() {
            Ok(v) => f(&v),
            // A poll panicked while writing it: as good as never polled.
            Err(_) => f(&View::default()),
        }
    }

    fn set(&self, f: impl FnOnce(&mut View)) {
        if let Ok(mut v) = self.view.lock() {
            f(&mut v);
        }
    }

    /// Mark it down now (a request could not reach it); the next poll decides again.
    pub fn mark_down(&self, why: String) {
        self.set(|v| {
            v.healthy = false;
            v.error = Some(why);
        });
    }

    /// Count one request as started.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    /// Ask it for its models and loaded models once.
    pub async fn poll(&self, http: &reqwest::Client) {
        let tags = list(http, &format!("{}/api/tags", self.url)).await;
        let ps = match &tags {
            Ok(_) => list(http, &format!("{}/api/ps", self.url)).await,
            Err(_) => Ok(Vec::new()),
        };
        self.set(|v| {
            v.polled = true;
            match (tags, ps) {
                (Ok(tags), Ok(ps)) => {
                    v.healthy = true;
                    v.error = None;
                    v.models = keys(&tags);
                    v.loaded = keys(&ps);
                    v.tags = tags;
                    v.ps = ps;
                }
                (Err(e), _) | (_, Err(e)) => {
                    v.healthy = false;
                    v.error = Some(e);
                    v.loaded.clear();
                    v.ps.clear();
                }
            }
        });
    }
}

fn keys(list: &[Value]) -> HashSet<String> {
    list.iter()
        .filter_map(|m| m.get("name").or_else(|| m.get("model"))?.as_str())
        .map(model_key)
        .collect()
}

async fn list(http: &reqwest::Client, url: &str) -> Result<Vec<Value>, String> {
    let resp = http
        .get(url)
        .timeout(POLL_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {}", crate::style::with_causes(&e)))?;
    if !resp.status().is_success() {
        return Err(format!("GET {url}: HTTP {}", resp.status()));
    }
    let v: Value = resp
        .json()
        .await
        .map_err(|e| format!("GET {url}: {}", crate::style::with_causes(&e)))?;
    Ok(v.get("models")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default())
}

/// Every backend, in the order given.
#[derive(Debug, Clone)]
pub struct Pool {
    /// The backends.
    pub all: Vec<Arc<Backend>>,
}

impl Pool {
    /// Poll every backend once, together.
    pub async fn refresh(&self, http: &reqwest::Client) {
        futures_util::future::join_all(self.all.iter().map(|b| b.poll(http))).await;
    }

    /// Healthy backends holding `model`, best first: stickiness (`session`
    /// hashed over the candidates), then the model loaded, then fewest
    /// requests in flight, then fewest served.
    pub fn candidates(&self, model: &str, session: Option<&str>) -> Vec<Arc<Backend>> {
        self.candidates_by_key(&model_key(model), session)
    }

    /// [`Pool::candidates`] for a model's [`model_key`].
    pub fn candidates_by_key(&self, key: &str, session: Option<&str>) -> Vec<Arc<Backend>> {
        let mut c: Vec<(bool, u64, u64, Arc<Backend>)> = self
            .all
            .iter()
            .filter_map(|b| {
                let (usable, cold) =
                    b.with_view(|v| (v.healthy && v.models.contains(key), !v.loaded.contains(key)));
                usable.then(|| {
                    (
                        cold,
                        b.in_flight.load(Ordering::Relaxed),
                        b.total.load(Ordering::Relaxed),
                        b.clone(),
                    )
                })
            })
            .collect();
        c.sort_by_key(|(cold, busy, total, _)| (*cold, *busy, *total));
        let mut out: Vec<Arc<Backend>> = c.into_iter().map(|(.., b)| b).collect();
        if let Some(s) = session
            && !out.is_empty()
        {
            // The same session on the same candidate set goes to the same backend.
            let mut names: Vec<&str> = out.iter().map(|b| b.name.as_str()).collect();
            names.sort_unstable();
            let mut h = std::collections::hash_map::DefaultHasher::new();
            s.hash(&mut h);
            let pick = names[(h.finish() % names.len() as u64) as usize].to_string();
            if let Some(i) = out.iter().position(|b| b.name == pick) {
                let b = out.remove(i);
                out.insert(0, b);
            }
        }
        out
    }

    /// Healthy backends, in order.
    pub fn healthy(&self) -> Vec<Arc<Backend>> {
        self.all
            .iter()
            .filter(|b| b.with_view(|v| v.healthy))
            .cloned()
            .collect()
    }

    /// The backend named `name`.
    pub fn named(&self, name: &str) -> Option<Arc<Backend>> {
        self.all.iter().find(|b| b.name == name).cloned()
    }

    /// What `status` shows per backend.
    pub fn report(&self) -> Vec<GatewayBackend> {
        self.all
            .iter()
            .map(|b| {
                let v = b.view();
                let mut loaded: Vec<String> =
                    v.ps.iter()
                        .filter_map(|m| m.get("name")?.as_str().map(str::to_string))
                        .collect();
                loaded.sort();
                let mut models: Vec<String> = v
                    .tags
                    .iter()
                    .filter_map(|m| m.get("name")?.as_str().map(str::to_string))
                    .collect();
                models.sort();
                GatewayBackend {
                    name: b.name.clone(),
                    url: b.url.clone(),
                    healthy: v.healthy,
                    error: v.error,
                    in_flight: b.in_flight.load(Ordering::Relaxed),
                    total: b.total.load(Ordering::Relaxed),
                    errors: b.errors.load(Ordering::Relaxed),
                    models: if v.healthy { models } else { Vec::new() },
                    loaded,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(name: &str, models: &[&str], loaded: &[&str]) -> Arc<Backend> {
        let b = Arc::new(Backend::new(name.into(), format!("http://{name}")).expect("url"));
        b.set(|v| {
            v.healthy = true;
            v.models = models.iter().map(|m| model_key(m)).collect();
            v.loaded = loaded.iter().map(|m| model_key(m)).collect();
        });
        b
    }

    #[test]
    fn only_healthy_holders_are_candidates_loaded_first_then_least_busy() {
        let a = backend("a", &["m:1b"], &[]);
        let b = backend("b", &["m:1b", "x"], &["m:1b"]);
        let c = backend("c", &["m:1b"], &[]);
        let d = backend("d", &["m:1b"], &["m:1b"]);
        d.mark_down("gone".into());
        let pool = Pool {
            all: vec![a.clone(), b.clone(), c.clone(), d],
        };
        let _busy = a.start();
        let names = |v: Vec<Arc<Backend>>| v.iter().map(|b| b.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(pool.candidates("m:1b", None)), ["b", "c", "a"]);
        // `x` means `x:latest`, under any spelling.
        assert_eq!(
            names(pool.candidates("registry.ollama.ai/library/x:latest", None)),
            ["b"]
        );
        assert!(pool.candidates("nope", None).is_empty());
    }

    #[test]
    fn names_are_read_once_and_kept_within_the_cap() {
        let names = Names::default();
        let a = names.of("llama3.2");
        assert_eq!(
            a.key,
            model_key("registry.ollama.ai/library/llama3.2:latest")
        );
        assert_eq!(a.label, "llama3.2:latest");
        assert!(Arc::ptr_eq(&a, &names.of("llama3.2")), "read once");
        let bad = names.of("Not A Name!");
        assert_eq!(
            (bad.key.as_str(), bad.label.as_str()),
            ("not a name!", "Not A Name!")
        );
        for i in 0..NAMES_KEPT * 2 {
            names.of(&format!("m{i}"));
        }
        let kept = names.seen.lock().map(|s| s.len()).unwrap_or(usize::MAX);
        assert!(kept <= NAMES_KEPT, "{kept}");
    }

    #[test]
    fn a_session_sticks_to_one_backend() {
        let pool = Pool {
            all: vec![
                backend("a", &["m"], &[]),
                backend("b", &["m"], &[]),
                backend("c", &["m"], &[]),
            ],
        };
        let first = pool.candidates("m", Some("conv-1"))[0].name.clone();
        // Load changes do not move the session.
        let _ = pool.named(&first).map(|b| b.start());
        for _ in 0..5 {
            assert_eq!(pool.candidates("m", Some("conv-1"))[0].name, first);
        }
        let spread: HashSet<String> = (0..64)
            .map(|i| pool.candidates("m", Some(&format!("s{i}")))[0].name.clone())
            .collect();
        assert!(spread.len() > 1, "sessions spread over backends");
    }
}
