//! The registry's domain types, named as Auth0's Management API names them so that the
//! CLI's `--json` output and the management API read the same: applications ([`Client`]),
//! APIs ([`ResourceServer`]), [`ClientGrant`]s and [`User`]s.
//!
//! Each type validates itself ([`Client::validate`] etc.); the registry service calls that
//! before anything reaches the store.

mod api;
pub mod auth0;
mod client;
mod credential;
mod exchange;
mod grant;
mod job;
mod time;
mod trusted_issuer;
mod user;

pub use api::{ApiScope, ResourceServer, ResourceServerPatch, SigningAlg};
pub use client::{
    AppType, Client, ClientPatch, ClientSecret, GrantType, RefreshTokenPolicy, RotationType, SecretKind, TokenEndpointAuthMethod,
};
pub use credential::{parse_expires_at, ClientCredential, CredentialAlg, NewCredential};
pub use exchange::{ExchangeTokenType, TokenExchangePolicy};
pub use grant::ClientGrant;
pub use job::{Job, JobKind, JobStatus, JobSummary};
pub use time::{parse_rfc3339, rfc3339, unix_from_civil};
pub use trusted_issuer::{SubjectMapping, TrustedIssuer, TrustedIssuerPatch};
pub use user::{User, UserPatch, DATABASE_CONNECTION, PASSWORDLESS_CONNECTION};

/// Maximum access-token lifetime an API may configure: 30 days.
pub const MAX_TOKEN_LIFETIME: i64 = 30 * 24 * 3600;
/// ID token lifetime (DESIGN decision 4).
pub const ID_TOKEN_LIFETIME: i64 = 36_000;
