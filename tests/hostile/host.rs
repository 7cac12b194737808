//! What of the host the corpus must leave as it was: the places a guest escaping its folders
//! would write to, and the host's mounts other than sbx's own.

use std::collections::BTreeMap;
use std::path::Path;

/// Folders whose entries (name, size, modification time) are compared, one level deep.
const WATCHED: &[&str] = &[
    "/",
    "/etc",
    "/root",
    "/tmp",
    "/var/tmp",
    "/dev/shm",
    "/usr/local/bin",
    "/home",
];

/// The watched state of the host at one moment.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    entries: BTreeMap<String, (u64, i64)>,
    mounts: Vec<String>,
}

impl Snapshot {
    /// The host now.
    pub fn take() -> Self {
        use std::os::unix::fs::MetadataExt;
        let mut entries = BTreeMap::new();
        for dir in WATCHED {
            let Ok(list) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in list.flatten() {
                let path = e.path();
                if let Ok(m) = std::fs::symlink_metadata(&path) {
                    // A folder's own size and time change with what others (the test harness,
                    // cargo) put in it; its entries are what a guest would leave.
                    let (size, mtime) = if m.is_dir() {
                        (0, 0)
                    } else {
                        (m.size(), m.mtime())
                    };
                    entries.insert(path.display().to_string(), (size, mtime));
                }
            }
        }
        // The host's mounts, less those sbx makes and removes for its workloads (exec and
        // session tmpfs, sandbox images) and Docker's for its containers.
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_owned))
            .filter(|m| !is_workload_mount(Path::new(m)))
            .collect();
        Self { entries, mounts }
    }

    /// How `later` differs from this snapshot, in words.
    pub fn changes(&self, later: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        for (path, was) in &self.entries {
            match later.entries.get(path) {
                None => out.push(format!("{path} is gone")),
                Some(now) if now != was && !is_expected_new(path) => {
                    out.push(format!("{path} changed: {was:?} → {now:?}"))
                }
                _ => {}
            }
        }
        for path in later.entries.keys() {
            if !self.entries.contains_key(path) && !is_expected_new(path) {
                out.push(format!("{path} is new"));
            }
        }
        for m in &later.mounts {
            if !self.mounts.contains(m) {
                out.push(format!("{m} is newly mounted"));
            }
        }
        out
    }
}

/// Mounts sbx and Docker make for workloads, which come and go with them.
fn is_workload_mount(m: &Path) -> bool {
    let s = m.to_string_lossy();
    s.contains("/work/execs/")
        || s.contains("/work/sessions/")
        || s.contains("/work-tests/")
        || s.contains("/sandboxes/")
        || s.starts_with("/var/lib/docker/")
        || s.starts_with("/run/docker/")
        || s.starts_with("/run/containerd/")
        || s.starts_with("/run/netns/")
}

/// New or changed entries that other processes than the guests make while the test runs:
/// PostgreSQL's shared memory, and scratch files of the test harness and its tools under
/// /tmp, unless named as the corpus names what it writes.
fn is_expected_new(path: &str) -> bool {
    // PostgreSQL's own shared memory, which the server under test uses.
    if path.starts_with("/dev/shm/PostgreSQL.") {
        return true;
    }
    let Some(name) = path.strip_prefix("/tmp/") else {
        return false;
    };
    let corpus = [
        "big", "x", "w", "sparse", "sh", "root", "small", "l", "l2", "up", "probe",
    ];
    let numbered = name
        .strip_prefix('f')
        .is_some_and(|n| n.parse::<u64>().is_ok());
    !corpus.contains(&name) && !numbered
}
