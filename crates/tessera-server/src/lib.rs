//! # tessera-server — the `tessera` binary
//!
//! - [`config`]: layered configuration (defaults, TOML file, `TESSERA_*` env, flags).
//! - [`bootstrap`]: opening a deployment (database, master key, migrations, keys), shared
//!   by `serve` and every CLI command.
//! - [`app`]: [`app::Application`] — build (binds; port 0 works) and run until shutdown.
//! - [`http`]: router, middleware, one module per endpoint family, the one error renderer.
//! - [`jwks`]: fetching trusted issuers' JWK Sets (timeouts, size limit).
//! - [`fetch`]: the SSRF-safe fetcher for client-named URLs (checked, pinned addresses).
//! - [`store`]: the SQL adapter for SQLite and PostgreSQL, and the migrations.
//! - [`cli`]: `tessera` subcommands over the same registry service the API uses.
//! - [`email`]: the email outbox and its SMTP delivery worker.
//! - [`clock_sync`]: following the PostgreSQL server's clock when this node's lags.
//! - [`housekeeping`]: background purging of expired state, one node at a time.
//! - [`demo`]: the idempotent `serve --demo` seed.

pub mod app;
pub mod audit_log;
pub mod bootstrap;
pub mod cli;
pub mod clock_sync;
pub mod config;
pub mod demo;
pub mod email;
pub mod fetch;
pub mod housekeeping;
pub mod http;
pub mod jwks;
pub mod passwords;
pub mod store;
pub mod tls;
pub mod workers;
