//! The SQL implementation of every storage port, shared by SQLite and PostgreSQL.
//!
//! Conventions: times are Unix seconds (`BIGINT`/`INTEGER`), booleans are 0/1 integers and
//! lists are JSON text, so both databases decode the same Rust types through sqlx's `Any`
//! driver. Every multi-statement operation runs in one transaction on the writer pool.

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::AnyPool;
use sqlx::{Any, Row, Transaction};

use tessera_core::model::{
    AppType, Client, ClientGrant, ClientSecret, RefreshTokenPolicy, ResourceServer, RotationType, SecretKind, SigningAlg,
    TokenEndpointAuthMethod, User,
};
use tessera_core::store::*;
use tessera_core::tokens::{KeyState, SigningKeyRecord};

use super::Backend;

#[derive(Debug, Clone)]
pub struct SqlStore {
    backend: Backend,
    /// Reads. On SQLite a pool of WAL readers; on PostgreSQL the same pool as `writer`.
    reader: AnyPool,
    /// Writes. On SQLite exactly one connection (one writer at a time, no lock contention).
    writer: AnyPool,
}

/// Maps a driver error to the store's error classes.
pub(super) fn err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(db.message().to_string()),
        sqlx::Error::Database(db) if db.message().contains("malformed") || db.message().contains("not a database") => {
            StoreError::Corrupt(db.message().to_string())
        }
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
            StoreError::Corrupt(e.to_string())
        }
        _ => StoreError::Unavailable(e.to_string()),
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn json_text<T: serde::Serialize>(v: &T) -> String {
    // Serializing plain data (strings, enums, JSON values) cannot fail.
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn from_json<T: DeserializeOwned>(s: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(s).map_err(|e| corrupt(what, e))
}

pub(super) fn get<T>(row: &AnyRow, col: &str) -> StoreResult<T>
where
    T: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    row.try_get(col).map_err(err)
}

fn flag(row: &AnyRow, col: &str) -> StoreResult<bool> {
    Ok(get::<i64>(row, col)? != 0)
}

fn enum_str<T: DeserializeOwned>(row: &AnyRow, col: &str) -> StoreResult<T> {
    let s: String = get(row, col)?;
    serde_json::from_value(Value::String(s.clone())).map_err(|e| corrupt(&format!("{col} {s:?}"), e))
}

/// Runs a query expected to return at most one row and maps it.
pub(super) async fn optional<'q, T>(
    q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    pool: &AnyPool,
    map: fn(&AnyRow) -> StoreResult<T>,
) -> StoreResult<Option<T>> {
    q.fetch_optional(pool).await.map_err(err)?.as_ref().map(map).transpose()
}

/// Runs a query and maps every row.
pub(super) async fn all<'q, T>(
    q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    pool: &AnyPool,
    map: fn(&AnyRow) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    q.fetch_all(pool).await.map_err(err)?.iter().map(map).collect()
}

const CLIENT_COLUMNS: &str = "client_id, name, app_type, token_endpoint_auth_method, grant_types, callbacks, allowed_logout_urls, is_first_party, jwks, refresh_rotation_type, refresh_leeway, refresh_token_lifetime, refresh_idle_token_lifetime, id_token_signed_response_alg, created_at, updated_at, require_dpop, dpop_nonce";

fn client_from_row(r: &AnyRow) -> StoreResult<Client> {
    let jwks: Option<String> = get(r, "jwks")?;
    Ok(Client {
        client_id: get(r, "client_id")?,
        name: get(r, "name")?,
        app_type: enum_str::<AppType>(r, "app_type")?,
        token_endpoint_auth_method: enum_str::<TokenEndpointAuthMethod>(r, "token_endpoint_auth_method")?,
        grant_types: from_json(&get::<String>(r, "grant_types")?, "grant_types")?,
        callbacks: from_json(&get::<String>(r, "callbacks")?, "callbacks")?,
        allowed_logout_urls: from_json(&get::<String>(r, "allowed_logout_urls")?, "allowed_logout_urls")?,
        is_first_party: flag(r, "is_first_party")?,
        jwks: jwks.map(|j| from_json(&j, "jwks")).transpose()?,
        refresh_token: RefreshTokenPolicy {
            rotation_type: enum_str::<RotationType>(r, "refresh_rotation_type")?,
            leeway: get(r, "refresh_leeway")?,
            token_lifetime: get(r, "refresh_token_lifetime")?,
            idle_token_lifetime: get(r, "refresh_idle_token_lifetime")?,
        },
        id_token_signed_response_alg: enum_str::<SigningAlg>(r, "id_token_signed_response_alg")?,
        require_dpop: flag(r, "require_dpop")?,
        dpop_nonce: get::<Option<String>>(r, "dpop_nonce")?.map(|v| v == "on"),
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

fn dpop_nonce_text(v: Option<bool>) -> Option<&'static str> {
    v.map(|on| if on { "on" } else { "off" })
}

fn secret_from_row(r: &AnyRow) -> StoreResult<ClientSecret> {
    let kind: String = get(r, "kind")?;
    Ok(ClientSecret {
        id: get(r, "id")?,
        client_id: get(r, "client_id")?,
        kind: SecretKind::parse(&kind).ok_or_else(|| corrupt("secret kind", &kind))?,
        value: get(r, "value")?,
        created_at: get(r, "created_at")?,
        expires_at: get(r, "expires_at")?,
    })
}

const API_COLUMNS: &str =
    "id, identifier, name, scopes, signing_alg, token_lifetime, allow_offline_access, created_at, updated_at, require_dpop";

fn api_from_row(r: &AnyRow) -> StoreResult<ResourceServer> {
    Ok(ResourceServer {
        id: get(r, "id")?,
        identifier: get(r, "identifier")?,
        name: get(r, "name")?,
        scopes: from_json(&get::<String>(r, "scopes")?, "scopes")?,
        signing_alg: enum_str::<SigningAlg>(r, "signing_alg")?,
        token_lifetime: get(r, "token_lifetime")?,
        allow_offline_access: flag(r, "allow_offline_access")?,
        require_dpop: flag(r, "require_dpop")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

fn grant_from_row(r: &AnyRow) -> StoreResult<ClientGrant> {
    Ok(ClientGrant {
        id: get(r, "id")?,
        client_id: get(r, "client_id")?,
        audience: get(r, "audience")?,
        scope: from_json(&get::<String>(r, "scope")?, "scope")?,
    })
}

const USER_COLUMNS: &str = "user_id, email, email_verified, username, name, given_name, family_name, picture, password_hash, blocked, created_at, updated_at";

fn user_from_row(r: &AnyRow) -> StoreResult<User> {
    Ok(User {
        user_id: get(r, "user_id")?,
        email: get(r, "email")?,
        email_verified: flag(r, "email_verified")?,
        username: get(r, "username")?,
        name: get(r, "name")?,
        given_name: get(r, "given_name")?,
        family_name: get(r, "family_name")?,
        picture: get(r, "picture")?,
        password_hash: get(r, "password_hash")?,
        blocked: flag(r, "blocked")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

const KEY_COLUMNS: &str = "kid, alg, state, public_jwk, private_key, created_at, activated_at, retired_at, publish_until";

fn key_from_row(r: &AnyRow) -> StoreResult<SigningKeyRecord> {
    let state: String = get(r, "state")?;
    Ok(SigningKeyRecord {
        kid: get(r, "kid")?,
        alg: enum_str::<SigningAlg>(r, "alg")?,
        state: KeyState::parse(&state).ok_or_else(|| corrupt("key state", &state))?,
        public_jwk: from_json(&get::<String>(r, "public_jwk")?, "public_jwk")?,
        private_key: get(r, "private_key")?,
        created_at: get(r, "created_at")?,
        activated_at: get(r, "activated_at")?,
        retired_at: get(r, "retired_at")?,
        publish_until: get(r, "publish_until")?,
    })
}

impl SqlStore {
    pub fn new(backend: Backend, reader: AnyPool, writer: AnyPool) -> Self {
        Self { backend, reader, writer }
    }

    pub fn backend_kind(&self) -> Backend {
        self.backend
    }

    pub fn writer(&self) -> &AnyPool {
        &self.writer
    }

    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    /// Closes the pools. On SQLite the WAL is checkpointed first, so a clean stop leaves one
    /// self-contained database file.
    pub async fn close(&self) {
        if self.backend == Backend::Sqlite {
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.writer).await;
        }
        self.reader.close().await;
        self.writer.close().await;
    }

    pub(super) async fn begin(&self) -> StoreResult<Transaction<'static, Any>> {
        self.writer.begin().await.map_err(err)
    }

    async fn insert_secret(tx: &mut Transaction<'static, Any>, s: &ClientSecret) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO client_secrets (id, client_id, kind, value, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&s.id)
        .bind(&s.client_id)
        .bind(s.kind.as_str())
        .bind(&s.value)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(&mut **tx)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn insert_key_tx(tx: &mut Transaction<'static, Any>, k: &SigningKeyRecord) -> StoreResult<()> {
        sqlx::query(&format!("INSERT INTO signing_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
            .bind(&k.kid)
            .bind(k.alg.as_str())
            .bind(k.state.as_str())
            .bind(json_text(&k.public_jwk))
            .bind(&k.private_key)
            .bind(k.created_at)
            .bind(k.activated_at)
            .bind(k.retired_at)
            .bind(k.publish_until)
            .execute(&mut **tx)
            .await
            .map_err(err)?;
        Ok(())
    }

    /// Runs one statement on the writer and reports whether it touched a row.
    pub(super) async fn write_one<'q>(&self, q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>) -> StoreResult<bool> {
        Ok(q.execute(&self.writer).await.map_err(err)?.rows_affected() > 0)
    }
}

#[async_trait]
impl ClientStore for SqlStore {
    async fn insert_client(&self, c: &Client, secret: Option<&ClientSecret>) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
        ))
        .bind(&c.client_id)
        .bind(&c.name)
        .bind(c.app_type.as_str())
        .bind(c.token_endpoint_auth_method.as_str())
        .bind(json_text(&c.grant_types))
        .bind(json_text(&c.callbacks))
        .bind(json_text(&c.allowed_logout_urls))
        .bind(i64::from(c.is_first_party))
        .bind(c.jwks.as_ref().map(json_text))
        .bind(c.refresh_token.rotation_type.as_str())
        .bind(c.refresh_token.leeway)
        .bind(c.refresh_token.token_lifetime)
        .bind(c.refresh_token.idle_token_lifetime)
        .bind(c.id_token_signed_response_alg.as_str())
        .bind(c.created_at)
        .bind(c.updated_at)
        .bind(i64::from(c.require_dpop))
        .bind(dpop_nonce_text(c.dpop_nonce))
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        if let Some(s) = secret {
            Self::insert_secret(&mut tx, s).await?;
        }
        tx.commit().await.map_err(err)
    }

    async fn update_client(&self, c: &Client) -> StoreResult<bool> {
        self.write_one(
            sqlx::query(
                "UPDATE clients SET name = $2, app_type = $3, token_endpoint_auth_method = $4, grant_types = $5, callbacks = $6, \
                 allowed_logout_urls = $7, is_first_party = $8, jwks = $9, refresh_rotation_type = $10, refresh_leeway = $11, \
                 refresh_token_lifetime = $12, refresh_idle_token_lifetime = $13, id_token_signed_response_alg = $14, updated_at = $15, \
                 require_dpop = $16, dpop_nonce = $17 WHERE client_id = $1",
            )
            .bind(&c.client_id)
            .bind(&c.name)
            .bind(c.app_type.as_str())
            .bind(c.token_endpoint_auth_method.as_str())
            .bind(json_text(&c.grant_types))
            .bind(json_text(&c.callbacks))
            .bind(json_text(&c.allowed_logout_urls))
            .bind(i64::from(c.is_first_party))
            .bind(c.jwks.as_ref().map(json_text))
            .bind(c.refresh_token.rotation_type.as_str())
            .bind(c.refresh_token.leeway)
            .bind(c.refresh_token.token_lifetime)
            .bind(c.refresh_token.idle_token_lifetime)
            .bind(c.id_token_signed_response_alg.as_str())
            .bind(c.updated_at)
            .bind(i64::from(c.require_dpop))
            .bind(dpop_nonce_text(c.dpop_nonce)),
        )
        .await
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        for table in ["client_secrets", "client_grants"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE client_id = $1"))
                .bind(client_id)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        let n = sqlx::query("DELETE FROM clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected();
        tx.commit().await.map_err(err)?;
        Ok(n > 0)
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        optional(
            sqlx::query(&format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1")).bind(client_id),
            &self.reader,
            client_from_row,
        )
        .await
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        all(
            sqlx::query(&format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY created_at, client_id")),
            &self.reader,
            client_from_row,
        )
        .await
    }

    async fn rotate_client_secret(&self, secret: &ClientSecret, others_expire_at: i64) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        let exists = sqlx::query("SELECT client_id FROM clients WHERE client_id = $1")
            .bind(&secret.client_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?
            .is_some();
        if !exists {
            return Ok(false);
        }
        sqlx::query("UPDATE client_secrets SET expires_at = $2 WHERE client_id = $1 AND (expires_at IS NULL OR expires_at > $2)")
            .bind(&secret.client_id)
            .bind(others_expire_at)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        Self::insert_secret(&mut tx, secret).await?;
        tx.commit().await.map_err(err)?;
        Ok(true)
    }

    async fn client_secrets(&self, client_id: &str) -> StoreResult<Vec<ClientSecret>> {
        all(
            sqlx::query("SELECT id, client_id, kind, value, created_at, expires_at FROM client_secrets WHERE client_id = $1 ORDER BY created_at, id")
            .bind(client_id),
            &self.reader,
            secret_from_row,
        )
        .await
    }
}

#[async_trait]
impl ApiStore for SqlStore {
    async fn insert_api(&self, a: &ResourceServer) -> StoreResult<()> {
        sqlx::query(&format!("INSERT INTO resource_servers ({API_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
            .bind(&a.id)
            .bind(&a.identifier)
            .bind(&a.name)
            .bind(json_text(&a.scopes))
            .bind(a.signing_alg.as_str())
            .bind(a.token_lifetime)
            .bind(i64::from(a.allow_offline_access))
            .bind(a.created_at)
            .bind(a.updated_at)
            .bind(i64::from(a.require_dpop))
            .execute(&self.writer)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn update_api(&self, a: &ResourceServer) -> StoreResult<bool> {
        self.write_one(
            sqlx::query(
                "UPDATE resource_servers SET name = $2, scopes = $3, signing_alg = $4, token_lifetime = $5, allow_offline_access = $6, updated_at = $7, require_dpop = $8 WHERE id = $1",
            )
            .bind(&a.id)
            .bind(&a.name)
            .bind(json_text(&a.scopes))
            .bind(a.signing_alg.as_str())
            .bind(a.token_lifetime)
            .bind(i64::from(a.allow_offline_access))
            .bind(a.updated_at)
            .bind(i64::from(a.require_dpop)),
        )
        .await
    }

    async fn delete_api(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM client_grants WHERE audience IN (SELECT identifier FROM resource_servers WHERE id = $1)")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        let n = sqlx::query("DELETE FROM resource_servers WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected();
        tx.commit().await.map_err(err)?;
        Ok(n > 0)
    }

    async fn get_api(&self, id: &str) -> StoreResult<Option<ResourceServer>> {
        optional(
            sqlx::query(&format!("SELECT {API_COLUMNS} FROM resource_servers WHERE id = $1")).bind(id),
            &self.reader,
            api_from_row,
        )
        .await
    }

    async fn get_api_by_identifier(&self, identifier: &str) -> StoreResult<Option<ResourceServer>> {
        optional(
            sqlx::query(&format!("SELECT {API_COLUMNS} FROM resource_servers WHERE identifier = $1")).bind(identifier),
            &self.reader,
            api_from_row,
        )
        .await
    }

    async fn list_apis(&self) -> StoreResult<Vec<ResourceServer>> {
        all(
            sqlx::query(&format!("SELECT {API_COLUMNS} FROM resource_servers ORDER BY created_at, id")),
            &self.reader,
            api_from_row,
        )
        .await
    }
}

#[async_trait]
impl GrantStore for SqlStore {
    async fn insert_grant(&self, g: &ClientGrant) -> StoreResult<()> {
        sqlx::query("INSERT INTO client_grants (id, client_id, audience, scope) VALUES ($1, $2, $3, $4)")
            .bind(&g.id)
            .bind(&g.client_id)
            .bind(&g.audience)
            .bind(json_text(&g.scope))
            .execute(&self.writer)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn update_grant(&self, g: &ClientGrant) -> StoreResult<bool> {
        self.write_one(sqlx::query("UPDATE client_grants SET scope = $2 WHERE id = $1").bind(&g.id).bind(json_text(&g.scope)))
            .await
    }

    async fn delete_grant(&self, id: &str) -> StoreResult<bool> {
        self.write_one(sqlx::query("DELETE FROM client_grants WHERE id = $1").bind(id)).await
    }

    async fn get_grant(&self, id: &str) -> StoreResult<Option<ClientGrant>> {
        optional(
            sqlx::query("SELECT id, client_id, audience, scope FROM client_grants WHERE id = $1").bind(id),
            &self.reader,
            grant_from_row,
        )
        .await
    }

    async fn find_grant(&self, client_id: &str, audience: &str) -> StoreResult<Option<ClientGrant>> {
        optional(
            sqlx::query("SELECT id, client_id, audience, scope FROM client_grants WHERE client_id = $1 AND audience = $2")
                .bind(client_id)
                .bind(audience),
            &self.reader,
            grant_from_row,
        )
        .await
    }

    async fn list_grants(&self, client_id: Option<&str>) -> StoreResult<Vec<ClientGrant>> {
        let rows = match client_id {
            Some(c) => {
                sqlx::query("SELECT id, client_id, audience, scope FROM client_grants WHERE client_id = $1 ORDER BY id")
                    .bind(c)
                    .fetch_all(&self.reader)
                    .await
            }
            None => {
                sqlx::query("SELECT id, client_id, audience, scope FROM client_grants ORDER BY id").fetch_all(&self.reader).await
            }
        };
        rows.map_err(err)?.iter().map(grant_from_row).collect()
    }
}

#[async_trait]
impl UserStore for SqlStore {
    async fn insert_user(&self, u: &User) -> StoreResult<()> {
        sqlx::query(&format!("INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"))
            .bind(&u.user_id)
            .bind(&u.email)
            .bind(i64::from(u.email_verified))
            .bind(&u.username)
            .bind(&u.name)
            .bind(&u.given_name)
            .bind(&u.family_name)
            .bind(&u.picture)
            .bind(&u.password_hash)
            .bind(i64::from(u.blocked))
            .bind(u.created_at)
            .bind(u.updated_at)
            .execute(&self.writer)
            .await
            .map_err(|e| match err(e) {
                StoreError::Conflict(_) => StoreError::Conflict("a user with this email or username".into()),
                other => other,
            })?;
        Ok(())
    }

    async fn update_user(&self, u: &User) -> StoreResult<bool> {
        self.write_one(
            sqlx::query(
                "UPDATE users SET email = $2, email_verified = $3, username = $4, name = $5, given_name = $6, family_name = $7, \
                 picture = $8, password_hash = $9, blocked = $10, updated_at = $11 WHERE user_id = $1",
            )
            .bind(&u.user_id)
            .bind(&u.email)
            .bind(i64::from(u.email_verified))
            .bind(&u.username)
            .bind(&u.name)
            .bind(&u.given_name)
            .bind(&u.family_name)
            .bind(&u.picture)
            .bind(&u.password_hash)
            .bind(i64::from(u.blocked))
            .bind(u.updated_at),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::Conflict("a user with this email or username".into()),
            other => other,
        })
    }

    async fn delete_user(&self, user_id: &str) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM consents WHERE user_id = $1").bind(user_id).execute(&mut *tx).await.map_err(err)?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(user_id).execute(&mut *tx).await.map_err(err)?;
        let n = sqlx::query("DELETE FROM users WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected();
        tx.commit().await.map_err(err)?;
        Ok(n > 0)
    }

    async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>> {
        optional(
            sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE user_id = $1")).bind(user_id),
            &self.reader,
            user_from_row,
        )
        .await
    }

    async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<User>> {
        optional(
            sqlx::query(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE email = $1 OR username = $2 ORDER BY email = $1 DESC LIMIT 1"
            ))
            .bind(login.to_ascii_lowercase())
            .bind(login),
            &self.reader,
            user_from_row,
        )
        .await
    }

    async fn list_users(&self, limit: i64, offset: i64) -> StoreResult<Vec<User>> {
        all(
            sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at, user_id LIMIT $1 OFFSET $2"))
                .bind(limit)
                .bind(offset),
            &self.reader,
            user_from_row,
        )
        .await
    }
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        all(
            sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY alg, created_at, kid")),
            &self.reader,
            key_from_row,
        )
        .await
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        Self::insert_key_tx(&mut tx, key).await?;
        tx.commit().await.map_err(err)
    }

    async fn rotate_signing_keys(
        &self,
        alg: SigningAlg,
        now: i64,
        publish_until: i64,
        new_next: &SigningKeyRecord,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE signing_keys SET state = 'retired', retired_at = $2, publish_until = $3 WHERE alg = $1 AND state = 'current'",
        )
        .bind(alg.as_str())
        .bind(now)
        .bind(publish_until)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        let promoted =
            sqlx::query("UPDATE signing_keys SET state = 'current', activated_at = $2 WHERE alg = $1 AND state = 'next'")
                .bind(alg.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(err)?
                .rows_affected();
        if promoted != 1 {
            return Err(StoreError::Conflict(format!("no next {alg} key to promote")));
        }
        Self::insert_key_tx(&mut tx, new_next).await?;
        tx.commit().await.map_err(err)
    }

    async fn revoke_signing_key(&self, kid: &str, now: i64, replacement: &SigningKeyRecord) -> StoreResult<Option<KeyState>> {
        let mut tx = self.begin().await?;
        // A no-op update takes the row lock (PostgreSQL) and returns the state before revocation.
        let row = sqlx::query("UPDATE signing_keys SET state = state WHERE kid = $1 AND state <> 'revoked' RETURNING state, alg")
            .bind(kid)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?;
        let Some(row) = row else { return Ok(None) };
        let before: String = get(&row, "state")?;
        let alg: String = get(&row, "alg")?;
        let before = KeyState::parse(&before).ok_or_else(|| corrupt("key state", &before))?;
        sqlx::query("UPDATE signing_keys SET state = 'revoked', retired_at = COALESCE(retired_at, $2), publish_until = NULL WHERE kid = $1")
            .bind(kid)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        if before == KeyState::Current {
            sqlx::query("UPDATE signing_keys SET state = 'current', activated_at = $2 WHERE alg = $1 AND state = 'next'")
                .bind(&alg)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
        if matches!(before, KeyState::Current | KeyState::Next) {
            Self::insert_key_tx(&mut tx, replacement).await?;
        }
        tx.commit().await.map_err(err)?;
        Ok(Some(before))
    }
}

#[async_trait]
impl SettingsStore for SqlStore {
    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
        sqlx::query_scalar("SELECT value FROM tenant_settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.reader)
            .await
            .map_err(err)
    }

    async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO tenant_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.writer)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn registry_version(&self) -> StoreResult<i64> {
        let v: Option<String> = sqlx::query_scalar("SELECT value FROM tenant_settings WHERE key = $1")
            .bind(REGISTRY_VERSION)
            .fetch_optional(&self.reader)
            .await
            .map_err(err)?;
        v.map_or(Ok(0), |s| s.parse().map_err(|e| corrupt("registry_version", e)))
    }

    async fn bump_registry_version(&self) -> StoreResult<i64> {
        // One statement: concurrent bumps from several nodes each add one.
        let v: String = sqlx::query_scalar(
            "INSERT INTO tenant_settings (key, value) VALUES ($1, '1') \
             ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(tenant_settings.value AS BIGINT) + 1 AS TEXT) RETURNING value",
        )
        .bind(REGISTRY_VERSION)
        .fetch_one(&self.writer)
        .await
        .map_err(err)?;
        v.parse().map_err(|e| corrupt("registry_version", e))
    }

    async fn init_setting(&self, key: &str, value: &str) -> StoreResult<String> {
        sqlx::query("INSERT INTO tenant_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.writer)
            .await
            .map_err(err)?;
        sqlx::query_scalar("SELECT value FROM tenant_settings WHERE key = $1")
            .bind(key)
            .fetch_one(&self.writer)
            .await
            .map_err(err)
    }
}

const REGISTRY_VERSION: &str = "registry_version";

#[async_trait]
impl AuditStore for SqlStore {
    async fn record_audit(&self, e: &AuditEvent) -> StoreResult<()> {
        sqlx::query("INSERT INTO audit_events (at, kind, client_id, user_id, ip, detail) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(e.at)
            .bind(&e.kind)
            .bind(&e.client_id)
            .bind(&e.user_id)
            .bind(&e.ip)
            .bind(json_text(&e.detail))
            .execute(&self.writer)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn list_audit(&self, limit: i64) -> StoreResult<Vec<AuditEvent>> {
        sqlx::query("SELECT at, kind, client_id, user_id, ip, detail FROM audit_events ORDER BY id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(&self.reader)
            .await
            .map_err(err)?
            .iter()
            .map(|r| {
                Ok(AuditEvent {
                    at: get(r, "at")?,
                    kind: get(r, "kind")?,
                    client_id: get(r, "client_id")?,
                    user_id: get(r, "user_id")?,
                    ip: get(r, "ip")?,
                    detail: from_json(&get::<String>(r, "detail")?, "audit detail")?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl ReplayStore for SqlStore {
    async fn remember_jti(&self, namespace: &str, jti: &str, expires_at: i64, now: i64) -> StoreResult<bool> {
        // Inserts, or takes over an entry that has expired; an unexpired entry is left alone
        // and the statement touches no row: that is the replay.
        self.write_one(
            sqlx::query(
                "INSERT INTO replay_cache (namespace, jti, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (namespace, jti) DO UPDATE SET expires_at = excluded.expires_at WHERE replay_cache.expires_at <= $4",
            )
            .bind(namespace)
            .bind(jti)
            .bind(expires_at)
            .bind(now),
        )
        .await
    }

    async fn purge_replay_cache(&self, now: i64) -> StoreResult<u64> {
        Ok(sqlx::query("DELETE FROM replay_cache WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.writer)
            .await
            .map_err(err)?
            .rows_affected())
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map_err(err)?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        self.backend.name()
    }
}
