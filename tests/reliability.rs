//! What happens when parts fail: the database goes away and comes back, the API is killed under
//! load and started again, a runner crashes over and over. Nothing accepted is lost, nothing
//! ends twice, nothing is left stuck, and the service comes back by itself.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    ended, free_addr, fresh_database, project_with_key, spawn_api_only, spawn_app_with, start_api,
    start_runner, wait_healthy, wait_job,
};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy in front of PostgreSQL that can cut every connection and refuse new ones, as a
/// database that stopped would, and then let them through again.
struct Proxy {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (o, l) = (open.clone(), links.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !o.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is closed at once
                }
                l.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Self { addr, open, links }
    }

    /// Cut every connection and refuse new ones.
    fn stop(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn resume(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

/// Host and port of the test database server.
fn database_server() -> SocketAddr {
    let url = std::env::var("SBX_TEST_DATABASE_URL").expect("run with scripts/test");
    let host_port = url
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("postgres://user@host:port/db");
    host_port.parse().expect("a numeric host:port")
}

#[actix_web::test]
async fn the_database_going_away_is_a_503_and_the_service_recovers_by_itself() {
    let server = database_server();
    let proxy = Proxy::start(server).await;
    let app = spawn_app_with(|s| {
        s.database_url = s.database_url.replace(
            &format!(":{}/", server.port()),
            &format!(":{}/", proxy.addr.port()),
        );
    })
    .await;
    assert_eq!(app.get("/readyz").await.status.as_u16(), 200);
    let r = app.python("print('before')").await;
    assert_eq!(r["stdout"], "before\n", "{r}");

    proxy.stop();
    let ready = app.get("/readyz").await;
    ready.assert_problem(503, "unavailable");
    for path in ["/v1/exec", "/v1/jobs"] {
        let a = app
            .post(path, &json!({"language": "python", "code": "print(1)"}))
            .await;
        a.assert_problem(503, "unavailable");
        assert!(a.header("retry-after").is_some(), "{path}: {:?}", a.headers);
    }

    proxy.resume();
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.get("/readyz").await.status.as_u16() != 200 {
        assert!(Instant::now() < deadline, "/readyz never recovered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = app.python("print('after')").await;
    assert_eq!(r["stdout"], "after\n", "{r}");
    // The embedded runner came back too: a queued job runs.
    let id = common::queue_job(
        &app,
        json!({"language": "python", "code": "print('queued')"}),
    )
    .await;
    let j = wait_job(&app, &id, ended).await;
    assert_eq!(
        (j["status"].as_str(), j["result"]["stdout"].as_str()),
        (Some("succeeded"), Some("queued\n")),
        "{j}"
    );
}

#[actix_web::test]
async fn an_api_killed_under_load_loses_no_accepted_job_and_doubles_none() {
    const JOBS: usize = 120;
    let db = fresh_database().await;
    let pool = sbx_store::pool(&db, 4).unwrap();
    let (_, key) = project_with_key(&pool, "load").await;
    let addr = free_addr();
    let base = format!("http://{addr}");
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let mut api = start_api(&db, addr);
    wait_healthy(&client, &base).await;
    let mut runner = start_runner(&db, 2);

    // Four clients submit the jobs, each request retried with its Idempotency-Key until an
    // answer comes, as a careful client does across a restart.
    let accepted: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let retries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clients = (0..4).map(|c| {
        let (client, base, key, accepted, retries) = (
            client.clone(),
            base.clone(),
            key.clone(),
            accepted.clone(),
            retries.clone(),
        );
        async move {
            for i in (c..JOBS).step_by(4) {
                let body = json!({"language": "python", "code": format!("print({i})")});
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    let sent = client
                        .post(format!("{base}/v1/jobs"))
                        .bearer_auth(&key)
                        .insert_header(("idempotency-key", format!("job-{i}")))
                        .send_json(&body)
                        .await;
                    if let Ok(mut r) = sent
                        && (r.status().as_u16() == 202 || r.status().as_u16() == 200)
                        && let Ok(v) = r.json::<Value>().await
                    {
                        accepted
                            .lock()
                            .unwrap()
                            .push((i, v["id"].as_str().unwrap().to_owned()));
                        break;
                    }
                    assert!(Instant::now() < deadline, "job {i} was never accepted");
                    retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
    let load = futures_util::future::join_all(clients);
    let restart = async {
        while accepted.lock().unwrap().len() < JOBS / 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        api.kill().unwrap(); // SIGKILL, mid-load
        api.wait().unwrap();
        let restarted = start_api(&db, addr);
        wait_healthy(&client, &base).await;
        restarted
    };
    let (_, mut api) = tokio::join!(load, restart);

    let accepted = accepted.lock().unwrap().clone();
    assert_eq!(accepted.len(), JOBS);
    assert!(
        retries.load(Ordering::Relaxed) > 0,
        "the API was killed while requests were coming"
    );
    let conn = pool.get().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let open: i64 =
            common::count(&conn, "select count(*) from jobs where finished_at is null").await;
        if open == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{open} jobs never finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let total: i64 = common::count(&conn, "select count(*) from jobs").await;
    assert_eq!(total, JOBS as i64, "one job per request, retries included");
    for (i, id) in &accepted {
        let row = conn
            .query_one(
                "select status, result->>'stdout' from jobs where job_id = $1::text::uuid",
                &[id],
            )
            .await
            .unwrap();
        let (status, stdout): (String, Option<String>) = (row.get(0), row.get(1));
        assert_eq!(
            (status.as_str(), stdout.as_deref()),
            ("succeeded", Some(format!("{i}\n").as_str()))
        );
    }
    for child in [&mut api, &mut runner] {
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

#[actix_web::test]
async fn a_crash_looping_runner_leaves_no_job_stuck() {
    let (app, db) = spawn_api_only().await;
    let r = app
        .post(
            "/v1/jobs",
            &json!({"language": "python", "code": "import time; time.sleep(60)", "timeout_ms": 120000}),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_owned();
    let conn = app.pool.get().await.unwrap();
    let attempts_running = || async {
        let row = conn
            .query_one(
                "select status, attempts from jobs where job_id = $1::text::uuid",
                &[&id],
            )
            .await
            .unwrap();
        (row.get::<_, String>(0), row.get::<_, i32>(1))
    };
    // A runner that dies every time it has the job, three times over.
    for attempt in 1..=sbx_store::queue::MAX_ATTEMPTS {
        let mut runner = start_runner(&db, 1);
        let deadline = Instant::now() + Duration::from_secs(60);
        while attempts_running().await != ("running".to_owned(), attempt) {
            assert!(
                Instant::now() < deadline,
                "attempt {attempt} never started: {:?}",
                attempts_running().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        runner.kill().unwrap();
        runner.wait().unwrap();
    }
    // A healthy runner finds the job lost on every attempt and ends it, rather than running it
    // a fourth time or leaving it queued.
    let mut healthy = start_runner(&db, 1);
    let job = wait_job(&app, &id, ended).await;
    assert_eq!(job["status"], "error", "{job}");
    assert!(
        job["result"]["message"]
            .as_str()
            .unwrap()
            .contains("lost on every attempt"),
        "{job}"
    );
    assert_eq!(
        attempts_running().await,
        ("error".into(), sbx_store::queue::MAX_ATTEMPTS)
    );
    // The queue is empty and still works.
    let r = app
        .post(
            "/v1/jobs",
            &json!({"language": "python", "code": "print('next')"}),
        )
        .await;
    let next = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(wait_job(&app, &next, ended).await["status"], "succeeded");
    healthy.kill().unwrap();
    healthy.wait().unwrap();
}
