//! The gateway's HTTP side: the routes, the choice of backend, and the
//! forwarding of bodies in both directions without buffering the answer.

use std::future::Future;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Body as _;
use serde_json::{Value, json};

use std::sync::atomic::Ordering;

use super::backends::{Backend, InFlight};
use super::metrics::Timing;
use super::upstream::{Answer, OutBody, Outgoing};
use super::{BACKEND_HEADER, BODY_LIMIT, BODY_TIMEOUT, Gateway, HEADER_TIMEOUT, SESSION_HEADER};

/// Accept connections until the process ends; each connection has the
/// header timeout (slow clients cannot hold a connection forever).
pub(super) async fn serve(listener: tokio::net::TcpListener, gw: Arc<Gateway>) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => {
                // Each streamed chunk leaves at once: with Nagle on, every
                // chunk after the first waits for the client's delayed ACK
                // (~40 ms a line). Go's servers (Ollama's) do the same.
                let _ = s.set_nodelay(true);
                s
            }
            Err(e) => {
                // Out of file descriptors and the like: wait a moment, never spin.
                eprintln!("gateway: accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let gw = gw.clone();
        // Straight to the handler: one catch-all route needs no router.
        let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let gw = gw.clone();
            async move { Ok::<_, std::convert::Infallible>(handle(gw, req.map(Body::new)).await) }
        });
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(io, svc)
                .await;
        });
    }
}

/// The shape errors take on a route.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    /// `{"error":"…"}` (Ollama's native routes).
    Ollama,
    /// `{"error":{"message":"…",…}}` (OpenAI-compatible routes).
    OpenAi,
}

impl Shape {
    fn of(path: &str) -> Shape {
        if path.starts_with("/v1/") {
            Shape::OpenAi
        } else {
            Shape::Ollama
        }
    }

    fn error(self, status: StatusCode, message: &str) -> Response {
        let body = match self {
            Shape::Ollama => json!({ "error": message }),
            Shape::OpenAi => json!({
                "error": { "message": message, "type": "api_error", "param": null, "code": null }
            }),
        };
        (status, axum::Json(body)).into_response()
    }
}

/// Routes that name their model in the JSON body.
const MODEL_ROUTES: &[&str] = &[
    "/api/chat",
    "/api/generate",
    "/api/embed",
    "/api/embeddings",
    "/api/show",
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/messages",
];

/// Routes that change a backend's store.
const STORE_ROUTES: &[&str] = &[
    "/api/pull",
    "/api/push",
    "/api/create",
    "/api/copy",
    "/api/delete",
];

fn authorized(gw: &Gateway, headers: &HeaderMap) -> bool {
    let Some(token) = &gw.token else {
        return true;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // Compared in constant time.
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn handle(gw: Arc<Gateway>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if path == "/" && (method == Method::GET || method == Method::HEAD) {
        return (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Ollama is running",
        )
            .into_response();
    }
    let shape = Shape::of(&path);
    if !authorized(&gw, req.headers()) {
        let mut r = shape.error(
            StatusCode::UNAUTHORIZED,
            "this gateway needs its token: send `Authorization: Bearer <token>` (`facerunner status` shows where the token is)",
        );
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    match (&method, path.as_str()) {
        (&Method::GET | &Method::HEAD, "/api/tags") => merged(&gw, Merge::Tags),
        (&Method::GET, "/api/ps") => merged(&gw, Merge::Ps),
        (&Method::GET, "/v1/models") => merged(&gw, Merge::OpenAi),
        (&Method::GET, "/metrics") => {
            let backends: Vec<(String, bool, u64)> = gw
                .pool
                .all
                .iter()
                .map(|b| {
                    (
                        b.name.clone(),
                        b.with_view(|v| v.healthy),
                        b.in_flight.load(Ordering::Relaxed),
                    )
                })
                .collect();
            (
                [(
                    header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                gw.metrics.render(&backends),
            )
                .into_response()
        }
        (&Method::GET, "/__facerunner/status") => {
            axum::Json(json!({ "backends": gw.pool.report() })).into_response()
        }
        (&Method::POST, "/__facerunner/refresh") => {
            // After an apply: the placement and every backend's models, now.
            gw.reload_placement();
            refresh_now(&gw, Instant::now()).await;
            eprintln!(
                "gateway: refreshed on request: {} placed models, {} of {} backends healthy",
                gw.placement.read().map(|p| p.len()).unwrap_or(0),
                gw.pool.healthy().len(),
                gw.pool.all.len()
            );
            axum::Json(json!({ "backends": gw.pool.report() })).into_response()
        }
        (&Method::GET | &Method::HEAD, "/api/version") => {
            let any = gw.pool.healthy();
            if any.is_empty() {
                return shape.error(StatusCode::BAD_GATEWAY, "no backend is reachable");
            }
            forward(&gw, any, req, Bytes::new(), None, shape).await
        }
        (&Method::GET, p) if p.starts_with("/v1/models/") => {
            let model = p["/v1/models/".len()..].to_string();
            routed(&gw, req, Bytes::new(), &model, None, shape).await
        }
        (&Method::POST, p) if MODEL_ROUTES.contains(&p) => {
            let (req, body) = match read_body(req, shape).await {
                Ok(x) => x,
                Err(r) => return r,
            };
            let mut named = match Named::of(&body, gw.sticky_prefix) {
                Ok(n) => n,
                Err(why) => return shape.error(StatusCode::BAD_REQUEST, &why),
            };
            let prefix = named.prefix.take();
            let model = match named.model(p == "/api/show") {
                Ok(m) => m,
                Err(why) => return shape.error(StatusCode::BAD_REQUEST, &why),
            };
            routed(&gw, req, body, &model, prefix, shape).await
        }
        (&Method::POST | &Method::DELETE, p) if STORE_ROUTES.contains(&p) => {
            let (req, body) = match read_body(req, shape).await {
                Ok(x) => x,
                Err(r) => return r,
            };
            let v = serde_json::from_slice::<Value>(&body).ok();
            let field = |k: &str| {
                v.as_ref()
                    .and_then(|v| v.get(k)?.as_str().map(str::to_string))
                    .filter(|s| !s.is_empty())
            };
            // The model the change is about (where the project places it),
            // and the model a backend must already hold (delete, push, copy).
            let (placed, held) = match p {
                "/api/copy" => (field("destination"), field("source")),
                "/api/delete" | "/api/push" => {
                    let m = model_of(&body, true).ok();
                    (m.clone(), m)
                }
                _ => (model_of(&body, true).ok(), None),
            };
            match store_targets(&gw, req.headers(), placed.as_deref(), held.as_deref()) {
                Ok(t) if t.len() == 1 => forward(&gw, t, req, body, None, shape).await,
                Ok(t) => fan_out(&gw, t, req, body, v.as_ref()).await,
                Err(r) => *r,
            }
        }
        (&Method::HEAD | &Method::POST, p) if p.starts_with("/api/blobs/") => {
            match store_targets(&gw, req.headers(), None, None) {
                // A blob has no model to place: never more than one target.
                Ok(mut t) => match (t.pop(), t.is_empty()) {
                    (Some(b), true) => forward_streaming(&gw, b, req, shape).await,
                    _ => shape.error(
                        StatusCode::CONFLICT,
                        &format!("a blob upload goes to one backend; send the header `{BACKEND_HEADER}: <name>`"),
                    ),
                },
                Err(r) => *r,
            }
        }
        _ => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain")],
            "404 page not found",
        )
            .into_response(),
    }
}

/// Read a request body: capped and timed.
async fn read_body(req: Request, shape: Shape) -> Result<(Request, Bytes), Response> {
    let (parts, body) = req.into_parts();
    // A body that came with the head is read at once, without a timer.
    let mut read = std::pin::pin!(axum::body::to_bytes(body, BODY_LIMIT));
    let at_once = std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
    let read = match at_once {
        Poll::Ready(r) => Ok(r),
        Poll::Pending => tokio::time::timeout(BODY_TIMEOUT, read).await,
    };
    match read {
        Err(_) => Err(shape.error(
            StatusCode::REQUEST_TIMEOUT,
            &format!(
                "the request body did not arrive within {} s",
                BODY_TIMEOUT.as_secs()
            ),
        )),
        Ok(Err(_)) => Err(shape.error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "the request body is larger than the gateway's limit of {} MiB, or was cut off",
                BODY_LIMIT / (1024 * 1024)
            ),
        )),
        Ok(Ok(b)) => Ok((Request::from_parts(parts, Body::empty()), b)),
    }
}

/// The model a JSON body names (`model`, or the old alias `name` where `alias`).
///
/// Only the top-level object's `model` and `name` are kept: every other
/// value (messages, images as base64) is checked as JSON and skipped
/// without being built, so a large chat costs one pass and no copies.
fn model_of(body: &[u8], alias: bool) -> Result<String, String> {
    Named::of(body, false)?.model(alias)
}

/// What routing reads of a JSON body: `model` and `name` (a later
/// duplicate key wins, and a value that is not a string counts as absent,
/// as with a full parse), and, only when asked for (`sticky: prefix`), a
/// hash of the prompt's start: the first two `messages`, the `system`
/// prompt and the first [`PREFIX_BYTES`] of `prompt`; the same
/// conversation gives the same hash at every turn.
#[derive(Default)]
struct Named {
    model: Option<String>,
    name: Option<String>,
    prefix: Option<String>,
}

/// How much of a `prompt` (or `system`) the prefix hash reads.
const PREFIX_BYTES: usize = 4096;

impl Named {
    /// Read `body`; with `prefix`, hash the prompt's start too (otherwise
    /// the prompt is skipped like any other value, never built).
    fn of(body: &[u8], prefix: bool) -> Result<Named, String> {
        use serde::de::DeserializeSeed;
        if body.is_empty() {
            return Err("missing request body".into());
        }
        let mut de = serde_json::Deserializer::from_slice(body);
        let named = NamedSeed { prefix }
            .deserialize(&mut de)
            .and_then(|n| de.end().map(|()| n))
            .map_err(|e| e.to_string())?;
        Ok(named)
    }

    fn model(self, alias: bool) -> Result<String, String> {
        let pick = |v: Option<String>| v.filter(|s| !s.is_empty());
        pick(self.model)
            .or_else(|| if alias { pick(self.name) } else { None })
            .ok_or_else(|| "model is required".into())
    }
}

/// The start of a prompt, hashed as it is read.
#[derive(Default)]
struct Prefix {
    hash: std::collections::hash_map::DefaultHasher,
    any: bool,
}

impl Prefix {
    fn add(&mut self, what: &str, text: &[u8]) {
        use std::hash::Hash;
        what.hash(&mut self.hash);
        text[..text.len().min(PREFIX_BYTES)].hash(&mut self.hash);
        self.any = true;
    }

    fn done(self) -> Option<String> {
        use std::hash::Hasher;
        self.any
            .then(|| format!("prefix:{:016x}", self.hash.finish()))
    }
}

/// One value of a request's JSON as routing reads it: a string, the first
/// two elements of a list (as JSON text; the rest skipped), or anything
/// else (skipped, read as absent, as with a full parse).
enum Loose {
    Str(String),
    List(Vec<String>),
    Other,
}

impl Loose {
    fn string(self) -> Option<String> {
        match self {
            Loose::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Loose {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Loose;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Loose, E> {
                Ok(Loose::Str(v.to_string()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Loose, E> {
                Ok(Loose::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Loose, E> {
                Ok(Loose::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Loose, E> {
                Ok(Loose::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Loose, E> {
                Ok(Loose::Other)
            }
            fn visit_unit<E>(self) -> Result<Loose, E> {
                Ok(Loose::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Loose, A::Error> {
                while a
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Loose::Other)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Loose, A::Error> {
                let mut out = Vec::new();
                while out.len() < 2 {
                    match a.next_element::<Value>()? {
                        Some(v) => out.push(v.to_string()),
                        None => return Ok(Loose::List(out)),
                    }
                }
                while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(Loose::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Reads a [`Named`]; `prefix` says whether the prompt's start is hashed.
struct NamedSeed {
    prefix: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for NamedSeed {
    type Value = Named;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Named, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(field_identifier, rename_all = "lowercase")]
        enum Key {
            Model,
            Name,
            Messages,
            System,
            Prompt,
            #[serde(other)]
            Other,
        }
        struct V {
            prefix: bool,
        }
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Named;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Named, A::Error> {
                let mut out = Named::default();
                let mut prefix = Prefix::default();
                while let Some(k) = a.next_key::<Key>()? {
                    match k {
                        Key::Model => out.model = a.next_value::<Loose>()?.string(),
                        Key::Name => out.name = a.next_value::<Loose>()?.string(),
                        Key::Messages | Key::System | Key::Prompt if !self.prefix => {
                            a.next_value::<serde::de::IgnoredAny>()?;
                        }
                        Key::Messages => {
                            if let Loose::List(first) = a.next_value::<Loose>()? {
                                for text in first {
                                    prefix.add("message", text.as_bytes());
                                }
                            }
                        }
                        Key::System | Key::Prompt => {
                            if let Some(t) = a.next_value::<Loose>()?.string() {
                                prefix.add(
                                    if matches!(k, Key::System) {
                                        "system"
                                    } else {
                                        "prompt"
                                    },
                                    t.as_bytes(),
                                );
                            }
                        }
                        Key::Other => {
                            a.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                out.prefix = prefix.done();
                Ok(out)
            }
        }
        d.deserialize_map(V {
            prefix: self.prefix,
        })
    }
}

/// Forward to the best backend holding `model`; 404 in the route's shape when none does.
async fn routed(
    gw: &Gateway,
    req: Request,
    body: Bytes,
    model: &str,
    prefix: Option<String>,
    shape: Shape,
) -> Response {
    let session = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(prefix);
    let asked = Instant::now();
    let names = gw.names.of(model);
    let mut c = gw.pool.candidates_by_key(&names.key, session.as_deref());
    if c.is_empty() {
        refresh_now(gw, asked).await;
        c = gw.pool.candidates_by_key(&names.key, session.as_deref());
    }
    if c.is_empty() {
        let shown = &names.label;
        let message = match shape {
            Shape::Ollama => format!("model '{shown}' not found"),
            Shape::OpenAi => format!("model \"{shown}\" not found, try pulling it first"),
        };
        return shape.error(StatusCode::NOT_FOUND, &message);
    }
    forward(gw, c, req, body, Some(model), shape).await
}

/// Poll every backend now, unless a poll that started after `asked` has
/// finished meanwhile (it saw everything this caller would): polls run one
/// at a time and callers arriving together share one, so a model pulled
/// (or an apply finished) before the request came is always found, and a
/// flood of unknown names costs one poll at a time.
async fn refresh_now(gw: &Gateway, asked: Instant) {
    let mut last = gw.last_refresh.lock().await;
    if last.is_some_and(|started| started >= asked) {
        return;
    }
    let started = Instant::now();
    gw.pool.refresh(&gw.poll).await;
    *last = Some(started);
}

/// The backends a store-changing request goes to: the one named by the
/// `X-FaceRunner-Backend` header; the only backend; the backends the
/// project places `placed` on (several: the request is fanned out); the
/// only healthy holder of `held`; otherwise a clear refusal (409 when it
/// cannot be told, 404 when no backend holds `held`).
fn store_targets(
    gw: &Gateway,
    headers: &HeaderMap,
    placed: Option<&str>,
    held: Option<&str>,
) -> Result<Vec<Arc<Backend>>, Box<Response>> {
    let names = || {
        gw.pool
            .all
            .iter()
            .map(|b| b.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(v) = headers.get(BACKEND_HEADER) {
        let name = v.to_str().unwrap_or("");
        return gw.pool.named(name).map(|b| vec![b]).ok_or_else(|| {
            Box::new(Shape::Ollama.error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "{BACKEND_HEADER}: no backend is named `{name}`; the backends are {}",
                    names()
                ),
            ))
        });
    }
    if let [only] = gw.pool.all.as_slice() {
        return Ok(vec![only.clone()]);
    }
    if let Some(on) = placed.and_then(|m| gw.placed(m)) {
        let t: Vec<Arc<Backend>> = on.iter().filter_map(|n| gw.pool.named(n)).collect();
        if !t.is_empty() {
            return Ok(t);
        }
    }
    if let Some(m) = held {
        let holders = gw.pool.candidates(m, None);
        match holders.as_slice() {
            [one] => return Ok(vec![one.clone()]),
            [] => {
                return Err(Box::new(Shape::Ollama.error(
                    StatusCode::NOT_FOUND,
                    &format!("model '{m}' not found on any backend"),
                )));
            }
            _ => {}
        }
    }
    let what = placed
        .map(|m| format!("the model '{m}' is not declared in the project's `models:`, so "))
        .unwrap_or_default();
    Err(Box::new(Shape::Ollama.error(
        StatusCode::CONFLICT,
        &format!(
            "this gateway fronts several Ollama servers ({}) and {what}it cannot tell which one this change is for; declare the model with its `service:` in facerunner.yaml (then `facerunner apply`), send the header `{BACKEND_HEADER}: <name>`, or use `facerunner pull` / the server's own address",
            names()
        ),
    )))
}

/// The largest answer kept from each backend of a fanned-out change.
const FAN_OUT_LIMIT: usize = 1024 * 1024;

/// Send a store change to every backend in `targets` at once; wait for
/// each to finish; answer one status (200 when all succeeded, else the
/// first failure's) with, per backend, its outcome: NDJSON progress lines
/// ending in `{"status":"success"}` when the request streams (the default),
/// one JSON object when `"stream": false`.
async fn fan_out(
    gw: &Gateway,
    targets: Vec<Arc<Backend>>,
    req: Request,
    body: Bytes,
    json_body: Option<&Value>,
) -> Response {
    let stream = json_body
        .and_then(|v| v.get("stream"))
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let pq = path_and_query(req.uri());
    let headers = upstream_headers(req.headers(), gw.token.is_some());
    let method = req.method().clone();
    let one = |b: Arc<Backend>| {
        let (headers, method, body, pq) = (headers.clone(), method.clone(), body.clone(), &pq);
        async move {
            let _guard = b.start();
            let started = Instant::now();
            let sent = b
                .upstream
                .send(Outgoing {
                    method,
                    path_and_query: pq.clone(),
                    headers,
                    body: OutBody::Whole(body),
                })
                .await;
            let outcome = match sent {
                Err(e) => Err((StatusCode::BAD_GATEWAY, crate::style::with_causes(&e))),
                Ok(r) => {
                    let status = r.status();
                    let mut timing = gw.metrics.time(&b.name, "", started);
                    let mut last = Vec::new();
                    let mut answer = r.into_body();
                    let mut cut = None;
                    while let Some(frame) =
                        std::future::poll_fn(|cx| std::pin::Pin::new(&mut answer).poll_frame(cx))
                            .await
                    {
                        match frame.map(|f| f.into_data().unwrap_or_default()) {
                            Ok(c) => {
                                timing.chunk();
                                // Keep only the tail: the outcome is the last line.
                                last.extend_from_slice(&c);
                                if last.len() > FAN_OUT_LIMIT {
                                    last.drain(..last.len() - FAN_OUT_LIMIT);
                                }
                            }
                            Err(e) => {
                                cut = Some(crate::style::with_causes(&e));
                                break;
                            }
                        }
                    }
                    let text = String::from_utf8_lossy(&last);
                    let line = text
                        .lines()
                        .rev()
                        .find(|l| !l.trim().is_empty())
                        .unwrap_or("");
                    let error = serde_json::from_str::<Value>(line)
                        .ok()
                        .and_then(|v| v.get("error")?.as_str().map(str::to_string));
                    match (cut, error) {
                        (Some(c), _) => {
                            timing.fail();
                            Err((StatusCode::BAD_GATEWAY, format!("cut off: {c}")))
                        }
                        (None, Some(e)) => {
                            timing.fail();
                            let s = if status.is_success() {
                                StatusCode::INTERNAL_SERVER_ERROR
                            } else {
                                status
                            };
                            Err((s, e))
                        }
                        (None, None) if !status.is_success() => {
                            timing.fail();
                            Err((status, format!("HTTP {status}")))
                        }
                        (None, None) => Ok(()),
                    }
                }
            };
            if outcome.is_err() {
                b.errors.fetch_add(1, Ordering::Relaxed);
            }
            (b.name.clone(), outcome)
        }
    };
    let results = futures_util::future::join_all(targets.into_iter().map(one)).await;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(n, r)| r.as_ref().err().map(|(_, e)| format!("{n}: {e}")))
        .collect();
    let ok: Vec<&str> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(n, _)| n.as_str())
        .collect();
    let status = results
        .iter()
        .find_map(|(_, r)| r.as_ref().err().map(|(s, _)| *s))
        .unwrap_or(StatusCode::OK);
    let error = (!failed.is_empty()).then(|| {
        format!(
            "failed on {}{}",
            failed.join("; "),
            if ok.is_empty() {
                String::new()
            } else {
                format!(" (done on {})", ok.join(", "))
            }
        )
    });
    if !stream {
        let body = match &error {
            Some(e) => json!({ "error": e }),
            None => json!({ "status": "success", "backends": ok }),
        };
        return (status, axum::Json(body)).into_response();
    }
    let mut out = String::new();
    for n in &ok {
        out.push_str(&format!(
            "{}\n",
            json!({ "status": format!("success on {n}") })
        ));
    }
    match &error {
        Some(e) => out.push_str(&format!("{}\n", json!({ "error": e }))),
        None => out.push_str(&format!("{}\n", json!({ "status": "success" }))),
    }
    (
        status,
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        out,
    )
        .into_response()
}

/// Request headers not passed on: hop-by-hop ones, the host, the length
/// (set again), `Expect` (the body is read already), and the gateway's own token.
fn upstream_headers(h: &HeaderMap, strip_auth: bool) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (k, v) in h {
        let n = k.as_str();
        let hop = matches!(
            n,
            "connection"
                | "keep-alive"
                | "proxy-authenticate"
                | "proxy-authorization"
                | "te"
                | "trailer"
                | "transfer-encoding"
                | "upgrade"
                | "host"
                | "content-length"
                | "expect"
        );
        if hop || (strip_auth && n == "authorization") {
            continue;
        }
        out.append(k.clone(), v.clone());
    }
    out
}

/// Send to the first candidate that answers; a candidate that cannot be
/// reached, or is busy (503) while another remains, is skipped.
async fn forward(
    gw: &Gateway,
    candidates: Vec<Arc<Backend>>,
    req: Request,
    mut body: Bytes,
    model: Option<&str>,
    shape: Shape,
) -> Response {
    let mut pq = path_and_query(req.uri());
    let mut headers = upstream_headers(req.headers(), gw.token.is_some());
    let mut method = req.method().clone();
    let n = candidates.len();
    let mut why = Vec::new();
    // Series are labelled only by models a backend holds (bounded), else "".
    let label = model
        .map(|m| gw.names.of(m).label.clone())
        .unwrap_or_default();
    for (i, b) in candidates.into_iter().enumerate() {
        let guard = b.start();
        let started = Instant::now();
        // Copied for every candidate but the last, which takes them.
        let out = if i + 1 < n {
            Outgoing {
                method: method.clone(),
                path_and_query: pq.clone(),
                headers: headers.clone(),
                body: OutBody::Whole(body.clone()),
            }
        } else {
            Outgoing {
                method: std::mem::take(&mut method),
                path_and_query: std::mem::replace(&mut pq, PathAndQuery::from_static("/")),
                headers: std::mem::take(&mut headers),
                body: OutBody::Whole(std::mem::take(&mut body)),
            }
        };
        let sent = b.upstream.send(out).await;
        match sent {
            Err(e) => {
                b.errors.fetch_add(1, Ordering::Relaxed);
                gw.metrics.failed(&b.name, &label);
                let msg = crate::style::with_causes(&e);
                if e.is_connect() {
                    b.mark_down(msg.clone());
                }
                why.push(format!("{}: {msg}", b.name));
            }
            Ok(r) if r.status() == StatusCode::SERVICE_UNAVAILABLE && i + 1 < n => {
                b.errors.fetch_add(1, Ordering::Relaxed);
                gw.metrics.failed(&b.name, &label);
                why.push(format!("{}: busy (503)", b.name));
            }
            Ok(r) => {
                let timing = gw.metrics.time(&b.name, &label, started);
                return relay(b, guard, r, timing);
            }
        }
    }
    let what = model
        .map(|m| format!(" for model '{m}'"))
        .unwrap_or_default();
    shape.error(
        StatusCode::BAD_GATEWAY,
        &format!("no backend could answer{what}: {}", why.join("; ")),
    )
}

fn path_and_query(uri: &axum::http::Uri) -> PathAndQuery {
    uri.path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"))
}

/// Forward a request whose body is streamed (blob uploads), to one backend.
async fn forward_streaming(gw: &Gateway, b: Arc<Backend>, req: Request, shape: Shape) -> Response {
    let (parts, body) = req.into_parts();
    let guard = b.start();
    let started = Instant::now();
    let sent = b
        .upstream
        .send(Outgoing {
            method: parts.method.clone(),
            path_and_query: path_and_query(&parts.uri),
            headers: upstream_headers(&parts.headers, gw.token.is_some()),
            body: OutBody::Stream(body),
        })
        .await;
    match sent {
        Ok(r) => {
            let timing = gw.metrics.time(&b.name, "", started);
            relay(b, guard, r, timing)
        }
        Err(e) => {
            b.errors.fetch_add(1, Ordering::Relaxed);
            gw.metrics.failed(&b.name, "");
            shape.error(
                StatusCode::BAD_GATEWAY,
                &format!("{}: {}", b.name, crate::style::with_causes(&e)),
            )
        }
    }
}

/// The backend's answer, its body passed through as it comes (see
/// [`Relay`]), with the backend's name in [`super::BACKEND_HEADER`].
fn relay(
    b: Arc<Backend>,
    guard: InFlight,
    r: axum::http::Response<Answer>,
    mut timing: Timing,
) -> Response {
    let (mut parts, answer) = r.into_parts();
    if parts.status.is_server_error() {
        b.errors.fetch_add(1, Ordering::Relaxed);
        timing.fail();
    }
    let sse = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    for hop in [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::CONTENT_LENGTH,
        HeaderName::from_static("keep-alive"),
    ] {
        parts.headers.remove(hop);
    }
    if let Some(v) = &b.name_header {
        parts.headers.insert(super::BACKEND_HEADER, v.clone());
    }
    let body = Relay {
        answer,
        next: None,
        sse,
        done: false,
        timing,
        backend: b,
        _guard: guard,
    };
    Response::from_parts(parts, Body::new(body))
}

/// An answer's body on its way to the client, as the backend's connection
/// hands it over: what was read together leaves together, as one chunk
/// (never waiting for more; like nginx, which re-chunks what each read
/// brought), so a client reads one chunk where the backend wrote eight.
/// It counts the request in flight until the client has it all or goes
/// away; going away drops the answer, which closes the connection to the
/// backend (so it stops). A stream the backend cuts ends with an error
/// line in the stream's format; an answer of a known length cannot take
/// one and is cut off in turn.
struct Relay {
    answer: Answer,
    /// What the answer gave after the data last handed on.
    next: Option<Next>,
    sse: bool,
    done: bool,
    timing: Timing,
    backend: Arc<Backend>,
    _guard: InFlight,
}

/// One step of an answer.
enum Next {
    Frame(hyper::body::Frame<Bytes>),
    Fail(hyper::Error),
    End,
}

/// Data frames already read are joined up to this size; a larger frame
/// goes on as it is.
const JOIN_LIMIT: usize = 16 * 1024;

impl Relay {
    fn step(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Next> {
        use std::task::Poll;
        if let Some(n) = self.next.take() {
            return Poll::Ready(n);
        }
        match std::pin::Pin::new(&mut self.answer).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => Poll::Ready(Next::Frame(f)),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Next::Fail(e)),
            Poll::Ready(None) => Poll::Ready(Next::End),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl hyper::body::Body for Relay {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, axum::BoxError>>> {
        use std::task::Poll;
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let frame = match this.step(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Next::Frame(f)) => f,
            Poll::Ready(Next::End) => {
                this.done = true;
                return Poll::Ready(None);
            }
            Poll::Ready(Next::Fail(e)) => {
                this.done = true;
                this.backend.errors.fetch_add(1, Ordering::Relaxed);
                this.timing.fail();
                let msg = format!(
                    "the backend {} failed mid-stream: {}",
                    this.backend.name,
                    crate::style::with_causes(&e)
                );
                if this.answer.size_hint().exact().is_some() {
                    return Poll::Ready(Some(Err(msg.into())));
                }
                return Poll::Ready(Some(Ok(hyper::body::Frame::data(error_line(
                    this.sse, &msg,
                )))));
            }
        };
        let first = match frame.into_data() {
            Ok(d) => d,
            // Trailers go on as they are.
            Err(f) => return Poll::Ready(Some(Ok(f))),
        };
        this.timing.chunk();
        let mut joined: Option<Vec<u8>> = None;
        while joined.as_ref().map_or(first.len(), |j| j.len()) < JOIN_LIMIT {
            match this.step(cx) {
                Poll::Ready(Next::Frame(f)) if f.is_data() => {
                    let more = f.into_data().unwrap_or_default();
                    joined
                        .get_or_insert_with(|| first.to_vec())
                        .extend_from_slice(&more);
                }
                Poll::Ready(n) => {
                    this.next = Some(n);
                    break;
                }
                Poll::Pending => break,
            }
        }
        let data = joined.map_or(first, Bytes::from);
        Poll::Ready(Some(Ok(hyper::body::Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        match &self.next {
            _ if self.done => true,
            Some(Next::End) => true,
            Some(_) => false,
            None => self.answer.is_end_stream(),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.answer.size_hint()
    }
}

/// The last line of a stream cut by its backend, in the stream's format.
fn error_line(sse: bool, message: &str) -> Bytes {
    if sse {
        let v = json!({ "error": { "message": message, "type": "api_error" } });
        Bytes::from(format!("data: {v}\n\n"))
    } else {
        Bytes::from(format!("{}\n", json!({ "error": message })))
    }
}

enum Merge {
    Tags,
    Ps,
    OpenAi,
}

/// `/api/tags`, `/api/ps`, `/v1/models` over every healthy backend, each
/// model once.
fn merged(gw: &Gateway, what: Merge) -> Response {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<Value> = Vec::new();
    for b in gw.pool.healthy() {
        let v = b.view();
        let list = match what {
            Merge::Ps => v.ps,
            Merge::Tags | Merge::OpenAi => v.tags,
        };
        for m in list {
            let name = m.get("name").and_then(Value::as_str).unwrap_or("");
            if seen.insert(super::backends::model_key(name)) {
                out.push(m);
            }
        }
    }
    match what {
        Merge::Tags | Merge::Ps => axum::Json(json!({ "models": out })).into_response(),
        Merge::OpenAi => {
            let data: Vec<Value> = out
                .iter()
                .filter_map(|m| m.get("name")?.as_str())
                .map(|name| {
                    let owner = crate::names::ModelName::parse(name)
                        .map(|n| n.namespace().to_string())
                        .unwrap_or_else(|_| "library".into());
                    json!({ "id": name, "object": "model", "created": 0, "owned_by": owner })
                })
                .collect();
            axum::Json(json!({ "object": "list", "data": data })).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_comes_from_model_or_its_old_alias() {
        assert_eq!(model_of(br#"{"model":"a:1b"}"#, false), Ok("a:1b".into()));
        assert_eq!(model_of(br#"{"name":"a"}"#, true), Ok("a".into()));
        assert_eq!(
            model_of(br#"{"name":"a"}"#, false),
            Err("model is required".into())
        );
        assert_eq!(model_of(b"", false), Err("missing request body".into()));
        assert!(model_of(b"{not json", false).is_err());
        assert_eq!(
            model_of(br#"{"model":""}"#, false),
            Err("model is required".into())
        );
        // Only the top level counts; other values are skipped, whatever they hold.
        assert_eq!(
            model_of(
                br#"{"messages":[{"model":"x","images":["aGk="]}],"options":{"model":"y"},"model":"a","n":[1,2.5,null,true]}"#,
                false
            ),
            Ok("a".into())
        );
        assert_eq!(
            model_of(br#"{"options":{"model":"y"}}"#, false),
            Err("model is required".into())
        );
        // Not a string: absent, as with a full parse.
        assert_eq!(model_of(br#"{"model":5,"name":"b"}"#, true), Ok("b".into()));
        assert_eq!(
            model_of(br#"{"model":{"a":1}}"#, false),
            Err("model is required".into())
        );
        // A later duplicate wins; an escaped key is the same key.
        assert_eq!(
            model_of(br#"{"model":"a","model":"b"}"#, false),
            Ok("b".into())
        );
        assert_eq!(model_of(br#"{"mod\u0065l":"c"}"#, false), Ok("c".into()));
        // Broken JSON anywhere is still refused, and so is trailing junk.
        assert!(model_of(br#"{"model":"a","messages":[}"#, false).is_err());
        assert!(model_of(br#"{"model":"a"} x"#, false).is_err());
        assert!(model_of(br#"["model"]"#, false).is_err());
    }

    #[tokio::test]
    async fn lines_read_together_reach_the_client_as_one_chunk_and_counters_follow_the_body() {
        use super::super::upstream::tests::{LINES, backend_url};
        let (url, _) = backend_url(LINES, true).await;
        let b = Arc::new(Backend::new("b".into(), url).expect("backend"));
        let metrics = super::super::metrics::Metrics::default();
        let guard = b.start();
        let answer = b
            .upstream
            .send(Outgoing {
                method: Method::POST,
                path_and_query: PathAndQuery::from_static("/api/chat"),
                headers: HeaderMap::new(),
                body: OutBody::Whole(Bytes::from_static(b"{}")),
            })
            .await
            .expect("answer");
        let timing = metrics.time("b", "m", Instant::now());
        let resp = relay(b.clone(), guard, answer, timing);
        assert_eq!(resp.headers()[BACKEND_HEADER], "b");
        assert_eq!(
            b.in_flight.load(Ordering::Relaxed),
            1,
            "in flight while the body is"
        );
        let mut body = resp.into_body();
        let first = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx))
            .await
            .expect("a frame")
            .expect("ok")
            .into_data()
            .expect("data");
        assert_eq!(
            first, "a\nb\nc\nd\ne\nf\ng\nh\n",
            "the eight lines in one chunk"
        );
        let end = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
        assert!(end.is_none());
        drop(body);
        assert_eq!(b.in_flight.load(Ordering::Relaxed), 0);
        assert_eq!(b.errors.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_conversation_keeps_its_prefix_from_turn_to_turn() {
        let chat = |msgs: &str| {
            Named::of(
                format!(r#"{{"model":"m","messages":[{msgs}],"stream":true}}"#).as_bytes(),
                true,
            )
            .expect("parsed")
            .prefix
        };
        let sys = r#"{"role":"system","content":"be brief"}"#;
        let q1 = r#"{"role":"user","content":"what is rust?"}"#;
        let a1 = r#"{"role":"assistant","content":"a language"}"#;
        let q2 = r#"{"role":"user","content":"and go?"}"#;
        let turn1 = chat(&[sys, q1].join(","));
        assert!(turn1.is_some());
        assert_eq!(turn1, chat(&[sys, q1, a1, q2].join(",")), "the next turn");
        assert_ne!(turn1, chat(&[sys, q2].join(",")), "another conversation");
        assert_eq!(chat(""), None, "no messages, no prefix");
        // Not a list: no prefix, and the model is still found.
        let n = Named::of(br#"{"messages":null,"model":"m"}"#, true).expect("parsed");
        assert_eq!(n.prefix, None);
        assert_eq!(n.model(false), Ok("m".into()));
        // generate: the system prompt and the prompt's first 4 KiB.
        let generate = |system: &str, prompt: &str| {
            Named::of(
                serde_json::json!({"model": "m", "system": system, "prompt": prompt})
                    .to_string()
                    .as_bytes(),
                true,
            )
            .expect("parsed")
            .prefix
        };
        let long = "x".repeat(PREFIX_BYTES);
        assert_eq!(
            generate("s", &format!("{long}1")),
            generate("s", &format!("{long}2"))
        );
        assert_ne!(generate("s", "a"), generate("t", "a"));
        assert_eq!(
            Named::of(br#"{"model":"m"}"#, true).expect("parsed").prefix,
            None
        );
        // Not asked for: none, and the messages are skipped (still checked as JSON).
        let body = format!(r#"{{"model":"m","messages":[{sys},{q1}]}}"#);
        let n = Named::of(body.as_bytes(), false).expect("parsed");
        assert_eq!((n.prefix.as_deref(), n.model.as_deref()), (None, Some("m")));
        assert!(Named::of(br#"{"model":"m","messages":[}"#, false).is_err());
    }

    #[test]
    fn the_token_is_compared_whole() {
        let gw = |token: Option<&str>| Gateway {
            pool: super::super::backends::Pool { all: vec![] },
            poll: crate::http::client_builder().build().expect("client"),
            token: token.map(str::to_string),
            last_refresh: tokio::sync::Mutex::new(None),
            metrics: Default::default(),
            placement: Default::default(),
            place: vec![],
            placement_file: None,
            sticky_prefix: false,
            names: Default::default(),
        };
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(v).expect("value"),
            );
            h
        };
        assert!(authorized(&gw(None), &HeaderMap::new()));
        let g = gw(Some("secret"));
        assert!(!authorized(&g, &HeaderMap::new()));
        assert!(!authorized(&g, &with("Bearer secre")));
        assert!(!authorized(&g, &with("Bearer secretx")));
        assert!(!authorized(&g, &with("secret")));
        assert!(authorized(&g, &with("Bearer secret")));
    }
}
