//! # tessera-core — protocol and domain logic
//!
//! Everything Tessera decides lives here; nothing here knows about HTTP or SQL.
//! The server crate extracts requests, calls into this crate and renders the outcome.
//!
//! Map of the crate:
//! - [`error`]: the one error type ([`Error`]) carrying an RFC 6749 error code, a
//!   client-safe description and a log-only detail.
//! - [`clock`]: the injected time source; all expiry math takes `now` from it.
//! - [`crypto`]: the master key and the keys derived from it (HMAC for secrets and token
//!   hashes, AEAD for private keys), random identifiers, constant-time comparison.
//! - [`password`]: Argon2id hashing of user passwords and imported low-entropy secrets.
//! - [`model`]: the registry's domain types (clients, APIs, client grants, users), each
//!   validated when built from input.
//! - [`redirect_uri`], [`scope`]: validators for the two most attacked parameters;
//!   [`origin`]: registered web origins (web_message targets, cross-origin authentication).
//! - [`token_request`], [`cookie`]: the pure parsers of request bodies and cookies that the
//!   HTTP layer calls (and the fuzz targets in `fuzz/` drive directly).
//! - [`tokens`]: JOSE (JWS signing/verification, JWK), signing-key lifecycle and JWKS.
//! - [`state`]: protocol state records (codes, refresh families, sessions, logins).
//! - [`authorize`], [`login`], [`session`], [`logout`]: the browser flow — the /authorize
//!   checks, password login with brute-force limits, SSO sessions, logout.
//! - [`device`]: the device authorization grant's request, user codes and poll pacing
//!   (RFC 8628); its poll is the grant in [`grants`].
//! - [`store`]: storage ports. Adapters (SQLite, PostgreSQL) live in the server crate and
//!   pass one shared contract suite.
//! - [`tickets`]: emailed single-use tickets, one-time codes and outbox messages.
//! - [`registry`]: the service layer used by both the CLI and the management API.
//! - [`registration`]: dynamic client registration's metadata, policy and errors (RFC 7591,
//!   RFC 7592); its operations are in the registry.
//! - [`client_metadata`]: clients identified by a metadata document at their `client_id`
//!   URL (CIMD, for MCP clients), fetched through a port and cached per node.
//! - [`users_import`]: Auth0's bulk user import format and the imported password hashes
//!   (verified once at login, then replaced by Argon2id).
//! - [`routes`] and [`discovery`]: endpoint paths shared by router, metadata and tests.

pub mod audit;
pub mod authorize;
pub mod client_auth;
pub mod client_metadata;
pub mod clock;
pub mod cookie;
pub mod crypto;
pub mod device;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod grants;
pub mod introspection;
pub mod login;
pub mod logout;
pub mod model;
pub mod origin;
pub mod password;
pub mod pkce;
pub mod redirect_uri;
pub mod registration;
pub mod registry;
pub mod revocation;
pub mod routes;
pub mod scope;
pub mod session;
pub mod state;
pub mod store;
pub mod tickets;
pub mod token_request;
pub mod tokens;
pub mod users_import;

pub use clock::{Clock, Timestamp};
pub use error::{Error, ErrorCode};
