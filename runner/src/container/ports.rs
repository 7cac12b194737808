//! Connections to a port of a container sandbox, made from the runner inside the container's
//! network namespace: `127.0.0.1:<port>` there is the sandbox's own loopback, so a server
//! listening only on loopback is reached, and a sandbox without network (`network_mode:
//! none`, no interface but `lo`) is reached too (inbound only: nothing of it opens a way out).
//!
//! Under gVisor (`runsc`) the sandbox's sockets live in gVisor's own network stack, not in the
//! namespace the host sees: a connection there finds no listener.

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
