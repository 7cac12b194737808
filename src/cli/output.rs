//! How results are shown: tables for people, the API's JSON with `--json`, colour only on a
//! terminal without `NO_COLOR`.

use std::io::{IsTerminal as _, Write as _};

use comfy_table::{Cell, Color, Table, presets};
use serde_json::Value;

/// Where and how to print.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// Print the API's JSON (pretty) instead of tables.
    pub json: bool,
    /// Colour states; true only when stdout is a terminal and `NO_COLOR` is unset.
    pub colour: bool,
}

impl Output {
    /// Tables or JSON as `json` says, coloured when stdout is a terminal without `NO_COLOR`.
    pub fn new(json: bool) -> Self {
        let colour = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Self { json, colour }
    }

    /// Print `value` as pretty JSON.
    pub fn print_json(&self, value: &Value) {
        say!(
            "{}",
            serde_json::to_string_pretty(value).expect("a JSON value serializes")
        );
    }

    /// A table with `header`, borderless as `gh` prints, not wrapped when piped.
    pub fn table(&self, header: &[&str]) -> Table {
        let mut t = Table::new();
        t.load_style(presets::NOTHING);
        if !self.colour {
            t.force_no_tty();
        }
        t.set_header(header.iter().map(|h| Cell::new(h.to_uppercase())));
        t
    }

    /// Print table `t`: columns two spaces apart, no trailing blanks.
    pub fn print(&self, t: &mut Table) {
        for c in t.column_iter_mut() {
            c.set_padding((0, 2));
        }
        say!("{}", t.trim_fmt());
    }

    /// Print `rows` of `(name, value)` as a two-column table (one object).
    pub fn fields(&self, rows: &[(&str, Cell)]) {
        let mut t = Table::new();
        t.load_style(presets::NOTHING);
        if !self.colour {
            t.force_no_tty();
        }
        for (name, value) in rows {
            t.add_row(vec![Cell::new(name), value.clone()]);
        }
        self.print(&mut t);
    }

    /// A cell for status or state `s`, green when it went well, red when it did not, yellow
    /// while waiting.
    pub fn state(&self, s: &str) -> Cell {
        let cell = Cell::new(s);
        if !self.colour {
            return cell;
        }
        match s {
            "running" | "succeeded" | "passed" | "finished" | "active" => cell.fg(Color::Green),
            "queued" | "pending" | "paused" | "cancelling" => cell.fg(Color::Yellow),
            "cancelled" | "terminated" => cell.fg(Color::DarkGrey),
            _ => cell.fg(Color::Red),
        }
    }
}

/// `v` as a table cell's text: strings bare, null empty, the rest as JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An RFC 3339 time, to the second (`2026-11-29 10:41:07Z`); empty for null.
pub fn time(v: &Value) -> String {
    let Some(s) = v.as_str() else {
        return String::new();
    };
    let s = s.replacen('T', " ", 1);
    match s.split_once('.') {
        Some((secs, _)) => format!("{secs}Z"),
        None => s,
    }
}

/// A byte count for people: `512 MiB`, `2 GiB`, `1.5 KiB`.
pub fn bytes(v: &Value) -> String {
    let Some(n) = v.as_f64() else {
        return text(v);
    };
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut x = n;
    let mut u = 0;
    while x >= 1024.0 && u + 1 < units.len() {
        x /= 1024.0;
        u += 1;
    }
    if x.fract() == 0.0 {
        format!("{x} {}", units[u])
    } else {
        format!("{x:.1} {}", units[u])
    }
}

/// A fraction 0 to 1 as a percentage (`87.5%`); empty for null.
pub fn percent(v: &Value) -> String {
    v.as_f64()
        .map(|p| format!("{:.1}%", p * 100.0))
        .unwrap_or_default()
}

/// Write `text` to stdout or stderr exactly, and flush.
pub fn write_stream(stream: &str, text: &str) {
    let r = if stream == "stderr" {
        let mut e = std::io::stderr().lock();
        e.write_all(text.as_bytes()).and_then(|()| e.flush())
    } else {
        let mut o = std::io::stdout().lock();
        o.write_all(text.as_bytes()).and_then(|()| o.flush())
    };
    // A closed pipe (`sbx … | head`) is the reader's choice, not an error of ours.
    let _ = r;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(bytes(&json!(536_870_912)), "512 MiB");
        assert_eq!(bytes(&json!(1536)), "1.5 KiB");
        assert_eq!(bytes(&json!(10)), "10 B");
        assert_eq!(percent(&json!(0.875)), "87.5%");
        assert_eq!(percent(&Value::Null), "");
        assert_eq!(
            time(&json!("2026-11-29T10:41:07.123456Z")),
            "2026-11-29 10:41:07Z"
        );
        assert_eq!(text(&json!(3)), "3");
    }
}
