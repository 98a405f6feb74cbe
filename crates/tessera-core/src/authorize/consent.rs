//! Consent (OIDC Core §3.1.2.4): whether the user must be asked, and what is remembered.
//!
//! - First-party clients (Auth0 `is_first_party`) do not ask: the user is using the
//!   deployment's own application.
//! - Third-party clients ask once per user × client × API; the decision is remembered with
//!   the scopes granted and asked again only for a scope not yet granted.
//! - `prompt=consent` asks even when a decision is remembered.
//! - A client identified by a metadata document is asked every time: nobody vetted it, and
//!   what its URL serves can change between two visits (crate::client_metadata).

use super::request::AuthorizeRequest;
use crate::model::Client;
use crate::scope::Scope;
use crate::state::Consent;

pub fn needs_consent(req: &AuthorizeRequest, client: &Client, remembered: Option<&Consent>) -> bool {
    if req.prompt.consent || client.is_metadata_document() {
        return true;
    }
    if client.is_first_party {
        return false;
    }
    let covered = remembered.and_then(|c| Scope::parse(&c.scope).ok()).is_some_and(|granted| req.scope.is_subset(&granted));
    !covered
}

/// The decision to store after the user allowed `req`: what was granted before, plus now.
pub fn remember(req: &AuthorizeRequest, user_id: &str, previous: Option<&Consent>, now: i64) -> Consent {
    let mut scope = previous.and_then(|c| Scope::parse(&c.scope).ok()).unwrap_or_default();
    for s in req.scope.iter() {
        scope.insert(s);
    }
    Consent {
        user_id: user_id.to_string(),
        client_id: req.client_id.clone(),
        audience: req.consent_audience().to_string(),
        scope: scope.to_string(),
        granted_at: now,
    }
}
