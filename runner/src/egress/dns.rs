//! A sandbox's DNS server: allowed names point at its gateway (where the proxy takes the
//! connection on), every other name does not exist.
//!
//! Docker's embedded resolver (127.0.0.11 in the container) forwards what it cannot answer
//! itself here over UDP. Answers are small (one `A` record), so TCP is not needed.

use std::net::Ipv4Addr;
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;

use super::Gate;

/// How long a sandbox's resolver may keep an answer, in seconds.
const TTL: u32 = 60;

/// Answers DNS questions on `socket` for `gate`'s sandbox until aborted.
pub(super) async fn serve(socket: UdpSocket, gate: Arc<Gate>, gateway: Ipv4Addr) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        if !gate.serves(from.ip()) {
            continue;
        }
        if let Some(answer) = answer(&buf[..n], &gate, gateway) {
            let _ = socket.send_to(&answer, from).await;
        }
    }
}

/// The answer to question `query`, or `None` for what is not a query at all.
fn answer(query: &[u8], gate: &Gate, gateway: Ipv4Addr) -> Option<Vec<u8>> {
    let query = Message::from_vec(query).ok()?;
    let meta = &query.metadata;
    if meta.message_type != MessageType::Query {
        return None;
    }
    let mut reply = Message::response(meta.id, meta.op_code);
    reply.metadata.recursion_desired = meta.recursion_desired;
    reply.metadata.recursion_available = true;
    let [q] = query.queries.as_slice() else {
        reply.metadata.response_code = ResponseCode::FormErr;
        return reply.to_vec().ok();
    };
    reply.add_query(q.clone());
    if meta.op_code != OpCode::Query {
        reply.metadata.response_code = ResponseCode::NotImp;
        return reply.to_vec().ok();
    }
    let name = q.name().to_ascii();
    let host = name.trim_end_matches('.');
    // Reverse lookups are nobody's business; they are not attempts to get out.
    if host.ends_with(".in-addr.arpa") || host.ends_with(".ip6.arpa") {
        reply.metadata.response_code = ResponseCode::NXDomain;
        return reply.to_vec().ok();
    }
    if !gate.allows(host, 0, "dns") {
        reply.metadata.response_code = ResponseCode::NXDomain;
        return reply.to_vec().ok();
    }
    // Allowed: an address for `A`; no data (but the name exists) for any other type, so
    // that clients fall back to IPv4.
    if q.query_type() == RecordType::A {
        reply.add_answer(Record::from_rdata(
            q.name().clone(),
            TTL,
            RData::A(A(gateway)),
        ));
    }
    reply.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;
    use sbx_core::ids::SandboxId;
    use sbx_limits::egress::EgressRules;

    fn ask(gate: &Gate, name: &str, kind: RecordType) -> Message {
        let mut q = Message::query();
        q.add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
        let bytes = answer(&q.to_vec().unwrap(), gate, Ipv4Addr::new(10, 213, 0, 1)).unwrap();
        let reply = Message::from_vec(&bytes).unwrap();
        assert_eq!(reply.metadata.id, q.metadata.id);
        reply
    }

    #[test]
    fn allowed_names_point_at_the_gateway_and_others_do_not_exist() {
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        let gate = Gate::new(
            SandboxId::new(),
            EgressRules::parse(&["allowed.test", "*.example.com"]).unwrap(),
            Arc::default(),
            tx,
            "10.213.0.0/29".parse().unwrap(),
        );
        let a = ask(&gate, "Allowed.Test.", RecordType::A);
        assert_eq!(a.metadata.response_code, ResponseCode::NoError);
        assert_eq!(a.answers.len(), 1);
        assert_eq!(a.answers[0].data, RData::A(A(Ipv4Addr::new(10, 213, 0, 1))));
        let sub = ask(&gate, "pkg.example.com.", RecordType::A);
        assert_eq!(sub.answers.len(), 1);
        let v6 = ask(&gate, "allowed.test.", RecordType::AAAA);
        assert_eq!(v6.metadata.response_code, ResponseCode::NoError);
        assert!(v6.answers.is_empty());
        assert!(rx.try_recv().is_err(), "nothing was denied yet");

        let no = ask(&gate, "denied.test.", RecordType::A);
        assert_eq!(no.metadata.response_code, ResponseCode::NXDomain);
        assert!(no.answers.is_empty());
        let denial = rx.try_recv().unwrap();
        assert_eq!(denial.detail(), "denied.test (dns)");
        let ptr = ask(&gate, "1.0.213.10.in-addr.arpa.", RecordType::PTR);
        assert_eq!(ptr.metadata.response_code, ResponseCode::NXDomain);
        assert!(rx.try_recv().is_err(), "a reverse lookup is not an attempt");
        assert!(answer(b"\x00\x01garbage", &gate, Ipv4Addr::LOCALHOST).is_none());
    }
}
