//! Egress rules enforced by the runner: a container sandbox created with
//! `network: {"allow": […]}` reaches only the names and ranges its rules allow.
//!
//! Each such sandbox gets a Docker network of its own: `internal` (no route out of the host)
//! with inter-container traffic off, on a /29 carved from [`EgressConfig::pool`]. On that
//! network's gateway address, which is the host's, this runner listens for it:
//! - DNS on port 53 ([`dns`]): an allowed name is answered with the gateway's address, any
//!   other name with `NXDOMAIN`;
//! - an HTTP proxy on port [`PROXY_PORT`] ([`proxy`]): `CONNECT host:port` and plain
//!   `GET http://host/…`; the container's `HTTP_PROXY`/`HTTPS_PROXY` point at it;
//! - ports 80 and 443: a connection made to an allowed name without the proxy (which DNS sent
//!   here) goes to the name its `Host` header (HTTP) or its TLS server name (SNI) says.
//!
//! The runner then opens the connection itself, from the host, to an address that is both
//! allowed by the rules and reachable at all ([`Gate::dial`]): public, or named by the
//! operator (a hosts file, private ranges). Every refusal is a [`Denial`], recorded as the
//! sandbox's `sandbox.egress_denied` event. Nothing else leaves the network.

mod dns;
mod gate;
mod proxy;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bollard::Docker;
use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use ipnet::{IpNet, Ipv4Net};
use sbx_core::ids::SandboxId;
use sbx_limits::egress::EgressRules;
use tokio::task::JoinSet;

pub use gate::{Denial, Gate};

use crate::RunnerError;

/// The port of the HTTP proxy on a sandbox's gateway (Squid's).
pub const PROXY_PORT: u16 = 3128;

/// The label on every egress network, with the sandbox's id as its value.
pub const NETWORK_LABEL: &str = "sbx.egress";

/// Where egress networks' addresses come from, by default: a /16 of the private 10/8 that
/// Docker's own default pools (172.17/12, 192.168/16) do not use.
pub const DEFAULT_POOL: &str = "10.213.0.0/16";

/// What the deployment allows sandboxes' egress to reach, whatever their rules say.
#[derive(Debug, Clone)]
pub struct EgressConfig {
    /// The range egress networks are carved from, a /29 each (8192 in a /16).
    pub pool: Ipv4Net,
    /// Names the operator pins to addresses (a hosts file, `SBX_EGRESS_HOSTS`): looked up
    /// before DNS and reachable whatever their address, when a rule allows the name.
    pub hosts: HashMap<String, Vec<IpAddr>>,
    /// Non-public ranges a rule may reach (`SBX_EGRESS_PRIVATE_RANGES`); public addresses
    /// need nothing.
    pub private_ranges: Vec<IpNet>,
}

impl Default for EgressConfig {
    fn default() -> Self {
        Self {
            pool: DEFAULT_POOL.parse().expect("default pool"),
            hosts: HashMap::new(),
            private_ranges: Vec::new(),
        }
    }
}

impl EgressConfig {
    /// Reads a hosts file's text (`/etc/hosts` format: an address, then its names; `#` starts
    /// a comment) into [`EgressConfig::hosts`].
    ///
    /// # Errors
    /// The line number and text of the first line whose address does not parse.
    pub fn parse_hosts(text: &str) -> Result<HashMap<String, Vec<IpAddr>>, String> {
        let mut hosts: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default();
            let mut words = line.split_whitespace();
            let Some(address) = words.next() else {
                continue;
            };
            let ip: IpAddr = address
                .parse()
                .map_err(|_| format!("line {}: `{address}` is not an address", n + 1))?;
            for name in words {
                let name = sbx_limits::egress::normalize_name(name)
                    .ok_or_else(|| format!("line {}: `{name}` is not a host name", n + 1))?;
                hosts.entry(name).or_default().push(ip);
            }
        }
        Ok(hosts)
    }
}

/// The egress networks of one runner: it opens one when it starts a sandbox with rules and
/// closes it when the sandbox leaves.
pub struct Egress {
    docker: Docker,
    config: Arc<EgressConfig>,
    denials: tokio::sync::mpsc::Sender<Denial>,
}

/// A sandbox's egress network, open: the network and the tasks listening on its gateway.
pub struct EgressNetwork {
    /// Docker's name of the network (`sbx-egress-<sandbox>`).
    pub name: String,
    /// Docker's id of it: what is removed (a later placement's network has the same name).
    id: String,
    /// The gateway's address: the sandbox's DNS server and proxy.
    pub gateway: Ipv4Addr,
    tasks: JoinSet<()>,
}

impl EgressNetwork {
    /// The environment a container on this network gets: its proxy, for the clients that
    /// read these variables (curl, pip, requests, Node's undici with a flag), and loopback
    /// left out of it.
    pub fn env(&self) -> Vec<(String, String)> {
        let proxy = format!("http://{}:{PROXY_PORT}", self.gateway);
        let no_proxy = "localhost,127.0.0.1,::1".to_owned();
        ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"]
            .into_iter()
            .map(|k| (k.to_owned(), proxy.clone()))
            .chain(["NO_PROXY", "no_proxy"].map(|k| (k.to_owned(), no_proxy.clone())))
            .collect()
    }
}

impl Egress {
    /// Egress networks on `docker` under `config`; refusals go to `denials` (dropped, with a
    /// warning, while it is full).
    pub fn new(
        docker: Docker,
        config: EgressConfig,
        denials: tokio::sync::mpsc::Sender<Denial>,
    ) -> Self {
        Self {
            docker,
            config: Arc::new(config),
            denials,
        }
    }

    /// Creates sandbox `sandbox`'s network (labelled with `labels` and [`NETWORK_LABEL`]) and
    /// starts serving `rules` on its gateway. A network of the same name left by an earlier
    /// placement is removed first.
    ///
    /// # Errors
    /// [`RunnerError::Docker`] when no free /29 of the pool was found in 16 tries or Docker
    /// refused; [`RunnerError::Io`]-like [`RunnerError::Docker`] when the gateway's ports
    /// cannot be bound (port 53 needs root or `CAP_NET_BIND_SERVICE`).
    pub async fn open(
        &self,
        sandbox: SandboxId,
        rules: EgressRules,
        labels: &[(String, String)],
    ) -> crate::Result<EgressNetwork> {
        let name = format!("sbx-egress-{}", sandbox.0.simple());
        let _ = self.docker.remove_network(&name).await;
        let mut labels: HashMap<String, String> = labels.iter().cloned().collect();
        labels.insert(NETWORK_LABEL.into(), sandbox.to_string());
        let pool = self.config.pool;
        let count = 1u64 << 29u8.saturating_sub(pool.prefix_len());
        if pool.prefix_len() > 29 {
            return Err(RunnerError::Docker(format!(
                "the egress pool {pool} is smaller than one /29"
            )));
        }
        // Start where the sandbox's id points, so that runners sharing a Docker host rarely
        // try the same /29; Docker refuses one that overlaps a network it has, and a gateway
        // still bound by a closing gate is skipped for the next.
        let start = (sandbox.0.as_u128() % u128::from(count)) as u64;
        let mut last = String::new();
        for attempt in 0..16u64 {
            let nth = (start + attempt * 7919) % count;
            let base = u32::from(pool.network()) + (nth as u32) * 8;
            let subnet = Ipv4Net::new(Ipv4Addr::from(base), 29).expect("a /29");
            let gateway = subnet.hosts().next().expect("a /29 has hosts");
            let request = NetworkCreateRequest {
                name: name.clone(),
                driver: Some("bridge".into()),
                internal: Some(true),
                ipam: Some(Ipam {
                    config: Some(vec![IpamConfig {
                        subnet: Some(subnet.to_string()),
                        gateway: Some(gateway.to_string()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                options: Some(HashMap::from([(
                    "com.docker.network.bridge.enable_icc".to_owned(),
                    "false".to_owned(),
                )])),
                labels: Some(labels.clone()),
                enable_ipv6: Some(false),
                ..Default::default()
            };
            let id = match self.docker.create_network(request).await {
                Ok(created) => created.id,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            match self.serve(sandbox, rules.clone(), subnet).await {
                Ok(tasks) => {
                    return Ok(EgressNetwork {
                        name,
                        id,
                        gateway,
                        tasks,
                    });
                }
                Err(e) => {
                    let _ = self.docker.remove_network(&id).await;
                    last = format!(
                        "serving egress on {gateway}: {e} (port 53 needs root or CAP_NET_BIND_SERVICE)"
                    );
                }
            }
        }
        Err(RunnerError::Docker(format!(
            "no egress network for the sandbox: {last}"
        )))
    }

    async fn serve(
        &self,
        sandbox: SandboxId,
        rules: EgressRules,
        subnet: Ipv4Net,
    ) -> std::io::Result<JoinSet<()>> {
        let gateway = subnet.hosts().next().expect("a /29 has hosts");
        let gate = Arc::new(Gate::new(
            sandbox,
            rules,
            self.config.clone(),
            self.denials.clone(),
            subnet,
        ));
        let at = |port| SocketAddr::new(IpAddr::V4(gateway), port);
        let mut tasks = JoinSet::new();
        let udp = tokio::net::UdpSocket::bind(at(53)).await?;
        tasks.spawn(dns::serve(udp, gate.clone(), gateway));
        for (port, kind) in [
            (PROXY_PORT, proxy::Kind::Proxy),
            (80, proxy::Kind::Http),
            (443, proxy::Kind::Tls),
        ] {
            let listener = tokio::net::TcpListener::bind(at(port)).await?;
            tasks.spawn(proxy::serve(listener, gate.clone(), kind));
        }
        Ok(tasks)
    }

    /// Stops serving `network` and removes it once no container is attached any more (a
    /// container being removed detaches within moments; tried for 10 s).
    pub async fn close(&self, mut network: EgressNetwork) {
        network.tasks.abort_all();
        for _ in 0..20 {
            match self.docker.remove_network(&network.id).await {
                Ok(()) => return,
                Err(e) if crate::container::status_of(&e) == Some(404) => return,
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(500)).await,
            }
        }
        tracing::warn!(network = %network.name, "an egress network still had containers: left for the sweep");
    }

    /// Removes egress networks labelled `label` (the deployment's `sbx.database`, say) that
    /// no sandbox held here (`held`) owns and that are older than a minute (another runner
    /// of the deployment may be about to attach its container to a newer one): left by a
    /// runner that stopped, or a close that timed out. Docker refuses to remove one a
    /// container is still attached to, so a live sandbox elsewhere keeps its own.
    pub async fn sweep(&self, label: (&str, &str), held: &[SandboxId]) {
        let filters: HashMap<String, Vec<String>> = HashMap::from([(
            "label".to_owned(),
            vec![format!("{}={}", label.0, label.1), NETWORK_LABEL.to_owned()],
        )]);
        let options = bollard::query_parameters::ListNetworksOptionsBuilder::new()
            .filters(&filters)
            .build();
        let Ok(networks) = self.docker.list_networks(Some(options)).await else {
            return;
        };
        let minute_ago = chrono::Utc::now() - chrono::Duration::seconds(60);
        for n in networks {
            let owner = n.labels.as_ref().and_then(|l| l.get(NETWORK_LABEL));
            if owner.is_some_and(|o| held.iter().any(|h| h.to_string() == *o)) {
                continue;
            }
            let young = n
                .created
                .as_deref()
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                .is_none_or(|c| c > minute_ago);
            if let (Some(name), false) = (n.name, young) {
                let _ = self.docker.remove_network(&name).await;
            }
        }
    }
}
