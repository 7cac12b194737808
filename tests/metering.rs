//! The meter's records over time, from the outside: one-second samples older than a day are
//! merged per minute, and every figure the usage report, the budget and the metrics give from
//! them stays the same.

mod common;

use chrono::{Duration, Utc};
use common::{count, delete_sandbox, spawn_app};
use sbx_core::ids::SandboxId;
use sbx_core::sandbox::SandboxState;
use sbx_store::usage::UsageSample;
use serde_json::{Value, json};

fn sample(app: &common::TestApp, id: SandboxId, ago_s: i64, i: i64) -> UsageSample {
    UsageSample {
        project_id: app.project_id,
        sandbox_id: Some(id),
        at: Utc::now() - Duration::seconds(ago_s),
        seconds: 1.0,
        state: SandboxState::Running,
        cpu_cores: 0.5,
        memory_bytes: 256 << 20,
        cpu_used: Some(0.1 * (i % 5) as f64),
        memory_used: Some(1_000_000 + i),
        disk_used: Some(4096 * i),
        net_rx_bytes: Some(1000),
        net_tx_bytes: Some(500),
        gpu_model: None,
        gpu_share: 0.0,
        storage_bytes: 0,
        cpu_cost: 0.000_007,
        memory_cost: 0.000_001_125,
        gpu_cost: 0.0,
        storage_cost: 0.0,
    }
}

fn row<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == id)
        .unwrap_or_else(|| panic!("no row for {id}: {report}"))
}

#[actix_web::test]
async fn samples_older_than_a_day_are_merged_per_minute_and_every_sum_stays() {
    let app = spawn_app().await;
    let made = app
        .post("/v1/sandboxes", &json!({"image": "code-interpreter"}))
        .await;
    let id_text = made.body["id"].as_str().unwrap().to_owned();
    let id = SandboxId::parse(&id_text).unwrap();
    delete_sandbox(&app, &id_text).await;
    // 150 seconds two days ago, and 10 seconds just now.
    let two_days = 2 * 86_400;
    let mut samples: Vec<UsageSample> = (0..150)
        .map(|i| sample(&app, id, two_days - i, i))
        .collect();
    samples.extend((0..10).map(|i| sample(&app, id, 10 - i, i)));
    sbx_store::usage::insert(&app.pool, &samples).await.unwrap();

    let from = (Utc::now() - Duration::days(3)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let usage = format!("/v1/usage?group_by=sandbox&from={from}");
    let before = app.get(&usage).await.body;
    let metrics = format!("/v1/sandboxes/{id_text}/metrics?from={from}&step=300");
    let fine = app.get(&metrics).await;
    assert_eq!(fine.status.as_u16(), 200, "{}", fine.text);
    let fine = fine.body;

    let gone = sbx_store::usage::downsample(&app.pool, 86_400.0)
        .await
        .unwrap();
    let left = count(
        &app.pool,
        &format!("select count(*) from usage_samples where sandbox_id = '{id_text}'"),
    )
    .await;
    // 150 seconds span three or four minutes; the recent ten are not touched.
    assert!((13..=14).contains(&left), "{left} rows left");
    assert_eq!(gone, 160 - left as u64);
    assert_eq!(
        sbx_store::usage::downsample(&app.pool, 86_400.0)
            .await
            .unwrap(),
        0
    );

    let after = app.get(&usage).await.body;
    let (b, a) = (row(&before, &id_text), row(&after, &id_text));
    for k in [
        "cost",
        "running_seconds",
        "cpu_core_seconds",
        "memory_gib_seconds",
    ] {
        let (x, y) = (b[k].as_f64().unwrap(), a[k].as_f64().unwrap());
        assert!(
            (x - y).abs() <= 1e-9 * x.abs().max(1.0),
            "{k}: {x} before, {y} after"
        );
    }
    // The per-minute series is the same too: bytes summed, memory and disk at their highest.
    let coarse = app.get(&metrics).await.body;
    let total = |m: &Value, k: &str| -> f64 {
        m["points"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p[k].as_f64())
            .sum()
    };
    let highest = |m: &Value, k: &str| -> f64 {
        m["points"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p[k].as_f64())
            .fold(0.0, f64::max)
    };
    assert_eq!(total(&coarse, "network_rx_bytes"), 160_000.0, "{coarse}");
    assert_eq!(
        total(&coarse, "network_rx_bytes"),
        total(&fine, "network_rx_bytes")
    );
    assert_eq!(highest(&coarse, "disk_bytes"), highest(&fine, "disk_bytes"));
    assert_eq!(
        highest(&coarse, "memory_bytes"),
        highest(&fine, "memory_bytes")
    );
    assert!((total(&coarse, "cost_usd") - total(&fine, "cost_usd")).abs() < 1e-12);
}
