//! Applications and their secrets.

use std::sync::Arc;

use serde_json::json;

use super::jwks::JwksFetcher;
use super::Registry;
use crate::crypto::{random_alnum, random_token};
use crate::error::Error;
use crate::model::{
    Client, ClientCredential, ClientPatch, ClientSecret, NewCredential, RotationType, SecretKind, TokenEndpointAuthMethod,
};
use crate::tokens::jose::{parse_client_jwks, ClientKey};

/// A client as just created or re-keyed, with the plain secret shown this once.
#[derive(Debug, Clone)]
pub struct CreatedClient {
    pub client: Client,
    pub client_secret: Option<String>,
}

impl Registry {
    /// Generates a ≥256-bit secret and its stored form for `method` (DESIGN decision 2).
    pub(super) fn new_secret(&self, client_id: &str, method: TokenEndpointAuthMethod, now: i64) -> (String, ClientSecret) {
        let plain = random_token::<32>();
        let id = format!("sec_{}", random_alnum(16));
        let (kind, value) = if method == TokenEndpointAuthMethod::ClientSecretJwt {
            // HS256 verification needs the secret itself: keep it encrypted, bound to its id.
            (SecretKind::Aead, self.keyring.encrypt(&format!("client-secret:{id}"), plain.as_bytes()))
        } else {
            (SecretKind::Hmac, self.keyring.hash_secret(&plain))
        };
        let stored = ClientSecret { id, client_id: client_id.to_string(), kind, value, created_at: now, expires_at: None };
        (plain, stored)
    }

    pub async fn create_client(&self, patch: ClientPatch) -> Result<CreatedClient, Error> {
        self.create_client_with_credentials(patch, vec![]).await
    }

    /// Creates a client with credentials given in full (Auth0's `client_authentication_methods`
    /// at creation): they are created with it and enabled for `private_key_jwt`, atomically.
    pub async fn create_client_with_credentials(
        &self,
        mut patch: ClientPatch,
        credentials: Vec<NewCredential>,
    ) -> Result<CreatedClient, Error> {
        let now = self.now();
        let client_id = random_alnum(32);
        let credentials: Vec<ClientCredential> = credentials
            .into_iter()
            .map(|c| c.build(super::credentials::new_credential_id(), &client_id, now))
            .collect::<Result<_, _>>()?;
        if !credentials.is_empty() {
            patch.token_endpoint_auth_method = Some(TokenEndpointAuthMethod::PrivateKeyJwt);
            patch.private_key_jwt_credentials = Some(credentials.iter().map(|c| c.id.clone()).collect());
        } else if patch.private_key_jwt_credentials.as_ref().is_some_and(|ids| !ids.is_empty()) {
            return Err(Error::invalid_body("a new client's credentials must be given in full, not by id"));
        }
        let client = Client::create(client_id, patch, now)?;
        let secret = client
            .token_endpoint_auth_method
            .uses_secret()
            .then(|| self.new_secret(&client.client_id, client.token_endpoint_auth_method, now));
        self.store.insert_client_with_credentials(&client, secret.as_ref().map(|(_, s)| s), &credentials).await?;
        self.registry_changed().await;
        self.audit("client_created", Some(&client.client_id), None, json!({"name": client.name})).await;
        Ok(CreatedClient { client, client_secret: secret.map(|(plain, _)| plain) })
    }

    pub async fn get_client(&self, client_id: &str) -> Result<Client, Error> {
        self.store.get_client(client_id).await?.ok_or_else(|| Error::not_found(format!("client {client_id:?} does not exist")))
    }

    pub async fn list_clients(&self) -> Result<Vec<Client>, Error> {
        Ok(self.store.list_clients().await?)
    }

    /// Applies a patch. If the new authentication method needs a secret the client does not
    /// have in usable form (e.g. moving to `client_secret_jwt`, which needs the secret
    /// encrypted rather than hashed), a new secret is issued and returned.
    pub async fn update_client(&self, client_id: &str, patch: ClientPatch) -> Result<CreatedClient, Error> {
        let now = self.now();
        // Issue 21: a dynamically registered client is third-party everywhere; no door
        // (Management API, CLI, RFC 7592) may make it first-party and skip consent.
        if patch.is_first_party == Some(true) && self.store.get_dynamic_client(client_id).await?.is_some() {
            return Err(Error::invalid_body("a dynamically registered client is third-party: is_first_party cannot be true"));
        }
        if let Some(ids) = &patch.private_key_jwt_credentials {
            self.check_credential_ids(client_id, ids).await?;
        }
        let mut client = self.get_client(client_id).await?;
        let before = client.token_endpoint_auth_method;
        let uri_before = client.jwks_uri.clone();
        let was_rotating = client.refresh_token.rotation_type == RotationType::Rotating;
        client.apply(patch, now)?;
        if !self.store.update_client(&client).await? {
            return Err(Error::not_found(format!("client {client_id:?} does not exist")));
        }
        // Tokens issued under rotation are not meant to live on unrotated: revoke them.
        if was_rotating && client.refresh_token.rotation_type == RotationType::NonRotating {
            self.store.revoke_families(Some(client_id), None, now, "rotation_disabled").await?;
        }
        let method = client.token_endpoint_auth_method;
        let mut client_secret = None;
        if method != before && method.uses_secret() {
            let wanted = if method == TokenEndpointAuthMethod::ClientSecretJwt { SecretKind::Aead } else { SecretKind::Hmac };
            let usable = self.store.client_secrets(client_id).await?.iter().any(|s| s.kind == wanted && s.is_valid_at(now));
            if !usable {
                client_secret = Some(self.rotate_client_secret(client_id, 0).await?);
            }
        }
        // An operator who updates the client after it rotated its keys gets the new set now.
        for uri in [uri_before.as_deref(), client.jwks_uri.as_deref()].into_iter().flatten() {
            self.client_jwks.forget(uri);
        }
        self.registry_changed().await;
        self.audit("client_updated", Some(client_id), None, json!({})).await;
        Ok(CreatedClient { client, client_secret })
    }

    pub async fn delete_client(&self, client_id: &str) -> Result<(), Error> {
        self.store.revoke_families(Some(client_id), None, self.now(), "client_deleted").await?;
        if !self.store.delete_client(client_id).await? {
            return Err(Error::not_found(format!("client {client_id:?} does not exist")));
        }
        self.registry_changed().await;
        self.audit("client_deleted", Some(client_id), None, json!({})).await;
        Ok(())
    }

    /// Issues a new secret. Other secrets stay valid for `overlap_seconds` (0: end now), so a
    /// fleet can be re-configured without downtime.
    pub async fn rotate_client_secret(&self, client_id: &str, overlap_seconds: i64) -> Result<String, Error> {
        if !(0..=30 * 24 * 3600).contains(&overlap_seconds) {
            return Err(Error::invalid_body("overlap must be 0 to 2592000 seconds"));
        }
        let client = self.get_client(client_id).await?;
        if !client.token_endpoint_auth_method.uses_secret() {
            return Err(Error::invalid_body(format!(
                "client uses {} and has no secret to rotate",
                client.token_endpoint_auth_method.as_str()
            )));
        }
        let now = self.now();
        let (plain, stored) = self.new_secret(client_id, client.token_endpoint_auth_method, now);
        if !self.store.rotate_client_secret(&stored, now + overlap_seconds).await? {
            return Err(Error::not_found(format!("client {client_id:?} does not exist")));
        }
        self.registry_changed().await;
        self.audit("client_secret_rotated", Some(client_id), None, json!({"overlap_seconds": overlap_seconds})).await;
        Ok(plain)
    }

    /// Installs the fetcher for clients' `jwks_uri` (once, at start): the server's SSRF-safe
    /// fetcher, since the URL is the client's.
    pub fn set_client_jwks_fetcher(&self, fetcher: Arc<dyn JwksFetcher>) {
        self.client_jwks.install(fetcher);
    }

    /// The `private_key_jwt` keys of `client` that may have signed an assertion with `kid`:
    /// its inline `jwks`, or the set at its `jwks_uri` (cached; an unknown `kid` refetches,
    /// at most every [`super::JWKS_REFETCH_SECONDS`], so a client can rotate its keys).
    /// The error is the reason, for the log: the caller refuses the client.
    pub async fn client_keys(&self, client: &Client, kid: Option<&str>, now: i64) -> Result<Arc<Vec<ClientKey>>, String> {
        if let Some(jwks) = &client.jwks {
            return parse_client_jwks(jwks).map(Arc::new);
        }
        let Some(uri) = &client.jwks_uri else { return Ok(Arc::default()) };
        self.client_jwks.keys(uri, kid, now).await.map_err(|e| match e {
            Some(e) => format!("cannot fetch the JWK Set at {uri}: {e}"),
            None => "no fetcher for client jwks_uri is installed".to_string(),
        })
    }

    /// Checks a presented secret against every secret of the client valid at `now`.
    /// HMAC comparisons are constant time and take microseconds (no slow hash on this path).
    pub fn secret_matches(&self, secrets: &[ClientSecret], presented: &str, now: i64) -> bool {
        let mut ok = false;
        for s in secrets.iter().filter(|s| s.is_valid_at(now)) {
            ok |= match s.kind {
                SecretKind::Hmac => self.keyring.verify_secret(presented, &s.value),
                SecretKind::Aead => self
                    .keyring
                    .decrypt(&format!("client-secret:{}", s.id), &s.value)
                    .is_ok_and(|plain| crate::crypto::ct_eq(&plain, presented.as_bytes())),
                SecretKind::Argon2 => crate::password::verify_password(presented, &s.value),
            };
        }
        ok
    }

    /// The plain shared secrets usable as HS256 keys for `client_secret_jwt`.
    pub fn shared_secrets(&self, secrets: &[ClientSecret], now: i64) -> Vec<Vec<u8>> {
        secrets
            .iter()
            .filter(|s| s.kind == SecretKind::Aead && s.is_valid_at(now))
            .filter_map(|s| self.keyring.decrypt(&format!("client-secret:{}", s.id), &s.value).ok())
            .collect()
    }
}
