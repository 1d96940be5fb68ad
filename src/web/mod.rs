//! The dashboard: a REST API (`/api/v1`), a live event stream and a web UI,
//! served by the process a `kind: dashboard` service runs
//! (`facerunner __dashboard`, started and supervised by the project's daemon).
//!
//! Every action goes through the same code as the CLI: status, start, stop,
//! restart and apply are requests to the daemon over its Unix socket (the
//! daemon's own handlers run them, with their locking and stale-plan
//! checks); plan, validate, logs, models and GPUs call the same library
//! functions the commands call. Nothing here runs on the daemon's
//! supervision path: a slow browser costs this process only.
//!
//! Security: see [`auth`]. Tokens are two generated secrets (0600) in the
//! project's secrets directory; the UI's static files need none, every
//! API route does.

pub mod api;
pub mod auth;
pub mod events;
pub mod integrations;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod ui;
pub mod webhooks;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use tokio::sync::broadcast;

use crate::paths::ProjectDirs;

/// Why the dashboard could not serve.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A token file is missing or unusable.
    #[error("cannot read the dashboard token {}", path.display())]
    Token {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: crate::safefs::ReadError,
    },
    /// The token file does not hold a token.
    #[error("the dashboard token {} is empty or malformed; delete it and run `facerunner up` to make a new one", path.display())]
    BadToken {
        /// The file.
        path: PathBuf,
    },
    /// The project's directories cannot be found.
    #[error("cannot find the directories of project `{project}`")]
    Dirs {
        /// The project.
        project: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The port cannot be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// `bind:port`.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("serving HTTP failed")]
    Serve(#[source] std::io::Error),
}

/// What `facerunner __dashboard` is given.
#[derive(Debug, Clone)]
pub struct Options {
    /// The project whose daemon it talks to.
    pub project: String,
    /// Listen address.
    pub bind: String,
    /// Listen port.
    pub port: u16,
    /// The full-access token's file.
    pub token_file: PathBuf,
    /// The read-only token's file.
    pub readonly_token_file: PathBuf,
}

/// Shared state of the server.
pub struct Web {
    /// The project's directories (its socket, logs, owner record).
    pub dirs: ProjectDirs,
    /// Listen address as configured.
    pub bind: String,
    /// Listen port.
    pub port: u16,
    /// The full-access token.
    pub token: String,
    /// The read-only token.
    pub readonly_token: String,
    /// Live events, to every SSE client (each with its own bounded buffer).
    pub events: broadcast::Sender<events::WebEvent>,
    /// One apply at a time from this dashboard.
    pub applying: tokio::sync::Mutex<()>,
    /// What this dashboard ran (for `/metrics`).
    pub counters: metrics::Counters,
    /// `settings.webhooks` and their delivery failures.
    pub hooks: webhooks::Hooks,
}

impl Web {
    #[cfg(test)]
    pub(crate) fn for_tests(bind: &str, port: u16, token: String, readonly: String) -> Web {
        Web {
            dirs: ProjectDirs::under(std::path::Path::new("/nonexistent"), "t"),
            bind: bind.into(),
            port,
            token,
            readonly_token: readonly,
            events: broadcast::channel(4).0,
            applying: tokio::sync::Mutex::new(()),
            counters: Default::default(),
            hooks: Default::default(),
        }
    }

    /// A state that only knows the project's directories (to read its file).
    fn for_hooks(dirs: ProjectDirs) -> Web {
        Web {
            dirs,
            bind: String::new(),
            port: 0,
            token: String::new(),
            readonly_token: String::new(),
            events: broadcast::channel(1).0,
            applying: tokio::sync::Mutex::new(()),
            counters: Default::default(),
            hooks: Default::default(),
        }
    }

    /// Publish an event to every connected client (none: dropped).
    pub fn publish(&self, e: events::WebEvent) {
        let _ = self.events.send(e);
    }
}

/// The longest token file read.
const MAX_TOKEN_BYTES: u64 = 4096;

fn read_token(path: &std::path::Path) -> Result<String, WebError> {
    let bytes = crate::safefs::read_private_bounded(path, MAX_TOKEN_BYTES).map_err(|source| {
        WebError::Token {
            path: path.to_path_buf(),
            source,
        }
    })?;
    let t = String::from_utf8_lossy(&bytes).trim().to_string();
    if t.len() < 32 || !t.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(WebError::BadToken {
            path: path.to_path_buf(),
        });
    }
    Ok(t)
}

/// The router, with the guard in front of every route.
pub fn router(web: Arc<Web>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/login", get(auth::login))
        .route("/", get(ui::index))
        .route("/app.js", get(ui::script))
        .route("/app.css", get(ui::style))
        .route("/api.js", get(ui::api_script))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/docs", get(openapi::page))
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/services/{name}/{action}", post(api::control))
        .route("/api/v1/services/{name}/logs", get(api::logs))
        .route("/api/v1/plan", get(api::plan))
        .route("/api/v1/apply", post(api::apply))
        .route("/api/v1/validate", post(api::validate))
        .route("/api/v1/file", get(api::file_get).put(api::file_put))
        .route("/api/v1/gpus", get(api::gpus))
        .route("/api/v1/convert", get(api::convert))
        .route("/api/v1/models", get(api::models))
        .route("/api/v1/models/pull", post(api::pull))
        .route(
            "/api/v1/models/{service}/{name}",
            axum::routing::delete(api::remove),
        )
        .route("/api/v1/events", get(events::stream))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/webhooks", get(webhooks::list))
        .route("/api/v1/integrations", get(integrations::editor_config))
        .fallback(|| async {
            problem::Problem::new(problem::Kind::NotFound, "no such route; see /api/v1/docs")
        })
        .layer(axum::middleware::from_fn_with_state(
            web.clone(),
            auth::guard,
        ))
        .with_state(web)
}

/// Serve until the process is stopped.
pub async fn run(o: Options) -> Result<(), WebError> {
    let token = read_token(&o.token_file)?;
    let readonly_token = read_token(&o.readonly_token_file)?;
    let dirs = ProjectDirs::for_project(&o.project).map_err(|source| WebError::Dirs {
        project: o.project.clone(),
        source,
    })?;
    // Webhooks come from the file as it was when this process started (a
    // change to them restarts it: see the kind).
    let hooks = ProjectDirs::for_project(&o.project)
        .ok()
        .map(Web::for_hooks)
        .and_then(|w| api::load_project(&w, crate::config::resolve::Secrets::Peek).ok())
        .map(|(loaded, _)| loaded.config.settings.webhooks)
        .unwrap_or_default();
    let web = Arc::new(Web {
        dirs,
        bind: o.bind.clone(),
        port: o.port,
        token,
        readonly_token,
        events: broadcast::channel(events::CLIENT_BUFFER).0,
        applying: tokio::sync::Mutex::new(()),
        counters: Default::default(),
        hooks: webhooks::Hooks {
            hooks,
            failures: Default::default(),
        },
    });
    let host = if o.bind.contains(':') && !o.bind.starts_with('[') {
        format!("[{}]", o.bind)
    } else {
        o.bind.clone()
    };
    let addr = format!("{host}:{}", o.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| WebError::Bind {
            addr: addr.clone(),
            source,
        })?;
    tracing::info!("dashboard listening on http://{addr}/");
    tokio::spawn(events::watch_daemon(web.clone()));
    tokio::spawn(webhooks::run(web.clone()));
    axum::serve(listener, router(web))
        .await
        .map_err(WebError::Serve)
}
