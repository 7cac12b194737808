//! The TCP side of a sandbox's gate: its HTTP proxy, and the ports 80 and 443 that its DNS
//! answers send connections to. Each connection names where it wants to go once (a
//! `CONNECT` target, a request's absolute URL or `Host`, a TLS server name); the gate checks
//! that name, the runner connects to it, and from then on bytes are copied both ways,
//! unread: the destination is fixed for the connection's life.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::Gate;

/// Largest request head (or TLS record holding a `ClientHello`) read before a decision.
const MAX_HEAD: usize = 16 << 10;
/// How long a client has to send it.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// An HTTP proxy: `CONNECT host:port`, or a request with an absolute `http://` URL.
    Proxy,
    /// Plain HTTP on port 80, routed by its `Host` header.
    Http,
    /// TLS on port 443, routed by the server name of its `ClientHello`.
    Tls,
}

/// Takes connections on `listener` for `gate` until aborted.
pub(super) async fn serve(listener: TcpListener, gate: Arc<Gate>, kind: Kind) {
    loop {
        let client = match listener.accept().await {
            Ok((client, peer)) if gate.serves(peer.ip()) => client,
            Ok(_) => continue,
            Err(_) => {
                // Out of descriptors, say: not a reason to spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = gate.open.clone().try_acquire_owned() else {
            // Over the cap: refused by closing.
            continue;
        };
        let gate = gate.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = relay(client, &gate, kind).await {
                tracing::debug!(error = %e, "egress connection ended");
            }
        });
    }
}

async fn relay(mut client: TcpStream, gate: &Gate, kind: Kind) -> std::io::Result<()> {
    let _ = client.set_nodelay(true);
    let head = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut client, kind))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no request in 10 s"))??;
    let Some(head) = head else {
        if kind != Kind::Tls {
            answer(
                &mut client,
                "400 Bad Request",
                "sbx egress: not an HTTP request this proxy takes\n",
            )
            .await;
        }
        return Ok(());
    };
    let Some(target) = target(&head, kind) else {
        if kind != Kind::Tls {
            answer(
                &mut client,
                "400 Bad Request",
                "sbx egress: the request names no host (CONNECT host:port, an http:// URL, or a Host header), or two different ones\n",
            )
            .await;
        }
        return Ok(());
    };
    let how = match (kind, target.connect) {
        (Kind::Tls, _) => "tls",
        (_, true) => "connect",
        _ => "http",
    };
    if !gate.allows(&target.host, target.port, how) {
        if kind != Kind::Tls {
            let body = format!(
                "sbx egress: {} is not in this sandbox's allow list\n",
                target.host
            );
            answer(&mut client, "403 Forbidden", &body).await;
        }
        return Ok(());
    }
    let mut upstream = match gate.dial(&target.host, target.port, how).await {
        Ok(s) => s,
        Err(e) => {
            if kind != Kind::Tls {
                let status = if e.kind() == std::io::ErrorKind::PermissionDenied {
                    "403 Forbidden"
                } else {
                    "502 Bad Gateway"
                };
                answer(&mut client, status, &format!("sbx egress: {e}\n")).await;
            }
            return Ok(());
        }
    };
    let _ = upstream.set_nodelay(true);
    if target.connect {
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
        // Anything the client sent after its CONNECT head is the tunnel's first bytes.
        upstream.write_all(&head[target.head_len..]).await?;
    } else {
        upstream
            .write_all(target.upstream.as_deref().unwrap_or(&head))
            .await?;
    }
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

async fn answer(client: &mut TcpStream, status: &str, body: &str) {
    let text = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.write_all(text.as_bytes()).await;
    let _ = client.shutdown().await;
}

/// Reads what the decision needs: an HTTP head through its blank line, or a whole first TLS
/// record. `None` when it is neither or longer than [`MAX_HEAD`].
async fn read_head(client: &mut TcpStream, kind: Kind) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        let complete = match kind {
            Kind::Tls => {
                if buf.len() >= 5 && buf[0] != 0x16 {
                    return Ok(None);
                }
                buf.len() >= 5 && buf.len() >= 5 + usize::from(u16::from_be_bytes([buf[3], buf[4]]))
            }
            _ => buf.windows(4).any(|w| w == b"\r\n\r\n"),
        };
        if complete {
            return Ok(Some(buf));
        }
        if buf.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}

/// Where a connection asks to go.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
    /// A `CONNECT`: answered with 200, then a tunnel.
    connect: bool,
    /// Bytes of the head itself (what follows is payload).
    head_len: usize,
    /// A plain HTTP request's head as sent on, with what followed it: `Connection: close`
    /// instead of its own hop-by-hop headers, so that the client's next request, which may be
    /// for another host, comes on a new connection and is checked (`None`: the bytes as
    /// they came).
    upstream: Option<Vec<u8>>,
}

fn target(head: &[u8], kind: Kind) -> Option<Target> {
    if kind == Kind::Tls {
        return Some(Target {
            host: server_name(head)?,
            port: 443,
            connect: false,
            head_len: head.len(),
            upstream: None,
        });
    }
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(head_len) = req.parse(head).ok()? else {
        return None;
    };
    let (method, path) = (req.method?, req.path?);
    let host_header = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::trim);
    let (host, port, connect) = if kind == Kind::Proxy && method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = authority(path, None)?;
        (host, port, true)
    } else if kind == Kind::Proxy {
        let rest = path
            .get(..7)
            .filter(|s| s.eq_ignore_ascii_case("http://"))
            .map(|_| &path[7..])?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (host, port) = authority(&rest[..end], Some(80))?;
        // A `Host` for another site than the URL's would be served by the URL's server:
        // fronting for a name the rules do not allow.
        if let Some(h) = host_header
            && !authority(h, Some(80)).is_some_and(|(h, _)| h.eq_ignore_ascii_case(&host))
        {
            return None;
        }
        (host, port, false)
    } else {
        // The client dialled port 80: that is the port, whatever the header adds.
        let (host, _) = authority(host_header?, Some(80))?;
        (host, 80, false)
    };
    let upstream = (!connect).then(|| {
        let version = req.version.unwrap_or(1);
        let mut out = format!("{method} {path} HTTP/1.{version}\r\n").into_bytes();
        for h in req.headers.iter() {
            let hop = [
                "connection",
                "proxy-connection",
                "keep-alive",
                "proxy-authorization",
            ]
            .iter()
            .any(|n| h.name.eq_ignore_ascii_case(n));
            if !hop {
                out.extend_from_slice(h.name.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(h.value);
                out.extend_from_slice(b"\r\n");
            }
        }
        out.extend_from_slice(b"Connection: close\r\n\r\n");
        out.extend_from_slice(&head[head_len..]);
        out
    });
    Some(Target {
        host,
        port,
        connect,
        head_len,
        upstream,
    })
}

/// `host:port` (or `[v6]:port`), the port defaulting to `default` when absent.
fn authority(text: &str, default: Option<u16>) -> Option<(String, u16)> {
    let text = text.rsplit_once('@').map_or(text, |(_, h)| h);
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return None,
        }
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok().filter(|&p| p != 0)?,
        None => default?,
    };
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

/// The server name (SNI) of the `ClientHello` in TLS record `record`.
fn server_name(record: &[u8]) -> Option<String> {
    use tls_parser::{
        SNIType, TlsExtension, TlsMessage, TlsMessageHandshake, parse_tls_extensions,
        parse_tls_plaintext,
    };
    let (_, plain) = parse_tls_plaintext(record).ok()?;
    plain.msg.iter().find_map(|m| {
        let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(hello)) = m else {
            return None;
        };
        let (_, extensions) = parse_tls_extensions(hello.ext?).ok()?;
        extensions.iter().find_map(|e| match e {
            TlsExtension::SNI(names) => names
                .iter()
                .find(|(t, _)| *t == SNIType::HostName)
                .and_then(|(_, n)| std::str::from_utf8(n).ok().map(str::to_owned)),
            _ => None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to(host: &str, port: u16, connect: bool) -> Option<(String, u16, bool)> {
        Some((host.to_owned(), port, connect))
    }

    fn parsed(head: &[u8], kind: Kind) -> Option<(String, u16, bool)> {
        target(head, kind).map(|t| (t.host, t.port, t.connect))
    }

    #[test]
    fn a_request_names_its_destination_once() {
        let p = Kind::Proxy;
        assert_eq!(
            parsed(
                b"CONNECT pypi.org:443 HTTP/1.1\r\nHost: pypi.org:443\r\n\r\n",
                p
            ),
            to("pypi.org", 443, true)
        );
        assert_eq!(
            parsed(b"CONNECT [2001:db8::1]:8443 HTTP/1.1\r\n\r\n", p),
            to("2001:db8::1", 8443, true)
        );
        assert_eq!(parsed(b"CONNECT pypi.org HTTP/1.1\r\n\r\n", p), None);
        assert_eq!(parsed(b"CONNECT pypi.org:0 HTTP/1.1\r\n\r\n", p), None);
        assert_eq!(
            parsed(
                b"GET http://allowed.test:8080/x?y HTTP/1.1\r\nHost: allowed.test:8080\r\n\r\n",
                p
            ),
            to("allowed.test", 8080, false)
        );
        // A Host for another site than the URL's is refused.
        assert_eq!(
            parsed(
                b"GET http://allowed.test/ HTTP/1.1\r\nHost: denied.test\r\n\r\n",
                p
            ),
            None
        );
        // Sent on with `Connection: close` instead of its own hop-by-hop headers, the
        // payload after the head kept.
        let t = target(
            b"POST http://a.test/x HTTP/1.1\r\nHost: a.test\r\nProxy-Connection: keep-alive\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi",
            p,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(t.upstream.unwrap()).unwrap(),
            "POST http://a.test/x HTTP/1.1\r\nHost: a.test\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi"
        );
        assert_eq!(
            parsed(b"GET HTTP://user@allowed.test HTTP/1.1\r\n\r\n", p),
            to("allowed.test", 80, false)
        );
        // The proxy takes absolute URLs only; TLS goes through CONNECT.
        assert_eq!(parsed(b"GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n", p), None);
        assert_eq!(parsed(b"GET https://a.test/ HTTP/1.1\r\n\r\n", p), None);
        // On port 80 the Host header decides, and the port stays 80.
        assert_eq!(
            parsed(
                b"GET / HTTP/1.1\r\nHOST: allowed.test:9999\r\n\r\n",
                Kind::Http
            ),
            to("allowed.test", 80, false)
        );
        assert_eq!(parsed(b"GET / HTTP/1.1\r\n\r\n", Kind::Http), None);
        assert_eq!(parsed(b"not http at all\r\n\r\n", Kind::Http), None);
        let t = target(b"CONNECT a.test:1 HTTP/1.1\r\n\r\n\x16\x03", p).unwrap();
        assert_eq!(t.head_len, 29);
    }

    #[test]
    fn a_client_hello_names_its_server() {
        // A TLS 1.2 ClientHello for `allowed.test`, as `openssl s_client -servername` sends
        // one, cut to what the parser reads: record header, handshake header, version,
        // random, session id, one cipher suite, null compression, and the SNI extension.
        let name = b"allowed.test";
        let sni_list_len = 3 + name.len();
        let mut ext = vec![0x00, 0x00];
        ext.extend_from_slice(&((sni_list_len + 2) as u16).to_be_bytes());
        ext.extend_from_slice(&(sni_list_len as u16).to_be_bytes());
        ext.push(0);
        ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
        ext.extend_from_slice(name);
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[7u8; 32]);
        body.push(0);
        body.extend_from_slice(&[0x00, 0x02, 0x13, 0x01, 0x01, 0x00]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut hs = vec![0x01, 0];
        hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
        hs.extend_from_slice(&body);
        let mut record = vec![0x16, 0x03, 0x01];
        record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        record.extend_from_slice(&hs);
        assert_eq!(server_name(&record).as_deref(), Some("allowed.test"));
        assert_eq!(parsed(&record, Kind::Tls), to("allowed.test", 443, false));
        assert_eq!(server_name(&record[..20]), None);
        assert_eq!(server_name(b"GET / HTTP/1.1\r\n\r\n"), None);
    }
}
