//! `GET /metrics`: Prometheus text format. It needs a token like every
//! other route (either role; Prometheus sends it with
//! `authorization: { credentials_file: … }`), since service names, pids and
//! models say what runs here. GPU series follow NVIDIA's DCGM exporter
//! names (`DCGM_FI_DEV_*`, labels `gpu`, `UUID`, `modelName`) so existing
//! GPU dashboards work unchanged; apply and pull counters count what this
//! dashboard ran since it started.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::Web;
use super::api::status_report;
use super::problem::Problem;
use crate::model::wire::{Health, Lifecycle, StatusReport};

/// Counters of what this dashboard ran.
#[derive(Debug, Default)]
pub struct Counters {
    /// Applies that ran and succeeded.
    pub applies_ok: AtomicU64,
    /// Applies refused or failed.
    pub applies_failed: AtomicU64,
    /// Milliseconds spent applying, in all.
    pub apply_millis: AtomicU64,
    /// Pulls that succeeded.
    pub pulls_ok: AtomicU64,
    /// Pulls that failed.
    pub pulls_failed: AtomicU64,
}

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The exposition text for `report`, `gpus` and `c`.
pub fn render(report: &StatusReport, gpus: &crate::model::gpu::Inventory, c: &Counters) -> String {
    let mut o = String::new();
    let family = |o: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(
        &mut o,
        "facerunner_service_up",
        "gauge",
        "1 when the service runs",
    );
    for s in &report.services {
        let up = matches!(s.state, Lifecycle::Running { .. });
        let _ = writeln!(
            o,
            "facerunner_service_up{{service=\"{}\",kind=\"{}\"}} {}",
            esc(&s.name),
            esc(&s.kind),
            u8::from(up)
        );
    }
    family(
        &mut o,
        "facerunner_service_restarts_total",
        "counter",
        "restarts since the service was last started on request",
    );
    for s in &report.services {
        let _ = writeln!(
            o,
            "facerunner_service_restarts_total{{service=\"{}\"}} {}",
            esc(&s.name),
            s.restarts
        );
    }
    family(
        &mut o,
        "facerunner_service_probe_healthy",
        "gauge",
        "1 when the service's last probe passed, 0 when it failed (absent without a probe or while starting)",
    );
    for s in &report.services {
        if let Lifecycle::Running { health, .. } = &s.state {
            let v = match health {
                Health::Healthy => Some(1),
                Health::Unhealthy { .. } => Some(0),
                _ => None,
            };
            if let Some(v) = v {
                let _ = writeln!(
                    o,
                    "facerunner_service_probe_healthy{{service=\"{}\"}} {v}",
                    esc(&s.name)
                );
            }
        }
    }
    family(
        &mut o,
        "facerunner_service_cpu_percent",
        "gauge",
        "CPU use of the service's processes, percent of one core",
    );
    for s in &report.services {
        if let Some(v) = s.cpu_percent {
            let _ = writeln!(
                o,
                "facerunner_service_cpu_percent{{service=\"{}\"}} {v}",
                esc(&s.name)
            );
        }
    }
    family(
        &mut o,
        "facerunner_service_memory_rss_bytes",
        "gauge",
        "resident memory of the service's processes",
    );
    for s in &report.services {
        if let Some(v) = s.rss_bytes {
            let _ = writeln!(
                o,
                "facerunner_service_memory_rss_bytes{{service=\"{}\"}} {v}",
                esc(&s.name)
            );
        }
    }
    family(
        &mut o,
        "facerunner_applies_total",
        "counter",
        "applies run from this dashboard, by outcome",
    );
    let _ = writeln!(
        o,
        "facerunner_applies_total{{outcome=\"succeeded\"}} {}",
        c.applies_ok.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        o,
        "facerunner_applies_total{{outcome=\"failed\"}} {}",
        c.applies_failed.load(Ordering::Relaxed)
    );
    family(
        &mut o,
        "facerunner_apply_duration_seconds_total",
        "counter",
        "time spent in applies run from this dashboard",
    );
    let _ = writeln!(
        o,
        "facerunner_apply_duration_seconds_total {}",
        c.apply_millis.load(Ordering::Relaxed) as f64 / 1000.0
    );
    family(
        &mut o,
        "facerunner_model_pulls_total",
        "counter",
        "model pulls run from this dashboard, by outcome",
    );
    let _ = writeln!(
        o,
        "facerunner_model_pulls_total{{outcome=\"succeeded\"}} {}",
        c.pulls_ok.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        o,
        "facerunner_model_pulls_total{{outcome=\"failed\"}} {}",
        c.pulls_failed.load(Ordering::Relaxed)
    );
    const MIB: u64 = 1024 * 1024;
    let gpu = |g: &crate::model::gpu::GpuInfo| {
        format!(
            "gpu=\"{}\",UUID=\"{}\",modelName=\"{}\"",
            g.index,
            esc(&g.uuid),
            esc(&g.name)
        )
    };
    family(
        &mut o,
        "DCGM_FI_DEV_FB_USED",
        "gauge",
        "framebuffer memory used (MiB)",
    );
    for g in &gpus.gpus {
        let _ = writeln!(
            o,
            "DCGM_FI_DEV_FB_USED{{{}}} {}",
            gpu(g),
            g.memory_used_bytes / MIB
        );
    }
    family(
        &mut o,
        "DCGM_FI_DEV_FB_FREE",
        "gauge",
        "framebuffer memory free (MiB)",
    );
    for g in &gpus.gpus {
        let _ = writeln!(
            o,
            "DCGM_FI_DEV_FB_FREE{{{}}} {}",
            gpu(g),
            g.memory_total_bytes.saturating_sub(g.memory_used_bytes) / MIB
        );
    }
    family(
        &mut o,
        "DCGM_FI_DEV_GPU_UTIL",
        "gauge",
        "GPU utilization (%)",
    );
    for g in &gpus.gpus {
        if let Some(u) = g.utilization_percent {
            let _ = writeln!(o, "DCGM_FI_DEV_GPU_UTIL{{{}}} {u}", gpu(g));
        }
    }
    family(
        &mut o,
        "DCGM_FI_DEV_GPU_TEMP",
        "gauge",
        "GPU temperature (C)",
    );
    for g in &gpus.gpus {
        if let Some(t) = g.temperature_c {
            let _ = writeln!(o, "DCGM_FI_DEV_GPU_TEMP{{{}}} {t}", gpu(g));
        }
    }
    family(&mut o, "DCGM_FI_DEV_POWER_USAGE", "gauge", "power draw (W)");
    for g in &gpus.gpus {
        if let Some(p) = g.power_watts {
            let _ = writeln!(o, "DCGM_FI_DEV_POWER_USAGE{{{}}} {p}", gpu(g));
        }
    }
    o
}

/// `GET /metrics`.
pub async fn metrics(State(web): State<Arc<Web>>) -> Result<Response, Problem> {
    let report = status_report(&web).await?;
    let gpus = tokio::task::spawn_blocking(|| {
        let mut inv = crate::gpu::local();
        crate::gpu::refresh(&mut inv);
        inv
    })
    .await
    .unwrap_or_default();
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&report, &gpus, &web.counters),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_labelled_and_gpu_names_follow_dcgm() {
        let report = StatusReport {
            project: "p".into(),
            daemon_pid: 1,
            services: vec![],
            watch: None,
            log_trouble: vec![],
            settings: None,
        };
        let gpus = crate::model::gpu::Inventory {
            gpus: vec![crate::model::gpu::GpuInfo {
                index: 0,
                uuid: "GPU-1".into(),
                name: "H200 \"x\"".into(),
                memory_total_bytes: 4 << 30,
                memory_used_bytes: 1 << 30,
                utilization_percent: Some(37),
                ..Default::default()
            }],
            ..Default::default()
        };
        let c = Counters::default();
        c.pulls_ok.fetch_add(2, Ordering::Relaxed);
        let text = render(&report, &gpus, &c);
        assert!(
            text.contains(
                "DCGM_FI_DEV_FB_USED{gpu=\"0\",UUID=\"GPU-1\",modelName=\"H200 \\\"x\\\"\"} 1024"
            ),
            "{text}"
        );
        assert!(text.contains(
            "DCGM_FI_DEV_FB_FREE{gpu=\"0\",UUID=\"GPU-1\",modelName=\"H200 \\\"x\\\"\"} 3072"
        ));
        assert!(text.contains(
            "DCGM_FI_DEV_GPU_UTIL{gpu=\"0\",UUID=\"GPU-1\",modelName=\"H200 \\\"x\\\"\"} 37"
        ));
        assert!(text.contains("facerunner_model_pulls_total{outcome=\"succeeded\"} 2"));
        assert!(
            !text.contains("DCGM_FI_DEV_GPU_TEMP{"),
            "no temperature, no series"
        );
    }
}
