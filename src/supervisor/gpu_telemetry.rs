//! GPU telemetry for `status`: each service's GPUs with their memory and
//! utilization.
//!
//! Sampled only when a status request asks, at most once a second (NVML
//! calls take the driver's global lock and a process list costs
//! milliseconds), so an idle daemon spends nothing; a request within a
//! second of the last sample gets that sample. The read itself — NVML or
//! sysfs, and the `/proc` walk that tells whose a GPU process is — runs on
//! a blocking thread, never on the daemon's async thread.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::model::gpu::Inventory;
use crate::model::spec::ServiceSpec;
use crate::model::wire::ServiceGpu;

/// A sample this recent is reused.
pub const MAX_RATE: Duration = Duration::from_secs(1);

/// Reads the inventory now, with each GPU process attributed to the service
/// (name, pid) it descends from. Blocking.
pub type Source = Arc<dyn Fn(&[(String, u32)]) -> Inventory + Send + Sync>;

/// The last sample and where samples come from.
pub struct GpuTelemetry {
    source: Source,
    last: Option<(Instant, Arc<Inventory>)>,
}

impl Default for GpuTelemetry {
    fn default() -> Self {
        GpuTelemetry::new(Arc::new(|services: &[(String, u32)]| {
            // The first call reads the inventory once per process; a
            // machine without GPUs stops there.
            let mut inv = crate::gpu::local();
            if !inv.gpus.is_empty() {
                crate::gpu::refresh(&mut inv);
                crate::gpu::attribute(&mut inv, services);
            }
            inv
        }))
    }
}

impl GpuTelemetry {
    /// Telemetry read from `source`.
    pub fn new(source: Source) -> GpuTelemetry {
        GpuTelemetry { source, last: None }
    }

    /// The inventory as of `now`: the last sample when it is less than
    /// [`MAX_RATE`] old, else a new one read on a blocking thread.
    pub async fn sample(&mut self, now: Instant, services: &[(String, u32)]) -> Arc<Inventory> {
        if let Some((at, inv)) = &self.last
            && now.saturating_duration_since(*at) < MAX_RATE
        {
            return inv.clone();
        }
        let source = self.source.clone();
        let services = services.to_vec();
        let inv = match tokio::task::spawn_blocking(move || source(&services)).await {
            Ok(inv) => Arc::new(inv),
            // The read panicked: no telemetry this time, not a failed status.
            Err(_) => Arc::new(Inventory::default()),
        };
        self.last = Some((now, inv.clone()));
        inv
    }
}

/// The GPUs of `svc` in `inv`: those its `CUDA_VISIBLE_DEVICES` names (by
/// index or UUID), then those holding one of its processes.
pub fn service_gpus(svc: &ServiceSpec, inv: &Inventory) -> Vec<ServiceGpu> {
    let mut chosen: Vec<u32> = Vec::new();
    let visible = svc.env.get("CUDA_VISIBLE_DEVICES").map(String::as_str);
    for d in visible.unwrap_or("").split(',').map(str::trim) {
        let g = match d.parse::<u32>() {
            Ok(i) => inv.by_index(i),
            Err(_) => inv.by_uuid(d),
        };
        if let Some(g) = g
            && !chosen.contains(&g.index)
        {
            chosen.push(g.index);
        }
    }
    for g in &inv.gpus {
        let ours = g
            .processes
            .iter()
            .any(|p| p.service.as_deref() == Some(svc.name.as_str()));
        if ours && !chosen.contains(&g.index) {
            chosen.push(g.index);
        }
    }
    chosen
        .into_iter()
        .filter_map(|i| inv.by_index(i))
        .map(|g| ServiceGpu {
            index: g.index,
            uuid: g.uuid.clone(),
            name: g.name.clone(),
            memory_used_bytes: g.memory_used_bytes,
            memory_total_bytes: g.memory_total_bytes,
            service_memory_bytes: g
                .processes
                .iter()
                .filter(|p| p.service.as_deref() == Some(svc.name.as_str()))
                .map(|p| p.used_memory_bytes)
                .sum(),
            utilization_percent: g.utilization_percent,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::gpu::{GpuInfo, GpuProcess};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn counting() -> (Arc<AtomicUsize>, GpuTelemetry) {
        let reads = Arc::new(AtomicUsize::new(0));
        let r = reads.clone();
        let t = GpuTelemetry::new(Arc::new(move |_: &[(String, u32)]| {
            let n = r.fetch_add(1, Ordering::SeqCst) + 1;
            Inventory {
                source: format!("read {n}"),
                ..Inventory::default()
            }
        }));
        (reads, t)
    }

    #[tokio::test]
    async fn samples_are_read_only_when_asked_and_at_most_once_a_second() {
        let (reads, mut t) = counting();
        assert_eq!(reads.load(Ordering::SeqCst), 0, "nothing read until asked");
        let t0 = Instant::now();
        assert_eq!(t.sample(t0, &[]).await.source, "read 1");
        assert_eq!(
            t.sample(t0 + Duration::from_millis(999), &[]).await.source,
            "read 1",
            "within a second: the cached sample"
        );
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert_eq!(t.sample(t0 + MAX_RATE, &[]).await.source, "read 2");
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_service_gets_its_visible_gpus_and_the_ones_its_processes_use() {
        let gpu = |index, uuid: &str, procs: Vec<GpuProcess>| GpuInfo {
            index,
            uuid: uuid.into(),
            memory_total_bytes: 80 << 30,
            memory_used_bytes: 10 << 30,
            utilization_percent: Some(50),
            processes: procs,
            ..GpuInfo::default()
        };
        let ours = GpuProcess {
            pid: 9,
            used_memory_bytes: 4 << 30,
            service: Some("llm".into()),
        };
        let inv = Inventory {
            gpus: vec![
                gpu(0, "GPU-a", vec![]),
                gpu(1, "GPU-b", vec![]),
                gpu(2, "GPU-c", vec![ours]),
            ],
            ..Inventory::default()
        };
        let mut svc = crate::supervisor::test_support::service("llm", &["x"]);
        svc.env
            .insert("CUDA_VISIBLE_DEVICES".into(), "GPU-b,0,7".into());
        let got = service_gpus(&svc, &inv);
        let idx: Vec<u32> = got.iter().map(|g| g.index).collect();
        assert_eq!(idx, [1, 0, 2]);
        assert_eq!(got[2].service_memory_bytes, 4 << 30);
        assert_eq!(got[0].service_memory_bytes, 0);
        svc.name = "other".into();
        svc.env.clear();
        assert!(service_gpus(&svc, &inv).is_empty());
    }
}
