//! Trusted issuers (RFC 7523 / RFC 8693 JWTs of other issuers), the same SQL on both
//! backends. The JWK Set and the client list are JSON text, as lists are everywhere.

use async_trait::async_trait;
use serde_json::Value;
use tessera_core::model::{SubjectMapping, TrustedIssuer};
use tessera_core::store::{StoreError, StoreResult, TrustedIssuerStore};

use super::db::{query, Query, Row};
use super::SqlStore;

const COLUMNS: &str = "id, issuer, name, jwks, jwks_uri, subject_mapping, clients, created_at, updated_at";

fn from_row(r: &Row) -> StoreResult<TrustedIssuer> {
    let corrupt = |what: &str, e: serde_json::Error| StoreError::Corrupt(format!("trusted issuer {what}: {e}"));
    let jwks: Option<String> = r.get("jwks")?;
    let mapping: String = r.get("subject_mapping")?;
    Ok(TrustedIssuer {
        id: r.get("id")?,
        issuer: r.get("issuer")?,
        name: r.get("name")?,
        jwks: jwks.map(|j| serde_json::from_str::<Value>(&j).map_err(|e| corrupt("jwks", e))).transpose()?,
        jwks_uri: r.get("jwks_uri")?,
        subject_mapping: serde_json::from_value::<SubjectMapping>(Value::String(mapping))
            .map_err(|e| corrupt("subject_mapping", e))?,
        clients: serde_json::from_str(&r.get::<String>("clients")?).map_err(|e| corrupt("clients", e))?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

fn clients_text(t: &TrustedIssuer) -> String {
    serde_json::to_string(&t.clients).unwrap_or_else(|_| "[]".into())
}

/// Binds every column in [`COLUMNS`] order as `$1..$9`.
fn bind_all(q: Query, t: &TrustedIssuer) -> Query {
    q.bind(&t.id)
        .bind(&t.issuer)
        .bind(&t.name)
        .bind(t.jwks.as_ref().map(Value::to_string))
        .bind(t.jwks_uri.clone())
        .bind(t.subject_mapping.as_str())
        .bind(clients_text(t))
        .bind(t.created_at)
        .bind(t.updated_at)
}

#[async_trait]
impl TrustedIssuerStore for SqlStore {
    async fn insert_trusted_issuer(&self, t: &TrustedIssuer) -> StoreResult<()> {
        let q = query(format!("INSERT INTO trusted_issuers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"));
        self.db().execute(bind_all(q, t)).await.map_err(conflict)?;
        Ok(())
    }

    async fn update_trusted_issuer(&self, t: &TrustedIssuer) -> StoreResult<bool> {
        let q = query(
            "UPDATE trusted_issuers SET issuer = $2, name = $3, jwks = $4, jwks_uri = $5, subject_mapping = $6, clients = $7, \
             updated_at = $8 WHERE id = $1",
        );
        let q = q
            .bind(&t.id)
            .bind(&t.issuer)
            .bind(&t.name)
            .bind(t.jwks.as_ref().map(Value::to_string))
            .bind(t.jwks_uri.clone())
            .bind(t.subject_mapping.as_str())
            .bind(clients_text(t))
            .bind(t.updated_at);
        Ok(self.db().execute(q).await.map_err(conflict)? > 0)
    }

    async fn delete_trusted_issuer(&self, id: &str) -> StoreResult<bool> {
        Ok(self.db().execute(query("DELETE FROM trusted_issuers WHERE id = $1").bind(id)).await? > 0)
    }

    async fn get_trusted_issuer(&self, id: &str) -> StoreResult<Option<TrustedIssuer>> {
        self.db().optional(query(format!("SELECT {COLUMNS} FROM trusted_issuers WHERE id = $1")).bind(id), from_row).await
    }

    async fn find_trusted_issuer(&self, issuer: &str) -> StoreResult<Option<TrustedIssuer>> {
        self.db().optional(query(format!("SELECT {COLUMNS} FROM trusted_issuers WHERE issuer = $1")).bind(issuer), from_row).await
    }

    async fn list_trusted_issuers(&self) -> StoreResult<Vec<TrustedIssuer>> {
        self.db().all(query(format!("SELECT {COLUMNS} FROM trusted_issuers ORDER BY created_at, id")), from_row).await
    }
}

fn conflict(e: StoreError) -> StoreError {
    match e {
        StoreError::Conflict(_) => StoreError::Conflict("a trusted issuer with this issuer".into()),
        other => other,
    }
}
