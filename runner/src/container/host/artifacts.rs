//! A container job's end: what its command left under `/outputs` kept as artifacts, and
//! `/outputs/metrics.json` in its result.

use sbx_core::exec::ExecStatus;
use sbx_core::ids::{JobId, SandboxId};

use super::ContainerHost;

/// Most files a container job keeps as artifacts.
pub(super) const MAX_ARTIFACTS: usize = 1000;
/// Most bytes of artifacts a container job keeps.
pub(super) const MAX_ARTIFACT_BYTES: u64 = 256 << 20;

impl ContainerHost {
    /// End container job `job` (run by sandbox `id`) with `status`, keeping what its command
    /// left under `/outputs` as artifacts and `/outputs/metrics.json` in its result.
    pub(super) async fn finish_job(
        &self,
        id: SandboxId,
        job: JobId,
        status: ExecStatus,
        exit_code: Option<i64>,
        oom_killed: bool,
        why: Option<&str>,
    ) {
        let (_, outputs) = self.folders(id);
        let mut artifacts = Vec::new();
        let mut total = 0u64;
        let mut left_out = 0u32;
        for (rel, meta) in crate::wasm::workspace::scan(&outputs).unwrap_or_default() {
            if artifacts.len() >= MAX_ARTIFACTS || total + meta.len() > MAX_ARTIFACT_BYTES {
                left_out += 1;
                continue;
            }
            if let Ok(bytes) = crate::wasm::workspace::read_capped(&outputs.join(&rel), meta.len())
            {
                total += bytes.len() as u64;
                artifacts.push((rel, bytes));
            }
        }
        let metrics = artifacts
            .iter()
            .find(|(p, _)| p == "metrics.json")
            .and_then(|(_, b)| serde_json::from_slice::<serde_json::Value>(b).ok());
        let result = serde_json::json!({
            "status": status,
            "exit_code": exit_code,
            "oom_killed": oom_killed,
            "sandbox_id": id,
            "metrics": metrics,
            "artifacts": artifacts.iter().map(|(p, b)| serde_json::json!({"path": p, "size": b.len()})).collect::<Vec<_>>(),
            "artifacts_omitted": left_out,
            "message": why,
        });
        let ending = sbx_store::container_jobs::Ending {
            status,
            exit_code: exit_code.map(|c| c as i32),
            result: &result,
            artifacts: &artifacts,
        };
        if let Err(e) = sbx_store::container_jobs::finish(&self.pool, job, &ending).await {
            tracing::warn!(job = %job, error = %e, "could not record a container job's end");
        }
    }
}
