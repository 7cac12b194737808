//! Egress rules of the sandboxes placed here: their networks opened at start and closed when
//! they leave ([`crate::egress`]), and their refusals recorded as events.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sbx_core::ids::SandboxId;
use sbx_core::sandbox::StateReason;
use sbx_limits::egress::EgressRules;

use super::ContainerHost;
use crate::container::RunnerError;
use crate::egress::Denial;

/// The same refusal (host, port and how) of one sandbox recorded at most once per this long.
const SAME_HOST: Duration = Duration::from_secs(60);
/// Distinct refusals recorded per sandbox per [`SAME_HOST`]; beyond, they
/// are counted in the log only (a sandbox scanning names must not flood its webhooks).
const HOSTS_PER_WINDOW: usize = 20;

/// Where a started container's network is, when it has egress rules: Docker's network name,
/// the gateway (DNS server and proxy), and the environment pointing at the proxy.
pub(super) struct Opened {
    pub network: String,
    pub gateway: std::net::Ipv4Addr,
    pub env: Vec<(String, String)>,
}

impl ContainerHost {
    /// Opens sandbox `id`'s egress network for rules `entries` (as the API checked them).
    ///
    /// # Errors
    /// A start failure (`start_failed`) when the rules no longer parse or the network cannot
    /// be opened.
    pub(super) async fn open_egress(
        &self,
        id: SandboxId,
        entries: &[String],
    ) -> crate::Result<Opened> {
        let failed = |e: &dyn std::fmt::Display| {
            RunnerError::start_failed(StateReason::StartFailed, format!("egress rules: {e}"))
        };
        let rules = EgressRules::parse(entries).map_err(|e| failed(&e))?;
        self.close_egress(id).await;
        let labels = [
            ("sbx".to_owned(), "1".to_owned()),
            ("sbx.runner".to_owned(), self.runner.to_string()),
            ("sbx.database".to_owned(), self.database.clone()),
        ];
        let network = self
            .egress
            .open(id, rules, &labels)
            .await
            .map_err(|e| failed(&e))?;
        let opened = Opened {
            network: network.name.clone(),
            gateway: network.gateway,
            env: network.env(),
        };
        self.egress_networks
            .lock()
            .expect("egress lock")
            .insert(id, network);
        Ok(opened)
    }

    /// Closes sandbox `id`'s egress network, if it has one open here.
    pub(super) async fn close_egress(&self, id: SandboxId) {
        if let Some(network) = self.take_egress(id) {
            self.egress.close(network).await;
        }
    }

    /// Sandbox `id`'s open egress network, no longer counted as held here.
    pub(super) fn take_egress(&self, id: SandboxId) -> Option<crate::egress::EgressNetwork> {
        self.egress_networks
            .lock()
            .expect("egress lock")
            .remove(&id)
    }

    /// Removes egress networks of this deployment that no sandbox held here owns and no
    /// container uses any more.
    pub(super) async fn sweep_egress(&self) {
        let held: Vec<SandboxId> = self
            .egress_networks
            .lock()
            .expect("egress lock")
            .keys()
            .copied()
            .collect();
        self.egress
            .sweep(("sbx.database", self.database.as_str()), &held)
            .await;
    }
}

/// Records the refusals arriving on `denials` as `sandbox.egress_denied` events until the
/// channel closes: the same refusal once a minute per sandbox, at most [`HOSTS_PER_WINDOW`]
/// different ones per sandbox per minute.
pub(super) async fn record_denials(
    pool: sbx_store::Pool,
    mut denials: tokio::sync::mpsc::Receiver<Denial>,
) {
    let mut recent: HashMap<SandboxId, (Instant, HashSet<String>)> = HashMap::new();
    while let Some(d) = denials.recv().await {
        let now = Instant::now();
        recent.retain(|_, (since, _)| now.duration_since(*since) < SAME_HOST);
        let (_, hosts) = recent
            .entry(d.sandbox)
            .or_insert_with(|| (now, HashSet::new()));
        let key = Denial {
            why: None,
            ..d.clone()
        }
        .detail();
        if hosts.contains(&key) {
            continue;
        }
        if hosts.len() >= HOSTS_PER_WINDOW {
            tracing::info!(sandbox = %d.sandbox, detail = d.detail(), "egress denied (not recorded: too many this minute)");
            continue;
        }
        hosts.insert(key);
        if let Err(e) = sbx_store::events::record_egress_denied(&pool, d.sandbox, &d.detail()).await
        {
            tracing::warn!(sandbox = %d.sandbox, error = %e, "could not record an egress refusal");
        }
    }
}

/// The channel runners' gates send refusals on, and [`record_denials`]' end of it.
pub(super) fn denials() -> (
    tokio::sync::mpsc::Sender<Denial>,
    tokio::sync::mpsc::Receiver<Denial>,
) {
    tokio::sync::mpsc::channel(1024)
}

/// A held sandbox's network, to close when it leaves: see [`ContainerHost::close_egress`].
pub(super) type Networks = std::sync::Mutex<HashMap<SandboxId, crate::egress::EgressNetwork>>;

/// Closes `network` in the background (its container may still be detaching).
pub(super) fn close_later(
    egress: Arc<crate::egress::Egress>,
    network: crate::egress::EgressNetwork,
) {
    tokio::spawn(async move { egress.close(network).await });
}
