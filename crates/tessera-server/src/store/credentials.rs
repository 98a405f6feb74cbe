//! SQL for client credentials (Auth0's `/clients/{id}/credentials`), shared by SQLite and
//! PostgreSQL. A credential row holds the public key as a JWK; which credentials a client
//! has enabled for `private_key_jwt` is the JSON list in its `clients` row, so deleting a
//! credential takes it out of that list in the same transaction.

use tessera_core::model::{ClientCredential, CredentialAlg};
use tessera_core::store::{StoreError, StoreResult};

use super::db::{query, Conn, Finish, Row};
use super::SqlStore;

const COLUMNS: &str = "id, client_id, name, kid, alg, public_jwk, thumbprint, created_at, updated_at, expires_at";

fn from_row(r: &Row) -> StoreResult<ClientCredential> {
    let alg: String = r.get("alg")?;
    let jwk: String = r.get("public_jwk")?;
    Ok(ClientCredential {
        id: r.get("id")?,
        client_id: r.get("client_id")?,
        name: r.get("name")?,
        kid: r.get("kid")?,
        alg: CredentialAlg::parse(&alg).map_err(|_| StoreError::Corrupt(format!("credential alg {alg:?}")))?,
        public_jwk: serde_json::from_str(&jwk).map_err(|e| StoreError::Corrupt(format!("credential public_jwk: {e}")))?,
        thumbprint: r.get("thumbprint")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        expires_at: r.get("expires_at")?,
    })
}

fn conflict(e: StoreError) -> StoreError {
    match e {
        StoreError::Conflict(_) => StoreError::Conflict("a credential with this key or kid on this client".into()),
        other => other,
    }
}

impl SqlStore {
    pub(super) async fn insert_credential_tx(c: &mut dyn Conn, k: &ClientCredential) -> StoreResult<()> {
        c.execute(
            query(format!("INSERT INTO client_credentials ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
                .bind(&k.id)
                .bind(&k.client_id)
                .bind(&k.name)
                .bind(&k.kid)
                .bind(k.alg.as_str())
                .bind(k.public_jwk.to_string())
                .bind(&k.thumbprint)
                .bind(k.created_at)
                .bind(k.updated_at)
                .bind(k.expires_at),
        )
        .await
        .map_err(conflict)?;
        Ok(())
    }

    pub(super) async fn insert_credential(&self, k: &ClientCredential) -> StoreResult<bool> {
        let k = k.clone();
        self.db()
            .transaction(move |tx| {
                Box::pin(async move {
                    let exists = tx
                        .fetch_optional(query("SELECT client_id FROM clients WHERE client_id = $1").bind(&k.client_id))
                        .await?
                        .is_some();
                    if !exists {
                        return Ok(Finish::Rollback(false));
                    }
                    Self::insert_credential_tx(tx, &k).await?;
                    Ok(Finish::Commit(true))
                })
            })
            .await
    }

    pub(super) async fn credentials_of(&self, client_id: &str) -> StoreResult<Vec<ClientCredential>> {
        self.db()
            .all(
                query(format!("SELECT {COLUMNS} FROM client_credentials WHERE client_id = $1 ORDER BY created_at, id"))
                    .bind(client_id),
                from_row,
            )
            .await
    }

    pub(super) async fn credential(&self, client_id: &str, id: &str) -> StoreResult<Option<ClientCredential>> {
        self.db()
            .optional(
                query(format!("SELECT {COLUMNS} FROM client_credentials WHERE client_id = $1 AND id = $2"))
                    .bind(client_id)
                    .bind(id),
                from_row,
            )
            .await
    }

    pub(super) async fn set_credential_expiry(
        &self,
        client_id: &str,
        id: &str,
        expires_at: Option<i64>,
        now: i64,
    ) -> StoreResult<bool> {
        self.write_one(
            query("UPDATE client_credentials SET expires_at = $3, updated_at = $4 WHERE client_id = $1 AND id = $2")
                .bind(client_id)
                .bind(id)
                .bind(expires_at)
                .bind(now),
        )
        .await
    }

    pub(super) async fn delete_credential(&self, client_id: &str, id: &str, now: i64) -> StoreResult<bool> {
        let (client_id, id) = (client_id.to_owned(), id.to_owned());
        self.db()
            .transaction(move |tx| {
                Box::pin(async move {
                    let n = tx
                        .execute(
                            query("DELETE FROM client_credentials WHERE client_id = $1 AND id = $2").bind(&client_id).bind(&id),
                        )
                        .await?;
                    if n == 0 {
                        return Ok(Finish::Rollback(false));
                    }
                    let row = tx
                        .fetch_optional(
                            query("SELECT private_key_jwt_credentials FROM clients WHERE client_id = $1").bind(&client_id),
                        )
                        .await?;
                    if let Some(row) = row {
                        let text: String = row.get("private_key_jwt_credentials")?;
                        let mut ids: Vec<String> = serde_json::from_str(&text)
                            .map_err(|e| StoreError::Corrupt(format!("private_key_jwt_credentials: {e}")))?;
                        if ids.contains(&id) {
                            ids.retain(|i| *i != id);
                            let list = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
                            tx.execute(
                                query(
                                    "UPDATE clients SET private_key_jwt_credentials = $2, updated_at = $3 WHERE client_id = $1",
                                )
                                .bind(&client_id)
                                .bind(list)
                                .bind(now),
                            )
                            .await?;
                        }
                    }
                    Ok(Finish::Commit(true))
                })
            })
            .await
    }
}
