//! Egress rules: where a container sandbox created with `network: {"allow": […]}` may open
//! connections. An entry is a host name (`pypi.org`), a wildcard for a name's subdomains
//! (`*.example.com`: `a.example.com` and `a.b.example.com`, not `example.com` itself), an IP
//! address (`203.0.113.7`, `2001:db8::1`) or a CIDR range (`203.0.113.0/24`).
//!
//! The rules say what a sandbox asks for; the deployment says which addresses may be reached
//! at all: [`is_public`] ones, plus those its operator lists (a hosts file, private ranges).
//! A rule alone never opens the runner's own loopback or a private network to a sandbox.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// Most entries an allow list may have.
pub const MAX_RULES: usize = 64;

/// Longest host name (RFC 1035: 253 characters without the trailing dot).
const MAX_NAME: usize = 253;

/// One entry of an allow list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// Exactly this name (lower case, no trailing dot).
    Name(String),
    /// Any name ending in `.` and this suffix.
    Subdomains(String),
    /// Addresses in this range (a single address is a /32 or /128).
    Range(IpNet),
}

/// A sandbox's allow list, checked: what [`EgressRules::parse`] accepted, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressRules {
    rules: Vec<Rule>,
    entries: Vec<String>,
}

/// Why an allow list was refused: which entry (`None`: the list itself) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RuleError {
    /// Index of the refused entry in the list, or `None` for the list as a whole.
    pub index: Option<usize>,
    /// What is wrong, in words.
    pub message: String,
}

impl EgressRules {
    /// Checks an allow list of 1 to [`MAX_RULES`] entries (see the module's docs for their
    /// forms). Names are kept in lower case without a trailing dot, ranges as their network
    /// (`203.0.113.9/24` is `203.0.113.0/24`).
    ///
    /// # Errors
    /// [`RuleError`] naming the first entry that is not a host name, a wildcard over at least
    /// two labels, an address or a CIDR range; or the list, when empty or too long.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, RuleError> {
        let list = |message: String| RuleError {
            index: None,
            message,
        };
        if entries.is_empty() {
            return Err(list(
                "an allow list needs at least one entry (use `false` for no network)".into(),
            ));
        }
        if entries.len() > MAX_RULES {
            return Err(list(format!(
                "an allow list has at most {MAX_RULES} entries, not {}",
                entries.len()
            )));
        }
        let mut rules = Vec::with_capacity(entries.len());
        let mut kept = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let (rule, text) = parse_rule(entry.as_ref()).map_err(|message| RuleError {
                index: Some(i),
                message,
            })?;
            rules.push(rule);
            kept.push(text);
        }
        Ok(Self {
            rules,
            entries: kept,
        })
    }

    /// The entries as accepted (normalized), in their order.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// Whether host name `host` (any case, trailing dot or not) matches a name or wildcard
    /// entry. An address written as a name is checked against the ranges instead.
    pub fn allows_name(&self, host: &str) -> bool {
        if let Ok(ip) = IpAddr::from_str(host.trim_start_matches('[').trim_end_matches(']')) {
            return self.allows_ip(ip);
        }
        let Some(host) = normalize_name(host) else {
            return false;
        };
        self.rules.iter().any(|r| match r {
            Rule::Name(n) => *n == host,
            // `s` starts with its dot: what precedes it is at least one label.
            Rule::Subdomains(s) => host
                .strip_suffix(s.as_str())
                .is_some_and(|head| !head.is_empty()),
            Rule::Range(_) => false,
        })
    }

    /// Whether address `ip` is in a range entry (an IPv4 address mapped into IPv6 counts as
    /// itself).
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.rules.iter().any(|r| match r {
            Rule::Range(net) => net.contains(&ip),
            _ => false,
        })
    }
}

/// `host` in lower case without its trailing dot, if it is a valid host name: labels of 1 to
/// 63 letters, digits, `-` and `_` (not starting or ending with `-`), 253 characters at most,
/// not all of them digits.
pub fn normalize_name(host: &str) -> Option<String> {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    };
    // All digits (`127.1`, `2130706433`): an address in a form resolvers read, not a name.
    let numeric = host
        .split('.')
        .all(|l| l.bytes().all(|b| b.is_ascii_digit()));
    (!host.is_empty() && host.len() <= MAX_NAME && host.split('.').all(label_ok) && !numeric)
        .then_some(host)
}

fn parse_rule(entry: &str) -> Result<(Rule, String), String> {
    let entry = entry.trim();
    if entry.is_empty() {
        return Err("an entry must not be empty".into());
    }
    if entry.contains('/') {
        let net = IpNet::from_str(entry)
            .map_err(|_| format!("`{entry}` is not a CIDR range such as 203.0.113.0/24"))?
            .trunc();
        return Ok((Rule::Range(net), net.to_string()));
    }
    if let Ok(ip) = IpAddr::from_str(entry) {
        let net = IpNet::from(ip.to_canonical());
        return Ok((Rule::Range(net), ip.to_canonical().to_string()));
    }
    if let Some(suffix) = entry.strip_prefix("*.") {
        let name = normalize_name(suffix).ok_or_else(|| not_a_name(entry))?;
        if !name.contains('.') {
            return Err(format!(
                "`{entry}` would allow every name under a top-level domain: name at least two labels after `*.`"
            ));
        }
        return Ok((Rule::Subdomains(format!(".{name}")), format!("*.{name}")));
    }
    let name = normalize_name(entry).ok_or_else(|| not_a_name(entry))?;
    Ok((Rule::Name(name.clone()), name))
}

fn not_a_name(entry: &str) -> String {
    format!(
        "`{entry}` is not a host name, `*.` wildcard, address or CIDR range (host names: letters, digits, `-`, `_` and dots)"
    )
}

/// Whether `ip` is a public unicast address: not unspecified, loopback, private (RFC 1918,
/// IPv6 unique local), link-local (the cloud metadata address included), shared (RFC 6598),
/// benchmarking, documentation, reserved, broadcast or multicast. Only these are reached
/// through a name's resolution unless the deployment allows more.
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b)))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x0064 && s[1] == 0xff9b)
                || s[0] == 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &[&str]) -> EgressRules {
        EgressRules::parse(list).unwrap()
    }

    #[test]
    fn names_match_exactly_and_wildcards_match_subdomains_only() {
        let r = rules(&["PyPI.org.", "*.Example.com"]);
        assert_eq!(r.entries(), ["pypi.org", "*.example.com"]);
        assert!(r.allows_name("pypi.org"));
        assert!(r.allows_name("PYPI.ORG."));
        assert!(!r.allows_name("files.pypi.org"));
        assert!(!r.allows_name("pypi.org.evil.net"));
        assert!(r.allows_name("a.example.com"));
        assert!(r.allows_name("a.b.example.com"));
        assert!(!r.allows_name("example.com"));
        assert!(!r.allows_name("badexample.com"));
        assert!(!r.allows_name("a.example.com.evil.net"));
        assert!(!r.allows_name("not a name"));
    }

    #[test]
    fn ranges_and_addresses_match_addresses_in_them() {
        let r = rules(&["203.0.113.9/24", "198.51.100.7", "2001:db8::/32"]);
        assert_eq!(
            r.entries(),
            ["203.0.113.0/24", "198.51.100.7", "2001:db8::/32"]
        );
        assert!(r.allows_ip("203.0.113.200".parse().unwrap()));
        assert!(!r.allows_ip("203.0.114.1".parse().unwrap()));
        assert!(r.allows_ip("198.51.100.7".parse().unwrap()));
        assert!(!r.allows_ip("198.51.100.8".parse().unwrap()));
        assert!(r.allows_ip("::ffff:203.0.113.1".parse().unwrap()));
        assert!(r.allows_ip("2001:db8::5".parse().unwrap()));
        // An address written as a host (a CONNECT target, an SNI) is checked as an address.
        assert!(r.allows_name("203.0.113.4"));
        assert!(r.allows_name("[2001:db8::5]"));
        assert!(!r.allows_name("192.0.2.1"));
        // Names never match ranges.
        assert!(!rules(&["pypi.org"]).allows_ip("203.0.113.1".parse().unwrap()));
    }

    #[test]
    fn bad_entries_are_refused_by_index() {
        for (list, index) in [
            (vec!["pypi.org", "bad name!"], Some(1)),
            (vec![""], Some(0)),
            (vec!["*.com"], Some(0)),
            (vec!["*"], Some(0)),
            (vec!["a.*.com"], Some(0)),
            (vec!["10.0.0.0/33"], Some(0)),
            (vec!["-a.com"], Some(0)),
            (vec!["a..com"], Some(0)),
            (vec!["pypi.org:443"], Some(0)),
            (vec!["https://pypi.org"], Some(0)),
            (vec!["127.1"], Some(0)),
            (vec!["2130706433"], Some(0)),
        ] {
            let e = EgressRules::parse(&list).unwrap_err();
            assert_eq!(e.index, index, "{list:?}: {e}");
        }
        assert_eq!(EgressRules::parse::<&str>(&[]).unwrap_err().index, None);
        let many: Vec<String> = (0..=MAX_RULES)
            .map(|i| format!("h{i}.example.com"))
            .collect();
        assert_eq!(EgressRules::parse(&many).unwrap_err().index, None);
        assert!(EgressRules::parse(&many[..MAX_RULES]).is_ok());
        let long = format!("{}.com", "a.".repeat(130));
        assert!(EgressRules::parse(&[long]).is_err());
    }

    #[test]
    fn only_public_unicast_addresses_are_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.17.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["151.101.0.223", "1.1.1.1", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }
}
