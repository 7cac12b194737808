//! Paths in a sandbox as the files API takes them: `/workspace/…` (both kinds) or `/outputs/…`
//! (containers), checked before anything is opened. What a path may not do (`..`, NUL, a tree
//! other than these) is refused here; what it may not cross (a link leading out) is refused by
//! the kernel when it is opened beneath its tree ([`super::ops`]).

use std::path::{Path, PathBuf};

use crate::error::{ApiError, Code};

/// Longest name of one path component, in bytes (Linux's `NAME_MAX`).
pub const MAX_NAME_BYTES: usize = 255;
/// Longest whole path, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;

/// A name of a path, as a regular expression: no `/` or NUL, not `.` or `..`, ≤ 255 bytes
/// (of characters, which a regular expression counts).
const NAME: &str = r"([^/.\x00][^/\x00]{0,254}|\.[^/.\x00][^/\x00]{0,253}|\.\.[^/\x00]{1,253})";

/// The pattern the OpenAPI document gives a path parameter (`workspace/…`: the guest path
/// without its leading `/`).
pub fn url_pattern() -> String {
    format!("^(workspace|outputs)(/{NAME})*/?$")
}

/// The pattern the OpenAPI document gives a path in a query (`/workspace/…`).
pub fn pattern() -> String {
    format!("^/(workspace|outputs)(/{NAME})*/?$")
}

/// One of the folder trees a sandbox exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    /// `/workspace`: the working folder (both kinds).
    Workspace,
    /// `/outputs`: what a container keeps as artifacts.
    Outputs,
}

impl Tree {
    /// Its absolute guest path.
    pub fn root(self) -> &'static str {
        match self {
            Self::Workspace => "/workspace",
            Self::Outputs => "/outputs",
        }
    }
}

/// A checked guest path: its tree and the path below it (empty for the tree itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestPath {
    /// The tree it is in.
    pub tree: Tree,
    /// Relative to the tree's root, with no `.`, `..` or empty component; empty for the root.
    pub rel: PathBuf,
}

impl GuestPath {
    /// Check `raw`, an absolute guest path (`/workspace/src/main.py`; a trailing `/` is
    /// allowed). Errors: 422 `invalid_path` naming `field`, saying what is wrong.
    pub fn parse(raw: &str, field: &str) -> Result<Self, ApiError> {
        let bad = |why: String| ApiError::invalid(Code::InvalidPath, field, why);
        if raw.len() > MAX_PATH_BYTES {
            return Err(bad(format!(
                "{field} is {} bytes long; at most {MAX_PATH_BYTES}",
                raw.len()
            )));
        }
        if raw.contains('\0') {
            return Err(bad(format!("{field} holds a NUL byte")));
        }
        let Some(rest) = raw.strip_prefix('/') else {
            return Err(bad(format!(
                "{field} {raw:?} is not absolute; paths start with /workspace or /outputs"
            )));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let mut parts = rest.split('/');
        let tree = match parts.next() {
            Some("workspace") => Tree::Workspace,
            Some("outputs") => Tree::Outputs,
            _ => {
                return Err(bad(format!(
                    "{field} {raw:?} is outside the sandbox's files: use /workspace (or /outputs in a container)"
                )));
            }
        };
        let mut rel = PathBuf::new();
        for part in parts {
            match part {
                "" => return Err(bad(format!("{field} {raw:?} has an empty name (//)"))),
                "." | ".." => {
                    return Err(bad(format!(
                        "{field} {raw:?} holds {part:?}; give the path without it"
                    )));
                }
                p if p.len() > MAX_NAME_BYTES => {
                    return Err(bad(format!(
                        "{field} {raw:?} has a name of {} bytes; at most {MAX_NAME_BYTES}",
                        p.len()
                    )));
                }
                p => rel.push(p),
            }
        }
        Ok(Self { tree, rel })
    }

    /// Whether it is the root of its tree.
    pub fn is_root(&self) -> bool {
        self.rel.as_os_str().is_empty()
    }

    /// The path below the tree, `.` for the root (what the `*at` calls take).
    pub fn below(&self) -> &Path {
        if self.is_root() {
            Path::new(".")
        } else {
            &self.rel
        }
    }

    /// Its parent and its last name; none for a tree's root.
    pub fn split(&self) -> Option<(&Path, &std::ffi::OsStr)> {
        let name = self.rel.file_name()?;
        let parent = self.rel.parent().unwrap_or(Path::new(""));
        Some((
            if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            },
            name,
        ))
    }

    /// Its absolute guest path, `/workspace/…`.
    pub fn shown(&self) -> String {
        if self.is_root() {
            self.tree.root().to_owned()
        } else {
            format!("{}/{}", self.tree.root(), self.rel.display())
        }
    }
}

/// `bytes` percent-encoded as one URL path segment or query value (unreserved characters
/// kept).
pub fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_the_two_trees_parse_and_the_rest_are_refused_by_name() {
        let p = GuestPath::parse("/workspace/src/main.py", "path").unwrap();
        assert_eq!(
            (p.tree, p.rel.as_path()),
            (Tree::Workspace, Path::new("src/main.py"))
        );
        assert_eq!(p.shown(), "/workspace/src/main.py");
        assert!(GuestPath::parse("/outputs/", "path").unwrap().is_root());
        for bad in [
            "workspace/a",
            "/etc/passwd",
            "/workspace/../etc",
            "/workspace/./a",
            "/workspace//a",
            "/workspace/a\0b",
            "/workspacex/a",
        ] {
            let e = GuestPath::parse(bad, "path").unwrap_err();
            assert_eq!(e.code(), Code::InvalidPath, "{bad:?}");
        }
        let long = format!("/workspace/{}", "a".repeat(256));
        assert!(GuestPath::parse(&long, "path").is_err());
        let deep = format!("/workspace{}", "/a".repeat(2100));
        assert!(GuestPath::parse(&deep, "path").is_err());
    }

    #[test]
    fn the_documented_pattern_says_what_parse_takes() {
        // What the OpenAPI pattern admits parses; what it refuses does not.
        let re = |p: &str| regex_lite::Regex::new(p).unwrap();
        let (query, url) = (re(&pattern()), re(&url_pattern()));
        for ok in ["/workspace", "/outputs/", "/workspace/a b/.env/..x/ü"] {
            assert!(
                query.is_match(ok) && GuestPath::parse(ok, "p").is_ok(),
                "{ok}"
            );
            assert!(url.is_match(&ok[1..]), "{ok}");
        }
        for bad in [
            "/workspace/..",
            "/workspace/.",
            "/tmp",
            "/workspace//a",
            "/workspace/a\0",
        ] {
            assert!(
                !query.is_match(bad) && GuestPath::parse(bad, "p").is_err(),
                "{bad:?}"
            );
        }
    }
}
