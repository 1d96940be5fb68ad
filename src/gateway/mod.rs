//! The gateway: one Ollama-compatible endpoint in front of several Ollama
//! servers, routing each request to a healthy server that holds the model it
//! names, and passing streams through chunk by chunk.
//!
//! It runs as its own process (`facerunner gateway`, started by the daemon
//! for a `kind: gateway` service), so a fault in it is a service's fault,
//! never the daemon's.
//!
//! - Each backend's `/api/tags` and `/api/ps` are read every
//!   [`backends::REFRESH`]; a backend that does not answer is down until it
//!   does again. A request for a model no backend holds polls again
//!   before it is answered 404, so a model pulled (or applied) before the
//!   request came is always found, without waiting for the interval.
//! - Among the backends holding the model: the `X-FaceRunner-Session`
//!   header's backend, else one with the model loaded, else the least busy.
//! - A backend that fails before answering (no connection, 503 busy) is
//!   skipped for the next one; once a stream has started, a failure ends
//!   it with an error line in the stream's own format.
//! - Requests go over the gateway's own kept connections ([`upstream`]),
//!   each driven by the task answering the client, so what the backend
//!   wrote together reaches the client in one write (as with nginx); one
//!   thread serves by default (`facerunner gateway --threads N`).
//! - Bodies are capped ([`BODY_LIMIT`]), headers must arrive within
//!   [`HEADER_TIMEOUT`] and bodies within [`BODY_TIMEOUT`]; on a
//!   non-loopback bind every request but `GET /` needs the bearer token.
//! - `GET /metrics`: requests, errors, latency and time to first byte per
//!   backend and model, in Prometheus' text format ([`metrics`]);
//!   `GET /__facerunner/status`: each backend's health, counters and models
//!   (what `facerunner status` shows).
//! - Where the project places each declared model (for pulls, creates,
//!   copies and deletes) is read from `--placement-file`, which every apply
//!   rewrites: so a change of `models:` never restarts the gateway. The file
//!   is read again on every poll, and `POST /__facerunner/refresh` (sent by
//!   the daemon after each apply) re-reads it and polls every backend at
//!   once.

pub mod backends;
pub mod metrics;
mod proxy;
pub mod upstream;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use backends::{Backend, Pool};

/// The largest request body read to find the model (chat with images included).
pub const BODY_LIMIT: usize = 64 * 1024 * 1024;
/// How long a client may take to send its request headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a (capped) request body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long connecting to a backend may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The header that pins a conversation to one backend.
pub const SESSION_HEADER: &str = "x-facerunner-session";
/// The header that names a backend explicitly (pull, create, blobs).
pub const BACKEND_HEADER: &str = "x-facerunner-backend";

/// How the gateway runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The project it belongs to (shown in its log).
    pub project: Option<String>,
    /// Listen address.
    pub bind: String,
    /// Listen port.
    pub port: u16,
    /// `(service name, base URL)` of each backend.
    pub backends: Vec<(String, String)>,
    /// `(model, backend names)`: where the project places each declared model.
    pub place: Vec<(String, Vec<String>)>,
    /// The file holding the bearer token (required on a non-loopback bind).
    pub token_file: Option<PathBuf>,
    /// A JSON object `{model: [backend, ...]}` the project rewrites on every
    /// apply; read again on every refresh, merged over `place`.
    pub placement_file: Option<PathBuf>,
    /// Keep a conversation without a session header on one backend by its
    /// prompt's start.
    pub sticky_prefix: bool,
}

pub use crate::model::spec::GATEWAY_PLACEMENT_LIMIT as PLACEMENT_LIMIT;

/// Why the gateway cannot run.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The listen address is taken or not ours.
    #[error("cannot listen on {addr}")]
    Bind {
        /// `bind:port`.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The token file cannot be read.
    #[error("cannot read the gateway's token from {}", path.display())]
    Token {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: crate::safefs::ReadError,
    },
    /// The token file is empty.
    #[error("the gateway's token file {} is empty", path.display())]
    EmptyToken {
        /// The file.
        path: PathBuf,
    },
    /// A non-loopback bind without a token.
    #[error(
        "the gateway binds {bind}, which other machines can reach, but has no token; give --token-file (facerunner does for a `kind: gateway` service)"
    )]
    NoToken {
        /// The address.
        bind: String,
    },
    /// A placement names a backend the gateway does not front.
    #[error("--place {model}: `{backend}` is not one of the gateway's backends ({known})")]
    PlaceUnknown {
        /// The model.
        model: String,
        /// The name given.
        backend: String,
        /// The backends.
        known: String,
    },
    /// A backend's URL cannot be used.
    #[error("--backend {name}: {why}")]
    BadBackend {
        /// The backend.
        name: String,
        /// Why.
        why: String,
    },
    /// No backend given.
    #[error("the gateway has no backend; give --backend NAME=URL at least once")]
    NoBackends,
    /// The HTTP client cannot be built.
    #[error("cannot build the gateway's HTTP client")]
    Client(#[source] reqwest::Error),
}

pub use crate::model::spec::is_loopback;

/// Everything a request handler needs.
pub(crate) struct Gateway {
    pub pool: Pool,
    /// For polls.
    pub poll: reqwest::Client,
    pub token: Option<String>,
    /// When the last on-demand poll started (callers arriving together share one).
    pub last_refresh: tokio::sync::Mutex<Option<std::time::Instant>>,
    /// Requests, errors, latency and time to first byte per backend and model.
    pub metrics: Arc<metrics::Metrics>,
    /// Model key → the backends the project places it on.
    pub placement: std::sync::RwLock<Placement>,
    /// `--place` as given, and the file read on each refresh.
    pub place: Vec<(String, Vec<String>)>,
    pub placement_file: Option<PathBuf>,
    /// See [`Options::sticky_prefix`].
    pub sticky_prefix: bool,
    /// Model names already read.
    pub names: backends::Names,
}

/// Model key → the backends the project places it on.
pub type Placement = std::collections::HashMap<String, Vec<String>>;

impl Gateway {
    /// Read the placement file again (a missing or broken file keeps the
    /// `--place` entries only, and says why in the log), merged over `--place`.
    pub(crate) fn reload_placement(&self) {
        let mut entries = self.place.clone();
        if let Some(path) = &self.placement_file {
            match read_placement(path) {
                Ok(more) => entries.extend(more),
                Err(why) => eprintln!("gateway: placement file {}: {why}", path.display()),
            }
        }
        let mut placement = Placement::default();
        for (model, names) in entries {
            for n in names {
                if self.pool.named(&n).is_none() {
                    eprintln!(
                        "gateway: the placement of {model} names `{n}`, which is not one of its backends; ignored"
                    );
                    continue;
                }
                let e = placement.entry(backends::model_key(&model)).or_default();
                if !e.contains(&n) {
                    e.push(n);
                }
            }
        }
        *self.placement.write().unwrap_or_else(|p| p.into_inner()) = placement;
    }

    /// The backends the project places `model` on.
    pub(crate) fn placed(&self, model: &str) -> Option<Vec<String>> {
        self.placement
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&backends::model_key(model))
            .cloned()
    }
}

/// `{model: [backend, ...]}` from `path`.
fn read_placement(path: &std::path::Path) -> Result<Vec<(String, Vec<String>)>, String> {
    let bytes = match crate::safefs::read_private_bounded(path, PLACEMENT_LIMIT) {
        Ok(b) => b,
        Err(e) => return Err(crate::style::with_causes(&e)),
    };
    serde_json::from_slice::<std::collections::BTreeMap<String, Vec<String>>>(&bytes)
        .map(|m| m.into_iter().collect())
        .map_err(|e| format!("not a JSON object of model → backends: {e}"))
}

fn read_token(path: &std::path::Path) -> Result<String, GatewayError> {
    let bytes =
        crate::safefs::read_private_bounded(path, 4096).map_err(|source| GatewayError::Token {
            path: path.to_path_buf(),
            source,
        })?;
    let token = String::from_utf8_lossy(&bytes).trim().to_string();
    if token.is_empty() {
        return Err(GatewayError::EmptyToken {
            path: path.to_path_buf(),
        });
    }
    Ok(token)
}

/// Run the gateway until the process is stopped.
pub async fn run(opts: Options) -> Result<(), GatewayError> {
    if opts.backends.is_empty() {
        return Err(GatewayError::NoBackends);
    }
    let token = match &opts.token_file {
        Some(p) => Some(read_token(p)?),
        None if !is_loopback(&opts.bind) => {
            return Err(GatewayError::NoToken {
                bind: opts.bind.clone(),
            });
        }
        None => None,
    };
    let poll = crate::http::client_builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(GatewayError::Client)?;
    let mut all = Vec::new();
    for (n, u) in &opts.backends {
        let b = Backend::new(n.clone(), u.clone()).map_err(|why| GatewayError::BadBackend {
            name: n.clone(),
            why,
        })?;
        all.push(Arc::new(b));
    }
    let pool = Pool { all };
    for (model, names) in &opts.place {
        for n in names {
            if pool.named(n).is_none() {
                return Err(GatewayError::PlaceUnknown {
                    model: model.clone(),
                    backend: n.clone(),
                    known: opts
                        .backends
                        .iter()
                        .map(|(n, _)| n.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
    }
    let host = opts.bind.trim_matches(['[', ']']).to_string();
    let listener = tokio::net::TcpListener::bind((host.as_str(), opts.port))
        .await
        .map_err(|source| GatewayError::Bind {
            addr: format!("{}:{}", opts.bind, opts.port),
            source,
        })?;
    let gw = Arc::new(Gateway {
        pool: pool.clone(),
        poll: poll.clone(),
        token,
        last_refresh: tokio::sync::Mutex::new(None),
        metrics: Default::default(),
        placement: Default::default(),
        place: opts.place.clone(),
        placement_file: opts.placement_file.clone(),
        sticky_prefix: opts.sticky_prefix,
        names: Default::default(),
    });
    // The first poll before the first answer, so a ready gateway knows its models.
    gw.reload_placement();
    pool.refresh(&poll).await;
    let polling = gw.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(backends::REFRESH).await;
            polling.reload_placement();
            pool.refresh(&poll).await;
        }
    });
    eprintln!(
        "gateway{} listening on {}:{} in front of {}",
        opts.project
            .as_deref()
            .map(|p| format!(" of project {p}"))
            .unwrap_or_default(),
        opts.bind,
        opts.port,
        opts.backends
            .iter()
            .map(|(n, u)| format!("{n} ({u})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    proxy::serve(listener, gw).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_binds_are_recognized() {
        for b in ["127.0.0.1", "::1", "[::1]", "localhost"] {
            assert!(super::is_loopback(b), "{b}");
        }
        for b in ["0.0.0.0", "::", "10.1.2.3", ""] {
            assert!(!super::is_loopback(b), "{b}");
        }
    }
}
