//! Client ID metadata documents (issue 22, "any metadata document Tessera fetches"): the
//! `client_id` URL rules and the fetched document, as `tessera_core::client_metadata`
//! judges them before a client exists.
//!
//! Input: the first line is a candidate `client_id` URL, the rest a document. Invariants:
//! - an accepted URL is `https`, canonical (it parses to itself), has a path other than
//!   `/`, no fragment, no user information and no dot segment;
//! - an accepted document names exactly that URL as its `client_id` and carries no secret;
//! - the client built from it is that URL's, third-party, public or `private_key_jwt`, has
//!   only the code and refresh grants, passes full validation, redirects only to URIs the
//!   document lists, and has a name;
//! - judging is a pure function: the same input gives the same answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tessera_core::client_metadata::{check_client_id, check_document, client_from};
use tessera_core::model::{GrantType, TokenEndpointAuthMethod};

const NOW: i64 = 1_760_000_000;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (id, body) = text.split_once('\n').unwrap_or((text, ""));
    let judged = check_client_id(id);
    assert_eq!(judged, check_client_id(id), "pure");
    if judged.is_ok() {
        let url = url::Url::parse(id).expect("an accepted URL parses");
        assert_eq!(url.scheme(), "https");
        assert_eq!(url.as_str(), id, "canonical");
        assert!(url.path().len() > 1 && url.fragment().is_none() && url.username().is_empty() && url.password().is_none());
        assert!(!id.split(['/', '?']).any(|s| s == "." || s == ".."), "{id}");
    }
    let Ok((obj, jwks_uri)) = check_document(id, body.as_bytes()) else { return };
    let doc: Value = serde_json::from_str(body).expect("an accepted document is JSON");
    assert_eq!(doc["client_id"], id, "the document names its URL");
    assert!(doc.get("client_secret").is_none() && doc.get("client_secret_expires_at").is_none());
    if let Some(u) = &jwks_uri {
        assert!(u.starts_with("https://") && doc.get("jwks").is_none_or(Value::is_null));
    }
    let built = client_from(id, obj.clone(), None, NOW);
    assert_eq!(
        built.as_ref().map(|c| c.client_id.clone()).ok(),
        client_from(id, obj, None, NOW).ok().map(|c| c.client_id),
        "pure"
    );
    let Ok(c) = built else { return };
    assert_eq!(c.client_id, id);
    assert!(c.is_metadata_document() && !c.is_first_party);
    assert!(matches!(c.token_endpoint_auth_method, TokenEndpointAuthMethod::None | TokenEndpointAuthMethod::PrivateKeyJwt));
    assert!(c.grant_types.iter().all(|g| matches!(g, GrantType::AuthorizationCode | GrantType::RefreshToken)));
    assert!(c.validate().is_ok(), "built a client validation refuses: {body}");
    let listed: Vec<&str> =
        doc["redirect_uris"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    assert!(c.callbacks.iter().all(|cb| listed.contains(&cb.as_str())), "a redirect URI not in the document: {body}");
    assert!(!c.name.trim().is_empty());
});
