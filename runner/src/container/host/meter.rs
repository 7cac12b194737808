//! The per-second meter: CPU and memory from each container's cgroup (or Docker), network
//! bytes from its network namespace, the disk its folders use, its GPU share, priced, written
//! in one batch.

use std::path::Path;
use std::time::Instant;

use sbx_core::ids::SandboxId;
use sbx_core::sandbox::SandboxState;
use sbx_limits::billing;
use sbx_store::sandboxes;
use sbx_store::usage::UsageSample;

use super::{ContainerHost, Held};

impl ContainerHost {
    /// One round of the meter, and the heartbeat of what this runner holds.
    pub(super) async fn meter(&self) -> Result<(), sbx_store::StoreError> {
        let running: Vec<(SandboxId, String, std::path::PathBuf)> = {
            let books = self.books.lock().expect("books lock");
            books
                .held
                .iter()
                .filter(|(_, h)| !h.leaving)
                .filter_map(|(id, h)| h.container.clone().map(|c| (*id, c, h.root.clone())))
                .collect()
        };
        let stats = futures_util::future::join_all(running.iter().map(|(_, c, root)| async move {
            // The kernel's own account, read from the container's cgroup: a few file reads,
            // where asking Docker costs the daemon a stats request per container per second.
            let cgroup = Cgroup::find(c);
            let net = cgroup.as_ref().and_then(Cgroup::net_bytes);
            let stat = match cgroup.as_ref().and_then(Cgroup::sample) {
                Some(s) => Ok(s),
                None => self.backend.stats(c).await,
            };
            (stat, (disk_used(root), net))
        }))
        .await;
        let now = Instant::now();
        let mut samples = Vec::new();
        {
            let mut books = self.books.lock().expect("books lock");
            for ((id, _, _), (stat, (disk, net))) in running.iter().zip(stats) {
                let Ok(stat) = stat else { continue };
                let Some(h) = books.held.get_mut(id) else {
                    continue;
                };
                // Bytes over the interval: the counters' growth since the last sample.
                let before = std::mem::replace(&mut h.net_last, net);
                let moved = before.zip(net).map(|((rx0, tx0), (rx, tx))| {
                    (rx.saturating_sub(rx0) as i64, tx.saturating_sub(tx0) as i64)
                });
                let Some((cpu_before, then)) = h.last.replace((stat.cpu_total_ns, now)) else {
                    continue; // the first reading only starts the interval
                };
                let seconds = now.duration_since(then).as_secs_f64();
                let used = (
                    stat.cpu_total_ns.saturating_sub(cpu_before) as f64 / 1e9 / seconds,
                    stat.memory_bytes as i64,
                );
                let mut sample = self.sample(h, *id, seconds, Some(used));
                sample.disk_used = disk;
                (sample.net_rx_bytes, sample.net_tx_bytes) = moved.unzip();
                samples.push(sample);
            }
        }
        sbx_store::usage::insert(&self.pool, &samples).await?;
        let held: Vec<(SandboxId, i64)> = {
            let books = self.books.lock().expect("books lock");
            books.held.keys().map(|id| (*id, 0)).collect()
        };
        sandboxes::heartbeat(&self.pool, self.runner, &held).await?;
        Ok(())
    }
}

impl ContainerHost {
    /// A sample of `h` over the last `seconds`, priced; `used`: (cores, bytes) Docker reported.
    pub(super) fn sample(
        &self,
        h: &Held,
        id: SandboxId,
        seconds: f64,
        used: Option<(f64, i64)>,
    ) -> UsageSample {
        let held = billing::Held {
            cpu_millis: h.sandbox.cpu_millis,
            memory_bytes: h.sandbox.memory_bytes,
            gpu: h
                .gpu
                .as_ref()
                .map(|(model, share)| (model.as_str(), *share)),
        };
        let charge = billing::charge(&self.config.prices, &held, seconds);
        let (gpu_model, gpu_share) = h.gpu.clone().unzip();
        UsageSample {
            project_id: h.sandbox.project_id,
            sandbox_id: Some(id),
            at: chrono::Utc::now(),
            seconds,
            state: SandboxState::Running,
            cpu_cores: f64::from(h.sandbox.cpu_millis) / 1000.0,
            memory_bytes: h.sandbox.memory_bytes,
            cpu_used: used.map(|u| u.0),
            memory_used: used.map(|u| u.1),
            disk_used: None,
            net_rx_bytes: None,
            net_tx_bytes: None,
            gpu_cost: charge.gpu_cost,
            gpu_model,
            gpu_share: gpu_share.unwrap_or(0.0),
            storage_bytes: 0,
            cpu_cost: charge.cpu_cost,
            memory_cost: charge.memory_cost,
            storage_cost: 0.0,
        }
    }
}

/// Bytes in use on the filesystem holding a sandbox's folders (its disk cap's own, mounted at
/// `root`), when it can be read.
fn disk_used(root: &Path) -> Option<i64> {
    let s = rustix::fs::statvfs(root).ok()?;
    Some((s.f_blocks.saturating_sub(s.f_bfree) * s.f_frsize) as i64)
}

/// Where container `id`'s cgroup is, as Docker's cgroupfs driver lays it out.
enum Cgroup {
    /// v1: its memory hierarchy's directory, and its `cpuacct` one.
    V1 { memory: String, cpuacct: String },
    /// v2: the unified hierarchy's directory.
    V2(String),
}

impl Cgroup {
    /// Container `id`'s cgroup, when it is there.
    fn find(id: &str) -> Option<Self> {
        let memory = format!("/sys/fs/cgroup/memory/docker/{id}");
        if Path::new(&memory).is_dir() {
            let cpuacct = format!("/sys/fs/cgroup/cpuacct/docker/{id}");
            return Some(Self::V1 { memory, cpuacct });
        }
        [
            format!("/sys/fs/cgroup/system.slice/docker-{id}.scope"),
            format!("/sys/fs/cgroup/docker/{id}"),
        ]
        .into_iter()
        .find(|d| Path::new(d).is_dir())
        .map(Self::V2)
    }

    /// The directory listing its processes (`cgroup.procs`).
    fn dir(&self) -> &str {
        match self {
            Self::V1 { memory, .. } => memory,
            Self::V2(dir) => dir,
        }
    }

    /// Bytes (received, sent) so far by the interfaces of its network namespace, loopback
    /// aside: `/proc/<pid>/net/dev` of one of its processes.
    fn net_bytes(&self) -> Option<(u64, u64)> {
        let procs = std::fs::read_to_string(format!("{}/cgroup.procs", self.dir())).ok()?;
        let pid = procs.lines().next()?.trim();
        let dev = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?;
        Some(net_dev_totals(&dev))
    }

    /// Its CPU time and memory in use.
    fn sample(&self) -> Option<crate::container::Sample> {
        let read = |p: String| std::fs::read_to_string(p).ok();
        let stat = |text: &str, key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.trim().parse::<u64>().ok())
        };
        let (usage, inactive, cpu_total_ns) = match self {
            Self::V1 { memory, cpuacct } => {
                let usage: u64 = read(format!("{memory}/memory.usage_in_bytes"))?
                    .trim()
                    .parse()
                    .ok()?;
                let inactive = read(format!("{memory}/memory.stat"))
                    .and_then(|m| stat(&m, "total_inactive_file "));
                let cpu: u64 = read(format!("{cpuacct}/cpuacct.usage"))?
                    .trim()
                    .parse()
                    .ok()?;
                (usage, inactive, cpu)
            }
            Self::V2(dir) => {
                let usage: u64 = read(format!("{dir}/memory.current"))?.trim().parse().ok()?;
                let inactive =
                    read(format!("{dir}/memory.stat")).and_then(|m| stat(&m, "inactive_file "));
                let cpu_us = stat(&read(format!("{dir}/cpu.stat"))?, "usage_usec ")?;
                (usage, inactive, cpu_us * 1000)
            }
        };
        Some(crate::container::Sample {
            cpu_total_ns,
            memory_bytes: usage.saturating_sub(inactive.unwrap_or(0)),
            pids: 0,
        })
    }
}

/// The (received, sent) byte totals of a `/proc/net/dev` text, loopback aside.
fn net_dev_totals(dev: &str) -> (u64, u64) {
    dev.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.trim() != "lo")
        .fold((0, 0), |(rx, tx), (_, counters)| {
            let c: Vec<u64> = counters
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            (
                rx + c.first().copied().unwrap_or(0),
                tx + c.get(8).copied().unwrap_or(0),
            )
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn network_totals_leave_loopback_out() {
        let dev = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:   5000      10    0    0    0     0          0         0     5000      10    0    0    0     0       0          0
  eth0: 123456     100    0    0    0     0          0         0    65432      90    0    0    0     0       0          0
  eth1:      4       1    0    0    0     0          0         0        6       1    0    0    0     0       0          0
";
        assert_eq!(super::net_dev_totals(dev), (123_460, 65_438));
    }
}
