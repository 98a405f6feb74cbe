//! SQL for dynamically registered clients (RFC 7591 / RFC 7592) and initial access tokens,
//! shared by SQLite and PostgreSQL. The registration access token and the initial access
//! tokens are stored only as keyed hashes; the registered metadata as JSON text.

use async_trait::async_trait;
use serde_json::Value;
use tessera_core::model::{Client, ClientSecret};
use tessera_core::registration::{DynamicClient, RegistrationToken};
use tessera_core::store::{ClientStore, RegistrationStore, StoreError, StoreResult};

use super::db::{query, Row};
use super::SqlStore;

const DYNAMIC_COLUMNS: &str = "client_id, registration_token_hash, metadata, created_at, updated_at, last_used_at";
const TOKEN_COLUMNS: &str = "id, token_hash, created_at, expires_at, remaining_uses";

fn dynamic_from_row(r: &Row) -> StoreResult<DynamicClient> {
    let metadata: String = r.get("metadata")?;
    Ok(DynamicClient {
        client_id: r.get("client_id")?,
        registration_token_hash: r.get("registration_token_hash")?,
        metadata: serde_json::from_str(&metadata).map_err(|e| StoreError::Corrupt(format!("dynamic client metadata: {e}")))?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        last_used_at: r.get("last_used_at")?,
    })
}

fn token_from_row(r: &Row) -> StoreResult<RegistrationToken> {
    Ok(RegistrationToken {
        id: r.get("id")?,
        token_hash: r.get("token_hash")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        remaining_uses: r.get("remaining_uses")?,
    })
}

#[async_trait]
impl RegistrationStore for SqlStore {
    async fn insert_dynamic_client(
        &self,
        client: &Client,
        secret: Option<&ClientSecret>,
        record: &DynamicClient,
        max_clients: i64,
    ) -> StoreResult<bool> {
        self.insert_client(client, secret).await?;
        // The cap is one conditional INSERT: of registrations racing for the last place,
        // the count each sees decides (on PostgreSQL under READ COMMITTED two may both see
        // room, so the cap can be passed by the number of nodes racing, never more).
        let cap = if max_clients > 0 { max_clients } else { i64::MAX };
        let q = query(format!(
            "INSERT INTO dynamic_clients ({DYNAMIC_COLUMNS}) SELECT $1, $2, $3, $4, $5, $6 \
             WHERE (SELECT COUNT(*) FROM dynamic_clients) < $7"
        ))
        .bind(&record.client_id)
        .bind(&record.registration_token_hash)
        .bind(record.metadata.to_string())
        .bind(record.created_at)
        .bind(record.updated_at)
        .bind(record.last_used_at)
        .bind(cap);
        let inserted = match self.db().execute(q).await {
            Ok(n) => n > 0,
            Err(e) => {
                let _ = self.delete_client(&client.client_id).await;
                return Err(e);
            }
        };
        if !inserted {
            // Over the cap: the client row written first is taken back.
            self.delete_client(&client.client_id).await?;
        }
        Ok(inserted)
    }

    async fn get_dynamic_client(&self, client_id: &str) -> StoreResult<Option<DynamicClient>> {
        let q = query(format!("SELECT {DYNAMIC_COLUMNS} FROM dynamic_clients WHERE client_id = $1")).bind(client_id);
        self.db().optional(q, dynamic_from_row).await
    }

    async fn update_dynamic_metadata(&self, client_id: &str, metadata: &Value, now: i64) -> StoreResult<bool> {
        let q = query("UPDATE dynamic_clients SET metadata = $2, updated_at = $3 WHERE client_id = $1")
            .bind(client_id)
            .bind(metadata.to_string())
            .bind(now);
        Ok(self.db().execute(q).await? > 0)
    }

    async fn touch_dynamic_client(&self, client_id: &str, now: i64, since: i64) -> StoreResult<()> {
        let q = query(
            "UPDATE dynamic_clients SET last_used_at = $2 WHERE client_id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .bind(client_id)
        .bind(now)
        .bind(since);
        self.db().execute(q).await?;
        Ok(())
    }

    async fn count_dynamic_clients(&self) -> StoreResult<i64> {
        let row = self.db().fetch_optional(query("SELECT COUNT(*) AS n FROM dynamic_clients")).await?;
        row.map_or(Ok(0), |r| r.get("n"))
    }

    async fn expired_dynamic_clients(
        &self,
        unused_before: Option<i64>,
        idle_before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<String>> {
        // i64::MIN turns a rule that is off into one no row can meet.
        let q = query(
            "SELECT client_id FROM dynamic_clients \
             WHERE (last_used_at IS NULL AND created_at < $1) OR (last_used_at IS NOT NULL AND last_used_at < $2) \
             ORDER BY client_id LIMIT $3",
        )
        .bind(unused_before.unwrap_or(i64::MIN))
        .bind(idle_before.unwrap_or(i64::MIN))
        .bind(limit);
        self.db().all(q, |r| r.get("client_id")).await
    }

    async fn insert_registration_token(&self, t: &RegistrationToken) -> StoreResult<()> {
        let q = query(format!("INSERT INTO registration_tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"))
            .bind(&t.id)
            .bind(&t.token_hash)
            .bind(t.created_at)
            .bind(t.expires_at)
            .bind(t.remaining_uses);
        self.db().execute(q).await?;
        Ok(())
    }

    async fn consume_registration_token(&self, token_hash: &str, now: i64) -> StoreResult<bool> {
        let q = query(
            "UPDATE registration_tokens SET remaining_uses = remaining_uses - 1 \
             WHERE token_hash = $1 AND (expires_at IS NULL OR expires_at > $2) AND (remaining_uses IS NULL OR remaining_uses > 0)",
        )
        .bind(token_hash)
        .bind(now);
        Ok(self.db().execute(q).await? > 0)
    }

    async fn list_registration_tokens(&self) -> StoreResult<Vec<RegistrationToken>> {
        self.db()
            .all(query(format!("SELECT {TOKEN_COLUMNS} FROM registration_tokens ORDER BY created_at, id")), token_from_row)
            .await
    }

    async fn delete_registration_token(&self, id: &str) -> StoreResult<bool> {
        Ok(self.db().execute(query("DELETE FROM registration_tokens WHERE id = $1").bind(id)).await? > 0)
    }
}
