//! CPU and memory of the service processes, via sysinfo.
//!
//! One long-lived `System` refreshes only our pids (never the whole process
//! table). CPU% needs two samples at least 200 ms apart, so a status request
//! that finds no recent sample takes two, 250 ms apart; one that follows
//! within [`FRESH`] reuses the running counters. Nothing runs between
//! requests.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// A sample this recent makes one refresh enough.
const FRESH: Duration = Duration::from_secs(10);

/// CPU% and RSS per pid.
#[derive(Default)]
pub struct Metrics {
    sys: Option<System>,
    last: Option<Instant>,
}

impl Metrics {
    /// Sample `pids`; missing entries are processes that are gone.
    pub async fn sample(&mut self, pids: &[u32]) -> BTreeMap<u32, (f32, u64)> {
        if pids.is_empty() {
            return BTreeMap::new();
        }
        if self.sys.is_none() {
            self.sys = System::new().ok();
        }
        let Some(sys) = self.sys.as_mut() else {
            return BTreeMap::new();
        };
        let list: Vec<Pid> = pids.iter().map(|p| Pid::from_u32(*p)).collect();
        let kind = ProcessRefreshKind::nothing().with_cpu().with_memory();
        if self.last.is_none_or(|t| t.elapsed() > FRESH) {
            sys.refresh_processes_specifics(ProcessesToUpdate::Some(&list), true, kind);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        sys.refresh_processes_specifics(ProcessesToUpdate::Some(&list), true, kind);
        self.last = Some(Instant::now());
        list.iter()
            .filter_map(|pid| {
                sys.process(*pid)
                    .map(|p| (pid.as_u32(), (p.cpu_usage(), p.memory())))
            })
            .collect()
    }
}
