//! `sbx usage`, `sbx prices`, `sbx images` and `sbx gpus`: what the project used and what it
//! costs, and what it can use.

use comfy_table::{Cell, CellAlignment};
use serde_json::Value;

use super::client::encode_query;
use super::error::CliResult;
use super::output::{bytes, text, time};
use super::{Conn, Ctx};

/// How `sbx usage` groups its rows.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum GroupBy {
    /// One row per resource (cpu, memory, gpu, storage, exec).
    Resource,
    /// One row per sandbox, execs together as `execs`.
    Sandbox,
    /// One row per UTC day.
    Day,
}

/// Arguments of `sbx usage`.
#[derive(Debug, clap::Args)]
pub struct UsageArgs {
    /// How rows are grouped.
    #[arg(long, value_enum, default_value = "resource")]
    pub group_by: GroupBy,
    /// Start of the range, RFC 3339 (`2026-11-01T00:00:00Z`) [default: 30 days before --to].
    #[arg(long)]
    pub from: Option<String>,
    /// End of the range, exclusive, RFC 3339 [default: now].
    #[arg(long)]
    pub to: Option<String>,
    /// Only this sandbox's usage (execs left out); with --from at its creation, its cost so far.
    #[arg(long, value_name = "ID")]
    pub sandbox: Option<String>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub conn: Conn,
}

/// Arguments of `sbx images` and `sbx gpus`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub conn: Conn,
}

/// A number of seconds or GiB-seconds, to a tenth.
fn amount(v: &Value) -> Cell {
    Cell::new(v.as_f64().map(|x| format!("{x:.1}")).unwrap_or_default())
        .set_alignment(CellAlignment::Right)
}

/// A cost in USD, to a hundredth of a cent.
fn usd(v: &Value) -> Cell {
    Cell::new(v.as_f64().map(|x| format!("${x:.4}")).unwrap_or_default())
        .set_alignment(CellAlignment::Right)
}

/// Run `sbx usage`.
///
/// # Errors
/// As the API answers.
pub async fn usage(args: UsageArgs) -> CliResult<()> {
    let ctx = Ctx::new(&args.conn)?;
    let group = match args.group_by {
        GroupBy::Resource => "resource",
        GroupBy::Sandbox => "sandbox",
        GroupBy::Day => "day",
    };
    let mut query = vec![("group_by", group.to_owned())];
    query.extend(args.from.map(|f| ("from", f)));
    query.extend(args.to.map(|t| ("to", t)));
    query.extend(args.sandbox.map(|s| ("sandbox_id", s)));
    let report = ctx
        .api
        .get(&format!("/v1/usage?{}", encode_query(&query)))
        .await?;
    if ctx.out.json {
        ctx.out.print_json(&report);
        return Ok(());
    }
    let mut t = ctx.out.table(&[
        group,
        "running s",
        "paused s",
        "cpu core-s",
        "memory GiB-s",
        "gpu card-s",
        "exec s",
        "cost",
    ]);
    for row in report["rows"].as_array().into_iter().flatten() {
        t.add_row(vec![
            Cell::new(text(&row["key"])),
            amount(&row["running_seconds"]),
            amount(&row["paused_seconds"]),
            amount(&row["cpu_core_seconds"]),
            amount(&row["memory_gib_seconds"]),
            amount(&row["gpu_card_seconds"]),
            amount(&row["exec_seconds"]),
            usd(&row["cost"]),
        ]);
    }
    say!("{} to {}", time(&report["from"]), time(&report["to"]));
    ctx.out.print(&mut t);
    say!(
        "total: {} {}",
        report["total_cost"]
            .as_f64()
            .map(|c| format!("{c:.4}"))
            .unwrap_or_default(),
        text(&report["currency"])
    );
    Ok(())
}

/// Run `sbx prices`: USD per second of one unit of each resource, and per hour.
///
/// # Errors
/// As the API answers.
pub async fn prices(args: ListArgs) -> CliResult<()> {
    let ctx = Ctx::new(&args.conn)?;
    let list = ctx.api.get("/v1/prices").await?;
    if ctx.out.json {
        ctx.out.print_json(&list);
        return Ok(());
    }
    let mut t = ctx
        .out
        .table(&["resource", "unit", "USD/second", "USD/hour"]);
    let mut row = |resource: &str, unit: &str, rate: &Value| {
        let per_s = rate.as_f64().unwrap_or_default();
        t.add_row(vec![
            Cell::new(resource),
            Cell::new(unit),
            Cell::new(format!("{per_s:.9}")).set_alignment(CellAlignment::Right),
            Cell::new(format!("{:.4}", per_s * 3600.0)).set_alignment(CellAlignment::Right),
        ]);
    };
    row("cpu", "core", &list["cpu_core_second"]);
    row("memory", "GiB", &list["memory_gib_second"]);
    for (model, rate) in list["gpu_second"].as_object().into_iter().flatten() {
        row(&format!("gpu {model}"), "card", rate);
    }
    row("gpu (other models)", "card", &list["gpu_default_second"]);
    row("storage (paused)", "GiB", &list["storage_gib_second"]);
    row("exec", "exec", &list["exec_second"]);
    ctx.out.print(&mut t);
    Ok(())
}

/// Run `sbx images`.
///
/// # Errors
/// As the API answers.
pub async fn images(args: ListArgs) -> CliResult<()> {
    let ctx = Ctx::new(&args.conn)?;
    let list = ctx.api.get("/v1/images").await?;
    if ctx.out.json {
        ctx.out.print_json(&list);
        return Ok(());
    }
    let mut t = ctx
        .out
        .table(&["name", "category", "cpu", "memory", "gpu", "description"]);
    for i in list["data"].as_array().into_iter().flatten() {
        t.add_row(vec![
            Cell::new(text(&i["name"])),
            Cell::new(text(&i["category"])),
            Cell::new(text(&i["default_resources"]["cpu"])),
            Cell::new(text(&i["default_resources"]["memory"])),
            Cell::new(if i["gpu"] == true { "yes" } else { "" }),
            Cell::new(text(&i["description"])),
        ]);
    }
    ctx.out.print(&mut t);
    let runtimes: Vec<String> = list["container_runtimes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    if runtimes.is_empty() {
        say!("\ncontainer runtimes: none live (no runner with Docker)");
    } else {
        say!("\ncontainer runtimes: {}", runtimes.join(", "));
    }
    Ok(())
}

/// Run `sbx gpus`.
///
/// # Errors
/// As the API answers.
pub async fn gpus(args: ListArgs) -> CliResult<()> {
    let ctx = Ctx::new(&args.conn)?;
    let list = ctx.api.get("/v1/gpus").await?;
    if ctx.out.json {
        ctx.out.print_json(&list);
        return Ok(());
    }
    let models = list["models"].as_array().cloned().unwrap_or_default();
    if models.is_empty() {
        say!("no GPUs on any live runner");
        return Ok(());
    }
    let mut t = ctx.out.table(&[
        "model",
        "cards",
        "whole free",
        "largest share free",
        "free (cards)",
        "declared",
    ]);
    for m in &models {
        t.add_row(vec![
            Cell::new(text(&m["model"])),
            Cell::new(text(&m["cards"])),
            Cell::new(text(&m["whole_free_cards"])),
            Cell::new(text(&m["largest_free_share"])),
            Cell::new(text(&m["free"])),
            Cell::new(if m["declared"] == true { "yes" } else { "" }),
        ]);
    }
    ctx.out.print(&mut t);
    let mut c = ctx
        .out
        .table(&["uuid", "model", "memory", "used", "free", "runner"]);
    for card in list["cards"].as_array().into_iter().flatten() {
        c.add_row(vec![
            Cell::new(text(&card["uuid"])),
            Cell::new(text(&card["model"])),
            Cell::new(bytes(&card["memory_bytes"])),
            Cell::new(text(&card["used"])),
            Cell::new(text(&card["free"])),
            Cell::new(text(&card["runner"])),
        ]);
    }
    say!();
    ctx.out.print(&mut c);
    Ok(())
}
