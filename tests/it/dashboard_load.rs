//! Load on the dashboard (ignored; run with `cargo test --test it
//! dashboard_load -- --ignored --nocapture`): 100 SSE clients stay
//! connected while 50 API requests a second run for 30 s. Every request
//! must succeed, no client may be dropped, and the dashboard's and the
//! daemon's resident memory growth is printed and bounded.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::dashboard_api::{Dash, try_http};

const CLIENTS: usize = 100;
const RATE: u64 = 50;
const SECONDS: u64 = 30;

fn rss_kib(pid: u64) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
#[ignore = "load test: 30 s; run explicitly"]
fn a_hundred_event_streams_and_fifty_requests_a_second_for_thirty_seconds() {
    let d = Dash::start();
    let status = d.p.status();
    let daemon = status["daemon_pid"].as_u64().expect("daemon pid");
    let ui = d.pid("ui").expect("dashboard pid");
    let (ui0, daemon0) = (rss_kib(ui), rss_kib(daemon));

    let stop = Arc::new(AtomicBool::new(false));
    let (events, dropped, broken) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (port, token) = (d.port, d.token.clone());
            let (stop, events, dropped, broken) =
                (stop.clone(), events.clone(), dropped.clone(), broken.clone());
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                s.set_read_timeout(Some(Duration::from_millis(500)))
                    .expect("timeout");
                write!(
                    s,
                    "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\r\n"
                )
                .expect("send");
                let mut r = BufReader::new(s);
                let mut line = String::new();
                while !stop.load(Ordering::Relaxed) {
                    line.clear();
                    match r.read_line(&mut line) {
                        Ok(0) => {
                            broken.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                        Ok(_) if line.starts_with("event: dropped") => {
                            dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) if line.starts_with("event:") => {
                            events.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        Err(e)
                            if matches!(
                                e.kind(),
                                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                            ) => {}
                        Err(_) => {
                            broken.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                }
            })
        })
        .collect();

    let auth = format!("Bearer {}", d.token);
    let paths = [
        "/api/v1/status",
        "/api/v1/services/web/logs?tail=20",
        "/api/v1/openapi.json",
        "/metrics",
        "/api/v1/file",
    ];
    let (mut ok, mut failed) = (0usize, Vec::new());
    let start = Instant::now();
    let mut peak = (ui0, daemon0);
    for i in 0..RATE * SECONDS {
        let due = start + Duration::from_millis(i * 1000 / RATE);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let path = paths[i as usize % paths.len()];
        match try_http(d.port, "GET", path, &[("Authorization", &auth)], "") {
            Ok(r) if r.0 == 200 => ok += 1,
            Ok(r) => failed.push(format!("{path}: {} {}", r.0, r.2)),
            Err(e) => failed.push(format!("{path}: {e}")),
        }
        if i % RATE == 0 {
            peak = (peak.0.max(rss_kib(ui)), peak.1.max(rss_kib(daemon)));
        }
    }
    let took = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client thread");
    }
    let (ui1, daemon1) = (rss_kib(ui), rss_kib(daemon));
    eprintln!(
        "load: {ok} requests in {took:?} ({} failed); {CLIENTS} SSE clients got {} events, {} dropped, {} disconnected\n\
         dashboard RSS {ui0} KiB -> {ui1} KiB (peak {} KiB); daemon RSS {daemon0} KiB -> {daemon1} KiB (peak {} KiB)",
        failed.len(),
        events.load(Ordering::Relaxed),
        dropped.load(Ordering::Relaxed),
        broken.load(Ordering::Relaxed),
        peak.0,
        peak.1,
    );
    assert!(
        failed.is_empty(),
        "failed requests: {:?}",
        &failed[..failed.len().min(5)]
    );
    assert_eq!(dropped.load(Ordering::Relaxed), 0, "clients dropped");
    assert_eq!(broken.load(Ordering::Relaxed), 0, "clients disconnected");
    assert!(
        events.load(Ordering::Relaxed) >= CLIENTS,
        "every client got events"
    );
    // Bounded: well under what 100 clients' buffers could hold if they leaked.
    assert!(
        ui1.saturating_sub(ui0) < 64 * 1024,
        "dashboard RSS grew {ui0} -> {ui1} KiB"
    );
    assert!(
        daemon1.saturating_sub(daemon0) < 32 * 1024,
        "daemon RSS grew {daemon0} -> {daemon1} KiB"
    );
}
