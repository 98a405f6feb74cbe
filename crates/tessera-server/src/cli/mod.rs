//! The `tessera` command line. Every registry command opens the deployment through
//! [`crate::bootstrap::Deployment`] and calls the same [`tessera_core::registry::Registry`]
//! the management API uses; `--json` prints Auth0-named fields so scripts can capture
//! generated ids and secrets. Errors print one clear line and exit non-zero. Each command
//! but `serve` first names the deployment it acts on, on stderr, and only the commands that
//! create something may start a new one (`Command::may_create_deployment`).

mod admin;
mod apis;
mod backend;
mod backup;
mod bodies;
mod clients;
mod grants;
mod issuers;
mod keys;
mod output;
mod registration;
mod remote;
mod tenant;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use tessera_core::clock::SystemClock;

use self::backend::Backend;
use crate::app::{shutdown_signal, Application};
use crate::bootstrap::Deployment;
use crate::config::{Config, Overrides, DEFAULT_TOML};

pub use output::{describe, Output};

#[derive(Debug, Parser)]
#[command(name = "tessera", version, about = "Tessera: a self-hosted OAuth 2.1 / OpenID Connect authorization server")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub remote: remote::RemoteArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes. They are shown under their own heading, after a command's
/// own options, so `tessera clients create --help` starts with what creating a client needs.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Config file (default: ./tessera.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory: the SQLite database and the master key file.
    #[arg(long, global = true, value_name = "DIR", env = "TESSERA_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: postgres://... or sqlite://... (default: SQLite in the data directory).
    #[arg(long, global = true, value_name = "URL", env = "TESSERA_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Start a new, empty deployment although the data directory holds a master key but no
    /// database (otherwise refused: the database may have been lost).
    #[arg(long, global = true)]
    pub new_deployment: bool,
    /// Log format: text or json.
    #[arg(long, global = true, value_name = "FORMAT", env = "TESSERA_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Print results as JSON (Auth0 field names).
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Applications (OAuth clients).
    #[command(subcommand)]
    Clients(clients::ClientsCommand),
    /// APIs (resource servers): what `audience` names.
    #[command(subcommand)]
    Apis(apis::ApisCommand),
    /// Client grants: which APIs a client may call with client_credentials.
    #[command(subcommand)]
    Grants(grants::GrantsCommand),
    /// Users of the hosted login.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Tenant-wide settings.
    #[command(subcommand)]
    Tenant(tenant::TenantCommand),
    /// Trusted issuers: whose JWTs the jwt-bearer and token-exchange grants accept.
    #[command(subcommand)]
    Issuers(issuers::IssuersCommand),
    /// Dynamic client registration (RFC 7591): initial access tokens.
    #[command(subcommand)]
    Registration(registration::RegistrationCommand),
    /// Management API access.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Write a consistent copy of the SQLite database to a new file, online.
    Backup(backup::BackupArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR", env = "TESSERA_LISTEN")]
    pub listen: Option<String>,
    /// Issuer URL (default http://<listen>/).
    #[arg(long, value_name = "URL", env = "TESSERA_ISSUER")]
    pub issuer: Option<String>,
    /// Serve https: PEM file of the certificate chain (with --tls-key).
    #[arg(long, value_name = "FILE", env = "TESSERA_TLS_CERT")]
    pub tls_cert: Option<String>,
    /// Serve https: PEM file of the certificate's private key (with --tls-cert).
    #[arg(long, value_name = "FILE", env = "TESSERA_TLS_KEY")]
    pub tls_key: Option<String>,
    /// Seed a demo API, clients and user (idempotent) and print the walkthrough.
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the default configuration, commented.
    PrintDefault,
}

impl Command {
    /// Whether the command may start a new deployment where there is none: the ones that
    /// create something (and `serve`, `migrate`). The others list, show, change or delete
    /// what exists, or need something that exists (a grant needs its client and API):
    /// in a new deployment they would find nothing, and opening one would leave an empty
    /// database behind that hides the mistake. They are refused instead
    /// ([`crate::bootstrap::require_existing`]).
    fn may_create_deployment(&self) -> bool {
        match self {
            Self::Serve(_) | Self::Migrate | Self::Config(_) | Self::Admin(_) => true,
            Self::Clients(c) => matches!(c, clients::ClientsCommand::Create(_)),
            Self::Apis(c) => matches!(c, apis::ApisCommand::Create(_)),
            Self::Users(c) => matches!(c, users::UsersCommand::Create { .. }),
            Self::Keys(c) => matches!(c, keys::KeysCommand::Rotate { .. }),
            Self::Tenant(c) => matches!(c, tenant::TenantCommand::Set { .. }),
            Self::Registration(registration::RegistrationCommand::Token(c)) => {
                matches!(c, registration::TokenCommand::Create { .. })
            }
            Self::Grants(_) | Self::Issuers(_) | Self::Backup(_) => false,
        }
    }
}

impl Command {
    /// What the command needs that only a local deployment has, for the refusal under
    /// `--url` (`None`: the Management API carries it out).
    fn local_only(&self) -> Option<&'static str> {
        match self {
            Self::Serve(_) => Some("serve runs a server on this machine"),
            Self::Migrate => Some("migrate changes a local database"),
            Self::Config(_) => Some("config describes this machine's configuration"),
            Self::Backup(_) => Some("backup copies a local database"),
            Self::Issuers(_) => Some("trusted issuers have no Management API yet"),
            Self::Admin(_) => Some("admin bootstrap creates the first Management API credentials, which --url already needs"),
            _ => None,
        }
    }
}

impl GlobalArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            config_file: self.config.clone(),
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            log_format: self.log_format.clone(),
            ..Default::default()
        }
    }
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// Logs go to stderr through a background writer thread, so a request never waits on a
/// write to the terminal or a pipe; the returned guard flushes what is queued at exit.
/// Colours only on a terminal: a log file or collector gets plain text, and every request's
/// span is formatted without escape codes (a few percent of a small request's CPU).
fn init_logging(config: &Config) -> tracing_appender::non_blocking::WorkerGuard {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&config.log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::stderr().is_terminal();
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    let _ = if config.log.format == "json" { builder.json().try_init() } else { builder.try_init() };
    guard
}

/// Parses arguments, runs the command, maps failure to a message and exit code 1
/// (2 for usage errors, from clap).
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

pub async fn run(cli: Cli) -> Result<(), String> {
    if cli.remote.url.is_some() {
        return run_remote(cli).await;
    }
    let mut over = cli.global.overrides();
    if let Command::Serve(s) = &cli.command {
        over.listen = s.listen.clone();
        over.issuer = s.issuer.clone();
        over.tls_cert = s.tls_cert.clone();
        over.tls_key = s.tls_key.clone();
    }
    if let Command::Config(ConfigCommand::PrintDefault) = cli.command {
        print!("{DEFAULT_TOML}");
        return Ok(());
    }
    let mut config = Config::load(&over, &env)?;
    config.new_deployment = cli.global.new_deployment;
    // Only the server logs at info by default: a CLI command prints its result, and its
    // stderr carries warnings and errors only (unless a log level is set explicitly).
    if !matches!(cli.command, Command::Serve(_)) && env("TESSERA_LOG_LEVEL").is_none() && config.log.level == "info" {
        config.log.level = "warn".into();
    }
    let _log_guard = init_logging(&config);
    let out = Output::new(cli.global.json);
    if !matches!(cli.command, Command::Serve(_)) {
        // On stderr, so that `--json` output stays one document on stdout.
        eprintln!("deployment: {}", crate::bootstrap::describe(&config)?);
        if !cli.command.may_create_deployment() {
            crate::bootstrap::require_existing(&config)?;
        }
    }
    match cli.command {
        Command::Serve(args) => serve(config, args.demo).await,
        Command::Migrate => {
            let d = Deployment::open(&config, Arc::new(SystemClock)).await?;
            out.message("database is up to date");
            d.close().await;
            Ok(())
        }
        Command::Config(ConfigCommand::PrintDefault) => Ok(()),
        command => {
            let d = Deployment::open(&config, Arc::new(SystemClock)).await?;
            let result = match command {
                Command::Issuers(c) => issuers::run(&d, &out, c).await,
                Command::Admin(c) => admin::run(&d, &out, c).await,
                Command::Backup(b) => backup::run(&d, &out, b).await,
                registry => {
                    let b = Backend::Local(Box::new(d));
                    let result = run_registry(&b, &out, registry).await;
                    b.close().await;
                    return result;
                }
            };
            d.close().await;
            result
        }
    }
}

/// The registry commands, on either backend.
async fn run_registry(b: &Backend, out: &Output, command: Command) -> Result<(), String> {
    match command {
        Command::Clients(c) => clients::run(b, out, c).await,
        Command::Apis(c) => apis::run(b, out, c).await,
        Command::Grants(c) => grants::run(b, out, c).await,
        Command::Users(c) => users::run(b, out, c).await,
        Command::Keys(c) => keys::run(b, out, c).await,
        Command::Tenant(c) => tenant::run(b, out, c).await,
        Command::Registration(c) => registration::run(b, out, c).await,
        other => Err(format!("{other:?} is not a registry command")),
    }
}

/// `--url`: the command is carried out by the server's Management API; nothing local is
/// opened or created (no configuration file, data directory or database).
async fn run_remote(cli: Cli) -> Result<(), String> {
    if let Some(why) = cli.command.local_only() {
        return Err(format!("this command is not available with --url: {why}"));
    }
    let out = Output::new(cli.global.json);
    eprintln!("deployment: {} (Management API)", cli.remote.url.as_deref().unwrap_or_default());
    let b = Backend::Remote(remote::Remote::connect(&cli.remote).await?);
    run_registry(&b, &out, cli.command).await
}

async fn serve(config: Config, demo: bool) -> Result<(), String> {
    let started = std::time::Instant::now();
    let clock = tessera_core::clock::CorrectedClock::new();
    let mut app = Application::build(config, Arc::new(clock.clone())).await?;
    app.follow_database_clock(clock);
    // Every tenant has the Management API (Auth0), under the issuer it is served at.
    let registry = app.state().deployment.registry.clone();
    registry.ensure_management_api(app.issuer()).await.map_err(|e| format!("cannot register the Management API: {e}"))?;
    if demo {
        let seeded = app.enable_demo().await?;
        println!("{}", seeded.walkthrough(app.issuer()));
        let mut b = registry.bootstrap_management_client(app.issuer()).await.map_err(|e| e.to_string())?;
        if b.client_secret.is_none() {
            b.client_secret = Some(registry.rotate_client_secret(&b.client_id, 0).await.map_err(|e| e.to_string())?);
        }
        println!(
            "Management API: client_credentials with audience {} as client {} / {}",
            b.audience,
            b.client_id,
            b.client_secret.unwrap_or_default()
        );
    }
    tracing::info!(
        addr = %app.local_addr(),
        issuer = %app.issuer(),
        backend = app.state().deployment.store.backend(),
        startup_ms = started.elapsed().as_millis() as u64,
        "tessera is ready"
    );
    app.run_until_stopped(shutdown_signal()).await.map_err(|e| format!("server error: {e}"))
}
