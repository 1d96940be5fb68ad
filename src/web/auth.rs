//! Who may ask: the token (bearer header or the login cookie), its role,
//! and the `Host` and `Origin` checks.
//!
//! Order, for every request: the `Host` header must name this server (a
//! page on another site that rebinds its DNS name to 127.0.0.1 sends its
//! own name, and is refused); `/healthz`, `/login` and the UI's static
//! files need no token (they hold no data); everything else needs one of
//! the two tokens. A request that changes anything (not GET/HEAD) needs
//! the full token and, when it carries an `Origin` (browsers always send
//! one on such requests), an origin of this server; a cookie-authenticated
//! one without `Origin` is refused too.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Web;
use super::problem::{Kind, Problem};

/// The login cookie's name.
pub const COOKIE: &str = "facerunner_dashboard";

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    Full,
    /// Reads only.
    ReadOnly,
}

/// Equal in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The role of `token`, if it is one of ours.
pub fn role_of(web: &Web, token: &str) -> Option<Role> {
    if token.is_empty() {
        None
    } else if same(token, &web.token) {
        Some(Role::Full)
    } else if same(token, &web.readonly_token) {
        Some(Role::ReadOnly)
    } else {
        None
    }
}

/// The token a request carries, and whether it came in the cookie.
fn presented(headers: &HeaderMap) -> Option<(String, bool)> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        return Some((t.trim().to_string(), false));
    }
    for v in headers.get_all(header::COOKIE) {
        let Ok(v) = v.to_str() else { continue };
        for part in v.split(';') {
            if let Some((k, val)) = part.trim().split_once('=')
                && k == COOKIE
            {
                return Some((val.to_string(), true));
            }
        }
    }
    None
}

/// The `Host` values this server answers to: its bind and the loopback
/// names (with the port). A wildcard bind answers to any name, since the
/// names it is reached by are not known here; the token still applies.
pub fn host_allowed(web: &Web, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    if matches!(web.bind.as_str(), "0.0.0.0" | "::" | "[::]") {
        return true;
    }
    let port = web.port;
    let bind = if web.bind.contains(':') && !web.bind.starts_with('[') {
        format!("[{}]", web.bind)
    } else {
        web.bind.clone()
    };
    [bind.as_str(), "127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|h| host == format!("{h}:{port}"))
}

/// Whether a path needs no token.
fn public(path: &str) -> bool {
    matches!(
        path,
        "/healthz" | "/login" | "/" | "/app.js" | "/app.css" | "/api.js"
    )
}

/// The middleware: Host, token, role and Origin, in that order.
pub async fn guard(
    State(web): State<std::sync::Arc<Web>>,
    mut req: Request,
    next: Next,
) -> Response {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !host_allowed(&web, &host) {
        return Problem::new(
            Kind::BadHost,
            format!(
                "`Host: {host}` is not this dashboard; open it as http://127.0.0.1:{}/",
                web.port
            ),
        )
        .into_response();
    }
    if public(req.uri().path()) {
        return next.run(req).await;
    }
    let Some((token, by_cookie)) = presented(headers) else {
        return Problem::new(
            Kind::Unauthorized,
            "no token: send `Authorization: Bearer TOKEN`, or open the login link `facerunner dashboard` prints",
        )
        .into_response();
    };
    let Some(role) = role_of(&web, &token) else {
        return Problem::new(
            Kind::Unauthorized,
            "the token is not this dashboard's; `facerunner dashboard` prints the current login link",
        )
        .into_response();
    };
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD);
    if changes {
        if role == Role::ReadOnly {
            return Problem::new(
                Kind::ReadOnly,
                "this token may only read; use the full token (`facerunner dashboard`) to change anything",
            )
            .into_response();
        }
        match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            Some(origin) => {
                let ours = origin
                    .strip_prefix("http://")
                    .is_some_and(|h| h.eq_ignore_ascii_case(&host));
                if !ours {
                    return Problem::new(
                        Kind::BadOrigin,
                        format!("a request from `{origin}` may not change this project"),
                    )
                    .into_response();
                }
            }
            None if by_cookie => {
                return Problem::new(
                    Kind::BadOrigin,
                    "a state-changing request with the login cookie must carry an Origin header",
                )
                .into_response();
            }
            None => {}
        }
    }
    req.extensions_mut().insert(role);
    next.run(req).await
}

/// `/login?token=…`: set the cookie and go to the overview.
pub async fn login(
    State(web): State<std::sync::Arc<Web>>,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Response {
    let token = super::api::query(q.as_deref())
        .remove("token")
        .unwrap_or_default();
    if role_of(&web, &token).is_none() {
        return Problem::new(
            Kind::Unauthorized,
            "the login link's token is not this dashboard's; run `facerunner dashboard` for the current link",
        )
        .into_response();
    }
    let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
    (
        axum::http::StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/".to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(bind: &str) -> Web {
        Web::for_tests(bind, 8501, "a".repeat(64), "b".repeat(64))
    }

    #[test]
    fn hosts_other_than_the_bind_and_loopback_are_refused() {
        let w = web("127.0.0.1");
        assert!(host_allowed(&w, "127.0.0.1:8501"));
        assert!(host_allowed(&w, "LOCALHOST:8501"));
        assert!(!host_allowed(&w, "evil.example:8501"));
        assert!(!host_allowed(&w, "127.0.0.1:8502"));
        assert!(!host_allowed(&w, ""));
        assert!(host_allowed(&web("0.0.0.0"), "lab.local:8501"));
    }

    #[test]
    fn roles_follow_the_token_and_an_empty_one_is_nothing() {
        let w = web("127.0.0.1");
        assert_eq!(role_of(&w, &"a".repeat(64)), Some(Role::Full));
        assert_eq!(role_of(&w, &"b".repeat(64)), Some(Role::ReadOnly));
        assert_eq!(role_of(&w, &"c".repeat(64)), None);
        assert_eq!(role_of(&w, ""), None);
        assert!(!same("ab", "abc"));
    }
}
