//! What `status` shows of a running `kind: dashboard` service: its
//! webhooks and their recent delivery failures (only a dashboard whose file
//! has webhooks is asked). The dashboard is its own
//! process, so the daemon asks its `GET /api/v1/webhooks` (with the
//! dashboard's read-only token) while answering `status` — in the
//! request's own task, never on the supervision path — bounded in time and
//! size, like [`super::gateways`] asks a gateway. A dashboard that does not
//! answer is shown as such.

use std::path::PathBuf;

use crate::model::spec::{Check, ServiceSpec};
use crate::model::wire::{DashboardStatus, WebhookFailure};

/// The bounds of the question, the same as a gateway's (50 failures with
/// long errors fit easily in the size).
pub use super::gateways::{ASK_LIMIT, ASK_TIMEOUT};

/// Whether the dashboard sends webhooks (else there is nothing to ask it).
pub fn has_webhooks(svc: &ServiceSpec) -> bool {
    svc.env
        .contains_key(crate::config::kinds::dashboard::WEBHOOKS_ENV)
}

/// The read-only token file a dashboard's argv names.
fn token_file(svc: &ServiceSpec) -> Option<PathBuf> {
    svc.arg_after("--readonly-token-file").map(PathBuf::from)
}

/// The dashboard's base URL: its health check's URL without `/healthz`.
fn base_url(svc: &ServiceSpec) -> Option<String> {
    match &svc.probe.as_ref()?.check {
        Check::Http { url } => Some(
            url.trim_end_matches('/')
                .trim_end_matches("/healthz")
                .to_string(),
        ),
        _ => None,
    }
}

/// Ask a running dashboard for its webhooks' failures.
pub async fn ask(svc: &ServiceSpec) -> DashboardStatus {
    match fetch(svc).await {
        Ok(a) => DashboardStatus {
            answered: true,
            error: None,
            webhooks: a.webhooks.len(),
            webhook_failures: a.failures,
        },
        Err(why) => DashboardStatus {
            error: Some(why),
            ..DashboardStatus::default()
        },
    }
}

/// `GET /api/v1/webhooks`'s answer (the webhooks' details are not kept).
#[derive(serde::Deserialize)]
struct Answer {
    webhooks: Vec<serde::de::IgnoredAny>,
    failures: Vec<WebhookFailure>,
}

async fn fetch(svc: &ServiceSpec) -> Result<Answer, String> {
    let base = base_url(svc).ok_or("it has no HTTP health check to find its address by")?;
    let url = format!("{base}/api/v1/webhooks");
    let path = token_file(svc).ok_or("its command names no read-only token file")?;
    let body = super::gateways::ask_own(reqwest::Method::GET, &url, Some(&path)).await?;
    serde_json::from_slice::<Answer>(&body)
        .map_err(|e| format!("GET {url}: not the dashboard's webhook list: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::Probe;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn dashboard_at(port: u16, token_file: Option<&std::path::Path>) -> ServiceSpec {
        let mut s = crate::supervisor::test_support::service("ui", &[]);
        s.kind = "dashboard".into();
        s.argv = vec!["facerunner".into(), "__dashboard".into()];
        if let Some(t) = token_file {
            s.argv.push("--readonly-token-file".into());
            s.argv.push(t.display().to_string());
        }
        s.probe = Some(Probe {
            check: Check::Http {
                url: format!("http://127.0.0.1:{port}/healthz"),
            },
            interval: Duration::from_secs(1),
            start_interval: None,
            timeout: Duration::from_secs(1),
            retries: 1,
            start_period: Duration::ZERO,
        });
        s
    }

    /// A one-shot HTTP server answering `body`; returns its port and what
    /// it was asked.
    async fn serve_once(body: Vec<u8>) -> (u16, tokio::sync::oneshot::Receiver<String>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = l.accept().await {
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            }
        });
        (port, rx)
    }

    fn token(dir: &std::path::Path) -> PathBuf {
        let tf = dir.join("ui.dashboard_readonly_token");
        crate::safefs::write_private_atomic(&tf, b"readonlytoken\n").expect("token");
        tf
    }

    #[tokio::test]
    async fn a_dashboards_failures_are_read_with_its_read_only_token() {
        let (port, asked) = serve_once(
            br#"{"webhooks":[{"url":"http://x/gone","events":[],"signed":false}],"failures":[{"url":"http://x/gone","event":"service","at":"2026-01-01T00:00:00Z","attempts":4,"error":"connection refused"}]}"#.to_vec(),
        )
        .await;
        let dir = tempfile::tempdir().expect("dir");
        let tf = token(dir.path());
        let st = ask(&dashboard_at(port, Some(&tf))).await;
        assert!(st.answered, "{st:?}");
        assert_eq!(st.webhooks, 1);
        assert_eq!(st.webhook_failures.len(), 1);
        assert_eq!(st.webhook_failures[0].attempts, 4);
        let req = asked.await.expect("asked");
        assert!(req.starts_with("GET /api/v1/webhooks "), "{req}");
        assert!(
            req.to_ascii_lowercase()
                .contains("authorization: bearer readonlytoken"),
            "{req}"
        );
    }

    #[test]
    fn only_a_dashboard_with_webhooks_is_asked() {
        let mut s = dashboard_at(1, None);
        assert!(!has_webhooks(&s));
        s.env.insert(
            crate::config::kinds::dashboard::WEBHOOKS_ENV.into(),
            "abc".into(),
        );
        assert!(has_webhooks(&s));
    }

    #[tokio::test]
    async fn a_dashboard_that_does_not_answer_or_answers_too_much_is_shown_as_such() {
        let dir = tempfile::tempdir().expect("dir");
        let tf = token(dir.path());
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let st = ask(&dashboard_at(port, Some(&tf))).await;
        assert!(!st.answered);
        assert!(
            st.error
                .as_deref()
                .is_some_and(|e| e.contains("/api/v1/webhooks")),
            "{st:?}"
        );
        let (port, _) = serve_once(vec![b' '; ASK_LIMIT + 10]).await;
        let st = ask(&dashboard_at(port, Some(&tf))).await;
        assert!(
            st.error.as_deref().is_some_and(|e| e.contains("larger")),
            "{st:?}"
        );
        // No token file named: said, nothing sent.
        let st = ask(&dashboard_at(port, None)).await;
        assert!(
            st.error.as_deref().is_some_and(|e| e.contains("token")),
            "{st:?}"
        );
    }
}
