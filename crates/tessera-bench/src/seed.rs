//! What the benchmark registers before the server starts, through the `tessera` CLI (the
//! same registry service as the management API): one API per signing algorithm, a
//! machine-to-machine client granted all three (which may also exchange its RS256 tokens,
//! RFC 8693), a first-party web client for the browser flows with rotating refresh tokens,
//! a public device client (RFC 8628), and one user; for the management pass, the
//! Management API's bootstrap client ([`management`]).

use serde::Serialize;
use serde_json::Value;

use crate::server::Tessera;

pub const API_RS256: &str = "https://bench-rs256";
pub const API_ES256: &str = "https://bench-es256";
pub const API_EDDSA: &str = "https://bench-eddsa";
pub const SCOPE: &str = "read:bench";
/// Nothing listens there: the browser flow stops at the redirect and reads the code.
pub const CALLBACK: &str = "http://127.0.0.1:9/cb";
pub const USER_EMAIL: &str = "bench@example.com";

#[derive(Debug, Clone, Serialize)]
pub struct Seed {
    pub m2m_client_id: String,
    #[serde(skip)]
    pub m2m_client_secret: String,
    pub web_client_id: String,
    #[serde(skip)]
    pub web_client_secret: String,
    /// A public native client allowed the device code grant (RFC 8628).
    pub device_client_id: String,
    pub user_email: String,
    #[serde(skip)]
    pub user_password: String,
    /// The Management API client and what the management pass loaded (issue 18).
    pub mgmt: Option<Mgmt>,
}

/// `tessera admin bootstrap`'s client for one issuer, and the population the management
/// scenarios pick from.
#[derive(Debug, Clone, Serialize)]
pub struct Mgmt {
    pub client_id: String,
    #[serde(skip)]
    pub client_secret: String,
    /// `{issuer}api/v2/`.
    pub audience: String,
    /// Bulk-loaded users `growth1@bench.test` … `growth{users}@bench.test`.
    pub users: u64,
    /// The highest audit-log id after the load (entries `1..=max_log_id` exist, less
    /// any the server's retention purged).
    pub max_log_id: i64,
}

/// `tessera admin bootstrap --issuer {issuer}`: the Management API of the issuer the
/// running server answers as, and a client granted every management scope. The bootstrap
/// is per issuer, and the benchmark's issuer is the server's listen address, so it runs
/// once the server is up.
pub fn management(t: &Tessera, issuer: &str, users: u64, max_log_id: i64) -> Result<Mgmt, String> {
    let v = t.cli(&["admin", "bootstrap", "--issuer", issuer, "--rotate-secret"], None)?;
    Ok(Mgmt {
        client_id: field(&v, "client_id", "management client")?,
        client_secret: field(&v, "client_secret", "management client")?,
        audience: field(&v, "audience", "management client")?,
        users,
        max_log_id,
    })
}

fn field(v: &Value, name: &str, what: &str) -> Result<String, String> {
    v.get(name).and_then(Value::as_str).map(str::to_string).ok_or_else(|| format!("{what}: no {name} in the CLI output"))
}

pub fn seed(t: &Tessera) -> Result<Seed, String> {
    for (identifier, alg) in [(API_RS256, "RS256"), (API_ES256, "ES256"), (API_EDDSA, "EdDSA")] {
        t.cli(
            &[
                "apis",
                "create",
                "--identifier",
                identifier,
                "--name",
                &format!("Bench {alg}"),
                "--scope",
                SCOPE,
                "--signing-alg",
                alg,
                "--allow-offline-access",
                "true",
            ],
            None,
        )?;
    }
    let m2m = t.cli(
        &[
            "clients",
            "create",
            "--name",
            "Bench M2M",
            "--app-type",
            "non_interactive",
            "--grant-type",
            "client_credentials,urn:ietf:params:oauth:grant-type:token-exchange",
            // The token-exchange scenario: its own RS256 tokens for the RS256 API.
            "--token-exchange-policy",
            &format!(r#"{{"audiences": ["{API_RS256}"]}}"#),
        ],
        None,
    )?;
    let m2m_client_id = field(&m2m, "client_id", "M2M client")?;
    for api in [API_RS256, API_ES256, API_EDDSA] {
        t.cli(&["grants", "create", "--client-id", &m2m_client_id, "--audience", api], None)?;
    }
    let web = t.cli(
        &[
            "clients",
            "create",
            "--name",
            "Bench Web",
            "--app-type",
            "regular_web",
            "--auth-method",
            "client_secret_post",
            "--callback",
            CALLBACK,
            "--grant-type",
            "authorization_code,refresh_token",
            "--rotation-type",
            "rotating",
        ],
        None,
    )?;
    let device = t.cli(
        &[
            "clients",
            "create",
            "--name",
            "Bench TV",
            "--app-type",
            "native",
            "--grant-type",
            "urn:ietf:params:oauth:grant-type:device_code",
        ],
        None,
    )?;
    let password = format!("bench-{}", tessera_core::crypto::random_alnum(16));
    t.cli(&["users", "create", "--email", USER_EMAIL, "--email-verified", "true", "--password-stdin"], Some(&password))?;
    Ok(Seed {
        m2m_client_secret: field(&m2m, "client_secret", "M2M client")?,
        m2m_client_id,
        web_client_id: field(&web, "client_id", "web client")?,
        web_client_secret: field(&web, "client_secret", "web client")?,
        device_client_id: field(&device, "client_id", "device client")?,
        user_email: USER_EMAIL.to_string(),
        user_password: password,
        mgmt: None,
    })
}
