//! Dynamic client registration (RFC 7591 §3) and client configuration (RFC 7592 §2): the
//! operations behind `POST /oidc/register` and `GET/PUT/DELETE /oidc/register/{id}`, the
//! initial access tokens the CLI and the Management API issue, and the purge of dynamic
//! clients that were never used or went idle.

use serde_json::{json, Value};

use super::Registry;
use crate::crypto::{random_alnum, random_token};
use crate::model::Client;
use crate::registration::{self, DynamicClient, RegistrationError, RegistrationMode, RegistrationPolicy, RegistrationToken};

/// A use is written at most this often per dynamic client (seconds): often enough for
/// idle lifetimes counted in days, rarely enough to keep writes off busy clients.
pub const TOUCH_INTERVAL: i64 = 3600;

/// A client just registered (or updated), with the values shown this once.
#[derive(Debug, Clone)]
pub struct Registered {
    pub client: Client,
    pub record: DynamicClient,
    pub client_secret: Option<String>,
    /// RFC 7591 §3.2.1: only in the registration response (RFC 7592 keeps it unchanged).
    pub registration_access_token: Option<String>,
}

impl Registered {
    /// RFC 7591 §3.2.1 / RFC 7592 §3: the client information response.
    pub fn response(&self, issuer: &str) -> Value {
        let mut out = self.record.metadata.clone();
        if let Some(obj) = out.as_object_mut() {
            obj.insert("client_id".into(), self.client.client_id.clone().into());
            obj.insert("client_id_issued_at".into(), self.record.created_at.into());
            if let Some(s) = &self.client_secret {
                obj.insert("client_secret".into(), s.clone().into());
                // RFC 7591 §3.2.1: 0 means the secret does not expire.
                obj.insert("client_secret_expires_at".into(), 0.into());
            }
            if let Some(t) = &self.registration_access_token {
                obj.insert("registration_access_token".into(), t.clone().into());
            }
            let uri = format!("{}/{}", crate::routes::url(issuer, crate::routes::REGISTER), self.client.client_id);
            obj.insert("registration_client_uri".into(), uri.into());
        }
        out
    }
}

impl Registry {
    /// RFC 7591 §3.1: registers a client from its metadata under `policy`. In token mode
    /// `initial_token` must be a valid initial access token (one use of it is taken).
    pub async fn register_client(
        &self,
        body: &Value,
        policy: &RegistrationPolicy,
        initial_token: Option<&str>,
    ) -> Result<Registered, RegistrationError> {
        let now = self.now();
        match policy.mode {
            RegistrationMode::Off => return Err(RegistrationError::denied("dynamic client registration is off")),
            RegistrationMode::Open => {}
            RegistrationMode::Token => {
                // RFC 7591 §3: the server may require an initial access token; RFC 6750 §3.1
                // invalid_token when it is missing, expired or used up.
                let t = initial_token.ok_or_else(|| RegistrationError::token("an initial access token is required"))?;
                let hash = self.keyring.hash_handle(t);
                if !self.store.consume_registration_token(&hash, now).await? {
                    return Err(RegistrationError::token("the initial access token is invalid, expired or used up"));
                }
            }
        }
        let valid = registration::validate(body, policy)?;
        let client = Client::create(random_alnum(32), valid.patch, now)?;
        let secret = client
            .token_endpoint_auth_method
            .uses_secret()
            .then(|| self.new_secret(&client.client_id, client.token_endpoint_auth_method, now));
        let rat = random_token::<32>();
        let record = DynamicClient {
            client_id: client.client_id.clone(),
            // RFC 7592 §1 / DESIGN decision 2: the token is kept only as a keyed hash.
            registration_token_hash: self.keyring.hash_secret(&rat),
            metadata: valid.metadata,
            created_at: now,
            updated_at: now,
            last_used_at: None,
        };
        if !self.store.insert_dynamic_client(&client, secret.as_ref().map(|(_, s)| s), &record, policy.max_clients).await? {
            return Err(RegistrationError::denied(format!(
                "the limit of {} dynamically registered clients is reached",
                policy.max_clients
            )));
        }
        self.registry_changed().await;
        self.audit("client_registered", Some(&client.client_id), None, json!({"name": client.name})).await;
        Ok(Registered { client, record, client_secret: secret.map(|(p, _)| p), registration_access_token: Some(rat) })
    }

    /// RFC 7592 §2: the client `client_id` names, if `token` is its registration access
    /// token. Any mismatch is the same `invalid_token` (§2: no hint whether the client
    /// exists).
    async fn registration_for(&self, client_id: &str, token: Option<&str>) -> Result<(Client, DynamicClient), RegistrationError> {
        let invalid = || RegistrationError::token("the registration access token is invalid");
        let token = token.ok_or_else(invalid)?;
        let record = self.store.get_dynamic_client(client_id).await?.ok_or_else(invalid)?;
        if !self.keyring.verify_secret(token, &record.registration_token_hash) {
            return Err(invalid());
        }
        let client = self.store.get_client(client_id).await?.ok_or_else(invalid)?;
        Ok((client, record))
    }

    /// RFC 7592 §2.1: the current registration.
    pub async fn read_registration(&self, client_id: &str, token: Option<&str>) -> Result<Registered, RegistrationError> {
        let (client, record) = self.registration_for(client_id, token).await?;
        Ok(Registered { client, record, client_secret: None, registration_access_token: None })
    }

    /// RFC 7592 §2.2: replaces the registration with `body`, which must carry the
    /// `client_id` (and may carry the current `client_secret`, which must then match).
    pub async fn update_registration(
        &self,
        client_id: &str,
        token: Option<&str>,
        body: &Value,
        policy: &RegistrationPolicy,
    ) -> Result<Registered, RegistrationError> {
        self.registration_for(client_id, token).await?;
        if body.get("client_id").and_then(Value::as_str) != Some(client_id) {
            return Err(RegistrationError::metadata("the body must carry this client's client_id (RFC 7592 section 2.2)"));
        }
        if let Some(secret) = body.get("client_secret").and_then(Value::as_str) {
            let secrets = self.store.client_secrets(client_id).await?;
            if !self.secret_matches(&secrets, secret, self.now()) {
                return Err(RegistrationError::metadata("client_secret does not match the client's secret"));
            }
        }
        let valid = registration::validate(body, policy)?;
        let updated = self.update_client(client_id, valid.patch).await?;
        let now = self.now();
        self.store.update_dynamic_metadata(client_id, &valid.metadata, now).await?;
        let (client, record) = self.registration_for(client_id, token).await?;
        let _ = updated.client;
        Ok(Registered { client, record, client_secret: updated.client_secret, registration_access_token: None })
    }

    /// RFC 7592 §2.3: deletes the client; its tokens stop working.
    pub async fn delete_registration(&self, client_id: &str, token: Option<&str>) -> Result<(), RegistrationError> {
        self.registration_for(client_id, token).await?;
        self.delete_client(client_id).await?;
        Ok(())
    }

    /// Notes that a dynamic client was used (a token was issued to it), for the idle
    /// expiry; a no-op for every other client.
    pub async fn touch_dynamic_client(&self, client_id: &str) {
        let now = self.now();
        if let Err(e) = self.store.touch_dynamic_client(client_id, now, now - TOUCH_INTERVAL).await {
            tracing::warn!(error = %e, client_id, "could not record the use of a dynamic client");
        }
    }

    /// Deletes dynamic clients never used within `policy.unused_lifetime` of registering,
    /// or unused for `policy.idle_lifetime`; returns how many.
    pub async fn purge_dynamic_clients(&self, policy: &RegistrationPolicy) -> Result<u64, crate::Error> {
        let now = self.now();
        let unused = (policy.unused_lifetime > 0).then(|| now - policy.unused_lifetime);
        let idle = (policy.idle_lifetime > 0).then(|| now - policy.idle_lifetime);
        if unused.is_none() && idle.is_none() {
            return Ok(0);
        }
        let mut purged = 0;
        for id in self.store.expired_dynamic_clients(unused, idle, 500).await? {
            self.delete_client(&id).await?;
            self.audit("dynamic_client_expired", Some(&id), None, json!({})).await;
            purged += 1;
        }
        Ok(purged)
    }

    /// Issues an initial access token (RFC 7591 §3): valid for `expires_in` seconds
    /// (`None`: until deleted) and `uses` registrations (`None`: any number).
    pub async fn create_registration_token(
        &self,
        expires_in: Option<i64>,
        uses: Option<i64>,
    ) -> Result<(RegistrationToken, String), crate::Error> {
        if expires_in.is_some_and(|e| e <= 0) || uses.is_some_and(|u| u <= 0) {
            return Err(crate::Error::invalid_body("expires_in and uses must be positive"));
        }
        let now = self.now();
        let plain = random_token::<32>();
        let token = RegistrationToken {
            id: format!("rat_{}", random_alnum(16)),
            token_hash: self.keyring.hash_handle(&plain),
            created_at: now,
            expires_at: expires_in.map(|e| now + e),
            remaining_uses: uses,
        };
        self.store.insert_registration_token(&token).await?;
        self.audit("registration_token_created", None, None, json!({"id": token.id})).await;
        Ok((token, plain))
    }

    pub async fn list_registration_tokens(&self) -> Result<Vec<RegistrationToken>, crate::Error> {
        Ok(self.store.list_registration_tokens().await?)
    }

    pub async fn delete_registration_token(&self, id: &str) -> Result<(), crate::Error> {
        if !self.store.delete_registration_token(id).await? {
            return Err(crate::Error::not_found(format!("registration token {id:?} does not exist")));
        }
        self.audit("registration_token_deleted", None, None, json!({"id": id})).await;
        Ok(())
    }
}
