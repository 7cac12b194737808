//! Who is on the other end: the client's address and whether it came over https, as sbx should
//! believe them. That is the TCP peer's, unless the peer is a reverse proxy the operator trusts
//! (`SBX_TRUSTED_PROXIES`), whose `X-Forwarded-For` and `X-Forwarded-Proto` then say. Headers
//! from any other peer are ignored: a client could write anything there, and the sign-in
//! limiter keyed by address would be worthless.

use std::net::IpAddr;
use std::str::FromStr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// One trusted proxy: an address (`10.0.0.5`, `::1`) or a network (`10.0.0.0/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy(IpNet);

impl FromStr for TrustedProxy {
    type Err = String;

    /// Errors: neither an IP address nor a CIDR network, naming what was given.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        s.parse::<IpNet>()
            .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
            .map(Self)
            .map_err(|_| format!("`{s}` is neither an IP address nor a CIDR network (10.0.0.0/8)"))
    }
}

/// The reverse proxies whose forwarding headers are believed; empty (the default): none.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<TrustedProxy>);

impl TrustedProxies {
    /// These proxies.
    pub fn new(proxies: Vec<TrustedProxy>) -> Self {
        Self(proxies)
    }

    fn trusts(&self, addr: IpAddr) -> bool {
        self.0.iter().any(|p| p.0.contains(&addr))
    }

    fn peer_is_trusted(&self, req: &HttpRequest) -> bool {
        req.peer_addr().is_some_and(|p| self.trusts(p.ip()))
    }

    /// The client's address: the peer's; behind trusted proxies, the right-most address of
    /// `X-Forwarded-For` that is not itself a trusted proxy (entries left of it were written
    /// by the client and prove nothing). None only when the peer is unknown (a test request).
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.trusts(peer) {
            return Some(peer);
        }
        // Right to left, past the trusted proxies, to the first hop that is not one; a hop
        // that is not an address ends the walk at the last proxy seen.
        let hops: Vec<&str> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Ok(addr) = hop.trim().parse::<IpAddr>() else {
                break;
            };
            client = addr;
            if !self.trusts(addr) {
                break;
            }
        }
        Some(client)
    }

    /// Whether the client connected over https: the listener's own TLS, or a trusted proxy's
    /// `X-Forwarded-Proto: https` (its first value: the hop nearest the client).
    pub fn is_https(&self, req: &HttpRequest) -> bool {
        if req.app_config().secure() {
            return true;
        }
        self.peer_is_trusted(req)
            && req
                .headers()
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(list.iter().map(|p| p.parse().unwrap()).collect())
    }

    fn from(peer: &str, headers: &[(&str, &str)]) -> HttpRequest {
        let mut r = TestRequest::default().peer_addr(format!("{peer}:4000").parse().unwrap());
        for (k, v) in headers {
            r = r.insert_header((*k, *v));
        }
        r.to_http_request()
    }

    #[test]
    fn an_untrusted_peers_headers_are_ignored() {
        let req = from(
            "198.51.100.9",
            &[
                ("x-forwarded-for", "203.0.113.7"),
                ("x-forwarded-proto", "https"),
            ],
        );
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(p.client_ip(&req), Some("198.51.100.9".parse().unwrap()));
        assert!(!p.is_https(&req));
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let p = proxies(&["10.0.0.0/8", "192.0.2.1"]);
        // The client claims 1.2.3.4; the outer proxy (192.0.2.1) saw 203.0.113.7.
        let req = from(
            "10.1.2.3",
            &[
                ("x-forwarded-for", "1.2.3.4, 203.0.113.7, 192.0.2.1"),
                ("x-forwarded-proto", "https, http"),
            ],
        );
        assert_eq!(p.client_ip(&req), Some("203.0.113.7".parse().unwrap()));
        assert!(p.is_https(&req));
        // No header: the proxy itself.
        let bare = from("10.1.2.3", &[]);
        assert_eq!(p.client_ip(&bare), Some("10.1.2.3".parse().unwrap()));
        assert!(!p.is_https(&bare));
        // A hop that is not an address: the last proxy seen.
        let garbled = from(
            "10.1.2.3",
            &[("x-forwarded-for", "1.2.3.4, nonsense, 10.9.9.9")],
        );
        assert_eq!(p.client_ip(&garbled), Some("10.9.9.9".parse().unwrap()));
    }

    #[test]
    fn entries_are_addresses_or_networks() {
        assert!("::1".parse::<TrustedProxy>().is_ok());
        assert!("fd00::/8".parse::<TrustedProxy>().is_ok());
        let e = "proxy.local".parse::<TrustedProxy>().unwrap_err();
        assert!(e.contains("proxy.local"), "{e}");
    }
}
