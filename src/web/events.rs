//! `/api/v1/events`: one SSE stream of typed events.
//!
//! A task polls the daemon's status while anyone listens and publishes
//! what changed (service state, health, restarts; watch results) plus a
//! periodic snapshot for CPU and memory; apply and pull handlers publish
//! their progress. Each client reads the broadcast through its own bounded
//! buffer ([`CLIENT_BUFFER`] events): a client that falls that far behind
//! gets a `dropped` event saying why and is disconnected, so a slow
//! browser never holds memory or anyone else back. `?logs=SERVICE` adds
//! that service's new log lines. Keep-alive comments every 15 s.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;

use super::Web;
use super::api::{known_service, query, status_report};
use super::problem::Problem;
use crate::model::events::ExecEvent;
use crate::model::wire::{ServiceStatus, StatusReport, WatchStatus};
use crate::supervisor::logread::LogLine;

/// Events one client may fall behind before it is dropped.
pub const CLIENT_BUFFER: usize = 256;

/// How often the daemon is asked while someone listens.
const POLL: Duration = Duration::from_millis(250);
/// How often a full snapshot (CPU, memory) is sent.
const SNAPSHOT_EVERY: u32 = 8;

/// One event; its `type` is the SSE event name.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WebEvent {
    /// A service's state, health or restarts changed.
    Service {
        /// Its status (as in `status --json`).
        service: Box<ServiceStatus>,
    },
    /// The whole status, now and then (CPU, memory, GPUs).
    Status {
        /// The report.
        report: Box<StatusReport>,
    },
    /// Watch mode's last result changed.
    Watch {
        /// Its status.
        watch: Option<WatchStatus>,
    },
    /// One step of an apply started from the dashboard.
    Apply {
        /// The engine's event (as `apply --json` prints it).
        event: ExecEvent,
    },
    /// The apply finished.
    ApplyDone {},
    /// The apply failed or was refused.
    ApplyFailed {
        /// Why.
        detail: String,
    },
    /// Progress of a model pull or removal.
    Pull {
        /// The engine's event.
        event: ExecEvent,
    },
    /// A new line of the followed log.
    Log {
        /// The line.
        line: LogLine,
    },
    /// The daemon cannot be asked.
    DaemonUnreachable {
        /// Why.
        detail: String,
    },
    /// This client is being disconnected.
    Dropped {
        /// Why.
        reason: String,
    },
}

impl WebEvent {
    fn name(&self) -> &'static str {
        match self {
            WebEvent::Service { .. } => "service",
            WebEvent::Status { .. } => "status",
            WebEvent::Watch { .. } => "watch",
            WebEvent::Apply { .. } => "apply",
            WebEvent::ApplyDone {} => "apply_done",
            WebEvent::ApplyFailed { .. } => "apply_failed",
            WebEvent::Pull { .. } => "pull",
            WebEvent::Log { .. } => "log",
            WebEvent::DaemonUnreachable { .. } => "daemon_unreachable",
            WebEvent::Dropped { .. } => "dropped",
        }
    }

    fn sse(&self) -> Event {
        Event::default()
            .event(self.name())
            .data(serde_json::to_string(self).unwrap_or_else(|_| "{}".into()))
    }
}

/// What of a service's status makes a `service` event.
fn fingerprint(s: &ServiceStatus) -> String {
    serde_json::to_string(&(&s.state, s.restarts, &s.last_exit)).unwrap_or_default()
}

/// Poll the daemon while anyone listens; publish changes.
pub async fn watch_daemon(web: Arc<Web>) {
    let mut last: std::collections::HashMap<String, String> = Default::default();
    let mut last_watch = String::new();
    let mut tick: u32 = 0;
    let mut was_down = false;
    loop {
        tokio::time::sleep(POLL).await;
        if web.events.receiver_count() == 0 {
            last.clear();
            last_watch.clear();
            continue;
        }
        tick = tick.wrapping_add(1);
        match status_report(&web).await {
            Ok(report) => {
                was_down = false;
                for s in &report.services {
                    let f = fingerprint(s);
                    if last.get(&s.name) != Some(&f) {
                        last.insert(s.name.clone(), f);
                        web.publish(WebEvent::Service {
                            service: Box::new(s.clone()),
                        });
                    }
                }
                let w = serde_json::to_string(&report.watch).unwrap_or_default();
                if w != last_watch {
                    last_watch = w;
                    web.publish(WebEvent::Watch {
                        watch: report.watch.clone(),
                    });
                }
                if tick.is_multiple_of(SNAPSHOT_EVERY) {
                    web.publish(WebEvent::Status {
                        report: Box::new(report),
                    });
                }
            }
            Err(p) if !was_down => {
                was_down = true;
                web.publish(WebEvent::DaemonUnreachable { detail: p.detail });
            }
            Err(_) => {}
        }
    }
}

/// One client's stream: the broadcast through its own buffer, and the
/// followed log if asked for.
struct Client {
    rx: tokio::sync::broadcast::Receiver<WebEvent>,
    follow: Option<(crate::supervisor::logread::Follower, String)>,
    pending: std::collections::VecDeque<String>,
    done: bool,
}

async fn next(mut c: Client) -> Option<(WebEvent, Client)> {
    if c.done {
        return None;
    }
    loop {
        if let Some((_, service)) = &c.follow
            && let Some(line) = c.pending.pop_front()
        {
            let line = crate::supervisor::logread::parse_line(service, &line);
            return Some((WebEvent::Log { line }, c));
        }
        tokio::select! {
            r = c.rx.recv() => match r {
                Ok(e) => return Some((e, c)),
                Err(RecvError::Lagged(n)) => {
                    c.done = true;
                    let reason = format!(
                        "this client fell {n} events behind (its buffer holds {CLIENT_BUFFER}); reconnect"
                    );
                    return Some((WebEvent::Dropped { reason }, c));
                }
                Err(RecvError::Closed) => return None,
            },
            () = tokio::time::sleep(POLL), if c.follow.is_some() => {
                if let Some((f, _)) = &mut c.follow {
                    c.pending.extend(f.poll());
                }
            }
        }
    }
}

/// `GET /api/v1/events[?logs=SERVICE]`.
pub async fn stream(
    State(web): State<Arc<Web>>,
    RawQuery(q): RawQuery,
) -> Result<impl IntoResponse, Problem> {
    let q = query(q.as_deref());
    let follow = match q.get("logs") {
        Some(service) => {
            known_service(&web, service).await?;
            let f = crate::supervisor::logread::Follower::at_end(&web.dirs.log_file(service));
            Some((f, service.clone()))
        }
        None => None,
    };
    let client = Client {
        rx: web.events.subscribe(),
        follow,
        pending: Default::default(),
        done: false,
    };
    let events = futures_util::stream::unfold(client, next).map(|e| Ok::<_, Infallible>(e.sse()));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
