//! The SQL implementation of every storage port, shared by SQLite and PostgreSQL.
//!
//! Conventions: times are Unix seconds (`BIGINT`/`INTEGER`), booleans are 0/1 integers and
//! lists are JSON text, so both databases read back the same three cell kinds ([`Row`]).
//! Every multi-statement operation runs in one transaction ([`Db::transaction`]).

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::Value;

use tessera_core::model::{
    AppType, Client, ClientCredential, ClientGrant, ClientSecret, RefreshTokenPolicy, ResourceServer, RotationType, SecretKind,
    SigningAlg, TokenEndpointAuthMethod, User,
};
use tessera_core::store::*;
use tessera_core::tokens::{KeyState, SigningKeyRecord};

use super::db::{query, Conn, Db, Finish, Row};
use super::Backend;

#[derive(Clone)]
pub struct SqlStore {
    backend: Backend,
    db: Db,
    /// Revoked access tokens in memory, shared by every clone (see [`super::revocations`]).
    pub(super) revocations: std::sync::Arc<super::revocations::Revocations>,
}

impl SqlStore {
    /// On PostgreSQL, a listener for registry changes made by any node or the CLI.
    pub async fn change_listener(&self) -> Option<Result<super::postgres::ChangeListener, String>> {
        match &self.db {
            Db::Postgres(pools) => Some(super::postgres::ChangeListener::connect(pools).await),
            Db::Sqlite(_) => None,
        }
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

fn flag(row: &Row, col: &str) -> StoreResult<bool> {
    Ok(row.get::<i64>(col)? != 0)
}

fn enum_str<T: DeserializeOwned>(row: &Row, col: &str) -> StoreResult<T> {
    let s: String = row.get(col)?;
    serde_json::from_value(Value::String(s.clone())).map_err(|e| corrupt(&format!("{col} {s:?}"), e))
}

const CLIENT_COLUMNS: &str = "client_id, name, app_type, token_endpoint_auth_method, grant_types, callbacks, allowed_logout_urls, is_first_party, jwks, refresh_rotation_type, refresh_leeway, refresh_token_lifetime, refresh_idle_token_lifetime, id_token_signed_response_alg, created_at, updated_at, require_dpop, dpop_nonce, require_pushed_authorization_requests, web_origins, allowed_origins, token_exchange_policy, jwks_uri, private_key_jwt_credentials";

fn client_from_row(r: &Row) -> StoreResult<Client> {
    let jwks: Option<String> = r.get("jwks")?;
    Ok(Client {
        client_id: r.get("client_id")?,
        name: r.get("name")?,
        app_type: enum_str::<AppType>(r, "app_type")?,
        token_endpoint_auth_method: enum_str::<TokenEndpointAuthMethod>(r, "token_endpoint_auth_method")?,
        grant_types: from_json(&r.get::<String>("grant_types")?, "grant_types")?,
        callbacks: from_json(&r.get::<String>("callbacks")?, "callbacks")?,
        allowed_logout_urls: from_json(&r.get::<String>("allowed_logout_urls")?, "allowed_logout_urls")?,
        web_origins: from_json(&r.get::<String>("web_origins")?, "web_origins")?,
        allowed_origins: from_json(&r.get::<String>("allowed_origins")?, "allowed_origins")?,
        is_first_party: flag(r, "is_first_party")?,
        jwks: jwks.map(|j| from_json(&j, "jwks")).transpose()?,
        jwks_uri: r.get("jwks_uri")?,
        private_key_jwt_credentials: from_json(&r.get::<String>("private_key_jwt_credentials")?, "private_key_jwt_credentials")?,
        refresh_token: RefreshTokenPolicy {
            rotation_type: enum_str::<RotationType>(r, "refresh_rotation_type")?,
            leeway: r.get("refresh_leeway")?,
            token_lifetime: r.get("refresh_token_lifetime")?,
            idle_token_lifetime: r.get("refresh_idle_token_lifetime")?,
        },
        id_token_signed_response_alg: enum_str::<SigningAlg>(r, "id_token_signed_response_alg")?,
        require_dpop: flag(r, "require_dpop")?,
        dpop_nonce: r.get::<Option<String>>("dpop_nonce")?.map(|v| v == "on"),
        require_pushed_authorization_requests: flag(r, "require_pushed_authorization_requests")?,
        token_exchange_policy: r
            .get::<Option<String>>("token_exchange_policy")?
            .map(|p| from_json(&p, "token_exchange_policy"))
            .transpose()?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

fn dpop_nonce_text(v: Option<bool>) -> Option<&'static str> {
    v.map(|on| if on { "on" } else { "off" })
}

fn secret_from_row(r: &Row) -> StoreResult<ClientSecret> {
    let kind: String = r.get("kind")?;
    Ok(ClientSecret {
        id: r.get("id")?,
        client_id: r.get("client_id")?,
        kind: SecretKind::parse(&kind).ok_or_else(|| corrupt("secret kind", &kind))?,
        value: r.get("value")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
    })
}

const API_COLUMNS: &str =
    "id, identifier, name, scopes, signing_alg, token_lifetime, allow_offline_access, created_at, updated_at, require_dpop";

fn api_from_row(r: &Row) -> StoreResult<ResourceServer> {
    Ok(ResourceServer {
        id: r.get("id")?,
        identifier: r.get("identifier")?,
        name: r.get("name")?,
        scopes: from_json(&r.get::<String>("scopes")?, "scopes")?,
        signing_alg: enum_str::<SigningAlg>(r, "signing_alg")?,
        token_lifetime: r.get("token_lifetime")?,
        allow_offline_access: flag(r, "allow_offline_access")?,
        require_dpop: flag(r, "require_dpop")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

fn grant_from_row(r: &Row) -> StoreResult<ClientGrant> {
    Ok(ClientGrant {
        id: r.get("id")?,
        client_id: r.get("client_id")?,
        audience: r.get("audience")?,
        scope: from_json(&r.get::<String>("scope")?, "scope")?,
    })
}

pub(super) const USER_COLUMNS: &str = "user_id, email, email_verified, username, name, given_name, family_name, picture, password_hash, blocked, created_at, updated_at";

/// The user of a `LEFT JOIN users` whose columns were split off the row: `None` when no
/// user matched (deleted since).
pub(super) fn joined_user(mut r: Row, user_columns_at: usize) -> StoreResult<Option<User>> {
    let user = r.split_off(user_columns_at);
    match user.get::<Option<String>>("user_id")? {
        Some(_) => user_from_row(&user).map(Some),
        None => Ok(None),
    }
}

/// `USER_COLUMNS` qualified with the alias `u`, for a `LEFT JOIN users u`.
pub(super) fn joined_user_columns() -> String {
    qualified(USER_COLUMNS, "u")
}

/// `a, b` as `t.a, t.b`.
pub(super) fn qualified(columns: &str, alias: &str) -> String {
    columns.split(", ").map(|c| format!("{alias}.{c}")).collect::<Vec<_>>().join(", ")
}

pub(super) fn user_from_row(r: &Row) -> StoreResult<User> {
    Ok(User {
        user_id: r.get("user_id")?,
        email: r.get("email")?,
        email_verified: flag(r, "email_verified")?,
        username: r.get("username")?,
        name: r.get("name")?,
        given_name: r.get("given_name")?,
        family_name: r.get("family_name")?,
        picture: r.get("picture")?,
        password_hash: r.get("password_hash")?,
        blocked: flag(r, "blocked")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

const KEY_COLUMNS: &str = "kid, alg, state, public_jwk, private_key, created_at, activated_at, retired_at, publish_until";

fn key_from_row(r: &Row) -> StoreResult<SigningKeyRecord> {
    let state: String = r.get("state")?;
    Ok(SigningKeyRecord {
        kid: r.get("kid")?,
        alg: enum_str::<SigningAlg>(r, "alg")?,
        state: KeyState::parse(&state).ok_or_else(|| corrupt("key state", &state))?,
        public_jwk: from_json(&r.get::<String>("public_jwk")?, "public_jwk")?,
        private_key: r.get("private_key")?,
        created_at: r.get("created_at")?,
        activated_at: r.get("activated_at")?,
        retired_at: r.get("retired_at")?,
        publish_until: r.get("publish_until")?,
    })
}

impl SqlStore {
    pub fn new(backend: Backend, db: Db) -> Self {
        Self { backend, db, revocations: Default::default() }
    }

    pub fn backend_kind(&self) -> Backend {
        self.backend
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The database server's clock in Unix milliseconds (PostgreSQL); `None` on SQLite,
    /// whose clock is this process's.
    pub async fn database_millis(&self) -> StoreResult<Option<i64>> {
        if let Db::Sqlite(_) = self.db {
            return Ok(None);
        }
        let row =
            self.db.fetch_optional(query("SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AS ms")).await?;
        row.map(|r| r.get::<i64>("ms")).transpose()
    }

    /// Stops cleanly. On SQLite the WAL is checkpointed first, so a clean stop leaves one
    /// self-contained database file.
    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite(engine) => {
                let _ = engine.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }

    async fn insert_secret(c: &mut dyn Conn, s: &ClientSecret) -> StoreResult<()> {
        c.execute(
            query(
                "INSERT INTO client_secrets (id, client_id, kind, value, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&s.id)
            .bind(&s.client_id)
            .bind(s.kind.as_str())
            .bind(&s.value)
            .bind(s.created_at)
            .bind(s.expires_at),
        )
        .await?;
        Ok(())
    }

    async fn insert_key_tx(c: &mut dyn Conn, k: &SigningKeyRecord) -> StoreResult<()> {
        c.execute(
            query(format!("INSERT INTO signing_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
                .bind(&k.kid)
                .bind(k.alg.as_str())
                .bind(k.state.as_str())
                .bind(json_text(&k.public_jwk))
                .bind(&k.private_key)
                .bind(k.created_at)
                .bind(k.activated_at)
                .bind(k.retired_at)
                .bind(k.publish_until),
        )
        .await?;
        Ok(())
    }

    /// Appends the store's own Prometheus counters (SQLite's writer; none on PostgreSQL).
    pub fn render_metrics(&self, out: &mut String) {
        match &self.db {
            Db::Sqlite(engine) => engine.stats().render(out),
            Db::Postgres(pools) => pools.render_metrics(out),
        }
    }

    /// Runs one write statement and reports whether it touched a row.
    pub(super) async fn write_one(&self, q: super::db::Query) -> StoreResult<bool> {
        Ok(self.db.execute(q).await? > 0)
    }
}

#[async_trait]
impl ClientStore for SqlStore {
    async fn insert_client_with_credentials(
        &self,
        c: &Client,
        secret: Option<&ClientSecret>,
        credentials: &[ClientCredential],
    ) -> StoreResult<()> {
        let insert = query(format!(
            "INSERT INTO clients ({CLIENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)"
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
        .bind(i64::from(c.require_pushed_authorization_requests))
        .bind(json_text(&c.web_origins))
        .bind(json_text(&c.allowed_origins))
        .bind(c.token_exchange_policy.as_ref().map(json_text))
        .bind(c.jwks_uri.clone())
        .bind(json_text(&c.private_key_jwt_credentials));
        let secret = secret.cloned();
        let credentials = credentials.to_vec();
        self.db
            .transaction(move |tx| {
                Box::pin(async move {
                    tx.execute(insert).await?;
                    if let Some(s) = &secret {
                        Self::insert_secret(tx, s).await?;
                    }
                    for k in &credentials {
                        Self::insert_credential_tx(tx, k).await?;
                    }
                    Ok(Finish::Commit(()))
                })
            })
            .await
    }

    async fn update_client(&self, c: &Client) -> StoreResult<bool> {
        self.write_one(
            query(
                "UPDATE clients SET name = $2, app_type = $3, token_endpoint_auth_method = $4, grant_types = $5, callbacks = $6, \
                 allowed_logout_urls = $7, is_first_party = $8, jwks = $9, refresh_rotation_type = $10, refresh_leeway = $11, \
                 refresh_token_lifetime = $12, refresh_idle_token_lifetime = $13, id_token_signed_response_alg = $14, updated_at = $15, \
                 require_dpop = $16, dpop_nonce = $17, require_pushed_authorization_requests = $18, web_origins = $19, allowed_origins = $20, token_exchange_policy = $21, \
                 jwks_uri = $22, private_key_jwt_credentials = $23 WHERE client_id = $1",
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
            .bind(dpop_nonce_text(c.dpop_nonce))
            .bind(i64::from(c.require_pushed_authorization_requests))
            .bind(json_text(&c.web_origins))
            .bind(json_text(&c.allowed_origins))
            .bind(c.token_exchange_policy.as_ref().map(json_text))
            .bind(c.jwks_uri.clone())
            .bind(json_text(&c.private_key_jwt_credentials)),
        )
        .await
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let client_id = client_id.to_owned();
        self.db
            .transaction(move |tx| {
                Box::pin(async move {
                    for table in ["client_secrets", "client_grants", "client_credentials"] {
                        tx.execute(query(format!("DELETE FROM {table} WHERE client_id = $1")).bind(&client_id)).await?;
                    }
                    let n = tx.execute(query("DELETE FROM clients WHERE client_id = $1").bind(&client_id)).await?;
                    Ok(Finish::Commit(n > 0))
                })
            })
            .await
    }

    async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        self.db
            .optional(
                query(format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = $1")).bind(client_id),
                client_from_row,
            )
            .await
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        self.db.all(query(format!("SELECT {CLIENT_COLUMNS} FROM clients ORDER BY created_at, client_id")), client_from_row).await
    }

    async fn rotate_client_secret(&self, secret: &ClientSecret, others_expire_at: i64) -> StoreResult<bool> {
        let secret = secret.clone();
        self.db
            .transaction(move |tx| {
                Box::pin(async move {
                    let exists = tx
                        .fetch_optional(query("SELECT client_id FROM clients WHERE client_id = $1").bind(&secret.client_id))
                        .await?
                        .is_some();
                    if !exists {
                        return Ok(Finish::Rollback(false));
                    }
                    tx.execute(
                        query(
                            "UPDATE client_secrets SET expires_at = $2 WHERE client_id = $1 AND (expires_at IS NULL OR expires_at > $2)",
                        )
                        .bind(&secret.client_id)
                        .bind(others_expire_at),
                    )
                    .await?;
                    Self::insert_secret(tx, &secret).await?;
                    Ok(Finish::Commit(true))
                })
            })
            .await
    }

    async fn client_secrets(&self, client_id: &str) -> StoreResult<Vec<ClientSecret>> {
        self.db
            .all(
                query(
                    "SELECT id, client_id, kind, value, created_at, expires_at FROM client_secrets WHERE client_id = $1 ORDER BY created_at, id",
                )
                .bind(client_id),
                secret_from_row,
            )
            .await
    }

    async fn insert_client_credential(&self, credential: &ClientCredential) -> StoreResult<bool> {
        self.insert_credential(credential).await
    }

    async fn client_credentials(&self, client_id: &str) -> StoreResult<Vec<ClientCredential>> {
        self.credentials_of(client_id).await
    }

    async fn get_client_credential(&self, client_id: &str, id: &str) -> StoreResult<Option<ClientCredential>> {
        self.credential(client_id, id).await
    }

    async fn set_client_credential_expiry(
        &self,
        client_id: &str,
        id: &str,
        expires_at: Option<i64>,
        now: i64,
    ) -> StoreResult<bool> {
        self.set_credential_expiry(client_id, id, expires_at, now).await
    }

    async fn delete_client_credential(&self, client_id: &str, id: &str, now: i64) -> StoreResult<bool> {
        self.delete_credential(client_id, id, now).await
    }
}

#[async_trait]
impl ApiStore for SqlStore {
    async fn insert_api(&self, a: &ResourceServer) -> StoreResult<()> {
        self.db
            .execute(
                query(format!("INSERT INTO resource_servers ({API_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
                    .bind(&a.id)
                    .bind(&a.identifier)
                    .bind(&a.name)
                    .bind(json_text(&a.scopes))
                    .bind(a.signing_alg.as_str())
                    .bind(a.token_lifetime)
                    .bind(i64::from(a.allow_offline_access))
                    .bind(a.created_at)
                    .bind(a.updated_at)
                    .bind(i64::from(a.require_dpop)),
            )
            .await?;
        Ok(())
    }

    async fn update_api(&self, a: &ResourceServer) -> StoreResult<bool> {
        self.write_one(
            query(
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
        let id = id.to_owned();
        self.db
            .transaction(move |tx| {
                Box::pin(async move {
                    tx.execute(
                        query(
                            "DELETE FROM client_grants WHERE audience IN (SELECT identifier FROM resource_servers WHERE id = $1)",
                        )
                        .bind(&id),
                    )
                    .await?;
                    let n = tx.execute(query("DELETE FROM resource_servers WHERE id = $1").bind(&id)).await?;
                    Ok(Finish::Commit(n > 0))
                })
            })
            .await
    }

    async fn get_api(&self, id: &str) -> StoreResult<Option<ResourceServer>> {
        self.db.optional(query(format!("SELECT {API_COLUMNS} FROM resource_servers WHERE id = $1")).bind(id), api_from_row).await
    }

    async fn get_api_by_identifier(&self, identifier: &str) -> StoreResult<Option<ResourceServer>> {
        self.db
            .optional(
                query(format!("SELECT {API_COLUMNS} FROM resource_servers WHERE identifier = $1")).bind(identifier),
                api_from_row,
            )
            .await
    }

    async fn list_apis(&self) -> StoreResult<Vec<ResourceServer>> {
        self.db.all(query(format!("SELECT {API_COLUMNS} FROM resource_servers ORDER BY created_at, id")), api_from_row).await
    }
}

#[async_trait]
impl GrantStore for SqlStore {
    async fn insert_grant(&self, g: &ClientGrant) -> StoreResult<()> {
        self.db
            .execute(
                query("INSERT INTO client_grants (id, client_id, audience, scope) VALUES ($1, $2, $3, $4)")
                    .bind(&g.id)
                    .bind(&g.client_id)
                    .bind(&g.audience)
                    .bind(json_text(&g.scope)),
            )
            .await?;
        Ok(())
    }

    async fn update_grant(&self, g: &ClientGrant) -> StoreResult<bool> {
        self.write_one(query("UPDATE client_grants SET scope = $2 WHERE id = $1").bind(&g.id).bind(json_text(&g.scope))).await
    }

    async fn delete_grant(&self, id: &str) -> StoreResult<bool> {
        self.write_one(query("DELETE FROM client_grants WHERE id = $1").bind(id)).await
    }

    async fn get_grant(&self, id: &str) -> StoreResult<Option<ClientGrant>> {
        self.db
            .optional(query("SELECT id, client_id, audience, scope FROM client_grants WHERE id = $1").bind(id), grant_from_row)
            .await
    }

    async fn find_grant(&self, client_id: &str, audience: &str) -> StoreResult<Option<ClientGrant>> {
        self.db
            .optional(
                query("SELECT id, client_id, audience, scope FROM client_grants WHERE client_id = $1 AND audience = $2")
                    .bind(client_id)
                    .bind(audience),
                grant_from_row,
            )
            .await
    }

    async fn list_grants(&self, client_id: Option<&str>) -> StoreResult<Vec<ClientGrant>> {
        let q = match client_id {
            Some(c) => query("SELECT id, client_id, audience, scope FROM client_grants WHERE client_id = $1 ORDER BY id").bind(c),
            None => query("SELECT id, client_id, audience, scope FROM client_grants ORDER BY id"),
        };
        self.db.all(q, grant_from_row).await
    }
}

/// Binds a user's columns from `email` to `blocked` (the order of [`USER_COLUMNS`]) as the
/// next nine parameters.
fn bind_profile(q: super::db::Query, u: &User) -> super::db::Query {
    q.bind(&u.email)
        .bind(i64::from(u.email_verified))
        .bind(&u.username)
        .bind(&u.name)
        .bind(&u.given_name)
        .bind(&u.family_name)
        .bind(&u.picture)
        .bind(&u.password_hash)
        .bind(i64::from(u.blocked))
}

#[async_trait]
impl UserStore for SqlStore {
    async fn insert_user(&self, u: &User) -> StoreResult<()> {
        self.db
            .execute(
                bind_profile(
                    query(format!(
                        "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
                    ))
                    .bind(&u.user_id),
                    u,
                )
                .bind(u.created_at)
                .bind(u.updated_at),
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => StoreError::Conflict("a user with this email or username".into()),
                other => other,
            })?;
        Ok(())
    }

    async fn update_user(&self, u: &User) -> StoreResult<bool> {
        self.write_one(
            bind_profile(
                query(
                    "UPDATE users SET email = $2, email_verified = $3, username = $4, name = $5, given_name = $6, family_name = $7, \
                     picture = $8, password_hash = $9, blocked = $10, updated_at = $11 WHERE user_id = $1",
                )
                .bind(&u.user_id),
                u,
            )
            .bind(u.updated_at),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => StoreError::Conflict("a user with this email or username".into()),
            other => other,
        })
    }

    async fn delete_user(&self, user_id: &str) -> StoreResult<bool> {
        let user_id = user_id.to_owned();
        self.db
            .transaction(move |tx| {
                Box::pin(async move {
                    tx.execute(query("DELETE FROM consents WHERE user_id = $1").bind(&user_id)).await?;
                    tx.execute(query("DELETE FROM sessions WHERE user_id = $1").bind(&user_id)).await?;
                    let n = tx.execute(query("DELETE FROM users WHERE user_id = $1").bind(&user_id)).await?;
                    Ok(Finish::Commit(n > 0))
                })
            })
            .await
    }

    async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>> {
        self.db.optional(query(format!("SELECT {USER_COLUMNS} FROM users WHERE user_id = $1")).bind(user_id), user_from_row).await
    }

    async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<User>> {
        self.db
            .optional(
                query(format!(
                    "SELECT {USER_COLUMNS} FROM users WHERE email = $1 OR username = $2 ORDER BY email = $1 DESC LIMIT 1"
                ))
                .bind(login.to_ascii_lowercase())
                .bind(login),
                user_from_row,
            )
            .await
    }

    async fn list_users(&self, limit: i64, offset: i64) -> StoreResult<Vec<User>> {
        self.db
            .all(
                query(format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at, user_id LIMIT $1 OFFSET $2"))
                    .bind(limit)
                    .bind(offset),
                user_from_row,
            )
            .await
    }

    async fn count_users(&self) -> StoreResult<i64> {
        self.count_users_matching(&UserFilter::default()).await
    }

    async fn list_users_matching(&self, filter: &UserFilter, limit: i64, offset: i64) -> StoreResult<Vec<User>> {
        let (clause, mut q) = match filter.email_verified {
            Some(v) => ("WHERE email_verified = $3", Some(i64::from(v))),
            None => ("", None),
        };
        let mut stmt =
            query(format!("SELECT {USER_COLUMNS} FROM users {clause} ORDER BY created_at, user_id LIMIT $1 OFFSET $2"))
                .bind(limit)
                .bind(offset);
        if let Some(v) = q.take() {
            stmt = stmt.bind(v);
        }
        self.db.all(stmt, user_from_row).await
    }

    /// From `user_counts` (migration 0015), which triggers keep exact: counting a million
    /// users for each `include_totals` page took longer than the page.
    async fn count_users_matching(&self, filter: &UserFilter) -> StoreResult<i64> {
        let stmt = match filter.email_verified {
            Some(v) => query("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n FROM user_counts WHERE email_verified = $1")
                .bind(i64::from(v)),
            None => query("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n FROM user_counts"),
        };
        Ok(self.db.optional(stmt, |r| r.get::<i64>("n")).await?.unwrap_or(0))
    }

    async fn get_user_metadata(&self, user_id: &str) -> StoreResult<Option<(Value, Value)>> {
        let row = self
            .db
            .fetch_optional(query("SELECT user_metadata, app_metadata FROM user_metadata WHERE user_id = $1").bind(user_id))
            .await?;
        row.map(|r| {
            Ok((
                from_json(&r.get::<String>("user_metadata")?, "user_metadata")?,
                from_json(&r.get::<String>("app_metadata")?, "app_metadata")?,
            ))
        })
        .transpose()
    }

    async fn get_users_metadata(&self, user_ids: &[String]) -> StoreResult<Vec<(String, Value, Value)>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=user_ids.len()).map(|i| format!("${i}")).collect();
        let mut stmt = query(format!(
            "SELECT user_id, user_metadata, app_metadata FROM user_metadata WHERE user_id IN ({})",
            marks.join(", ")
        ));
        for id in user_ids {
            stmt = stmt.bind(id.clone());
        }
        let rows = self.db.fetch_all(stmt).await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.get::<String>("user_id")?,
                    from_json(&r.get::<String>("user_metadata")?, "user_metadata")?,
                    from_json(&r.get::<String>("app_metadata")?, "app_metadata")?,
                ))
            })
            .collect()
    }

    async fn put_user_metadata(&self, user_id: &str, user_metadata: &Value, app_metadata: &Value) -> StoreResult<bool> {
        let (id, um, am) = (user_id.to_owned(), json_text(user_metadata), json_text(app_metadata));
        self.db
            .transaction(move |tx| {
                Box::pin(async move {
                    let exists = tx.fetch_optional(query("SELECT 1 AS one FROM users WHERE user_id = $1").bind(&id)).await?.is_some();
                    if exists {
                        tx.execute(
                            query(
                                "INSERT INTO user_metadata (user_id, user_metadata, app_metadata) VALUES ($1, $2, $3) \
                                 ON CONFLICT (user_id) DO UPDATE SET user_metadata = excluded.user_metadata, app_metadata = excluded.app_metadata",
                            )
                            .bind(&id)
                            .bind(um)
                            .bind(am),
                        )
                        .await?;
                    }
                    Ok(Finish::Commit(exists))
                })
            })
            .await
    }

    async fn replace_password_hash(&self, user_id: &str, old: &str, new: &str, now: i64) -> StoreResult<bool> {
        self.write_one(
            query("UPDATE users SET password_hash = $3, updated_at = $4 WHERE user_id = $1 AND password_hash = $2")
                .bind(user_id)
                .bind(old)
                .bind(new)
                .bind(now),
        )
        .await
    }
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.db.all(query(format!("SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY alg, created_at, kid")), key_from_row).await
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        let key = key.clone();
        self.db
            .transaction(move |tx| {
                Box::pin(async move {
                    Self::insert_key_tx(tx, &key).await?;
                    Ok(Finish::Commit(()))
                })
            })
            .await
    }

    async fn rotate_signing_keys(
        &self,
        alg: SigningAlg,
        now: i64,
        publish_until: i64,
        new_next: &SigningKeyRecord,
    ) -> StoreResult<()> {
        let new_next = new_next.clone();
        self.db
            .transaction(move |tx| {
                Box::pin(async move {
                    tx.execute(
                        query(
                            "UPDATE signing_keys SET state = 'retired', retired_at = $2, publish_until = $3 WHERE alg = $1 AND state = 'current'",
                        )
                        .bind(alg.as_str())
                        .bind(now)
                        .bind(publish_until),
                    )
                    .await?;
                    let promoted = tx
                        .execute(
                            query("UPDATE signing_keys SET state = 'current', activated_at = $2 WHERE alg = $1 AND state = 'next'")
                                .bind(alg.as_str())
                                .bind(now),
                        )
                        .await?;
                    if promoted != 1 {
                        return Err(StoreError::Conflict(format!("no next {alg} key to promote")));
                    }
                    Self::insert_key_tx(tx, &new_next).await?;
                    Ok(Finish::Commit(()))
                })
            })
            .await
    }

    async fn revoke_signing_key(&self, kid: &str, now: i64, replacement: &SigningKeyRecord) -> StoreResult<Option<KeyState>> {
        let kid = kid.to_owned();
        let replacement = replacement.clone();
        self.db
            .transaction(move |tx| {
                Box::pin(async move {
                    // A no-op update takes the row lock (PostgreSQL) and returns the state before revocation.
                    let row = tx
                        .fetch_optional(
                            query("UPDATE signing_keys SET state = state WHERE kid = $1 AND state <> 'revoked' RETURNING state, alg")
                                .bind(&kid),
                        )
                        .await?;
                    let Some(row) = row else { return Ok(Finish::Rollback(None)) };
                    let before: String = row.get("state")?;
                    let alg: String = row.get("alg")?;
                    let before = KeyState::parse(&before).ok_or_else(|| corrupt("key state", &before))?;
                    tx.execute(
                        query(
                            "UPDATE signing_keys SET state = 'revoked', retired_at = COALESCE(retired_at, $2), publish_until = NULL WHERE kid = $1",
                        )
                        .bind(&kid)
                        .bind(now),
                    )
                    .await?;
                    if before == KeyState::Current {
                        tx.execute(
                            query("UPDATE signing_keys SET state = 'current', activated_at = $2 WHERE alg = $1 AND state = 'next'")
                                .bind(&alg)
                                .bind(now),
                        )
                        .await?;
                    }
                    if matches!(before, KeyState::Current | KeyState::Next) {
                        Self::insert_key_tx(tx, &replacement).await?;
                    }
                    Ok(Finish::Commit(Some(before)))
                })
            })
            .await
    }
}

#[async_trait]
impl SettingsStore for SqlStore {
    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>> {
        self.db
            .fetch_optional(query("SELECT value FROM tenant_settings WHERE key = $1").bind(key))
            .await?
            .map(|r| r.at::<String>(0))
            .transpose()
    }

    async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        self.db
            .execute(
                query(
                    "INSERT INTO tenant_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .bind(key)
                .bind(value),
            )
            .await?;
        Ok(())
    }

    async fn registry_version(&self) -> StoreResult<i64> {
        let v: Option<String> = self
            .db
            .fetch_optional(query("SELECT value FROM tenant_settings WHERE key = $1").bind(REGISTRY_VERSION))
            .await?
            .map(|r| r.at::<String>(0))
            .transpose()?;
        v.map_or(Ok(0), |s| s.parse().map_err(|e| corrupt("registry_version", e)))
    }

    async fn bump_registry_version(&self) -> StoreResult<i64> {
        // One statement: concurrent bumps from several nodes each add one.
        let v: String = self
            .db
            .execute_returning(
                query(
                    "INSERT INTO tenant_settings (key, value) VALUES ($1, '1') \
                     ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(tenant_settings.value AS BIGINT) + 1 AS TEXT) RETURNING value",
                )
                .bind(REGISTRY_VERSION),
            )
            .await?
            .ok_or_else(|| StoreError::Unavailable("registry_version bump returned no row".into()))?
            .at(0)?;
        if self.backend == Backend::Postgres {
            // Other nodes listen: they re-read at once. Best effort: their poll is the backstop.
            let notify = query("SELECT pg_notify($1, $2)").bind(super::postgres::REGISTRY_CHANNEL).bind(&v);
            if let Err(e) = self.db.execute(notify).await {
                tracing::warn!(error = %e, "could not announce a registry change; other nodes see it at their next poll");
            }
        }
        v.parse().map_err(|e| corrupt("registry_version", e))
    }

    async fn init_setting(&self, key: &str, value: &str) -> StoreResult<String> {
        let key = key.to_owned();
        let value = value.to_owned();
        self.db
            .transaction(move |tx| {
                Box::pin(async move {
                    tx.execute(
                        query("INSERT INTO tenant_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                            .bind(&key)
                            .bind(&value),
                    )
                    .await?;
                    let v: String = tx
                        .fetch_optional(query("SELECT value FROM tenant_settings WHERE key = $1").bind(&key))
                        .await?
                        .ok_or_else(|| StoreError::Unavailable(format!("setting {key} returned no row")))?
                        .at(0)?;
                    Ok(Finish::Commit(v))
                })
            })
            .await
    }
}

const REGISTRY_VERSION: &str = "registry_version";

const AUDIT_COLUMNS: &str = "id, at, kind, client_id, user_id, ip, detail";

fn audit_from_row(r: &Row) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        id: r.get("id")?,
        event: AuditEvent {
            at: r.get("at")?,
            kind: r.get("kind")?,
            client_id: r.get("client_id")?,
            user_id: r.get("user_id")?,
            ip: r.get("ip")?,
            detail: from_json(&r.get::<String>("detail")?, "audit detail")?,
        },
    })
}

fn insert_audit(e: &AuditEvent) -> super::db::Query {
    query("INSERT INTO audit_events (at, kind, client_id, user_id, ip, detail) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(e.at)
        .bind(e.kind.clone())
        .bind(e.client_id.clone())
        .bind(e.user_id.clone())
        .bind(e.ip.clone())
        .bind(json_text(&e.detail))
}

/// `WHERE …` for the filters of `q`, binding from `$first`; the clause and its arguments.
fn audit_filter(q: &AuditQuery, with_window: bool) -> (String, Vec<super::db::Value>) {
    let mut clauses = Vec::new();
    let mut args: Vec<super::db::Value> = Vec::new();
    let arg = |v: super::db::Value, args: &mut Vec<super::db::Value>| {
        args.push(v);
        format!("${}", args.len())
    };
    if let Some(kinds) = &q.kinds {
        if kinds.is_empty() {
            clauses.push("1 = 0".to_string());
        } else {
            let list: Vec<String> = kinds.iter().map(|k| arg(k.clone().into(), &mut args)).collect();
            clauses.push(format!("kind IN ({})", list.join(", ")));
        }
    }
    if let Some(u) = &q.user_id {
        clauses.push(format!("user_id = {}", arg(u.clone().into(), &mut args)));
    }
    if let Some(c) = &q.client_id {
        clauses.push(format!("client_id = {}", arg(c.clone().into(), &mut args)));
    }
    if with_window {
        if let Some(after) = q.after_id {
            clauses.push(format!("id > {}", arg(after.into(), &mut args)));
        }
    }
    let clause = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    (clause, args)
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn record_audit(&self, e: &AuditEvent) -> StoreResult<()> {
        self.db.execute(insert_audit(e)).await?;
        Ok(())
    }

    async fn record_audit_batch(&self, events: &[AuditEvent]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let inserts: Vec<super::db::Query> = events.iter().map(insert_audit).collect();
        self.db
            .transaction(move |c| {
                Box::pin(async move {
                    for q in inserts {
                        c.execute(q).await?;
                    }
                    Ok(Finish::Commit(()))
                })
            })
            .await
    }

    async fn list_audit(&self, limit: i64) -> StoreResult<Vec<AuditEvent>> {
        let q = AuditQuery { newest_first: true, limit, ..Default::default() };
        Ok(self.query_audit(&q).await?.into_iter().map(|r| r.event).collect())
    }

    async fn query_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        let (clause, args) = audit_filter(q, true);
        let order = if q.newest_first && q.after_id.is_none() { "DESC" } else { "ASC" };
        let n = args.len();
        let mut stmt = query(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events{clause} ORDER BY id {order} LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        ));
        for a in args {
            stmt = stmt.bind(a);
        }
        self.db.all(stmt.bind(q.limit.max(0)).bind(q.offset.max(0)), audit_from_row).await
    }

    async fn count_audit(&self, q: &AuditQuery) -> StoreResult<i64> {
        let (clause, args) = audit_filter(q, false);
        let mut stmt = query(format!("SELECT COUNT(*) AS n FROM audit_events{clause}"));
        for a in args {
            stmt = stmt.bind(a);
        }
        Ok(self.db.optional(stmt, |r| r.get::<i64>("n")).await?.unwrap_or(0))
    }

    async fn get_audit(&self, id: i64) -> StoreResult<Option<AuditRecord>> {
        self.db.optional(query(format!("SELECT {AUDIT_COLUMNS} FROM audit_events WHERE id = $1")).bind(id), audit_from_row).await
    }

    async fn audit_kinds(&self) -> StoreResult<Vec<String>> {
        self.db.all(query("SELECT DISTINCT kind FROM audit_events ORDER BY kind"), |r| r.get::<String>("kind")).await
    }
}

#[async_trait]
impl ReplayStore for SqlStore {
    async fn remember_jti(&self, namespace: &str, jti: &str, expires_at: i64, now: i64) -> StoreResult<bool> {
        // Inserts, or takes over an entry that has expired; an unexpired entry is left alone
        // and the statement touches no row: that is the replay.
        self.write_one(
            query(
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
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        let Db::Sqlite(engine) = &self.db else {
            self.db.fetch_optional(query("SELECT 1")).await?;
            return Ok(());
        };
        // A read that touches the schema, and what requests found: a damaged page, or
        // writes failing (a full disk), which a probe write clears once it commits again.
        self.db.fetch_optional(query("SELECT count(*) FROM sqlite_master")).await?;
        if let Some(e) = engine.health().corrupt() {
            return Err(StoreError::Corrupt(format!("the database file is damaged: {e}")));
        }
        if let Some(e) = engine.health().failing_writes() {
            let free = super::sqlite_files::free_bytes(engine.path());
            if free.is_some_and(|b| b < super::sqlite_files::MIN_FREE_BYTES) {
                return Err(StoreError::Unavailable(format!("writes are failing and the disk is full: {e}")));
            }
            self.db.execute(query("UPDATE tenant_settings SET value = value WHERE key = 'master_key_check'")).await?;
        }
        Ok(())
    }

    fn backend(&self) -> &'static str {
        self.backend.name()
    }
}
