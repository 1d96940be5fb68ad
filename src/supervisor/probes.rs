//! Readiness and health probes: HTTP, TCP, exec.
//!
//! A probe task runs beside each running service and reports [`Health`]
//! changes to the service's actor. Semantics follow compose healthchecks:
//! the first check runs at spawn, then one every `start_interval` (when
//! set) until the first success and every `interval` after that; a check that
//! takes longer than `timeout` fails; failures during `start_period` do not
//! count until the first success; after `retries` consecutive counted
//! failures the service is `unhealthy`. Unhealthy is shown in status (and
//! fails `up` when it happens before the first success) but does not
//! restart the service: a slow-but-alive server (a model loading, a
//! database migration) is better left alone than killed in a loop; crashes
//! are what the restart policy handles.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::model::spec::{Check, Probe};
use crate::model::wire::Health;

/// Where exec probes run.
#[derive(Debug, Clone)]
pub struct ExecContext {
    /// Working directory.
    pub cwd: PathBuf,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
}

/// Run `probe` forever, sending each change of health.
pub async fn watch(probe: Probe, ctx: ExecContext, tx: mpsc::Sender<Health>) {
    let spawned = Instant::now();
    // One client for every HTTP probe of the daemon (a client holds a TLS
    // root store and a connection pool: ~140 KiB each), none for others.
    let http = matches!(probe.check, Check::Http { .. })
        .then(shared_http)
        .flatten();
    let mut health = Health::Starting;
    let mut ever_healthy = false;
    let mut failures = 0u32;
    let mut first = true;
    loop {
        if !first {
            tokio::time::sleep(next_delay(&probe, ever_healthy)).await;
        }
        first = false;
        let result = check(&probe.check, probe.timeout, http, &ctx).await;
        let next = match result {
            Ok(()) => {
                ever_healthy = true;
                failures = 0;
                Health::Healthy
            }
            Err(_) if !ever_healthy && spawned.elapsed() < probe.start_period => Health::Starting,
            Err(e) => {
                failures += 1;
                if failures >= probe.retries.max(1) {
                    Health::Unhealthy {
                        failures,
                        last_error: e,
                    }
                } else {
                    health.clone()
                }
            }
        };
        if next != health {
            health = next;
            if tx.send(health.clone()).await.is_err() {
                return;
            }
        }
    }
}

/// Time from one check to the next: `start_interval` (when set) until the
/// first success, `interval` from then on, even if health is later lost
/// (a loaded server is not polled fast again).
pub fn next_delay(probe: &Probe, ever_healthy: bool) -> Duration {
    let d = match probe.start_interval {
        Some(fast) if !ever_healthy => fast,
        _ => probe.interval,
    };
    d.max(Duration::from_millis(10))
}

/// One check; `Err` carries a short reason.
pub async fn check(
    check: &Check,
    timeout: Duration,
    http: Option<&reqwest::Client>,
    ctx: &ExecContext,
) -> Result<(), String> {
    match check {
        Check::Http { url } => http_check(url, timeout, http).await,
        Check::Tcp { host, port } => {
            match tokio::time::timeout(
                timeout,
                tokio::net::TcpStream::connect((host.as_str(), *port)),
            )
            .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(format!("connect {host}:{port}: {e}")),
                Err(_) => Err(format!(
                    "connect {host}:{port}: timed out after {timeout:?}"
                )),
            }
        }
        Check::Exec { argv } => exec_check(argv, timeout, ctx).await,
    }
}

/// The daemon's HTTP client for probes (built once; `None` if it cannot be).
fn shared_http() -> Option<&'static reqwest::Client> {
    static CLIENT: std::sync::OnceLock<Option<reqwest::Client>> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            crate::http::client_builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .build()
                .ok()
        })
        .as_ref()
}

async fn http_check(
    url: &str,
    timeout: Duration,
    http: Option<&reqwest::Client>,
) -> Result<(), String> {
    let client = http.ok_or("no HTTP client")?;
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("bad url {url}: {e}"))?;
    let mut req = client.get(parsed.clone()).timeout(timeout);
    if let Some(host) = loopback_host(&parsed) {
        req = req.header(reqwest::header::HOST, host);
    }
    match req.send().await {
        Ok(r) if r.status().is_success() || r.status().is_redirection() => Ok(()),
        Ok(r) => Err(format!("GET {url}: HTTP {}", r.status())),
        Err(e) if e.is_timeout() => Err(format!("GET {url}: timed out")),
        Err(e) => Err(format!("GET {url}: {}", root_cause(&e))),
    }
}

/// `localhost:<port>` for loopback targets: some servers only accept
/// loopback requests that name localhost (DNS-rebinding defences).
fn loopback_host(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str()?;
    let is_loopback = host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    is_loopback.then(|| format!("localhost:{}", url.port_or_known_default().unwrap_or(80)))
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

async fn exec_check(argv: &[String], timeout: Duration, ctx: &ExecContext) -> Result<(), String> {
    let (program, args) = argv.split_first().ok_or("empty exec probe")?;
    let child = tokio::process::Command::new(program)
        .args(args)
        .envs(&ctx.env)
        .current_dir(&ctx.cwd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(timeout, child).await {
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err.lines().last().unwrap_or("").trim();
            Err(format!(
                "{program} exited with {}{}",
                out.status,
                if last.is_empty() {
                    String::new()
                } else {
                    format!(": {last}")
                }
            ))
        }
        Ok(Err(e)) => Err(format!("cannot run {program}: {e}")),
        Err(_) => Err(format!("{program} timed out after {timeout:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_targets_get_a_localhost_host() {
        let u = reqwest::Url::parse("http://127.0.0.1:8080/health").expect("url");
        assert_eq!(loopback_host(&u).as_deref(), Some("localhost:8080"));
        let u = reqwest::Url::parse("http://[::1]:9/").expect("url");
        assert_eq!(loopback_host(&u).as_deref(), Some("localhost:9"));
        let u = reqwest::Url::parse("http://example.com/").expect("url");
        assert_eq!(loopback_host(&u), None);
    }

    #[test]
    fn probes_are_fast_until_ready_then_at_the_interval() {
        let mut p = Probe {
            check: Check::Exec {
                argv: vec!["true".into()],
            },
            interval: Duration::from_secs(5),
            start_interval: Some(Duration::from_millis(500)),
            timeout: Duration::from_secs(1),
            retries: 3,
            start_period: Duration::from_secs(10),
        };
        assert_eq!(next_delay(&p, false), Duration::from_millis(500));
        assert_eq!(next_delay(&p, true), Duration::from_secs(5));
        p.start_interval = None;
        assert_eq!(next_delay(&p, false), Duration::from_secs(5));
        p.interval = Duration::ZERO;
        assert_eq!(
            next_delay(&p, true),
            Duration::from_millis(10),
            "never a busy loop"
        );
    }

    #[tokio::test]
    async fn tcp_and_exec_checks() {
        let ctx = ExecContext {
            cwd: std::env::temp_dir(),
            env: BTreeMap::new(),
        };
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        let t = Duration::from_secs(2);
        let tcp = Check::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        assert_eq!(check(&tcp, t, None, &ctx).await, Ok(()));
        drop(l);
        // A port bound but never listening: refused, and (unlike a port
        // just closed) no test running beside this one can take it meanwhile.
        let closed = tokio::net::TcpSocket::new_v4().expect("socket");
        closed
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
        let refused = Check::Tcp {
            host: "127.0.0.1".into(),
            port: closed.local_addr().expect("addr").port(),
        };
        assert!(check(&refused, t, None, &ctx).await.is_err());
        let ok = Check::Exec {
            argv: vec!["true".into()],
        };
        assert_eq!(check(&ok, t, None, &ctx).await, Ok(()));
        let bad = Check::Exec {
            argv: vec!["false".into()],
        };
        assert!(check(&bad, t, None, &ctx).await.is_err());
    }
}
