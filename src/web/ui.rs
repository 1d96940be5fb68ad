//! The web UI: three embedded files (HTML, CSS, vanilla JS), no build step,
//! nothing fetched from the network. The page reads everything through
//! `/api/v1` and `/api/v1/events` with the login cookie.

use axum::http::header;
use axum::response::{IntoResponse, Response};

const CSP: &str = "default-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `GET /`.
pub async fn index() -> Response {
    asset(
        "text/html; charset=utf-8",
        include_str!("assets/index.html"),
    )
}

/// `GET /app.js`.
pub async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    )
}

/// `GET /app.css`.
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("assets/app.css"))
}

/// `GET /api.js` (the API page's renderer).
pub async fn api_script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/api.js"),
    )
}
