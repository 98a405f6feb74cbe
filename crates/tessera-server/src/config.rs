//! Configuration: defaults, then a TOML file (`--config`, or `tessera.toml` when present),
//! then `TESSERA_*` environment variables, then command-line flags. Validated once at start
//! with messages that name the offending setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tessera_core::crypto::MasterKey;

/// The commented default configuration printed by `tessera config print-default`.
pub const DEFAULT_TOML: &str = r#"# Tessera configuration. Every setting is optional; shown here with its default.
# Precedence: command-line flags > TESSERA_* environment variables > this file > defaults.

# Address to listen on (env TESSERA_LISTEN, flag --listen).
listen = "127.0.0.1:8080"

# The issuer identifier: the `iss` of every token and the base of every endpoint URL.
# Defaults to http://<listen>/ . Use https in production (env TESSERA_ISSUER, flag --issuer).
# issuer = "https://id.example.com/"

# Where the embedded SQLite database and the master key file live
# (env TESSERA_DATA_DIR, flag --data-dir).
data_dir = "./tessera-data"

# Base64 of 32 random bytes. Encrypts signing keys at rest and keys every stored hash.
# When unset, <data_dir>/master.key is used (created with mode 0600 on first start).
# Nodes sharing a PostgreSQL database must share this key (env TESSERA_MASTER_KEY).
# master_key = "..."

[tls]
# Serve https directly: PEM files of the certificate chain and its private key (both or
# neither; env TESSERA_TLS_CERT / TESSERA_TLS_KEY, flags --tls-cert / --tls-key). Checked at
# start; a changed pair is picked up within seconds without a restart. With TLS on, the
# default issuer is https://<listen>/ .
cert = ""
key = ""

[database]
# Empty: SQLite at <data_dir>/tessera.db. Or postgres://user:password@host:5432/db
# (env TESSERA_DATABASE_URL, flag --database-url).
url = ""
# PostgreSQL deadlines, in seconds. A request whose database work misses one fails at once
# with 503 temporarily_unavailable and Retry-After instead of waiting for the database.
# Getting a connection (opening one included):
connect_timeout = 3
# PostgreSQL's statement_timeout, set on every connection:
statement_timeout = 5
# Every database operation, from getting a connection to its last row; this also bounds
# a database that stopped answering without closing its connections (frozen, partitioned):
read_timeout = 8
# How long a starting node waits for an unreachable database, retrying, before it gives
# up (0: do not wait).
start_timeout = 60

[server]
# On SIGTERM or SIGINT a node stops accepting, /readyz says not ready, every answer says
# Connection: close, and requests in flight get this many seconds to finish before it exits.
shutdown_grace = 10
# Most client connections open at once (also bounded by the open-files limit, whose soft
# value is raised to the hard one at start). Further connections are closed at once, so
# the ones already open keep being served.
max_connections = 10000

[log]
# "text" or "json" (env TESSERA_LOG_FORMAT, flag --log-format).
format = "text"
# A tracing filter such as "info" or "tessera=debug,info" (env TESSERA_LOG_LEVEL or RUST_LOG).
level = "info"

[tokens]
# Authorization code lifetime in seconds, at most 600 (env TESSERA_CODE_LIFETIME).
code_lifetime = 60
# ID token lifetime in seconds (env TESSERA_ID_TOKEN_LIFETIME).
id_token_lifetime = 36000

[grants]
# Extension grants are off unless enabled here; while off they are not advertised in
# discovery and are refused as unsupported_grant_type. A client must also list the grant
# type (and, for token exchange, have an exchange policy).
# RFC 8693 token exchange, urn:ietf:params:oauth:grant-type:token-exchange
# (env TESSERA_TOKEN_EXCHANGE).
token_exchange = false
# RFC 7523 JWT bearer grant, urn:ietf:params:oauth:grant-type:jwt-bearer, with assertions
# of the issuers registered by `tessera issuers create` (env TESSERA_JWT_BEARER).
jwt_bearer = false
# The resource owner password grants, password (RFC 6749 section 4.3) and Auth0's
# http://auth0.com/oauth/grant-type/password-realm, for first-party clients that list them,
# behind the login page's brute-force limits (env TESSERA_PASSWORD_GRANT).
password = false

[client_assertions]
# Bounds on client assertions (private_key_jwt, client_secret_jwt; RFC 7523 section 3) and
# JWT-bearer grant assertions. The longest accepted lifetime, exp - iat, in seconds: 3600
# accepts what mainstream client libraries sign (Authlib's PrivateKeyJWT) (env
# TESSERA_ASSERTION_MAX_LIFETIME). Each assertion's jti is remembered until it expires.
max_lifetime = 3600
# How far in the future an assertion's iat or nbf may be: the client's clock skew, in
# seconds (env TESSERA_ASSERTION_MAX_FUTURE).
max_future = 60
# Clock leeway after exp, in seconds (env TESSERA_ASSERTION_LEEWAY).
leeway = 10

[dpop]
# Server-provided DPoP nonces (RFC 9449 section 8): "off" or "on"; clients may override.
nonce = "off"
# How far a DPoP proof's iat may be from the server's clock, either way, in seconds.
max_age = 60

[keys]
# How often a node re-reads the signing keys anyway (seconds), and ages retired keys out of
# the JWKS. A rotation or revocation made by another node or the CLI is picked up within
# about a second regardless (it marks the registry as changed).
reload_interval = 15

[sessions]
# Single sign-on session inactivity timeout in seconds; every use slides it (Auth0: 3 days).
idle_lifetime = 259200
# Longest an SSO session lasts however active it is, in seconds (Auth0: 7 days).
absolute_lifetime = 604800

[login]
# Failed logins per user and IP address before that pair is blocked.
max_failures = 10
# Failed logins per IP address, all users together, before the address is blocked.
ip_max_failures = 100
# How long a block lasts, in seconds; failures older than this are forgotten.
block_seconds = 900
# How long a login or consent page stays usable, in seconds.
transaction_lifetime = 600

[audit]
# Days the audit log (the Management API's /logs) keeps an entry; older ones are purged.
retention_days = 30
# Events of the request path (token exchanges) are written in batches off the request,
# every 200 ms; at most this many wait in memory (more are counted and dropped; a crash
# loses those waiting). 0 turns off the log of token exchanges (failed client
# authentication, logins, logouts and management changes are still logged).
queue = 10000

[housekeeping]
# Background purging of what no request can use any more: expired codes, access tokens,
# sessions, login pages and counters, pushed requests, device codes, replay-cache rows,
# spent and expired refresh tokens and their families, and audit entries past their
# retention. Every node runs it; a lease in the database gives one node at a time a pass.
# Seconds between passes (env TESSERA_PURGE_INTERVAL).
interval = 60
# How long past its expiry a row is kept, in seconds: more than any clock skew between
# nodes (env TESSERA_PURGE_GRACE).
grace = 300
# Rows deleted per statement, so that no purge holds locks for long (env TESSERA_PURGE_BATCH).
batch = 1000

[management]
# Management API requests per second per calling client, on each node (Auth0's token
# bucket: also the burst); over it, 429 with Retry-After. 0 turns the limit off.
rate_limit = 50

[par]
# Pushed authorization requests (RFC 9126): how long a request_uri from /oauth/par stays
# usable, in seconds (10 to 600).
request_uri_lifetime = 60
# Require every /authorize request to come through /oauth/par, for every client (RFC 9126
# section 5; a client can also require it for itself).
required = false

[device]
# Device authorization grant (RFC 8628): lifetime of a device code and its user code, in
# seconds (60 to 1800).
code_lifetime = 600
# Minimum seconds between two polls of the token endpoint; faster polls get slow_down and
# 5 more seconds (1 to 60).
interval = 5
# Wrong user codes per browser, and per IP address, on /activate before it is blocked for
# block_seconds.
max_failures = 5
ip_max_failures = 50
block_seconds = 900

[registration]
# Dynamic client registration (RFC 7591 / RFC 7592) at /oidc/register: "off" (no endpoint,
# not in discovery), "open" (anyone may register) or "token" (an initial access token from
# `tessera registration token create` is required) (env TESSERA_REGISTRATION_MODE).
# Dynamic clients are always third-party: the user is always asked for consent.
mode = "off"
# Grant types and token endpoint authentication methods a dynamic client may register.
# Redirect URIs: https for application_type web; https, loopback http or a private-use
# reverse-domain scheme for application_type native.
grant_types = ["authorization_code", "refresh_token"]
token_endpoint_auth_methods = ["none", "client_secret_basic", "client_secret_post"]
# Registrations per client IP address per rate_limit_window seconds, on each node (0: no
# limit); over it, 429 too_many_requests with Retry-After.
rate_limit = 10
rate_limit_window = 3600
# Most dynamic clients at once (0: no cap).
max_clients = 1000
# Seconds after which a dynamic client is deleted if it was never used, and if it has not
# been used for that long (0: never). A use is a token issued to it.
unused_lifetime = 86400
idle_lifetime = 7776000

[client_metadata_documents]
# OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, the MCP
# authorization profile's preferred registration): a client_id that is an https URL with a
# path names a JSON document of the client's metadata, fetched when Tessera first meets the
# client (env TESSERA_CLIENT_METADATA_DOCUMENTS=true). Such clients are public (or use
# private_key_jwt with jwks or jwks_uri), get authorization_code and refresh_token only, and
# are always asked for consent on a page that names the URL's host.
enabled = false
# Hosts whose documents are accepted, each with its subdomains (empty: any host), and hosts
# that are refused (the deny list wins).
allowed_domains = []
denied_domains = []
# The scope values such clients may be granted (OpenID and API scopes alike), and the APIs
# (identifiers) they may get access tokens for (empty: none; userinfo only).
scopes = ["openid", "profile", "email", "offline_access"]
audiences = []
# A fetched document is used for as long as its Cache-Control allows, within these bounds
# in seconds (no header: cache_min).
cache_min = 60
cache_max = 86400

[fetch]
# Outgoing https fetches of URLs that clients name (client ID metadata documents and their
# jwks_uri, and the jwks_uri of registered private_key_jwt clients). Only https, no
# redirects, at most max_bytes, within the timeouts (seconds).
connect_timeout = 2
timeout = 5
max_bytes = 5120
# A PEM file of extra CA certificates trusted for these fetches (besides the public roots).
ca_file = ""
# Allow loopback, private and link-local targets. Off: a URL that resolves to one is
# refused, so a client cannot make Tessera reach inside its network. Only for tests and
# private deployments; logged as a warning at start when on.
allow_private_addresses = false

[email]
# SMTP relay for verification, password-reset and one-time-code emails. Empty: no relay;
# messages wait in the outbox (and `serve --demo` logs their links and codes instead).
# (env TESSERA_SMTP_HOST, TESSERA_SMTP_PORT, TESSERA_SMTP_USERNAME, TESSERA_SMTP_PASSWORD,
# TESSERA_SMTP_SECURITY, TESSERA_EMAIL_FROM)
smtp_host = ""
smtp_port = 587
# "starttls" (upgrade on the submission port, required), "tls" (implicit TLS, port 465) or
# "none" (plain text: only for a relay on this machine).
security = "starttls"
# Credentials for the relay's AUTH (both or neither).
username = ""
password = ""
# A PEM file of extra CA certificates to trust for the relay (besides the public roots).
ca_file = ""
# The From header of every message.
from = "Tessera <no-reply@localhost>"
# Lifetime, in seconds, of a password-reset link and of an email-verification link.
reset_ticket_lifetime = 3600
verification_ticket_lifetime = 432000
# Passwordless one-time codes: lifetime in seconds, and wrong guesses before a code dies.
otp_lifetime = 300
otp_max_attempts = 3
# Codes sent to one address for one application per window of login.block_seconds; more
# are refused with 429 (a new code resets the attempts, so this bounds the guesses too).
otp_max_sends = 5
"#;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: String,
    #[serde(default)]
    pub issuer: Option<String>,
    pub data_dir: PathBuf,
    #[serde(default)]
    pub master_key: Option<String>,
    pub tls: TlsConfig,
    pub database: DatabaseConfig,
    pub server: ServerConfig,
    pub log: LogConfig,
    pub tokens: TokenConfig,
    pub grants: GrantsConfig,
    pub keys: KeysConfig,
    pub client_assertions: ClientAssertionsConfig,
    pub dpop: DpopConfig,
    pub sessions: SessionsConfig,
    pub login: LoginConfig,
    pub audit: AuditConfig,
    pub housekeeping: HousekeepingConfig,
    pub management: ManagementConfig,
    pub par: ParConfig,
    pub device: DeviceConfig,
    pub registration: RegistrationConfig,
    /// The policy over clients identified by a metadata document (issue 21).
    pub client_metadata_documents: tessera_core::client_metadata::MetadataPolicy,
    pub fetch: FetchConfig,
    pub email: EmailConfig,
    /// `--new-deployment`: start afresh although the data directory holds a master key but
    /// no database (a flag only, never in a file, so it cannot stay on by accident).
    #[serde(skip)]
    pub new_deployment: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagementConfig {
    pub rate_limit: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HousekeepingConfig {
    pub interval: i64,
    pub grace: i64,
    pub batch: i64,
}

impl HousekeepingConfig {
    fn validate(&self) -> Result<(), String> {
        for (name, v, range) in
            [("interval", self.interval, 1..=86_400), ("grace", self.grace, 0..=604_800), ("batch", self.batch, 1..=100_000)]
        {
            if !range.contains(&v) {
                return Err(format!("housekeeping.{name} must be {} to {}, got {v}", range.start(), range.end()));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    pub retention_days: i64,
    pub queue: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: String,
    pub key: String,
}

impl TlsConfig {
    /// The certificate and key files, when TLS is on.
    pub fn files(&self) -> Option<(PathBuf, PathBuf)> {
        (!self.cert.is_empty()).then(|| (PathBuf::from(&self.cert), PathBuf::from(&self.key)))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
    pub connect_timeout: u64,
    pub statement_timeout: u64,
    pub read_timeout: u64,
    pub start_timeout: u64,
}

impl DatabaseConfig {
    /// The PostgreSQL deadlines.
    pub fn timeouts(&self) -> crate::store::postgres::Timeouts {
        use std::time::Duration;
        crate::store::postgres::Timeouts {
            connect: Duration::from_secs(self.connect_timeout),
            statement: Duration::from_secs(self.statement_timeout),
            read: Duration::from_secs(self.read_timeout),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub shutdown_grace: u64,
    pub max_connections: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: String,
    pub level: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub code_lifetime: i64,
    pub id_token_lifetime: i64,
}

/// Tenant-wide switches for the extension grants (RFC 8693, RFC 7523 §2.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantsConfig {
    pub token_exchange: bool,
    pub jwt_bearer: bool,
    pub password: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAssertionsConfig {
    pub max_lifetime: i64,
    pub max_future: i64,
    pub leeway: i64,
}

impl ClientAssertionsConfig {
    pub fn limits(&self) -> tessera_core::client_auth::AssertionLimits {
        tessera_core::client_auth::AssertionLimits {
            max_lifetime: self.max_lifetime,
            max_future: self.max_future,
            leeway: self.leeway,
        }
    }

    fn validate(&self) -> Result<(), String> {
        for (name, v, range) in [
            ("max_lifetime", self.max_lifetime, 1..=86_400),
            ("max_future", self.max_future, 0..=3600),
            ("leeway", self.leeway, 0..=600),
        ] {
            if !range.contains(&v) {
                return Err(format!("client_assertions.{name} must be {} to {} seconds, got {v}", range.start(), range.end()));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpopConfig {
    pub nonce: String,
    pub max_age: i64,
}

impl DpopConfig {
    pub fn nonce_required(&self) -> bool {
        self.nonce == "on"
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    pub reload_interval: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsConfig {
    pub idle_lifetime: i64,
    pub absolute_lifetime: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginConfig {
    pub max_failures: i64,
    pub ip_max_failures: i64,
    pub block_seconds: i64,
    pub transaction_lifetime: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParConfig {
    pub request_uri_lifetime: i64,
    pub required: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    pub code_lifetime: i64,
    pub interval: i64,
    pub max_failures: i64,
    pub ip_max_failures: i64,
    pub block_seconds: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationConfig {
    pub mode: String,
    pub grant_types: Vec<String>,
    pub token_endpoint_auth_methods: Vec<String>,
    pub rate_limit: i64,
    pub rate_limit_window: i64,
    pub max_clients: i64,
    pub unused_lifetime: i64,
    pub idle_lifetime: i64,
}

impl RegistrationConfig {
    /// The policy these settings describe, or a message naming the bad setting.
    pub fn policy(&self) -> Result<tessera_core::registration::RegistrationPolicy, String> {
        use tessera_core::model::{GrantType, TokenEndpointAuthMethod};
        use tessera_core::registration::{RegistrationMode, RegistrationPolicy};
        let mode = RegistrationMode::parse(&self.mode)
            .ok_or_else(|| format!("registration.mode must be off, open or token, got {:?}", self.mode))?;
        let grant_types = self
            .grant_types
            .iter()
            .map(|g| GrantType::parse(g).ok_or_else(|| format!("registration.grant_types: unknown grant type {g:?}")))
            .collect::<Result<_, _>>()?;
        let auth_methods = self
            .token_endpoint_auth_methods
            .iter()
            .map(|m| {
                TokenEndpointAuthMethod::parse(m)
                    .map_err(|_| format!("registration.token_endpoint_auth_methods: unknown method {m:?}"))
            })
            .collect::<Result<_, _>>()?;
        for (name, v) in [
            ("rate_limit", self.rate_limit),
            ("max_clients", self.max_clients),
            ("unused_lifetime", self.unused_lifetime),
            ("idle_lifetime", self.idle_lifetime),
        ] {
            if v < 0 {
                return Err(format!("registration.{name} must not be negative, got {v}"));
            }
        }
        if self.rate_limit_window < 1 {
            return Err(format!("registration.rate_limit_window must be at least 1 second, got {}", self.rate_limit_window));
        }
        Ok(RegistrationPolicy {
            mode,
            grant_types,
            auth_methods,
            max_clients: self.max_clients,
            unused_lifetime: self.unused_lifetime,
            idle_lifetime: self.idle_lifetime,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchConfig {
    pub connect_timeout: u64,
    pub timeout: u64,
    pub max_bytes: usize,
    pub ca_file: String,
    pub allow_private_addresses: bool,
}

impl FetchConfig {
    /// The fetcher's bounds; reads the CA file.
    pub fn policy(&self) -> Result<crate::fetch::FetchPolicy, String> {
        if !(1..=30).contains(&self.connect_timeout) || !(1..=60).contains(&self.timeout) {
            return Err(format!(
                "fetch.connect_timeout must be 1 to 30 seconds and fetch.timeout 1 to 60, got {} and {}",
                self.connect_timeout, self.timeout
            ));
        }
        if !(256..=1_048_576).contains(&self.max_bytes) {
            return Err(format!("fetch.max_bytes must be 256 to 1048576, got {}", self.max_bytes));
        }
        let extra_roots_pem = match self.ca_file.as_str() {
            "" => None,
            f => Some(std::fs::read(f).map_err(|e| format!("fetch.ca_file {f}: {e}"))?),
        };
        Ok(crate::fetch::FetchPolicy {
            allow_private: self.allow_private_addresses,
            extra_roots_pem,
            connect_timeout: std::time::Duration::from_secs(self.connect_timeout),
            total_timeout: std::time::Duration::from_secs(self.timeout),
            max_bytes: self.max_bytes,
        })
    }
}

/// SMTP delivery and the lifetimes of what emails carry (issue 17).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub security: String,
    pub username: String,
    pub password: String,
    pub ca_file: String,
    pub from: String,
    pub reset_ticket_lifetime: i64,
    pub verification_ticket_lifetime: i64,
    pub otp_lifetime: i64,
    pub otp_max_attempts: i64,
    pub otp_max_sends: i64,
}

impl std::fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The relay password never reaches a log line.
        f.debug_struct("EmailConfig")
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl EmailConfig {
    fn validate(&self) -> Result<(), String> {
        if !matches!(self.security.as_str(), "starttls" | "tls" | "none") {
            return Err(format!("email.security must be \"starttls\", \"tls\" or \"none\", got {:?}", self.security));
        }
        if self.username.is_empty() != self.password.is_empty() {
            return Err("email.username and email.password must be set together".into());
        }
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(format!("email.from must be an address such as \"Name <no-reply@example.com>\", got {:?}", self.from));
        }
        for (name, v, max) in [
            ("reset_ticket_lifetime", self.reset_ticket_lifetime, 30 * 86_400),
            ("verification_ticket_lifetime", self.verification_ticket_lifetime, 30 * 86_400),
            ("otp_lifetime", self.otp_lifetime, 3600),
        ] {
            if !(60..=max).contains(&v) {
                return Err(format!("email.{name} must be 60 to {max} seconds, got {v}"));
            }
        }
        if !(1..=100).contains(&self.otp_max_sends) {
            return Err(format!("email.otp_max_sends must be 1 to 100, got {}", self.otp_max_sends));
        }
        if !(1..=10).contains(&self.otp_max_attempts) {
            return Err(format!("email.otp_max_attempts must be 1 to 10, got {}", self.otp_max_attempts));
        }
        Ok(())
    }
}

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub listen: Option<String>,
    pub issuer: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub log_format: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
}

/// Environment variables and the config path each sets.
const ENV: &[(&str, &[&str])] = &[
    ("TESSERA_LISTEN", &["listen"]),
    ("TESSERA_REGISTRATION_MODE", &["registration", "mode"]),
    ("TESSERA_CLIENT_METADATA_DOCUMENTS", &["client_metadata_documents", "enabled"]),
    ("TESSERA_ISSUER", &["issuer"]),
    ("TESSERA_DATA_DIR", &["data_dir"]),
    ("TESSERA_MASTER_KEY", &["master_key"]),
    ("TESSERA_DATABASE_URL", &["database", "url"]),
    ("TESSERA_DATABASE_START_TIMEOUT", &["database", "start_timeout"]),
    ("TESSERA_MAX_CONNECTIONS", &["server", "max_connections"]),
    ("TESSERA_TLS_CERT", &["tls", "cert"]),
    ("TESSERA_TLS_KEY", &["tls", "key"]),
    ("TESSERA_LOG_FORMAT", &["log", "format"]),
    ("TESSERA_LOG_LEVEL", &["log", "level"]),
    ("TESSERA_CODE_LIFETIME", &["tokens", "code_lifetime"]),
    ("TESSERA_ID_TOKEN_LIFETIME", &["tokens", "id_token_lifetime"]),
    ("TESSERA_DPOP_NONCE", &["dpop", "nonce"]),
    ("TESSERA_ASSERTION_MAX_LIFETIME", &["client_assertions", "max_lifetime"]),
    ("TESSERA_ASSERTION_MAX_FUTURE", &["client_assertions", "max_future"]),
    ("TESSERA_ASSERTION_LEEWAY", &["client_assertions", "leeway"]),
    ("TESSERA_TOKEN_EXCHANGE", &["grants", "token_exchange"]),
    ("TESSERA_JWT_BEARER", &["grants", "jwt_bearer"]),
    ("TESSERA_PASSWORD_GRANT", &["grants", "password"]),
    ("TESSERA_AUDIT_QUEUE", &["audit", "queue"]),
    ("TESSERA_PURGE_INTERVAL", &["housekeeping", "interval"]),
    ("TESSERA_PURGE_GRACE", &["housekeeping", "grace"]),
    ("TESSERA_PURGE_BATCH", &["housekeeping", "batch"]),
    ("TESSERA_SMTP_HOST", &["email", "smtp_host"]),
    ("TESSERA_SMTP_PORT", &["email", "smtp_port"]),
    ("TESSERA_SMTP_USERNAME", &["email", "username"]),
    ("TESSERA_SMTP_PASSWORD", &["email", "password"]),
    ("TESSERA_SMTP_SECURITY", &["email", "security"]),
    ("TESSERA_EMAIL_FROM", &["email", "from"]),
];

fn set_path(table: &mut toml::Table, path: &[&str], value: toml::Value) {
    let (last, parents) = path.split_last().unwrap_or((&"", &[]));
    let mut t = table;
    for p in parents {
        let entry = t.entry(p.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        let Some(next) = entry.as_table_mut() else { return };
        t = next;
    }
    t.insert(last.to_string(), value);
}

/// Env values arrive as strings; numbers are converted where the default is a number.
fn env_value(defaults: &toml::Table, path: &[&str], raw: &str) -> Result<toml::Value, String> {
    let mut cur: Option<&toml::Value> = None;
    let mut t = Some(defaults);
    for p in path {
        cur = t.and_then(|t| t.get(*p));
        t = cur.and_then(toml::Value::as_table);
    }
    match cur {
        Some(toml::Value::Integer(_)) => raw
            .trim()
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| format!("{} must be a whole number, got {raw:?}", path.join("."))),
        Some(toml::Value::Boolean(_)) => match raw.trim() {
            "true" | "1" => Ok(toml::Value::Boolean(true)),
            "false" | "0" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("{} must be true or false, got {raw:?}", path.join("."))),
        },
        _ => Ok(toml::Value::String(raw.to_string())),
    }
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

impl Config {
    /// Loads and validates the layered configuration. `env` is injected for tests.
    pub fn load(over: &Overrides, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, String> {
        let defaults: toml::Table = toml::from_str(DEFAULT_TOML).map_err(|e| format!("built-in defaults: {e}"))?;
        let mut table = defaults.clone();
        let file = over.config_file.clone().or_else(|| {
            let p = PathBuf::from("tessera.toml");
            p.exists().then_some(p)
        });
        if let Some(path) = &file {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
            let parsed: toml::Table =
                toml::from_str(&text).map_err(|e| format!("config file {} is not valid TOML: {e}", path.display()))?;
            merge(&mut table, parsed);
        }
        for (var, path) in ENV {
            if let Some(raw) = env(var).filter(|v| !v.is_empty()) {
                set_path(&mut table, path, env_value(&defaults, path, &raw).map_err(|e| format!("{var}: {e}"))?);
            }
        }
        if env("TESSERA_LOG_LEVEL").is_none() {
            if let Some(rust_log) = env("RUST_LOG").filter(|v| !v.is_empty()) {
                set_path(&mut table, &["log", "level"], toml::Value::String(rust_log));
            }
        }
        let flags: [(&[&str], Option<String>); 7] = [
            (&["listen"], over.listen.clone()),
            (&["issuer"], over.issuer.clone()),
            (&["data_dir"], over.data_dir.as_ref().map(|p| p.display().to_string())),
            (&["database", "url"], over.database_url.clone()),
            (&["log", "format"], over.log_format.clone()),
            (&["tls", "cert"], over.tls_cert.clone()),
            (&["tls", "key"], over.tls_key.clone()),
        ];
        for (path, v) in flags {
            if let Some(v) = v {
                set_path(&mut table, path, toml::Value::String(v));
            }
        }
        let source = file.map(|p| format!(" (from {})", p.display())).unwrap_or_default();
        let config: Config = toml::Value::Table(table).try_into().map_err(|e| format!("invalid configuration{source}: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), String> {
        self.listen_addr()?;
        if let Some(issuer) = &self.issuer {
            validate_issuer(issuer)?;
        }
        if self.tls.cert.is_empty() != self.tls.key.is_empty() {
            return Err("tls.cert and tls.key must be set together (the certificate chain and its private key)".into());
        }
        if !self.database.url.is_empty() {
            crate::store::Backend::from_url(&self.database.url).map_err(|e| format!("database.url: {e}"))?;
        }
        let db = &self.database;
        for (name, v) in [
            ("connect_timeout", db.connect_timeout),
            ("statement_timeout", db.statement_timeout),
            ("read_timeout", db.read_timeout),
        ] {
            if !(1..=600).contains(&v) {
                return Err(format!("database.{name} must be 1 to 600 seconds, got {v}"));
            }
        }
        if !(1..=1_000_000).contains(&self.server.max_connections) {
            return Err(format!("server.max_connections must be 1 to 1000000, got {}", self.server.max_connections));
        }
        if self.server.shutdown_grace > 3600 {
            return Err(format!("server.shutdown_grace must be at most 3600 seconds, got {}", self.server.shutdown_grace));
        }
        if db.start_timeout > 86_400 {
            return Err(format!("database.start_timeout must be at most 86400 seconds, got {}", db.start_timeout));
        }
        if let Some(k) = &self.master_key {
            MasterKey::from_base64(k).map_err(|e| format!("master_key: {e}"))?;
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(format!("log.format must be \"text\" or \"json\", got {:?}", self.log.format));
        }
        if !(1..=600).contains(&self.tokens.code_lifetime) {
            return Err(format!("tokens.code_lifetime must be 1 to 600 seconds, got {}", self.tokens.code_lifetime));
        }
        if !(60..=86_400).contains(&self.tokens.id_token_lifetime) {
            return Err(format!("tokens.id_token_lifetime must be 60 to 86400 seconds, got {}", self.tokens.id_token_lifetime));
        }
        let s = &self.sessions;
        if !(60..=s.absolute_lifetime).contains(&s.idle_lifetime) || s.absolute_lifetime > 365 * 86_400 {
            return Err(format!(
                "sessions.idle_lifetime must be at least 60 seconds and at most sessions.absolute_lifetime (at most 1 year), got {} and {}",
                s.idle_lifetime, s.absolute_lifetime
            ));
        }
        let l = &self.login;
        if l.max_failures < 1 || l.ip_max_failures < 1 {
            return Err("login.max_failures and login.ip_max_failures must be at least 1".into());
        }
        if !(1..=86_400).contains(&l.block_seconds) {
            return Err(format!("login.block_seconds must be 1 to 86400 seconds, got {}", l.block_seconds));
        }
        if !(60..=3600).contains(&l.transaction_lifetime) {
            return Err(format!("login.transaction_lifetime must be 60 to 3600 seconds, got {}", l.transaction_lifetime));
        }
        self.client_assertions.validate()?;
        self.housekeeping.validate()?;
        if !matches!(self.dpop.nonce.as_str(), "on" | "off") {
            return Err(format!("dpop.nonce must be \"on\" or \"off\", got {:?}", self.dpop.nonce));
        }
        if !(1..=600).contains(&self.dpop.max_age) {
            return Err(format!("dpop.max_age must be 1 to 600 seconds, got {}", self.dpop.max_age));
        }
        if !(1..=3650).contains(&self.audit.retention_days) {
            return Err(format!("audit.retention_days must be 1 to 3650, got {}", self.audit.retention_days));
        }
        if self.audit.queue != 0 && !(100..=1_000_000).contains(&self.audit.queue) {
            return Err(format!("audit.queue must be 0 (off) or 100 to 1000000, got {}", self.audit.queue));
        }
        if !(0..=100_000).contains(&self.management.rate_limit) {
            return Err(format!("management.rate_limit must be 0 (off) to 100000, got {}", self.management.rate_limit));
        }
        self.registration.policy()?;
        self.client_metadata_documents.validate()?;
        self.fetch.policy()?;
        if !(10..=600).contains(&self.par.request_uri_lifetime) {
            return Err(format!("par.request_uri_lifetime must be 10 to 600 seconds, got {}", self.par.request_uri_lifetime));
        }
        let d = &self.device;
        if !(60..=1800).contains(&d.code_lifetime) || !(1..=60).contains(&d.interval) {
            return Err(format!(
                "device.code_lifetime must be 60 to 1800 seconds and device.interval 1 to 60, got {} and {}",
                d.code_lifetime, d.interval
            ));
        }
        if d.max_failures < 1 || d.ip_max_failures < 1 || !(1..=86_400).contains(&d.block_seconds) {
            return Err(
                "device.max_failures and device.ip_max_failures must be at least 1, device.block_seconds 1 to 86400".into()
            );
        }
        self.email.validate()?;
        if !(1..=3600).contains(&self.keys.reload_interval) {
            return Err(format!("keys.reload_interval must be 1 to 3600 seconds, got {}", self.keys.reload_interval));
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.listen
            .parse()
            .map_err(|_| format!("listen must be an IP address and port such as 127.0.0.1:8080, got {:?}", self.listen))
    }

    /// The configured issuer, or `http(s)://<bound address>/`, always with a trailing slash.
    pub fn issuer_for(&self, bound: SocketAddr) -> String {
        match &self.issuer {
            Some(i) if i.ends_with('/') => i.clone(),
            Some(i) => format!("{i}/"),
            None if self.tls.files().is_some() => format!("https://{bound}/"),
            None => format!("http://{bound}/"),
        }
    }

    /// The issuer a `serve` with this configuration would use, for commands that run
    /// without a listener (`admin bootstrap`); refused when it depends on a port chosen at
    /// start (`:0`).
    pub fn default_issuer(&self) -> Result<String, String> {
        let addr = self.listen_addr()?;
        if self.issuer.is_none() && addr.port() == 0 {
            return Err("the issuer depends on the port chosen at start; pass --issuer".into());
        }
        Ok(self.issuer_for(addr))
    }

    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            crate::store::sqlite_url_for(&self.data_dir)
        } else {
            self.database.url.clone()
        }
    }

    pub fn master_key_file(&self) -> PathBuf {
        self.data_dir.join("master.key")
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

/// OIDC Discovery §3 / RFC 8414 §2: the issuer is an https URL with no query or fragment.
/// Plain http is accepted for loopback hosts, for development.
fn validate_issuer(issuer: &str) -> Result<(), String> {
    let u = url::Url::parse(issuer).map_err(|e| format!("issuer {issuer:?} is not an absolute URL: {e}"))?;
    if u.query().is_some() || u.fragment().is_some() || issuer.contains('?') || issuer.contains('#') {
        return Err(format!("issuer {issuer:?} must not have a query or fragment"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!("issuer {issuer:?} must not contain user information"));
    }
    match (u.scheme(), u.host_str()) {
        ("https", Some(_)) => Ok(()),
        ("http", Some(h))
            if matches!(h, "127.0.0.1" | "[::1]" | "localhost") || std::env::var_os("TESSERA_ALLOW_HTTP_ISSUER").is_some() =>
        {
            Ok(())
        }
        ("http", Some(_)) => Err(format!(
            "issuer {issuer:?} must use https (http is allowed for loopback hosts, or with TESSERA_ALLOW_HTTP_ISSUER=1)"
        )),
        _ => Err(format!("issuer {issuer:?} must be an https URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    }

    #[test]
    fn defaults_need_no_file() {
        let c = Config::load(&Overrides::default(), &env_of(&[])).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.issuer_for(c.listen_addr().unwrap()), "http://127.0.0.1:8080/");
        assert_eq!(c.data_dir, PathBuf::from("./tessera-data"));
        assert_eq!(c.tokens.code_lifetime, 60);
    }

    #[test]
    fn env_overrides_defaults_and_flags_override_env() {
        let env = env_of(&[
            ("TESSERA_LISTEN", "127.0.0.1:9000"),
            ("TESSERA_CODE_LIFETIME", "30"),
            ("TESSERA_ISSUER", "https://env.example.com"),
        ]);
        let c = Config::load(&Overrides::default(), &env).unwrap();
        assert_eq!(c.listen, "127.0.0.1:9000");
        assert_eq!(c.tokens.code_lifetime, 30);
        assert_eq!(c.issuer_for(c.listen_addr().unwrap()), "https://env.example.com/");
        let flags = Overrides { listen: Some("127.0.0.1:9001".into()), ..Default::default() };
        assert_eq!(Config::load(&flags, &env).unwrap().listen, "127.0.0.1:9001");
    }

    #[test]
    fn client_assertion_limits_default_to_what_libraries_sign_and_follow_env() {
        let c = Config::load(&Overrides::default(), &env_of(&[])).unwrap();
        assert_eq!(c.client_assertions.limits(), tessera_core::client_auth::AssertionLimits::DEFAULT);
        assert_eq!(c.client_assertions.max_lifetime, 3600);
        assert_eq!((c.housekeeping.interval, c.housekeeping.grace, c.housekeeping.batch), (60, 300, 1000));
        let env = env_of(&[
            ("TESSERA_ASSERTION_MAX_LIFETIME", "600"),
            ("TESSERA_ASSERTION_MAX_FUTURE", "5"),
            ("TESSERA_ASSERTION_LEEWAY", "0"),
        ]);
        let limits = Config::load(&Overrides::default(), &env).unwrap().client_assertions.limits();
        assert_eq!(limits, tessera_core::client_auth::AssertionLimits { max_lifetime: 600, max_future: 5, leeway: 0 });
    }

    #[test]
    fn bad_values_are_named_in_the_error() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("TESSERA_LISTEN", "nonsense")], "listen"),
            (&[("TESSERA_CODE_LIFETIME", "abc")], "TESSERA_CODE_LIFETIME"),
            (&[("TESSERA_CODE_LIFETIME", "601")], "code_lifetime"),
            (&[("TESSERA_ISSUER", "http://id.example.com/")], "https"),
            (&[("TESSERA_ISSUER", "https://id.example.com/?x=1")], "query"),
            (&[("TESSERA_DATABASE_URL", "mysql://x")], "database.url"),
            (&[("TESSERA_MASTER_KEY", "short")], "master_key"),
            (&[("TESSERA_LOG_FORMAT", "xml")], "log.format"),
            (&[("TESSERA_ASSERTION_MAX_LIFETIME", "0")], "client_assertions.max_lifetime must be 1 to 86400"),
            (&[("TESSERA_ASSERTION_MAX_FUTURE", "-1")], "client_assertions.max_future"),
            (&[("TESSERA_ASSERTION_LEEWAY", "601")], "client_assertions.leeway"),
            (&[("TESSERA_PURGE_INTERVAL", "0")], "housekeeping.interval must be 1 to 86400"),
            (&[("TESSERA_PURGE_GRACE", "-1")], "housekeeping.grace"),
            (&[("TESSERA_PURGE_BATCH", "100001")], "housekeeping.batch"),
        ];
        for (vars, needle) in cases {
            let vars: Vec<(String, String)> = vars.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
            let env = move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            let e = Config::load(&Overrides::default(), &env).unwrap_err();
            assert!(e.contains(needle), "{e:?} should mention {needle}");
        }
    }

    #[test]
    fn unknown_keys_in_a_file_are_refused() {
        let dir = std::env::temp_dir().join(format!("tessera-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\nlisen = 3\n").unwrap();
        let over = Overrides { config_file: Some(path.clone()), ..Default::default() };
        let e = Config::load(&over, &env_of(&[])).unwrap_err();
        assert!(e.contains("lisen"), "{e}");
        std::fs::write(&path, "[tokens]\ncode_lifetime = 120\n").unwrap();
        assert_eq!(Config::load(&over, &env_of(&[])).unwrap().tokens.code_lifetime, 120);
        std::fs::write(&path, "not = [valid").unwrap();
        assert!(Config::load(&over, &env_of(&[])).unwrap_err().contains("not valid TOML"));
    }

    #[test]
    fn extension_grants_are_off_by_default_and_switched_by_env() {
        let c = Config::load(&Overrides::default(), &env_of(&[])).unwrap();
        assert!(!c.grants.token_exchange && !c.grants.jwt_bearer);
        let c = Config::load(&Overrides::default(), &env_of(&[("TESSERA_TOKEN_EXCHANGE", "true"), ("TESSERA_JWT_BEARER", "1")]))
            .unwrap();
        assert!(c.grants.token_exchange && c.grants.jwt_bearer);
        let e = Config::load(&Overrides::default(), &env_of(&[("TESSERA_JWT_BEARER", "yes")])).unwrap_err();
        assert!(e.contains("grants.jwt_bearer must be true or false"), "{e}");
    }

    #[test]
    fn print_default_is_valid_and_complete() {
        let t: Config = toml::from_str(DEFAULT_TOML).unwrap();
        t.validate().unwrap();
    }
}
