//! What `status` shows of a running `kind: gateway` service: the daemon asks
//! the gateway's `GET /__facerunner/status` while answering `status` (in the
//! request's own task, never on the supervision path), with a short timeout
//! and a bounded body. A gateway that does not answer is shown as such.
//!
//! After every apply the daemon also sends each running gateway
//! `POST /__facerunner/refresh`, so it reads the project's placement again
//! and polls its backends at once instead of at its next interval.

use std::path::PathBuf;
use std::time::Duration;

use crate::model::spec::{Check, ServiceSpec};
use crate::model::wire::{GatewayBackend, GatewayStatus};

/// How long the gateway may take to answer.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest answer read.
pub const ASK_LIMIT: usize = 1024 * 1024;

/// The token file a gateway's argv names (`--token-file PATH`).
pub fn token_file(svc: &ServiceSpec) -> Option<PathBuf> {
    svc.arg_after("--token-file").map(PathBuf::from)
}

/// The gateway's base URL: its health check's URL (`http://host:port/`).
fn base_url(svc: &ServiceSpec) -> Option<String> {
    match &svc.probe.as_ref()?.check {
        Check::Http { url } => Some(url.trim_end_matches('/').to_string()),
        _ => None,
    }
}

/// Ask a running gateway for its backends.
pub async fn ask(svc: &ServiceSpec) -> GatewayStatus {
    let token_file = token_file(svc);
    let mut out = GatewayStatus {
        token_file: token_file.clone(),
        ..GatewayStatus::default()
    };
    match fetch(svc, token_file).await {
        Ok(backends) => {
            out.answered = true;
            out.backends = backends;
        }
        Err(why) => out.error = Some(why),
    }
    out
}

/// Tell every running gateway of the daemon's project to refresh now
/// (after an apply), all at once, each bounded by [`ASK_TIMEOUT`]. A
/// gateway that does not answer only loses the head start: it refreshes
/// on its own interval anyway.
pub async fn refresh_running(daemon: &crate::supervisor::daemon::Daemon) {
    let Some((spec, handles)) = daemon.project() else {
        return;
    };
    let running: Vec<&ServiceSpec> = spec
        .services
        .iter()
        .filter(|s| s.kind == "gateway")
        .filter(|s| {
            handles.get(&s.name).is_some_and(|h| {
                matches!(
                    h.snapshot().lifecycle,
                    crate::model::wire::Lifecycle::Running { .. }
                )
            })
        })
        .collect();
    futures_util::future::join_all(running.into_iter().map(|svc| async move {
        if let Err(why) = call(svc, token_file(svc), reqwest::Method::POST, "refresh").await {
            tracing::warn!(service = %svc.name, "the gateway did not refresh after the apply: {why}");
        }
    }))
    .await;
}

async fn fetch(
    svc: &ServiceSpec,
    token_file: Option<PathBuf>,
) -> Result<Vec<GatewayBackend>, String> {
    call(svc, token_file, reqwest::Method::GET, "status").await
}

/// `METHOD url` on a process of the daemon's own (a gateway, a dashboard),
/// with the bearer token in `token_file` when given: its body, bounded by
/// [`ASK_TIMEOUT`] and [`ASK_LIMIT`]; any failure as one line for `status`.
pub(crate) async fn ask_own(
    method: reqwest::Method,
    url: &str,
    token_file: Option<&std::path::Path>,
) -> Result<Vec<u8>, String> {
    let http = crate::http::client_builder()
        .timeout(ASK_TIMEOUT)
        .build()
        .map_err(|e| {
            format!(
                "cannot build an HTTP client: {}",
                crate::style::with_causes(&e)
            )
        })?;
    let mut req = http.request(method.clone(), url);
    if let Some(path) = token_file {
        let bytes = crate::safefs::read_private_bounded(path, 4096).map_err(|e| {
            format!(
                "cannot read its token from {}: {}",
                path.display(),
                crate::style::with_causes(&e)
            )
        })?;
        req = req.bearer_auth(String::from_utf8_lossy(&bytes).trim());
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("{method} {url}: {}", crate::style::with_causes(&e)))?;
    if !resp.status().is_success() {
        return Err(format!("{method} {url}: HTTP {}", resp.status()));
    }
    crate::http::read_capped(resp, ASK_LIMIT)
        .await
        .map_err(|e| format!("{method} {url}: {}", crate::style::with_causes(&e)))
}

/// `METHOD /__facerunner/{what}` on the gateway, with its token; both
/// answer `{"backends": [...]}`.
async fn call(
    svc: &ServiceSpec,
    token_file: Option<PathBuf>,
    method: reqwest::Method,
    what: &str,
) -> Result<Vec<GatewayBackend>, String> {
    let base = base_url(svc).ok_or("it has no HTTP health check to find its address by")?;
    let url = format!("{base}/__facerunner/{what}");
    let body = ask_own(method.clone(), &url, token_file.as_deref()).await?;
    #[derive(serde::Deserialize)]
    struct Answer {
        backends: Vec<GatewayBackend>,
    }
    serde_json::from_slice::<Answer>(&body)
        .map(|a| a.backends)
        .map_err(|e| format!("{method} {url}: not the gateway's status: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::Probe;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn gateway_at(port: u16, argv: &[&str]) -> ServiceSpec {
        let mut s = crate::supervisor::test_support::service("gw", &[]);
        s.kind = "gateway".into();
        s.argv = argv.iter().map(|a| a.to_string()).collect();
        s.probe = Some(Probe {
            check: Check::Http {
                url: format!("http://127.0.0.1:{port}/"),
            },
            interval: std::time::Duration::from_secs(1),
            start_interval: None,
            timeout: std::time::Duration::from_secs(1),
            retries: 1,
            start_period: std::time::Duration::ZERO,
        });
        s
    }

    /// A one-shot HTTP server answering `body`; returns its port.
    async fn serve_once(body: Vec<u8>) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            }
        });
        port
    }

    #[tokio::test]
    async fn a_gateways_answer_is_read_and_its_token_file_shown() {
        let port = serve_once(
            br#"{"backends":[{"name":"a","url":"http://x","healthy":false,"error":"gone","in_flight":0,"total":3,"errors":1,"models":[],"loaded":[]}]}"#.to_vec(),
        )
        .await;
        let dir = tempfile::tempdir().expect("dir");
        let tf = dir.path().join("gw.gateway_token");
        crate::safefs::write_private_atomic(&tf, b"sekrit\n").expect("token");
        let st = ask(&gateway_at(
            port,
            &[
                "facerunner",
                "gateway",
                "--token-file",
                &tf.display().to_string(),
            ],
        ))
        .await;
        assert!(st.answered, "{st:?}");
        assert_eq!(st.token_file.as_deref(), Some(tf.as_path()));
        assert_eq!(st.backends.len(), 1);
        assert!(!st.backends[0].healthy);
        assert_eq!((st.backends[0].total, st.backends[0].errors), (3, 1));
    }

    #[tokio::test]
    async fn a_gateway_that_does_not_answer_or_answers_too_much_is_shown_as_such() {
        // Nothing listens there.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let st = ask(&gateway_at(port, &[])).await;
        assert!(!st.answered);
        assert!(
            st.error
                .as_deref()
                .is_some_and(|e| e.contains("/__facerunner/status"))
        );
        assert!(st.token_file.is_none());
        // An answer over the limit is refused, not read whole.
        let port = serve_once(vec![b' '; ASK_LIMIT + 10]).await;
        let st = ask(&gateway_at(port, &[])).await;
        assert!(!st.answered);
        assert!(
            st.error.as_deref().is_some_and(|e| e.contains("larger")),
            "{st:?}"
        );
    }
}
