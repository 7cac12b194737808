//! A container's `network`: `false`, `true` or `{"allow": […]}` (egress rules), as sandboxes,
//! container jobs and the MCP tool take it and as sandbox views show it.

use rmcp::schemars;
use sbx_limits::egress::EgressRules;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, Code};

/// A container's network: `false` (loopback only, the default), `true` (a network
/// interface with a route out), or `{"allow": [...]}`: traffic goes out only to those host
/// names (`pypi.org`), subdomains (`*.example.com`, not `example.com` itself), addresses and
/// CIDR ranges (`203.0.113.0/24`), through an egress gate the runner runs (DNS answers only
/// allowed names; the container's `HTTP_PROXY`/`HTTPS_PROXY` point at the gate, which also
/// takes plain HTTP on port 80 and TLS on 443 by server name). A refused attempt is a
/// `sandbox.egress_denied` event. Addresses that are not public (loopback, private ranges,
/// link-local) are reached only where the deployment allows them, whatever the list says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, schemars::JsonSchema)]
#[serde(untagged)]
pub enum Network {
    /// `true`: a network interface with a route out; `false`: loopback only.
    Enabled(bool),
    /// Only where the list allows.
    Allow(AllowList),
}

/// Egress rules: where a container may open connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowList {
    /// 1 to 64 entries: host names, `*.` wildcards (subdomains only), IP addresses, CIDR
    /// ranges.
    #[schema(min_items = 1, max_items = 64, example = json!(["pypi.org", "*.pythonhosted.org", "203.0.113.0/24"]))]
    #[schemars(length(min = 1, max = 64))]
    pub allow: Vec<String>,
}

impl Network {
    /// What a sandbox row keeps: whether it has an interface, and its rules' entries
    /// (normalized: lower case, ranges as their network).
    ///
    /// # Errors
    /// 422 `invalid_request` naming `network.allow[i]` (the entry) or `network.allow` (an
    /// empty or too long list).
    pub fn checked(&self) -> Result<(bool, Option<Vec<String>>), ApiError> {
        match self {
            Self::Enabled(on) => Ok((*on, None)),
            Self::Allow(list) => {
                let rules = EgressRules::parse(&list.allow).map_err(|e| {
                    let field = match e.index {
                        Some(i) => format!("network.allow[{i}]"),
                        None => "network.allow".to_owned(),
                    };
                    ApiError::invalid(Code::InvalidRequest, field, e.message)
                })?;
                Ok((true, Some(rules.entries().to_vec())))
            }
        }
    }

    /// A sandbox row's setting, as its view shows it.
    pub fn of(network: bool, egress: Option<Vec<String>>) -> Self {
        match egress {
            Some(allow) => Self::Allow(AllowList { allow }),
            None => Self::Enabled(network),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_read_and_check() {
        let read = |v: serde_json::Value| serde_json::from_value::<Network>(v);
        assert_eq!(
            read(serde_json::json!(false)).unwrap().checked().unwrap(),
            (false, None)
        );
        assert_eq!(
            read(serde_json::json!(true)).unwrap().checked().unwrap(),
            (true, None)
        );
        let list = read(serde_json::json!({"allow": ["PyPI.org", "10.1.2.3/8"]})).unwrap();
        assert_eq!(
            list.checked().unwrap(),
            (
                true,
                Some(vec!["pypi.org".to_owned(), "10.0.0.0/8".to_owned()])
            )
        );
        assert!(read(serde_json::json!({"allow": ["a"], "deny": []})).is_err());
        assert!(read(serde_json::json!("yes")).is_err());
        let bad = read(serde_json::json!({"allow": ["ok.test", "bad name!"]})).unwrap();
        let ApiError::Invalid { field, .. } = bad.checked().unwrap_err() else {
            panic!("not a 422")
        };
        assert_eq!(field.as_deref(), Some("network.allow[1]"));
        let empty = read(serde_json::json!({"allow": []})).unwrap();
        let ApiError::Invalid { field, .. } = empty.checked().unwrap_err() else {
            panic!("not a 422")
        };
        assert_eq!(field.as_deref(), Some("network.allow"));
        assert_eq!(
            serde_json::to_value(Network::of(true, Some(vec!["a.test".into()]))).unwrap(),
            serde_json::json!({"allow": ["a.test"]})
        );
        assert_eq!(
            serde_json::to_value(Network::of(false, None)).unwrap(),
            serde_json::json!(false)
        );
    }
}
