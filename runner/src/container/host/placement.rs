//! Placement: which pending container sandboxes this runner claims (those whose CPU, memory and
//! GPU share fit what its books say is free), and taking over or clearing what an earlier run
//! of this runner left.

use std::collections::HashMap;
use std::sync::Arc;

use sbx_core::sandbox::{SandboxState, StateReason};
use sbx_store::sandboxes::{self, Sandbox, Transition};

use super::{ContainerHost, Held};

impl ContainerHost {
    /// Sandboxes this runner id held before: none, since runner ids are new per process; kept
    /// for a runner that restarts with its id.
    pub(super) async fn adopt(&self) -> Result<(), sbx_store::StoreError> {
        for s in sbx_store::placement::held_by(&self.pool, self.runner).await? {
            tracing::info!(sandbox = %s.sandbox_id, "a sandbox held by this runner id before: failing it");
            sandboxes::transition(
                &self.pool,
                s.sandbox_id,
                Transition::new(
                    &[SandboxState::Pending, SandboxState::Running],
                    SandboxState::Failed,
                    StateReason::RunnerLost,
                )
                .detail("its runner restarted"),
            )
            .await?;
        }
        Ok(())
    }

    /// Remove containers left by runners of this deployment that died without removing them:
    /// labelled with a runner this database knows, stopped or silent. Containers of runners it
    /// does not know (other deployments on this Docker host) are left alone.
    pub(super) async fn sweep_strays(&self) {
        let mut filters = HashMap::new();
        filters.insert("label".to_owned(), vec!["sbx.runner".to_owned()]);
        let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let Ok(containers) = self.backend.docker().list_containers(Some(options)).await else {
            return;
        };
        let owner = |c: &bollard::models::ContainerSummary| {
            c.labels
                .as_ref()
                .and_then(|l| l.get("sbx.runner"))
                .and_then(|r| uuid::Uuid::parse_str(r).ok())
        };
        let mut runners: Vec<uuid::Uuid> = containers.iter().filter_map(owner).collect();
        runners.sort();
        runners.dedup();
        runners.retain(|r| *r != self.runner);
        if runners.is_empty() {
            return;
        }
        let Ok(known) = sbx_store::runners::liveness(&self.pool, &runners, 60.0).await else {
            return;
        };
        for c in &containers {
            let dead = owner(c).is_some_and(|r| known.iter().any(|(k, alive)| *k == r && !alive));
            if dead && let Some(id) = &c.id {
                tracing::info!(container = %id, "removing a container its dead runner left");
                let _ = self.backend.stop_and_remove(id).await;
            }
        }
    }

    /// Claim what fits and start it. One round at a time.
    pub(super) async fn place(self: Arc<Self>) {
        let _round = self.placing.lock().await;
        let mut booked = Vec::new();
        let claimed = {
            let this = self.clone();
            let booked = &mut booked;
            sbx_store::placement::claim_containers(
                &self.pool,
                self.runner,
                &self.host,
                16,
                move |s| {
                    let fits = this.fit(s);
                    if fits.is_ok() {
                        booked.push(s.sandbox_id);
                    }
                    fits
                },
            )
            .await
        };
        let claimed = match claimed {
            Ok(c) => c,
            Err(e) => {
                // The claim rolled back: give back what this round booked, and only that.
                tracing::warn!(error = %e, "claiming container sandboxes failed");
                for id in booked {
                    self.forget(id);
                }
                return;
            }
        };
        for p in claimed {
            let this = self.clone();
            tokio::spawn(async move { this.start(p).await });
        }
    }

    /// Whether `s` fits what is free here; books it if so.
    /// `Err(None)`: not now (its last placement here is still being let go).
    pub(super) fn fit(&self, s: &Sandbox) -> Result<Option<serde_json::Value>, Option<String>> {
        let mut books = self.books.lock().expect("books lock");
        if books.held.contains_key(&s.sandbox_id) {
            // Its last placement here is still being let go (a pause just committed): the
            // next round takes it.
            return Err(None);
        }
        let (cpu, mem) = books.free(&self.config);
        if i64::from(s.cpu_millis) > cpu || s.memory_bytes > mem {
            return Err(Some(format!(
                "waiting for CPU and memory: {:.2} cores and {} MiB are free on the runners that looked",
                cpu.max(0) as f64 / 1000.0,
                mem.max(0) >> 20
            )));
        }
        let disk = books.disk_free(&self.config);
        if s.disk_bytes > disk {
            return Err(Some(format!(
                "waiting for disk: {} MiB of disk caps fit on the runners that looked",
                disk.max(0) >> 20
            )));
        }
        let mut gpu = None;
        let mut alloc = None;
        if let Some(req) = &s.gpu {
            let a = books
                .ledger
                .place(req, &s.sandbox_id.to_string())
                .ok_or_else(|| {
                    Some(format!(
                        "waiting for a GPU: {} × {} of a {:?} card is not free on the runners that looked",
                        req.count, req.fraction, req.r#type
                    ))
                })?;
            let model = books
                .ledger
                .cards()
                .find(|c| a.card_uuids.first() == Some(&c.uuid))
                .map(|c| c.model.clone())
                .unwrap_or_default();
            gpu = Some((model.clone(), a.cards_worth()));
            alloc = Some(serde_json::json!({
                "cards": a.card_uuids,
                "quarters": a.quarters_per_card,
                "model": model,
            }));
        }
        books.held.insert(
            s.sandbox_id,
            Held {
                sandbox: s.clone(),
                container: None,
                gpu,
                last: None,
                net_last: None,
                leaving: false,
                processes: Default::default(),
                init_pid: Default::default(),
                root: self.config.dir.join(format!(
                    "{}-{}",
                    s.sandbox_id.0.simple(),
                    uuid::Uuid::now_v7().simple()
                )),
            },
        );
        Ok(alloc)
    }
}
