//! The per-second meter: CPU and memory from each container's cgroup (or Docker), its GPU
//! share, priced, written in one batch.

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
        let running: Vec<(SandboxId, String)> = {
            let books = self.books.lock().expect("books lock");
            books
                .held
                .iter()
                .filter(|(_, h)| !h.leaving)
                .filter_map(|(id, h)| h.container.clone().map(|c| (*id, c)))
                .collect()
        };
        let stats = futures_util::future::join_all(running.iter().map(|(_, c)| async move {
            // The kernel's own account, read from the container's cgroup: a few file reads,
            // where asking Docker costs the daemon a stats request per container per second.
            match cgroup_sample(c) {
                Some(s) => Ok(s),
                None => self.backend.stats(c).await,
            }
        }))
        .await;
        let now = Instant::now();
        let mut samples = Vec::new();
        {
            let mut books = self.books.lock().expect("books lock");
            for ((id, _), stat) in running.iter().zip(stats) {
                let Ok(stat) = stat else { continue };
                let Some(h) = books.held.get_mut(id) else {
                    continue;
                };
                let Some((cpu_before, then)) = h.last.replace((stat.cpu_total_ns, now)) else {
                    continue; // the first reading only starts the interval
                };
                let seconds = now.duration_since(then).as_secs_f64();
                let used = (
                    stat.cpu_total_ns.saturating_sub(cpu_before) as f64 / 1e9 / seconds,
                    stat.memory_bytes as i64,
                );
                samples.push(self.sample(h, *id, seconds, Some(used)));
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
