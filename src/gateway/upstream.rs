//! The gateway's own connections to one backend: a small keep-alive pool
//! of HTTP/1 connections, each driven by the task that answers the client.
//!
//! Why not a ready-made client (reqwest, hyper-util's `Client`): those run
//! each connection in a task of its own, which hands the answer's body over
//! one chunk per turn; the client side, finding nothing more ready, flushes
//! after every chunk. An answer whose eight lines arrived in one read left
//! the gateway in nine `writev` calls (nginx: one), and more than half the
//! gateway's time went to the kernel. Here the connection is polled by
//! whoever reads its body ([`Answer`]): every chunk already read from the
//! backend is handed on in the same poll, and the client's side flushes
//! once, when the backend has nothing more to give.
//!
//! - A connection goes back to the pool only once its answer was read to
//!   the end; a client that goes away drops the answer and with it the
//!   connection, which is how the backend learns to stop.
//! - A kept connection the backend closed meanwhile is found before use,
//!   or, when it closes as the request leaves, the request is sent once
//!   more on a new connection (a request whose body cannot be sent again
//!   is not).
//! - Connecting is bounded by [`super::CONNECT_TIMEOUT`]; idle connections
//!   are dropped after [`IDLE_FOR`] and at most [`MAX_IDLE`] are kept.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderMap, HeaderValue, Method, Request, Response, Uri, header};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{Builder, Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long a kept connection may wait for its next request.
pub const IDLE_FOR: Duration = Duration::from_secs(30);
/// The most connections kept open to one backend while idle.
pub const MAX_IDLE: usize = 256;

/// Why a request did not get an answer's head from the backend.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// No connection could be made.
    #[error("cannot connect to {addr}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The connection failed before the answer's head arrived.
    #[error("the connection to {addr} failed")]
    Http {
        /// `host:port`.
        addr: String,
        /// Why.
        #[source]
        source: hyper::Error,
    },
}

impl Failure {
    /// Whether the backend could not be reached at all (it is down).
    pub fn is_connect(&self) -> bool {
        matches!(self, Failure::Connect { .. })
    }
}

/// Where a backend listens: `http://host[:port][/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    host: String,
    port: u16,
    /// The path every request's path is put under (`""` for none).
    prefix: String,
    /// The `Host` header sent.
    authority: HeaderValue,
}

impl Target {
    /// Read a base URL; only plain `http://` (backends are local or on a
    /// private network; put TLS in front of the gateway, not behind it).
    pub fn parse(url: &str) -> Result<Target, String> {
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!(
                "`{url}`: the gateway speaks plain http:// to its backends"
            ));
        }
        let auth = uri
            .authority()
            .ok_or_else(|| format!("`{url}` has no host"))?;
        if auth.as_str().contains('@') {
            return Err(format!(
                "`{url}`: a backend URL carries no user or password"
            ));
        }
        if uri.query().is_some() {
            return Err(format!("`{url}`: a backend URL has no query"));
        }
        let host = auth.host().trim_matches(['[', ']']).to_string();
        let port = auth.port_u16().unwrap_or(80);
        let authority =
            HeaderValue::from_str(auth.as_str()).map_err(|e| format!("`{url}`: {e}"))?;
        Ok(Target {
            host,
            port,
            prefix: uri.path().trim_end_matches('/').to_string(),
            authority,
        })
    }

    fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One open connection: the handle requests go on, and the connection
/// itself, polled by whoever holds it.
struct Link {
    send: SendRequest<Body>,
    /// `None` once it has finished (closed, or failed).
    conn: Option<Connection<TokioIo<TcpStream>, Body>>,
    /// When it went back to the pool.
    idle_since: Instant,
}

impl Link {
    /// Let the connection do what it can now (read, write, decode);
    /// `true` while it is still open.
    fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(c) = &mut self.conn
            && Pin::new(c).poll(cx).is_ready()
        {
            self.conn = None;
        }
        self.conn.is_some()
    }

    /// Whether it can take a request now (polled once, so a close the
    /// backend sent meanwhile is seen).
    async fn usable(&mut self) -> bool {
        poll_fn(|cx| Poll::Ready(self.drive(cx))).await && self.send.is_ready()
    }
}

/// One backend's kept connections.
#[derive(Debug)]
pub struct Upstream {
    target: Target,
    idle: Mutex<Vec<Link>>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").finish_non_exhaustive()
    }
}

/// A request for [`Upstream::send`].
pub struct Outgoing {
    /// The method.
    pub method: Method,
    /// Path and query, as the client sent them.
    pub path_and_query: PathAndQuery,
    /// Headers to pass on (hop-by-hop ones already removed).
    pub headers: HeaderMap,
    /// The body: whole (it can be sent again on a new connection), or
    /// streamed (sent once).
    pub body: OutBody,
}

/// The body of an [`Outgoing`] request.
pub enum OutBody {
    /// Read whole already.
    Whole(Bytes),
    /// Passed on as it arrives (blob uploads).
    Stream(Body),
}

impl Upstream {
    /// A pool for `target`; nothing is connected yet.
    pub fn new(target: Target) -> Upstream {
        Upstream {
            target,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// `host:port`, for messages.
    pub fn addr(&self) -> String {
        self.target.addr()
    }

    /// Send `out` and wait for the answer's head. The answer's body drives
    /// the connection, and gives it back to this pool when read to the end.
    pub async fn send(self: &Arc<Self>, out: Outgoing) -> Result<Response<Answer>, Failure> {
        let Outgoing {
            method,
            path_and_query,
            headers,
            body,
        } = out;
        let build = |body: Body| {
            let mut req = Request::new(body);
            *req.method_mut() = method.clone();
            *req.uri_mut() = if self.target.prefix.is_empty() {
                Uri::from(path_and_query.clone())
            } else {
                format!("{}{path_and_query}", self.target.prefix)
                    .parse()
                    .unwrap_or_else(|_| Uri::from_static("/"))
            };
            *req.headers_mut() = headers.clone();
            req.headers_mut()
                .insert(header::HOST, self.target.authority.clone());
            req
        };
        let (whole, mut body) = match body {
            OutBody::Whole(b) => (Some(b), None),
            OutBody::Stream(s) => (None, Some(s)),
        };
        loop {
            let (mut link, reused) = self.link().await?;
            let req = match (&whole, body.take()) {
                (Some(b), _) => build(Body::from(b.clone())),
                (None, Some(s)) => build(s),
                (None, None) => unreachable!("a streamed body is sent once"),
            };
            match exchange(&mut link, req).await {
                Ok(head) => {
                    let (parts, incoming) = head.into_parts();
                    let answer = Answer {
                        body: incoming,
                        link: Some(link),
                        pool: self.clone(),
                    };
                    return Ok(Response::from_parts(parts, answer));
                }
                // A kept connection the backend closed as the request left:
                // once more on a new one, when the body can be sent again.
                Err(e)
                    if reused
                        && whole.is_some()
                        && (e.is_canceled() || e.is_incomplete_message()) =>
                {
                    continue;
                }
                Err(source) => {
                    return Err(Failure::Http {
                        addr: self.target.addr(),
                        source,
                    });
                }
            }
        }
    }

    /// A kept connection that is still open (newest first), else a new one;
    /// with whether it was kept.
    async fn link(&self) -> Result<(Link, bool), Failure> {
        loop {
            let kept = self.idle.lock().ok().and_then(|mut v| v.pop());
            let Some(mut link) = kept else { break };
            if link.idle_since.elapsed() < IDLE_FOR && link.usable().await {
                return Ok((link, true));
            }
        }
        let failed = |source| Failure::Connect {
            addr: self.target.addr(),
            source,
        };
        let connect = TcpStream::connect((self.target.host.as_str(), self.target.port));
        let stream = match tokio::time::timeout(super::CONNECT_TIMEOUT, connect).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(failed(e)),
            Err(_) => {
                return Err(failed(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "no connection within {} s",
                        super::CONNECT_TIMEOUT.as_secs()
                    ),
                )));
            }
        };
        // Requests and answers leave whole, at once (no Nagle wait).
        let _ = stream.set_nodelay(true);
        let (send, conn) = Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|source| Failure::Http {
                addr: self.target.addr(),
                source,
            })?;
        Ok((
            Link {
                send,
                conn: Some(conn),
                idle_since: Instant::now(),
            },
            false,
        ))
    }

    /// Keep `link` for a later request, if it can take one.
    fn keep(&self, mut link: Link) {
        if !link.send.is_ready() || link.conn.is_none() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            // Stamped under the lock, so they lie in the order they went
            // idle and the expired ones lead: no walk over all of them.
            let now = Instant::now();
            link.idle_since = now;
            let expired = idle.partition_point(|l| now.duration_since(l.idle_since) >= IDLE_FOR);
            idle.drain(..expired);
            if idle.len() < MAX_IDLE {
                idle.push(link);
            }
        }
    }
}

/// Send `req` on `link`, driving the connection in this task until the
/// answer's head is in.
async fn exchange(link: &mut Link, req: Request<Body>) -> Result<Response<Incoming>, hyper::Error> {
    let mut answer = std::pin::pin!(link.send.send_request(req));
    poll_fn(|cx| {
        if let Poll::Ready(r) = answer.as_mut().poll(cx) {
            return Poll::Ready(r);
        }
        // The connection writes the request and reads the head; then the
        // answer is ready (or failed, when the connection ended).
        link.drive(cx);
        answer.as_mut().poll(cx)
    })
    .await
}

/// An answer's body, read straight from its connection: each poll first
/// takes what the connection has already decoded, and only when nothing
/// is there lets the connection read more. At the end the connection goes
/// back to its pool; dropped before the end, it is closed.
pub struct Answer {
    body: Incoming,
    link: Option<Link>,
    pool: Arc<Upstream>,
}

impl hyper::body::Body for Answer {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let mut drove = false;
        loop {
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(None) => {
                    if let Some(mut link) = this.link.take() {
                        // Let it settle (the end of one answer) before it is kept.
                        link.drive(cx);
                        this.pool.keep(link);
                    }
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(r)) => {
                    if r.is_err() {
                        this.link = None;
                    }
                    return Poll::Ready(Some(r));
                }
                Poll::Pending if !drove => {
                    drove = true;
                    match &mut this.link {
                        Some(link) => {
                            if !link.drive(cx) {
                                // Finished: the body ends (or fails) on the next poll.
                                this.link = None;
                            }
                        }
                        None => return Poll::Pending,
                    }
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Waker};

    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method};
    use hyper::body::Body as _;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::{Answer, OutBody, Outgoing, Target, Upstream};

    /// A backend on a free port that answers each request with `answer`;
    /// after answering, it closes the connection unless `keep`. Counts
    /// the connections it accepted.
    async fn backend(answer: &'static [u8], keep: bool) -> (Arc<Upstream>, Arc<AtomicUsize>) {
        let (url, accepted) = backend_url(answer, keep).await;
        let target = Target::parse(&url).expect("url");
        (Arc::new(Upstream::new(target)), accepted)
    }

    /// [`backend`]'s server alone: its URL.
    pub(in crate::gateway) async fn backend_url(
        answer: &'static [u8],
        keep: bool,
    ) -> (String, Arc<AtomicUsize>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        // One request: its head (these requests have no body).
                        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                            match s.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        }
                        buf.clear();
                        if s.write_all(answer).await.is_err() || !keep {
                            return;
                        }
                    }
                });
            }
        });
        (format!("http://127.0.0.1:{port}"), accepted)
    }

    fn get() -> Outgoing {
        Outgoing {
            method: Method::GET,
            path_and_query: axum::http::uri::PathAndQuery::from_static("/api/chat"),
            headers: HeaderMap::new(),
            body: OutBody::Whole(Bytes::new()),
        }
    }

    async fn read_all(mut a: Answer) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(f) =
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut a).poll_frame(cx)).await
        {
            out.extend_from_slice(&f.expect("frame").into_data().unwrap_or_default());
        }
        out
    }

    /// An NDJSON answer of eight lines in eight chunks, written at once.
    pub(in crate::gateway) const LINES: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n\
        2\r\na\n\r\n2\r\nb\n\r\n2\r\nc\n\r\n2\r\nd\n\r\n2\r\ne\n\r\n2\r\nf\n\r\n2\r\ng\n\r\n2\r\nh\n\r\n0\r\n\r\n";

    #[tokio::test]
    async fn chunks_read_together_are_handed_over_together() {
        let (up, _) = backend(LINES, true).await;
        let mut a = up.send(get()).await.expect("answer").into_body();
        // The first chunk, once it is there …
        let first = std::future::poll_fn(|cx| std::pin::Pin::new(&mut a).poll_frame(cx)).await;
        assert_eq!(
            first
                .expect("a frame")
                .expect("ok")
                .into_data()
                .expect("data"),
            "a\n"
        );
        // … brings the seven others and the end with it, without another
        // read: a poll that cannot wait gets each of them at once.
        let mut cx = Context::from_waker(Waker::noop());
        let mut rest = Vec::new();
        loop {
            match std::pin::Pin::new(&mut a).poll_frame(&mut cx) {
                Poll::Ready(Some(f)) => {
                    rest.extend_from_slice(&f.expect("ok").into_data().expect("data"))
                }
                Poll::Ready(None) => break,
                Poll::Pending => panic!("waited after {:?}", String::from_utf8_lossy(&rest)),
            }
        }
        assert_eq!(rest, b"b\nc\nd\ne\nf\ng\nh\n");
    }

    #[tokio::test]
    async fn a_connection_read_to_the_end_is_kept_and_one_the_backend_closed_is_replaced() {
        let (up, accepted) = backend(LINES, true).await;
        for _ in 0..3 {
            let a = up.send(get()).await.expect("answer").into_body();
            assert_eq!(read_all(a).await.len(), 16);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one kept connection");
        // Dropped before its end: that connection is closed, not kept.
        let a = up.send(get()).await.expect("answer").into_body();
        drop(a);
        assert_eq!(
            read_all(up.send(get()).await.expect("answer").into_body())
                .await
                .len(),
            16
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 2);

        // A backend that closes after each answer (without saying so):
        // every request still gets its answer, on a new connection.
        let (up, accepted) = backend(LINES, false).await;
        for _ in 0..5 {
            let a = up.send(get()).await.expect("answer").into_body();
            assert_eq!(read_all(a).await.len(), 16);
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn a_backend_that_is_not_there_is_a_connect_failure() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let up = Arc::new(Upstream::new(
            Target::parse(&format!("http://127.0.0.1:{port}")).expect("url"),
        ));
        let e = up.send(get()).await.err().expect("no backend");
        assert!(e.is_connect(), "{e}");
    }

    #[test]
    fn backend_urls_are_plain_http_with_an_optional_prefix() {
        let t = Target::parse("http://127.0.0.1:11434").expect("plain");
        assert_eq!(
            (t.host.as_str(), t.port, t.prefix.as_str()),
            ("127.0.0.1", 11434, "")
        );
        assert_eq!(t.addr(), "127.0.0.1:11434");
        let t = Target::parse("http://[::1]:8080/ollama/").expect("v6 and prefix");
        assert_eq!(
            (t.host.as_str(), t.port, t.prefix.as_str()),
            ("::1", 8080, "/ollama")
        );
        assert_eq!(t.addr(), "[::1]:8080");
        assert_eq!(t.authority, "[::1]:8080");
        assert_eq!(Target::parse("http://gpu-box").expect("no port").port, 80);
        for bad in [
            "https://x:1",
            "x:1",
            "http://u:p@x:1",
            "http://x:1/?a=b",
            "ftp://x",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
