//! `settings.webhooks`: the dashboard POSTs its events (service state
//! changes, finished or failed applies, finished pull steps, watch results)
//! as JSON to each webhook that asks for them. With a `secret`, the body is
//! signed: `X-FaceRunner-Signature-256: sha256=<hex HMAC-SHA256 of the
//! body>` (GitHub's scheme). A delivery is tried 4 times with backoff
//! (0.5 s, 1 s, 2 s); the last 50 failures are listed at
//! `/api/v1/webhooks`, on the overview and by `facerunner status` (the
//! daemon asks this route: see the supervisor's `dashboards` module).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::broadcast::error::RecvError;

use super::Web;
use super::events::WebEvent;
use crate::config::types::Webhook;

/// Failures kept.
const KEEP: usize = 50;
/// Attempts per delivery.
const ATTEMPTS: u32 = 4;

/// A delivery that failed every attempt (the type `status` shows).
pub type Failure = crate::model::wire::WebhookFailure;

/// Webhooks in force and their failures.
#[derive(Debug, Default)]
pub struct Hooks {
    /// The webhooks (secrets kept here, never sent to a client).
    pub hooks: Vec<Webhook>,
    /// Recent failures, oldest first.
    pub failures: std::sync::Mutex<VecDeque<Failure>>,
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let (mut ipad, mut opad) = ([0x36u8; 64], [0x5cu8; 64]);
    for i in 0..64 {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    let inner = Sha256::new()
        .chain_update(ipad)
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// The webhook category of an event, if webhooks carry it.
pub fn category(e: &WebEvent) -> Option<&'static str> {
    match e {
        WebEvent::Service { .. } => Some("service"),
        WebEvent::ApplyDone {} | WebEvent::ApplyFailed { .. } => Some("apply"),
        WebEvent::Pull { event } => {
            matches!(event, crate::model::events::ExecEvent::StepFinished { .. }).then_some("pull")
        }
        WebEvent::Watch { .. } => Some("watch"),
        _ => None,
    }
}

fn wants(h: &Webhook, category: &str) -> bool {
    h.events.is_empty() || h.events.iter().any(|e| e == category)
}

/// Deliver events to the webhooks until the process ends.
pub async fn run(web: Arc<Web>) {
    if web.hooks.hooks.is_empty() {
        return;
    }
    let client = match crate::http::client_builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("webhooks disabled: cannot build an HTTP client: {e}");
            return;
        }
    };
    let mut rx = web.events.subscribe();
    loop {
        let e = match rx.recv().await {
            Ok(e) => e,
            Err(RecvError::Lagged(n)) => {
                record(
                    &web,
                    "*",
                    "*",
                    0,
                    format!("{n} events were missed (the queue was full)"),
                );
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let Some(cat) = category(&e) else { continue };
        let body = serde_json::json!({ "project": web.dirs.project, "event": e });
        let body = serde_json::to_vec(&body).unwrap_or_default();
        for h in web.hooks.hooks.iter().filter(|h| wants(h, cat)) {
            let (web, client, h, body) = (web.clone(), client.clone(), h.clone(), body.clone());
            tokio::spawn(async move { deliver(&web, &client, &h, cat, body).await });
        }
    }
}

async fn deliver(web: &Web, client: &reqwest::Client, h: &Webhook, cat: &str, body: Vec<u8>) {
    let mut error = String::new();
    for attempt in 1..=ATTEMPTS {
        let mut req = client
            .post(&h.url)
            .header("content-type", "application/json")
            .header("x-facerunner-event", cat)
            .body(body.clone());
        if let Some(secret) = &h.secret {
            let sig = hex::encode(hmac_sha256(secret.as_bytes(), &body));
            req = req.header("x-facerunner-signature-256", format!("sha256={sig}"));
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => error = format!("answered {}", r.status()),
            Err(e) => error = crate::style::with_causes(&e),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(Duration::from_millis(500 << (attempt - 1))).await;
        }
    }
    tracing::warn!(url = %h.url, "webhook delivery failed: {error}");
    record(web, &h.url, cat, ATTEMPTS, error);
}

fn record(web: &Web, url: &str, event: &str, attempts: u32, error: String) {
    let mut f = web.hooks.failures.lock().unwrap_or_else(|p| p.into_inner());
    if f.len() == KEEP {
        f.pop_front();
    }
    f.push_back(Failure {
        url: url.to_string(),
        event: event.to_string(),
        at: crate::model::units::format_time(std::time::SystemTime::now()),
        attempts,
        error,
    });
}

/// `GET /api/v1/webhooks`: the webhooks (without secrets) and recent failures.
pub async fn list(
    axum::extract::State(web): axum::extract::State<Arc<Web>>,
) -> axum::Json<serde_json::Value> {
    let hooks: Vec<_> = web
        .hooks
        .hooks
        .iter()
        .map(|h| serde_json::json!({ "url": h.url, "events": h.events, "signed": h.secret.is_some() }))
        .collect();
    let failures: Vec<Failure> = web
        .hooks
        .failures
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .cloned()
        .collect();
    axum::Json(serde_json::json!({ "webhooks": hooks, "failures": failures }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // A key longer than the block is hashed first (RFC 4231 case 6).
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
