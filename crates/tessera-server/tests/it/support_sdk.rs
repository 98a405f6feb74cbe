//! Auth0's official SDKs (and other third-party clients) as test clients: scripts under
//! `tests/sdk/` run with Node or Python against a [`LiveServer`], exactly as the SDKs'
//! READMEs show, with only the domain pointed at Tessera.
//!
//! The dependencies are pinned in `tests/sdk/package.json` (installed into
//! `tests/sdk/node_modules`) and `tests/sdk/requirements.txt` (installed into the venv
//! `tests/sdk/.venv`); `.ci/run` installs both. Without them a test says so and returns,
//! unless `TESSERA_REQUIRE_SDKS=1` (CI), where their absence fails the run.
//!
//! A script gets the server in its environment (`TESSERA_DOMAIN`, `TESSERA_ISSUER`, the CA
//! for Node, OpenSSL and `requests`) plus what the test passes, prints one JSON object as
//! its last line of standard output, and exits 0; anything else fails the test with the
//! script's whole output.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::support_live::LiveServer;

/// How long one SDK script may run.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Node,
    Python,
}

pub fn sdk_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk")
}

fn interpreter(rt: Runtime) -> PathBuf {
    match rt {
        Runtime::Node => PathBuf::from("node"),
        Runtime::Python => sdk_dir().join(".venv/bin/python"),
    }
}

fn installed(rt: Runtime) -> bool {
    match rt {
        Runtime::Node => {
            sdk_dir().join("node_modules").is_dir()
                && std::process::Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success())
        }
        Runtime::Python => interpreter(Runtime::Python).exists(),
    }
}

const NPM_INSTALL: &str = "npm ci --prefix crates/tessera-server/tests/sdk";

/// Whether the SDKs for `rt` are installed. When they are not: `false` with a message, or a
/// panic when `TESSERA_REQUIRE_SDKS=1`.
pub fn sdk_available(rt: Runtime) -> bool {
    if installed(rt) {
        return true;
    }
    let what = match rt {
        Runtime::Node => NPM_INSTALL,
        Runtime::Python => "python3 -m venv crates/tessera-server/tests/sdk/.venv && crates/tessera-server/tests/sdk/.venv/bin/pip install -r crates/tessera-server/tests/sdk/requirements.txt",
    };
    missing(&format!("the {rt:?} SDKs are not installed"), what)
}

/// [`sdk_available`] for Node, and also these packages in `node_modules` (an install older
/// than `package.json` lacks the newer ones).
pub fn node_packages_available(packages: &[&str]) -> bool {
    if !sdk_available(Runtime::Node) {
        return false;
    }
    let absent: Vec<&str> =
        packages.iter().copied().filter(|p| !sdk_dir().join("node_modules").join(p).join("package.json").is_file()).collect();
    absent.is_empty() || missing(&format!("{} not in tests/sdk/node_modules", absent.join(", ")), NPM_INSTALL)
}

/// `false` with a message, or a panic when `TESSERA_REQUIRE_SDKS=1`.
fn missing(what: &str, fix: &str) -> bool {
    assert!(std::env::var("TESSERA_REQUIRE_SDKS").as_deref() != Ok("1"), "{what} ({fix}) but TESSERA_REQUIRE_SDKS=1");
    eprintln!("skipping: {what}; run `{fix}`");
    false
}

/// Runs `tests/sdk/<script>` with `rt` against `live`; returns the JSON object the script
/// printed last.
pub async fn run(rt: Runtime, live: &LiveServer, script: &str, env: &[(&str, &str)]) -> Value {
    let path = sdk_dir().join(script);
    assert!(path.exists(), "no SDK script {}", path.display());
    let mut cmd = tokio::process::Command::new(interpreter(rt));
    cmd.arg(&path)
        .current_dir(sdk_dir())
        .env("TESSERA_DOMAIN", live.domain())
        .env("TESSERA_ISSUER", live.issuer())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(ca) = live.ca_file() {
        cmd.env("NODE_EXTRA_CA_CERTS", ca).env("SSL_CERT_FILE", ca).env("REQUESTS_CA_BUNDLE", ca);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(SCRIPT_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish within {SCRIPT_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "{script} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- server log\n{}",
        out.status,
        live.log()
    );
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{script} printed no JSON last ({e}):\n{stdout}\n{stderr}"))
}
