//! One hostile program and the outcome it must have.

use serde_json::{Value, json};

use crate::common::TestApp;

/// A program of the corpus.
pub struct Case {
    /// What it tries.
    pub name: &'static str,
    /// Python source (execs, cells) or a `sh -c` script (containers).
    pub code: &'static str,
    /// Request fields besides the code (limits).
    pub extra: Value,
    /// The outcome it must have.
    pub expect: Expect,
}

/// An outcome: its status, and what the streams and exit code must (not) hold.
#[derive(Default)]
pub struct Expect {
    pub status: &'static str,
    pub exit_code: Option<i64>,
    /// Text stdout must contain.
    pub stdout: Option<&'static str>,
    /// What stdout must be, exactly.
    pub stdout_is: Option<String>,
    /// Text stderr or the message must contain.
    pub said: Option<&'static str>,
    /// Text neither stream may contain.
    pub absent: Vec<&'static str>,
}

/// A case of `name` running `code`, which must end `status`.
pub fn case(name: &'static str, code: &'static str, status: &'static str) -> Case {
    Case {
        name,
        code,
        extra: Value::Null,
        expect: Expect {
            status,
            ..Default::default()
        },
    }
}

impl Case {
    /// With these request fields (limits).
    pub fn with(mut self, extra: Value) -> Self {
        self.extra = extra;
        self
    }
    /// Stdout must contain `text`.
    pub fn out(mut self, text: &'static str) -> Self {
        self.expect.stdout = Some(text);
        self
    }
    /// Stdout must be `text`.
    pub fn out_is(mut self, text: impl Into<String>) -> Self {
        self.expect.stdout_is = Some(text.into());
        self
    }
    /// Stderr or the message must contain `text`.
    pub fn said(mut self, text: &'static str) -> Self {
        self.expect.said = Some(text);
        self
    }
    /// The exit code must be `code`.
    pub fn code(mut self, code: i64) -> Self {
        self.expect.exit_code = Some(code);
        self
    }
    /// Neither stream may contain any of `texts`.
    pub fn absent(mut self, texts: &[&'static str]) -> Self {
        self.expect.absent = texts.to_vec();
        self
    }

    /// What is wrong with `outcome` for this case, if anything.
    pub fn check(&self, outcome: &Value) -> Option<String> {
        let e = &self.expect;
        let text = |k: &str| outcome[k].as_str().unwrap_or_default().to_owned();
        let (stdout, stderr, message) = (text("stdout"), text("stderr"), text("message"));
        let mut wrong = Vec::new();
        if outcome["status"] != e.status {
            wrong.push(format!(
                "status {} (wanted {})",
                outcome["status"], e.status
            ));
        }
        if let Some(c) = e.exit_code
            && outcome["exit_code"] != c
        {
            wrong.push(format!("exit code {} (wanted {c})", outcome["exit_code"]));
        }
        if let Some(s) = e.stdout
            && !stdout.contains(s)
        {
            wrong.push(format!("stdout lacks {s:?}"));
        }
        if let Some(s) = &e.stdout_is
            && stdout != *s
        {
            wrong.push(format!("stdout is not {s:?}"));
        }
        if let Some(s) = e.said
            && !stderr.contains(s)
            && !message.contains(s)
        {
            wrong.push(format!("neither stderr nor message says {s:?}"));
        }
        for a in &e.absent {
            if stdout.contains(a) || stderr.contains(a) {
                wrong.push(format!("the output holds {a:?}"));
            }
        }
        (!wrong.is_empty()).then(|| {
            let mut brief = outcome.clone();
            for k in ["stdout", "stderr"] {
                let t = text(k);
                if t.len() > 300 {
                    brief[k] = Value::String(format!("{}…", &t[..t.floor_char_boundary(300)]));
                }
            }
            format!("{}: {}: {brief}", self.name, wrong.join(", "))
        })
    }
}

/// What a part of the corpus found.
#[derive(Default)]
pub struct Found {
    /// Programs run.
    pub ran: usize,
    /// One line per outcome that was not as expected.
    pub wrong: Vec<String>,
}

impl Found {
    /// Record `case`'s `outcome`.
    pub fn record(&mut self, case: &Case, outcome: &Value) {
        self.ran += 1;
        if let Some(w) = case.check(outcome) {
            self.wrong.push(w);
        }
    }
}

/// POST `body` with `case`'s request fields to `path`; the outcome (an answer other than 200 as
/// a status that names it, its body as stderr).
pub async fn post(app: &TestApp, path: &str, mut body: Value, case: &Case) -> Value {
    if let Some(extra) = case.extra.as_object() {
        body.as_object_mut().unwrap().extend(extra.clone());
    }
    let a = app.post(path, &body).await;
    if a.status.as_u16() == 200 {
        a.body
    } else {
        json!({"status": format!("HTTP {}", a.status.as_u16()), "stderr": a.text})
    }
}
