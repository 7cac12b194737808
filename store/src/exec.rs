//! What the queue keeps of an exec until a runner takes it ([`QueuedExec`]): the spec and its
//! limits in the JSON form of `jobs.request`.

use std::sync::Arc;

use sbx_core::exec::{ExecSpec, InputFile, Program};
use serde::{Deserialize, Serialize};

use crate::{Result, StoreError};

/// An exec as the queue keeps it until a runner takes it: everything needed to run it,
/// inputs included, in JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedExec {
    /// `python` or `wasi`.
    pub language: String,
    /// Python source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The WASI module, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_b64: Option<String>,
    /// Arguments.
    pub args: Vec<String>,
    /// Standard input, base64.
    pub stdin_b64: String,
    /// Environment.
    pub env: Vec<(String, String)>,
    /// Input files: (path, base64 content).
    pub files: Vec<(String, String)>,
    /// Limits, resolved.
    pub limits: sbx_limits::ExecLimits,
}

impl QueuedExec {
    /// The queue's form of `spec` under `limits`.
    pub fn new(spec: &ExecSpec, limits: sbx_limits::ExecLimits) -> Self {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let (code, module_b64) = match &spec.program {
            Program::Python { code } => (Some(code.clone()), None),
            Program::Wasi { module } => (None, Some(b64(module))),
        };
        Self {
            language: spec.program.language().to_owned(),
            code,
            module_b64,
            args: spec.args.clone(),
            stdin_b64: b64(&spec.stdin),
            env: spec.env.clone(),
            files: spec
                .files
                .iter()
                .map(|f| (f.path.clone(), b64(&f.content)))
                .collect(),
            limits,
        }
    }

    /// Back to what a runner takes.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`], naming what is corrupt.
    pub fn into_spec(self) -> Result<(ExecSpec, sbx_limits::ExecLimits)> {
        use base64::Engine as _;
        let d = |s: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| StoreError::Corrupt(e.to_string()))
        };
        let program = match (self.language.as_str(), self.code, self.module_b64) {
            ("python", Some(code), None) => Program::Python { code },
            ("wasi", None, Some(m)) => Program::Wasi {
                module: Arc::from(d(&m)?),
            },
            (l, ..) => {
                return Err(StoreError::Corrupt(format!(
                    "a queued exec of language {l:?} without its program"
                )));
            }
        };
        let files = self
            .files
            .iter()
            .map(|(path, c)| {
                Ok(InputFile {
                    path: path.clone(),
                    content: d(c)?,
                })
            })
            .collect::<Result<_>>()?;
        let spec = ExecSpec {
            program,
            args: self.args,
            stdin: d(&self.stdin_b64)?,
            env: self.env,
            files,
        };
        Ok((spec, self.limits))
    }
}
