//! A webhook receiver for tests: a real HTTP server on a free loopback port that keeps what
//! it gets.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: String,
    /// `webhook-signature`.
    pub signature: String,
    /// The body.
    pub body: Vec<u8>,
}

/// What a receiver got, in order.
pub type Log = Arc<Mutex<Vec<Received>>>;

/// A receiver on a free loopback port that answers 503 to its first `refuse` requests, then
/// 204. Returns its URL and what it got.
pub fn receiver(refuse: usize) -> (String, Log) {
    let log: Log = Arc::default();
    let shared = log.clone();
    let server = HttpServer::new(move || {
        let log = shared.clone();
        App::new().route(
            "/hook",
            web::post().to(move |req: HttpRequest, body: web::Bytes| {
                let log = log.clone();
                async move {
                    let h = |n: &str| {
                        req.headers()
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let mut log = log.lock().unwrap();
                    log.push(Received {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp"),
                        signature: h("webhook-signature"),
                        body: body.to_vec(),
                    });
                    if log.len() <= refuse {
                        HttpResponse::ServiceUnavailable().finish()
                    } else {
                        HttpResponse::NoContent().finish()
                    }
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let url = format!("http://{}/hook", server.addrs()[0]);
    actix_web::rt::spawn(server.run());
    (url, log)
}

/// The first `n` requests `log` got, waiting up to 30 s for them.
pub async fn received(log: &Log, n: usize) -> Vec<Received> {
    for _ in 0..600 {
        let got = log.lock().unwrap().clone();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the receiver got {:?}, not {n} requests",
        log.lock().unwrap()
    );
}
