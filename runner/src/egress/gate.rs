//! One sandbox's gate: whether a name or address may be reached, and the connection to it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use sbx_core::ids::SandboxId;
use sbx_limits::egress::{EgressRules, is_public};
use tokio::net::TcpStream;

use super::EgressConfig;

/// How long a connection to an allowed destination may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest host kept in a refusal (a `Host` header may be 16 KiB): the rest is cut.
const MAX_DENIED_HOST: usize = 253;
/// Name lookups one sandbox may have under way at once: each holds a thread of the blocking
/// pool (`getaddrinfo`) until it ends, whatever the timeout says.
const MAX_LOOKUPS: usize = 8;

/// A refused attempt: sandbox, the host or address it tried, the port (0 for DNS) and how it
/// tried (`dns`, `connect`, `http`, `tls`), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The sandbox that tried.
    pub sandbox: SandboxId,
    /// The name or address it tried, as it wrote it.
    pub host: String,
    /// The port, 0 for a DNS question.
    pub port: u16,
    /// How: `dns`, `connect` (the proxy's `CONNECT`), `http` (a plain HTTP request), `tls`.
    pub how: &'static str,
    /// Why, when the rules allowed the name but its addresses are not reachable.
    pub why: Option<String>,
}

impl Denial {
    /// The event's `detail`: `denied.test:443 (connect)`, or with the reason after a colon.
    pub fn detail(&self) -> String {
        let at = if self.port == 0 {
            self.host.clone()
        } else if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        match &self.why {
            Some(why) => format!("{at} ({}): {why}", self.how),
            None => format!("{at} ({})", self.how),
        }
    }
}

/// What a sandbox may reach, and where its refusals go.
pub struct Gate {
    sandbox: SandboxId,
    rules: EgressRules,
    config: Arc<EgressConfig>,
    denials: tokio::sync::mpsc::Sender<Denial>,
    /// Connections open at once through this gate.
    pub(super) open: Arc<tokio::sync::Semaphore>,
    lookups: tokio::sync::Semaphore,
    /// The sandbox's own network: only its container may use this gate.
    pub(super) subnet: ipnet::Ipv4Net,
}

/// Most connections one sandbox may have open through its gate at once.
pub const MAX_CONNECTIONS: usize = 256;

impl Gate {
    /// The gate of `sandbox` under `rules`.
    pub fn new(
        sandbox: SandboxId,
        rules: EgressRules,
        config: Arc<EgressConfig>,
        denials: tokio::sync::mpsc::Sender<Denial>,
        subnet: ipnet::Ipv4Net,
    ) -> Self {
        Self {
            sandbox,
            rules,
            config,
            denials,
            open: Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS)),
            lookups: tokio::sync::Semaphore::new(MAX_LOOKUPS),
            subnet,
        }
    }

    /// Whether `peer` is on the sandbox's own network. Every gateway is an address of the
    /// host, which routes to all of them: another sandbox must not use this one's rules.
    pub fn serves(&self, peer: IpAddr) -> bool {
        match peer.to_canonical() {
            IpAddr::V4(v4) => self.subnet.contains(&v4),
            IpAddr::V6(_) => false,
        }
    }

    /// Whether the rules allow `host` (a name, or an address written as one); a refusal is
    /// recorded as tried on `port` by `how`.
    pub fn allows(&self, host: &str, port: u16, how: &'static str) -> bool {
        let ok = self.rules.allows_name(host);
        if !ok {
            self.deny(host, port, how, None);
        }
        ok
    }

    fn deny(&self, host: &str, port: u16, how: &'static str, why: Option<String>) {
        let denial = Denial {
            sandbox: self.sandbox,
            host: host.chars().take(MAX_DENIED_HOST).collect(),
            port,
            how,
            why,
        };
        tracing::debug!(sandbox = %self.sandbox, detail = denial.detail(), "egress denied");
        if self.denials.try_send(denial).is_err() {
            tracing::warn!(sandbox = %self.sandbox, "egress denials are coming faster than they are recorded: one dropped");
        }
    }

    /// Whether `ip` may be reached at all: public, or in a range the operator opened; never
    /// an address of the egress pool (the gateways are the host's).
    fn reachable(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        let in_pool = matches!(ip, IpAddr::V4(v4) if self.config.pool.contains(&v4));
        !in_pool && (is_public(ip) || self.config.private_ranges.iter().any(|r| r.contains(&ip)))
    }

    /// Opens a connection to `host:port` for the sandbox, `host` having passed
    /// [`Gate::allows`]: an address as is; a name at the addresses the operator pinned, else
    /// at those DNS gives that are reachable ([`is_public`] or an opened private range).
    ///
    /// # Errors
    /// When no address is left (recorded as a denial with the reason) or none answers.
    pub async fn dial(
        &self,
        host: &str,
        port: u16,
        how: &'static str,
    ) -> std::io::Result<TcpStream> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<SocketAddr> = if let Ok(ip) = bare.parse::<IpAddr>() {
            if !self.reachable(ip) {
                return Err(self.unreachable(host, port, how, "not a public address"));
            }
            vec![SocketAddr::new(ip, port)]
        } else {
            let name = sbx_limits::egress::normalize_name(host).unwrap_or_default();
            match self.config.hosts.get(&name) {
                Some(pinned) => pinned.iter().map(|ip| SocketAddr::new(*ip, port)).collect(),
                None => {
                    let _lookup = self
                        .lookups
                        .acquire()
                        .await
                        .map_err(std::io::Error::other)?;
                    let found: Vec<SocketAddr> = tokio::time::timeout(
                        CONNECT_TIMEOUT,
                        tokio::net::lookup_host((name.as_str(), port)),
                    )
                    .await
                    .map_err(|_| {
                        std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!("{host}: no address in 10 s"),
                        )
                    })??
                    .collect();
                    let kept: Vec<SocketAddr> = found
                        .iter()
                        .copied()
                        .filter(|a| self.reachable(a.ip()))
                        .collect();
                    if kept.is_empty() && !found.is_empty() {
                        return Err(self.unreachable(
                            host,
                            port,
                            how,
                            "it resolves only to addresses that are not public",
                        ));
                    }
                    kept
                }
            }
        };
        let mut last = std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{host} has no address"),
        );
        for a in addresses {
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(a)).await {
                Ok(Ok(s)) => return Ok(s),
                Ok(Err(e)) => last = e,
                Err(_) => {
                    last = std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("{a}: no answer in 10 s"),
                    )
                }
            }
        }
        Err(last)
    }

    fn unreachable(&self, host: &str, port: u16, how: &'static str, why: &str) -> std::io::Error {
        self.deny(host, port, how, Some(why.to_owned()));
        std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{host}: {why}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn listener() -> (tokio::net::TcpListener, u16) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        (l, port)
    }

    fn gate(rules: &[&str], config: EgressConfig) -> (Gate, tokio::sync::mpsc::Receiver<Denial>) {
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let gate = Gate::new(
            SandboxId::new(),
            EgressRules::parse(rules).unwrap(),
            Arc::new(config),
            tx,
            "10.213.0.0/29".parse().unwrap(),
        );
        (gate, rx)
    }

    #[tokio::test]
    async fn rules_alone_never_open_addresses_that_are_not_public() {
        let (_l, port) = listener().await;
        let (g, mut denied) = gate(&["127.0.0.1"], EgressConfig::default());
        assert!(g.allows("127.0.0.1", port, "connect"));
        let e = g.dial("127.0.0.1", port, "connect").await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
        let d = denied.try_recv().unwrap();
        assert_eq!(
            d.detail(),
            format!("127.0.0.1:{port} (connect): not a public address")
        );
        // `localhost` resolves to loopback only: refused by its addresses, even if allowed.
        let (g, mut denied) = gate(&["localhost"], EgressConfig::default());
        let e = g.dial("localhost", port, "connect").await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(denied.try_recv().unwrap().detail().contains("not public"));
    }

    #[tokio::test]
    async fn the_operator_opens_private_ranges_and_pins_names() {
        let (_l, port) = listener().await;
        let opened = EgressConfig {
            private_ranges: vec!["127.0.0.0/8".parse().unwrap()],
            ..EgressConfig::default()
        };
        let (g, _) = gate(&["127.0.0.0/8"], opened);
        assert!(g.dial("127.0.0.1", port, "connect").await.is_ok());
        // Never a gateway, whatever the operator opened.
        let wide = EgressConfig {
            private_ranges: vec!["10.0.0.0/8".parse().unwrap()],
            ..EgressConfig::default()
        };
        let (g, _) = gate(&["10.0.0.0/8"], wide);
        let e = g.dial("10.213.0.9", port, "connect").await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(g.serves("10.213.0.2".parse().unwrap()));
        assert!(!g.serves("10.213.0.9".parse().unwrap()));
        assert!(!g.serves("::1".parse().unwrap()));
        let pinned = EgressConfig {
            hosts: EgressConfig::parse_hosts("# comment\n127.0.0.1 mirror.test  other.test\n")
                .unwrap(),
            ..EgressConfig::default()
        };
        let (g, mut denied) = gate(&["mirror.test"], pinned);
        assert!(g.dial("Mirror.Test.", port, "connect").await.is_ok());
        assert!(!g.allows("other.test", port, "connect"));
        assert_eq!(
            denied.try_recv().unwrap().detail(),
            format!("other.test:{port} (connect)")
        );
        assert!(EgressConfig::parse_hosts("nonsense name\n").is_err());
    }
}
