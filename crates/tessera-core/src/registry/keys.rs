//! Signing-key lifecycle (DESIGN decision 5): ensure, rotate, revoke.

use std::collections::BTreeSet;

use serde_json::json;

use super::Registry;
use crate::error::Error;
use crate::model::{SigningAlg, ID_TOKEN_LIFETIME};
use crate::store::StoreError;
use crate::tokens::{KeyState, SigningKeyRecord};

/// Margin added to a retired key's publication so verifiers with a slow clock still find it.
const CLOCK_SKEW_MARGIN: i64 = 300;

/// RS256 always (ID tokens by default, Auth0 compatibility), plus every algorithm an API or
/// a client's ID tokens use.
pub fn required_algorithms(api_algs: impl IntoIterator<Item = SigningAlg>) -> Vec<SigningAlg> {
    let mut set: BTreeSet<SigningAlg> = api_algs.into_iter().collect();
    set.insert(SigningAlg::RS256);
    set.into_iter().collect()
}

impl Registry {
    pub async fn list_keys(&self) -> Result<Vec<SigningKeyRecord>, Error> {
        Ok(self.store.list_signing_keys().await?)
    }

    /// Makes sure each algorithm has a `current` and a `next` key. Safe to run on several
    /// nodes at once: a partial unique index lets only one node's key in per (alg, state).
    pub async fn ensure_signing_keys(&self, algs: &[SigningAlg]) -> Result<(), Error> {
        let existing = self.store.list_signing_keys().await?;
        let mut inserted = false;
        for &alg in algs {
            for state in [KeyState::Current, KeyState::Next] {
                if existing.iter().any(|k| k.alg == alg && k.state == state) {
                    continue;
                }
                let rec = SigningKeyRecord::generate(alg, state, &self.keyring, self.now())?;
                match self.store.insert_signing_key(&rec).await {
                    Ok(()) => {
                        inserted = true;
                        self.audit(
                            "signing_key_created",
                            None,
                            None,
                            json!({"kid": rec.kid, "alg": alg.as_str(), "state": state.as_str()}),
                        )
                        .await
                    }
                    Err(StoreError::Conflict(_)) => {} // another node won the race
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if inserted {
            self.registry_changed().await;
        }
        Ok(())
    }

    /// Every algorithm in use: RS256, APIs' algorithms and clients' ID-token algorithms.
    pub async fn algorithms_in_use(&self) -> Result<Vec<SigningAlg>, Error> {
        let apis = self.store.list_apis().await?;
        let clients = self.store.list_clients().await?;
        Ok(required_algorithms(apis.iter().map(|a| a.signing_alg).chain(clients.iter().map(|c| c.id_token_signed_response_alg))))
    }

    /// How long a key retired now must stay published: the longest lifetime of any token it
    /// may have signed, plus a clock-skew margin.
    async fn retirement_window(&self) -> Result<i64, Error> {
        let apis = self.store.list_apis().await?;
        let longest = apis.iter().map(|a| a.token_lifetime).max().unwrap_or(0).max(ID_TOKEN_LIFETIME).max(86_400);
        Ok(longest + CLOCK_SKEW_MARGIN)
    }

    /// Promotes `next` to `current`, retires the old current (still published until its
    /// tokens expire) and publishes a fresh `next`. Returns the new current kid.
    pub async fn rotate_keys(&self, alg: SigningAlg) -> Result<String, Error> {
        self.ensure_signing_keys(&[alg]).await?;
        let next_kid = self
            .list_keys()
            .await?
            .into_iter()
            .find(|k| k.alg == alg && k.state == KeyState::Next)
            .map(|k| k.kid)
            .ok_or_else(|| Error::server_error("no next key after ensure"))?;
        let now = self.now();
        let new_next = SigningKeyRecord::generate(alg, KeyState::Next, &self.keyring, now)?;
        let until = now + self.retirement_window().await?;
        self.store.rotate_signing_keys(alg, now, until, &new_next).await?;
        // Every node re-reads its keys on the registry version poll (about a second), not
        // only on its slower key-reload timer; the promoted key was published as `next`.
        self.registry_changed().await;
        self.audit("signing_key_rotated", None, None, json!({"alg": alg.as_str(), "current": next_kid, "next": new_next.kid}))
            .await;
        Ok(next_kid)
    }

    /// Withdraws a key at once (compromise): it is no longer published, so tokens it signed
    /// stop verifying. A revoked `current` is replaced by `next`, and a fresh `next` is made.
    pub async fn revoke_key(&self, kid: &str) -> Result<KeyState, Error> {
        let keys = self.list_keys().await?;
        let rec = keys
            .iter()
            .find(|k| k.kid == kid && k.state != KeyState::Revoked)
            .ok_or_else(|| Error::not_found(format!("key {kid:?} does not exist or is already revoked")))?;
        let replacement = SigningKeyRecord::generate(rec.alg, KeyState::Next, &self.keyring, self.now())?;
        let before = self
            .store
            .revoke_signing_key(kid, self.now(), &replacement)
            .await?
            .ok_or_else(|| Error::not_found(format!("key {kid:?} does not exist or is already revoked")))?;
        // Withdrawn on every node within about a second (the registry version poll).
        self.registry_changed().await;
        self.audit("signing_key_revoked", None, None, json!({"kid": kid, "alg": rec.alg.as_str(), "was": before.as_str()})).await;
        Ok(before)
    }
}
