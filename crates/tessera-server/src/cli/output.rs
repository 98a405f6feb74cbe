//! How commands print: `--json` gives one JSON document on stdout (Auth0 field names);
//! otherwise short human-readable lines. Errors go to stderr via the caller.

use serde::Serialize;

#[derive(Debug, Clone, Copy)]
pub struct Output {
    json: bool,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    /// Prints `value` as JSON, or as `human()` lines.
    pub fn show<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            match serde_json::to_string_pretty(value) {
                Ok(s) => println!("{s}"),
                Err(e) => eprintln!("error: cannot render JSON: {e}"),
            }
        } else {
            println!("{}", human());
        }
    }

    /// A confirmation line (`{"ok": true, "message": ...}` in JSON mode).
    pub fn message(&self, msg: &str) {
        self.show(&serde_json::json!({"ok": true, "message": msg}), || msg.to_string());
    }
}

/// Maps a registry error to the CLI's one-line message.
pub fn fail(e: tessera_core::Error) -> String {
    describe(&e)
}

/// A one-line description of a registry error, with the internal detail for server errors
/// (the CLI operator is the deployment's owner).
pub fn describe(e: &tessera_core::Error) -> String {
    match &e.detail {
        Some(d)
            if e.code == tessera_core::ErrorCode::ServerError || e.code == tessera_core::ErrorCode::TemporarilyUnavailable =>
        {
            format!("{}: {}", e.description(), d)
        }
        _ => e.description().to_string(),
    }
}

/// Splits comma-separated values given to repeatable flags (`--callback a,b --callback c`).
pub fn split_list(values: &[String]) -> Vec<String> {
    values.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|v| !v.is_empty()).map(str::to_string).collect()
}

/// Reads a secret value from stdin (first line), for `--password-stdin`.
pub fn read_stdin_line() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| format!("cannot read stdin: {e}"))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
