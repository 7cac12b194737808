//! `sbx exec`: run Python now (`POST /v1/exec`), print what it printed, leave with its exit
//! code. Also what `sandbox run` and `sandbox exec` share with it: reading code, and turning
//! an outcome into output and an exit code.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use super::client::Call;
use super::error::{CliError, CliResult, EXIT_API_ERROR, EXIT_LIMIT};
use super::output::write_stream;
use super::{Conn, Ctx, fail};

/// The long help of `sbx exec`: what it does and its exit codes.
pub const EXEC_LONG_ABOUT: &str = "\
Run Python through the API now, in a fresh sandbox, and print its stdout and stderr as it \
wrote them (with --json: the whole result).

Exit codes:
  the program's own   it ran and exited (0, 1 for an exception, n for sys.exit(n))
  124                 it hit a limit (time, memory, output, disk) or was cancelled
  2                   sbx failed: the API refused the request, the server could not be
                      reached, or the input could not be read; the program did not run";

/// Arguments of `sbx exec`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// Python code to run.
    #[arg(short = 'c', long = "code", conflicts_with = "file")]
    pub code: Option<String>,
    /// A Python file to run (`-` for standard input).
    pub file: Option<PathBuf>,
    /// Arguments for the program (after `--`).
    #[arg(last = true)]
    pub args: Vec<String>,
    /// Wall-time limit in milliseconds [server default: 10 000].
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Memory limit in MiB [server default: 512].
    #[arg(long)]
    pub memory_mb: Option<u64>,
    /// Disk cap of /workspace and /tmp in MiB [server default: 128].
    #[arg(long)]
    pub disk_mb: Option<u64>,
    /// A file for the program's standard input.
    #[arg(long, value_name = "FILE")]
    pub stdin: Option<PathBuf>,
    /// An environment variable for the program, `NAME=VALUE` (repeatable).
    #[arg(long = "env", short = 'e', value_name = "NAME=VALUE", value_parser = name_value)]
    pub env: Vec<(String, String)>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub conn: Conn,
}

/// `NAME=VALUE` as a pair.
///
/// # Errors
/// A message when there is no `=` or no name.
pub fn name_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected NAME=VALUE, got {s:?}")),
    }
}

/// The code `-c` gave, or the contents of `file` (`-`: standard input).
///
/// # Errors
/// [`CliError::Input`] when neither is given or the file cannot be read.
pub fn read_code(code: Option<&str>, file: Option<&PathBuf>) -> CliResult<String> {
    match (code, file) {
        (Some(c), _) => Ok(c.to_owned()),
        (None, Some(p)) if p.as_os_str() == "-" => std::io::read_to_string(std::io::stdin())
            .map_err(CliError::io("reading standard input")),
        (None, Some(p)) => std::fs::read_to_string(p)
            .map_err(|e| CliError::Input(format!("reading {}: {e}", p.display()))),
        (None, None) => Err(CliError::Input(
            "give code with -c CODE, or a file (- for standard input)".into(),
        )),
    }
}

/// Run `sbx exec`; the exit code.
pub async fn run(args: ExecArgs) -> i32 {
    match exec(args).await {
        Ok(code) => code,
        Err(e) => fail(&e, EXIT_API_ERROR),
    }
}

async fn exec(args: ExecArgs) -> CliResult<i32> {
    let code = read_code(args.code.as_deref(), args.file.as_ref())?;
    let ctx = Ctx::new(&args.conn)?;
    let mut body = json!({"language": "python", "code": code, "args": args.args});
    if let Some(t) = args.timeout_ms {
        body["timeout_ms"] = t.into();
    }
    if let Some(m) = args.memory_mb {
        body["memory_mb"] = m.into();
    }
    if let Some(d) = args.disk_mb {
        body["disk_mb"] = d.into();
    }
    if let Some(p) = &args.stdin {
        body["stdin"] = std::fs::read_to_string(p)
            .map_err(|e| CliError::Input(format!("reading {}: {e}", p.display())))?
            .into();
    }
    if !args.env.is_empty() {
        body["env"] = args
            .env
            .into_iter()
            .map(|(k, v)| (k, v.into()))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
    let wait = Duration::from_millis(args.timeout_ms.unwrap_or(10_000));
    let value = ctx
        .api
        .json(Call::post("/v1/exec", &body).longer(wait))
        .await?;
    Ok(finish(&ctx, &value))
}

/// Show a program's outcome (`POST /v1/exec`, a cell's, a command's) and return the exit code
/// to leave with: the program's, [`EXIT_LIMIT`] for a limit or a cancel, [`EXIT_API_ERROR`]
/// when it never ran. Its stdout and stderr go to ours, byte for byte; a cell's final
/// expression (`result`) follows its stdout, as a notebook shows it.
pub fn finish(ctx: &Ctx, value: &Value) -> i32 {
    let status = value["status"].as_str().unwrap_or("error");
    if ctx.out.json {
        ctx.out.print_json(value);
    } else {
        write_stream("stdout", value["stdout"].as_str().unwrap_or_default());
        if let Some(r) = value["result"].as_str() {
            write_stream("stdout", &format!("{r}\n"));
        }
        write_stream("stderr", value["stderr"].as_str().unwrap_or_default());
        let cut = match &value["truncated"] {
            Value::Bool(true) => "output".to_owned(),
            Value::Array(a) if !a.is_empty() => a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" and "),
            _ => String::new(),
        };
        if !cut.is_empty() {
            eprintln!("sbx: {cut} cut at the output limit");
        }
        if let Some(n) = value["figures"].as_array().map(Vec::len).filter(|n| *n > 0) {
            eprintln!("sbx: {n} figure(s) not shown (--json has them as base64 PNG)");
        }
        if value["reset"] == true {
            eprintln!("sbx: the interpreter was restarted: earlier variables and imports are gone");
        }
        if !matches!(status, "succeeded" | "failed") {
            eprintln!("sbx: {status}: {}", value["message"].as_str().unwrap_or(""));
        }
    }
    exit_code(value)
}

/// The exit code for outcome `value` (see [`finish`]).
pub fn exit_code(value: &Value) -> i32 {
    match value["status"].as_str().unwrap_or("error") {
        "succeeded" => value["exit_code"].as_i64().unwrap_or(0) as i32,
        "failed" => value["exit_code"].as_i64().filter(|c| *c != 0).unwrap_or(1) as i32,
        "error" => EXIT_API_ERROR,
        _ => EXIT_LIMIT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_give_the_exit_codes_the_help_promises() {
        let cases = [
            (json!({"status": "succeeded", "exit_code": 0}), 0),
            (json!({"status": "failed", "exit_code": 3}), 3),
            (json!({"status": "failed", "exit_code": null}), 1),
            (json!({"status": "timeout", "exit_code": null}), EXIT_LIMIT),
            (json!({"status": "memory_limit"}), EXIT_LIMIT),
            (json!({"status": "cancelled"}), EXIT_LIMIT),
            (json!({"status": "error"}), EXIT_API_ERROR),
        ];
        for (value, code) in cases {
            assert_eq!(exit_code(&value), code, "{value}");
        }
    }

    #[test]
    fn name_value_pairs_need_a_name() {
        assert_eq!(name_value("A=b=c"), Ok(("A".into(), "b=c".into())));
        assert!(name_value("=x").is_err());
        assert!(name_value("x").is_err());
    }
}
