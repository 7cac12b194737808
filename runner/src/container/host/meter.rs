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
        let stats = futures_util::future::join_all(running.iter().map(|(_, c, _)| async move {
            // The kernel's own account, read from the container's cgroup: a few file reads,
            // where asking Docker costs the daemon a stats request per container per second.
            match cgroup_sample(c) {
                Some(s) => Ok(s),
                None => self.backend.stats(c).await,
            }
        }))
        .await;
        // (disk used, network bytes so far) of each.
        let extras: Vec<_> = running
            .iter()
            .map(|(_, c, root)| (disk_used(root), net_bytes(c)))
            .collect();
        let now = Instant::now();
        let mut samples = Vec::new();
        {
            let mut books = self.books.lock().expect("books lock");
            for (((id, _, _), stat), (disk, net)) in running.iter().zip(stats).zip(extras) {
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

/// The directory of container `id`'s cgroup (v1's memory hierarchy, or v2), as Docker's
/// cgroupfs driver lays it out.
fn cgroup_dir(id: &str) -> Option<String> {
    [
        format!("/sys/fs/cgroup/memory/docker/{id}"),
        format!("/sys/fs/cgroup/system.slice/docker-{id}.scope"),
        format!("/sys/fs/cgroup/docker/{id}"),
    ]
    .into_iter()
    .find(|d| Path::new(&format!("{d}/cgroup.procs")).is_file())
}

/// Bytes (received, sent) so far by the interfaces of container `id`'s network namespace,
/// loopback aside: `/proc/<pid>/net/dev` of a process of its cgroup.
fn net_bytes(id: &str) -> Option<(u64, u64)> {
    let procs = std::fs::read_to_string(format!("{}/cgroup.procs", cgroup_dir(id)?)).ok()?;
    let pid = procs.lines().next()?.trim();
    let dev = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?;
    Some(net_dev_totals(&dev))
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

/// Container `id`'s CPU time and memory in use, from its cgroup (v1 or v2, as Docker's
/// cgroupfs driver lays it out), when it is there.
fn cgroup_sample(id: &str) -> Option<crate::container::Sample> {
    let read = |p: String| std::fs::read_to_string(p).ok();
    let stat = |text: &str, key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.trim().parse::<u64>().ok())
    };
    let v1 = format!("/sys/fs/cgroup/memory/docker/{id}");
    if let Some(usage) = read(format!("{v1}/memory.usage_in_bytes")) {
        let usage: u64 = usage.trim().parse().ok()?;
        let inactive = read(format!("{v1}/memory.stat"))
            .and_then(|m| stat(&m, "total_inactive_file "))
            .unwrap_or(0);
        let cpu: u64 = read(format!("/sys/fs/cgroup/cpuacct/docker/{id}/cpuacct.usage"))?
            .trim()
            .parse()
            .ok()?;
        return Some(crate::container::Sample {
            cpu_total_ns: cpu,
            memory_bytes: usage.saturating_sub(inactive),
            pids: 0,
        });
    }
    let v2 = [
        format!("/sys/fs/cgroup/system.slice/docker-{id}.scope"),
        format!("/sys/fs/cgroup/docker/{id}"),
    ]
    .into_iter()
    .find(|d| Path::new(d).is_dir())?;
    let usage: u64 = read(format!("{v2}/memory.current"))?.trim().parse().ok()?;
    let inactive = read(format!("{v2}/memory.stat"))
        .and_then(|m| stat(&m, "inactive_file "))
        .unwrap_or(0);
    let cpu_us = stat(&read(format!("{v2}/cpu.stat"))?, "usage_usec ")?;
    Some(crate::container::Sample {
        cpu_total_ns: cpu_us * 1000,
        memory_bytes: usage.saturating_sub(inactive),
        pids: 0,
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
