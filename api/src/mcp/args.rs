//! The MCP tools' arguments: one struct per tool, whose doc comments are the descriptions in
//! its input schema (schemars), and [`Args`], which names the field a type error is in.

use rmcp::schemars;
use serde::Deserialize;

/// Tool arguments `T`, whose type errors name the field they are in (`files[0].path: invalid
/// type: …`), as the HTTP API's do; the input schema is `T`'s.
pub struct Args<T>(pub T);

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Args<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde_path_to_error::deserialize(d).map(Args).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            match path.as_str() {
                "." => inner,
                _ => serde::de::Error::custom(format!("{path}: {inner}")),
            }
        })
    }
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Args<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// A text file handed to the code.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileArg {
    /// Where it goes, relative to the working directory `/workspace` (e.g. `data/input.csv`).
    pub path: String,
    /// Its content, as UTF-8 text.
    pub content: String,
}

/// Arguments of `run_python`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunPython {
    /// Python 3 source, run as a script in a fresh interpreter: use `print()` to show values.
    pub code: String,
    /// Text given to the program on standard input.
    pub stdin: Option<String>,
    /// Files written into the working directory before the code runs.
    #[serde(default)]
    pub files: Vec<FileArg>,
    /// Wall-time limit in milliseconds (default 10000).
    #[schemars(range(min = 1))]
    pub timeout_ms: Option<u64>,
}

/// Arguments of `create_sandbox`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSandboxArgs {
    /// `code-interpreter` (a persistent Python interpreter with numpy and pandas, for
    /// `run_cell`; the default), a catalog image (`python`, `pytorch`, `vllm`: a Linux container
    /// for `run_command`), one of the project's templates (`name` or `name:version`), or any
    /// container image reference.
    pub image: Option<String>,
    /// Memory limit as a quantity, e.g. `512Mi` or `2Gi`.
    pub memory: Option<String>,
    /// CPU cores, e.g. 1 or 0.5.
    pub cpu: Option<f64>,
    /// Seconds until the sandbox is deleted (default 3600, at most 86400).
    #[schemars(range(min = 1, max = 86_400))]
    pub timeout_s: Option<u64>,
    /// Environment variables.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// Containers only: `true` to reach the network, `false` (the default) for none, or
    /// `{"allow": ["pypi.org", "*.example.com", "203.0.113.0/24"]}` to reach only those
    /// names, subdomains and ranges (through an egress proxy: `HTTP_PROXY` is set).
    pub network: Option<crate::routes::sandboxes::network::Network>,
    /// Containers only: the ports a server will listen on (1 to 65535, at most 16), listed
    /// by list_ports with whether they listen yet.
    pub ports: Option<Vec<u16>>,
}

/// Arguments of `build_template`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BuildTemplate {
    /// The template's name: 1 to 63 of a-z, 0-9, '.', '_' and '-', not a catalog image's.
    /// Building a name again makes its next version.
    pub name: String,
    /// The Dockerfile's text, e.g. `FROM python\nUSER root\nRUN apt-get install -y …\nUSER 1000`.
    pub dockerfile: String,
    /// Files of the build context besides the Dockerfile, for its COPY steps.
    #[serde(default)]
    pub files: Vec<FileArg>,
    /// Whether RUN steps may reach the network (default false).
    pub network: Option<bool>,
    /// Longest the build may take, in seconds (default 600).
    #[schemars(range(min = 1, max = 3600))]
    pub timeout_s: Option<i32>,
}

/// Arguments of `run_cell`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunCell {
    /// The id of a `code-interpreter` sandbox (from `create_sandbox`).
    pub sandbox_id: String,
    /// Python source. Variables and imports persist between cells; the value of a final
    /// expression comes back as `result`, and open matplotlib figures as images.
    pub code: String,
    /// Wall-time limit in milliseconds (default 10000). A cell stopped by it restarts the
    /// interpreter (`reset: true`).
    #[schemars(range(min = 1))]
    pub timeout_ms: Option<u64>,
}

/// Arguments of `fork_sandbox`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForkSandbox {
    /// The id of a running sandbox.
    pub sandbox_id: String,
    /// How many copies, 1 to 16 (default 1).
    #[schemars(range(min = 1, max = 16))]
    pub count: Option<u32>,
}

/// Arguments of `preview_url`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewUrl {
    /// The id of a container sandbox with a server listening on `port`.
    pub sandbox_id: String,
    /// The port the server listens on in the sandbox, 1 to 65535.
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// Seconds the URL works, 1 to 86400 (default 3600).
    #[schemars(range(min = 1, max = 86400))]
    pub expires_in: Option<u32>,
}

/// Arguments of `run_command`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunCommand {
    /// The id of a container sandbox (from `create_sandbox` with a container image).
    pub sandbox_id: String,
    /// A shell command line, run with `sh -c` in `/workspace`, e.g. `ls -la && python3 x.py`.
    pub command: String,
    /// Wall-time limit in milliseconds (default 10000).
    #[schemars(range(min = 1))]
    pub timeout_ms: Option<u64>,
}

/// How a file's content is written in a tool's arguments.
#[derive(Debug, Clone, Copy, Default, Deserialize, schemars::JsonSchema)]
pub enum Encoding {
    /// UTF-8 text.
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    /// Base64 of any bytes.
    #[serde(rename = "base64")]
    Base64,
}

/// Arguments of `write_file`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteFile {
    /// The sandbox's id.
    pub sandbox_id: String,
    /// The file: `/workspace/…` (or `/outputs/…` in a container), or a path relative to
    /// `/workspace` (e.g. `src/app.py`). Missing folders are made; a file there is replaced.
    pub path: String,
    /// Its content.
    pub content: String,
    /// `utf-8` (the default) or `base64`.
    pub encoding: Option<Encoding>,
}

/// Arguments naming a file or folder in a sandbox.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PathArg {
    /// The sandbox's id.
    pub sandbox_id: String,
    /// `/workspace/…` (or `/outputs/…` in a container), or a path relative to `/workspace`.
    pub path: String,
}

/// Arguments of `list_files`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListFiles {
    /// The sandbox's id.
    pub sandbox_id: String,
    /// The folder (default `/workspace`; `/outputs` in a container).
    pub path: Option<String>,
    /// List everything below it too (default false).
    pub recursive: Option<bool>,
}

/// `path` as an absolute guest path: one not starting with `/` is relative to `/workspace`.
pub fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/workspace/{path}")
    }
}

/// Arguments naming one sandbox.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxArg {
    /// The sandbox's id.
    pub sandbox_id: String,
}

/// A sandbox state, to filter a listing.
#[derive(Debug, Clone, Copy, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StateArg {
    /// Waiting for room on a runner.
    Pending,
    /// Running.
    Running,
    /// Paused: state kept, nothing running.
    Paused,
    /// Deleted or expired.
    Terminated,
    /// Failed.
    Failed,
}

/// Arguments of `list_sandboxes`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSandboxes {
    /// Only sandboxes in this state.
    pub state: Option<StateArg>,
    /// How many, newest first (1 to 200, default 50).
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::{Args, RunPython};

    fn refusal(json: serde_json::Value) -> String {
        match serde_json::from_value::<Args<RunPython>>(json) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn argument_errors_name_the_field() {
        let cases = [
            (
                serde_json::json!({"code": 5}),
                "code: invalid type: integer `5`",
            ),
            (
                serde_json::json!({"code": "x", "files": [{"path": "a"}]}),
                "files[0]: missing field `content`",
            ),
            (
                serde_json::json!({"code": "x", "timeout_ms": -1}),
                "timeout_ms: invalid value: integer `-1`",
            ),
            (serde_json::json!({}), "missing field `code`"),
            (
                serde_json::json!({"code": "x", "colour": 1}),
                "colour: unknown field `colour`",
            ),
        ];
        for (given, wanted) in cases {
            let got = refusal(given.clone());
            assert!(got.starts_with(wanted), "{given}: {got}");
        }
    }
}

/// Arguments of `start_process`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartProcess {
    /// The id of a container sandbox.
    pub sandbox_id: String,
    /// A shell command line, run in the background with `sh -c`, e.g.
    /// `python3 -m http.server 8000`.
    pub command: String,
    /// Environment variables added for it.
    pub env: Option<std::collections::BTreeMap<String, String>>,
    /// Its working directory (default `/workspace`).
    pub cwd: Option<String>,
    /// Kill it after this many milliseconds (default: no limit but the sandbox's).
    #[schemars(range(min = 1))]
    pub timeout_ms: Option<u64>,
    /// A label to recognise it by.
    pub tag: Option<String>,
}

/// Arguments naming a process of a sandbox.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessArg {
    /// The id of the container sandbox.
    pub sandbox_id: String,
    /// The process's pid, as `start_process` returned it.
    pub pid: u32,
}

/// Arguments of `process_output`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessOutput {
    /// The id of the container sandbox.
    pub sandbox_id: String,
    /// The process's pid, as `start_process` returned it.
    pub pid: u32,
    /// Only output after this event (the `last_event_id` of an earlier call); default: all
    /// that is kept.
    pub after: Option<u64>,
}
