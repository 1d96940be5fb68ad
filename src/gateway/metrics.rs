//! The gateway's metrics per backend and model: requests, errors, a latency
//! histogram (the whole answer, stream included) and time to first byte,
//! rendered in Prometheus' text format at `GET /metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Histogram bucket bounds, in seconds.
pub const BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// One histogram: a count per bucket (not cumulative), the sum and the count.
#[derive(Debug, Clone, Default)]
struct Histogram {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; BUCKETS.len()];
        }
        let s = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| s <= *b) {
            self.buckets[i] += 1;
        }
        self.sum += s;
        self.count += 1;
    }
}

#[derive(Debug, Clone, Default)]
struct Series {
    requests: u64,
    errors: u64,
    latency: Histogram,
    ttfb: Histogram,
}

/// One backend/model pair's series, shared with the answers being timed.
type Shared = Arc<Mutex<Series>>;

/// Every backend/model pair's series (backend → model → series). An answer
/// looks its series up once, without allocating once it exists, and then
/// updates only that series' own lock.
#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<String, BTreeMap<String, Shared>>>,
}

impl Metrics {
    fn series(&self, backend: &str, model: &str) -> Option<Shared> {
        let mut m = self.series.lock().ok()?;
        if let Some(s) = m.get(backend).and_then(|b| b.get(model)) {
            return Some(s.clone());
        }
        Some(
            m.entry(backend.to_string())
                .or_default()
                .entry(model.to_string())
                .or_default()
                .clone(),
        )
    }

    fn with(&self, backend: &str, model: &str, f: impl FnOnce(&mut Series)) {
        if let Some(s) = self.series(backend, model) {
            update(&s, f);
        }
    }

    /// A request that got no answer at all (counted, and as an error).
    pub fn failed(&self, backend: &str, model: &str) {
        self.with(backend, model, |s| {
            s.requests += 1;
            s.errors += 1;
        });
    }

    /// Start timing an answer; it is recorded when the timing is dropped.
    pub fn time(&self, backend: &str, model: &str, started: Instant) -> Timing {
        Timing {
            series: self.series(backend, model),
            started,
            first_byte: false,
            failed: false,
        }
    }

    /// The Prometheus text exposition; `backends` gives each backend's
    /// health and requests in flight.
    pub fn render(&self, backends: &[(String, bool, u64)]) -> String {
        let series: Vec<((String, String), Series)> = self
            .series
            .lock()
            .map(|m| {
                m.iter()
                    .flat_map(|(b, models)| {
                        models.iter().map(move |(m, s)| {
                            let s = s.lock().map(|s| s.clone()).unwrap_or_default();
                            ((b.clone(), m.clone()), s)
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut out = String::new();
        let labels = |b: &str, m: &str| format!("backend=\"{}\",model=\"{}\"", esc(b), esc(m));
        let _ = writeln!(
            out,
            "# HELP facerunner_gateway_backend_up Whether the backend answered the gateway's last poll.\n# TYPE facerunner_gateway_backend_up gauge"
        );
        for (b, up, _) in backends {
            let _ = writeln!(
                out,
                "facerunner_gateway_backend_up{{backend=\"{}\"}} {}",
                esc(b),
                u8::from(*up)
            );
        }
        let _ = writeln!(
            out,
            "# HELP facerunner_gateway_in_flight Requests being served by the backend now.\n# TYPE facerunner_gateway_in_flight gauge"
        );
        for (b, _, n) in backends {
            let _ = writeln!(
                out,
                "facerunner_gateway_in_flight{{backend=\"{}\"}} {n}",
                esc(b)
            );
        }
        for (name, help, pick) in [
            (
                "facerunner_gateway_requests_total",
                "Requests sent to a backend, by the model they named.",
                (|s: &Series| s.requests) as fn(&Series) -> u64,
            ),
            (
                "facerunner_gateway_errors_total",
                "Requests that failed: no answer, a 5xx, or a stream cut.",
                |s: &Series| s.errors,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((b, m), s) in &series {
                let _ = writeln!(out, "{name}{{{}}} {}", labels(b, m), pick(s));
            }
        }
        for (name, help, pick) in [
            (
                "facerunner_gateway_request_duration_seconds",
                "From sending the request to the answer's last byte.",
                (|s: &Series| &s.latency) as fn(&Series) -> &Histogram,
            ),
            (
                "facerunner_gateway_time_to_first_byte_seconds",
                "From sending the request to the answer's first body byte.",
                |s: &Series| &s.ttfb,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            for ((b, m), s) in &series {
                let h = pick(s);
                let l = labels(b, m);
                let mut acc = 0;
                for (i, bound) in BUCKETS.iter().enumerate() {
                    acc += h.buckets.get(i).copied().unwrap_or(0);
                    let _ = writeln!(out, "{name}_bucket{{{l},le=\"{bound}\"}} {acc}");
                }
                let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "{name}_sum{{{l}}} {}", h.sum);
                let _ = writeln!(out, "{name}_count{{{l}}} {}", h.count);
            }
        }
        out
    }
}

/// A label value escaped as the text format wants.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One answer being timed: the first body chunk sets its time to first
/// byte; dropping it (stream done, cut, or the client gone) records it.
pub struct Timing {
    series: Option<Shared>,
    started: Instant,
    first_byte: bool,
    failed: bool,
}

impl Timing {
    /// A body chunk went out.
    pub fn chunk(&mut self) {
        if !self.first_byte {
            self.first_byte = true;
            let d = self.started.elapsed();
            if let Some(s) = &self.series {
                update(s, |s| s.ttfb.observe(d));
            }
        }
    }

    /// The answer failed (a 5xx, or the stream was cut).
    pub fn fail(&mut self) {
        self.failed = true;
    }
}

impl Drop for Timing {
    fn drop(&mut self) {
        let d = self.started.elapsed();
        let failed = self.failed;
        if let Some(s) = &self.series {
            update(s, |s| {
                s.requests += 1;
                if failed {
                    s.errors += 1;
                }
                s.latency.observe(d);
            });
        }
    }
}

fn update(s: &Shared, f: impl FnOnce(&mut Series)) {
    if let Ok(mut s) = s.lock() {
        f(&mut s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, line_start: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{line_start}` in\n{text}"))
    }

    #[test]
    fn requests_errors_and_histograms_count_per_backend_and_model() {
        let m = Arc::new(Metrics::default());
        let t0 = Instant::now();
        for _ in 0..3 {
            let mut t = m.time("a", "m:1b", t0);
            t.chunk();
            t.chunk();
        }
        let mut t = m.time("a", "m:1b", t0);
        t.fail();
        drop(t);
        m.failed("b", "m:1b");
        m.time("b", "we\"ird", t0);
        let text = m.render(&[("a".into(), true, 2), ("b".into(), false, 0)]);
        let ab = r#"{backend="a",model="m:1b"}"#;
        assert_eq!(
            value(&text, &format!("facerunner_gateway_requests_total{ab}")),
            4.0
        );
        assert_eq!(
            value(&text, &format!("facerunner_gateway_errors_total{ab}")),
            1.0
        );
        assert_eq!(
            value(
                &text,
                &format!("facerunner_gateway_request_duration_seconds_count{ab}")
            ),
            4.0
        );
        // Time to first byte once per answer that sent a byte.
        assert_eq!(
            value(
                &text,
                &format!("facerunner_gateway_time_to_first_byte_seconds_count{ab}")
            ),
            3.0
        );
        assert_eq!(
            value(
                &text,
                r#"facerunner_gateway_request_duration_seconds_bucket{backend="a",model="m:1b",le="+Inf"}"#
            ),
            4.0
        );
        let bb = r#"{backend="b",model="m:1b"}"#;
        assert_eq!(
            value(&text, &format!("facerunner_gateway_errors_total{bb}")),
            1.0
        );
        assert_eq!(
            value(&text, r#"facerunner_gateway_backend_up{backend="b"}"#),
            0.0
        );
        assert_eq!(
            value(&text, r#"facerunner_gateway_in_flight{backend="a"}"#),
            2.0
        );
        // Label values are escaped.
        assert!(text.contains(r#"model="we\"ird""#), "{text}");
        // Buckets are cumulative: never decreasing.
        let buckets: Vec<f64> = text
            .lines()
            .filter(|l| {
                l.starts_with("facerunner_gateway_request_duration_seconds_bucket{backend=\"a\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        assert_eq!(buckets.len(), BUCKETS.len() + 1);
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    }
}
