//! Connections to a port of a container sandbox, made from the runner inside the container's
//! network namespace: `127.0.0.1:<port>` there is the sandbox's own loopback, so a server
//! listening only on loopback is reached, and a sandbox without network (`network_mode:
//! none`, no interface but `lo`) is reached too (inbound only: nothing of it opens a way out).
//!
//! Under gVisor (`runsc`) the sandbox's sockets live in gVisor's own network stack, not in the
//! namespace the host sees: a connection there finds no listener, and [`listening`] sees none.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsFd as _;
use std::time::Duration;

/// How long a connection to a sandbox's port may take.
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(5);

/// Connect to `127.0.0.1:port` in the network namespace of process `pid` (a container's
/// first process, as the host numbers it). The namespace is entered by a thread made for it,
/// which ends after connecting: the socket stays in that namespace, no thread of the runner
/// does. Errors: the process is gone, the runner may not enter its namespace, nothing
/// listens on the port (`ConnectionRefused`), or no answer within [`DIAL_TIMEOUT`].
pub async fn dial(pid: u32, port: u16) -> std::io::Result<TcpStream> {
    let namespace = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("sbx-dial".into())
        .spawn(move || {
            let connected = rustix::thread::move_into_link_name_space(
                namespace.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .map_err(std::io::Error::from)
            .and_then(|()| {
                let to = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
                TcpStream::connect_timeout(&to, DIAL_TIMEOUT)
            });
            let _ = tx.send(connected);
        })?;
    rx.await
        .map_err(|_| std::io::Error::other("the thread dialing the sandbox's port ended"))?
}

/// The TCP ports something listens on, in the network namespace of process `pid`, at an
/// address a connection to `127.0.0.1` reaches (`127.0.0.1`, `0.0.0.0`, or `::` and
/// `::ffff:127.0.0.1` over IPv6): what [`dial`] finds open. Ascending, each once. Read from
/// the kernel's tables of that namespace (`/proc/<pid>/net/tcp` and `tcp6`; see
/// `Documentation/networking/proc_net_tcp.rst`), so a server in gVisor's own network stack is
/// not seen, as [`dial`] does not reach it. Errors: the process is gone or its tables cannot be
/// read.
pub fn listening(pid: u32) -> std::io::Result<Vec<u16>> {
    let mut ports = std::collections::BTreeSet::new();
    for table in ["tcp", "tcp6"] {
        match std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) {
            Ok(text) => ports.extend(listeners(&text)),
            // A kernel without IPv6 has no tcp6 table.
            Err(e) if table == "tcp6" && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(ports.into_iter().collect())
}

/// The state `/proc/net/tcp` prints for a listening socket (`TCP_LISTEN`).
const LISTEN: &str = "0A";

/// The local ports of the listening sockets of a `/proc/net/tcp` or `tcp6` table whose address
/// a connection to `127.0.0.1` reaches. Each address is printed as 32-bit words in hex, each
/// the kernel's in-memory (network-order) bytes read as a number of the host's byte order.
fn listeners(table: &str) -> impl Iterator<Item = u16> + '_ {
    table.lines().skip(1).filter_map(|line| {
        let mut fields = line.split_whitespace();
        let (address, port) = fields.nth(1)?.split_once(':')?;
        if fields.nth(1)? != LISTEN {
            return None;
        }
        let words = (0..address.len() / 8)
            .map(|i| u32::from_str_radix(address.get(i * 8..i * 8 + 8)?, 16).ok())
            .collect::<Option<Vec<u32>>>()?;
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let reached = match bytes.len() {
            4 => {
                let ip = Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?);
                ip.is_unspecified() || ip == Ipv4Addr::LOCALHOST
            }
            16 => {
                let ip = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?);
                ip.is_unspecified() || ip.to_ipv4_mapped() == Some(Ipv4Addr::LOCALHOST)
            }
            _ => false,
        };
        reached
            .then(|| u16::from_str_radix(port, 16).ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows as a little-endian host prints them (`ss -ltn` of the same sockets: 127.0.0.1:8000,
    /// 0.0.0.0:22, 10.0.0.5:9000 (not on loopback), an established connection to 8000; [::]:80,
    /// [::1]:6000 (IPv6 loopback: a connection to 127.0.0.1 does not reach it),
    /// [::ffff:127.0.0.1]:7000).
    #[cfg(target_endian = "little")]
    #[test]
    fn listening_sockets_reached_from_ipv4_loopback() {
        let tcp = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0
   2: 0500000A:2328 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0
   3: 0100007F:1F40 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1000        0 4 1 0 20 4 30 10 -1
";
        let tcp6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0 100 0 0 10 0
   1: 00000000000000000000000001000000:1770 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 6 1 0 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:1B58 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7 1 0 100 0 0 10 0
";
        assert_eq!(listeners(tcp).collect::<Vec<_>>(), [8000, 22]);
        assert_eq!(listeners(tcp6).collect::<Vec<_>>(), [80, 7000]);
        assert_eq!(listeners("").count(), 0);
        assert_eq!(listeners("header\n   0: garbage\n").count(), 0);
    }

    /// This process's own namespace: a listener on 127.0.0.1 is found, and gone once closed.
    #[test]
    fn a_listener_of_this_process_is_found() {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(listening(std::process::id()).unwrap().contains(&port));
        drop(listener);
        assert!(!listening(std::process::id()).unwrap().contains(&port));
    }
}
