//! SQL for pushed authorization requests (RFC 9126) and device authorizations (RFC 8628),
//! shared by SQLite and PostgreSQL like [`super::protocol`]. Every single-use transition
//! is one conditional statement: of N concurrent attempts exactly one changes the row.

use async_trait::async_trait;

use tessera_core::model::User;
use tessera_core::state::{DeviceCode, DeviceStatus, Issuance, PushedRequest};
use tessera_core::store::*;

use super::db::{query, Row};
use super::sql::{joined_user, joined_user_columns, qualified};
use super::SqlStore;

const PUSHED_COLUMNS: &str = "request_uri_hash, client_id, request, created_at, expires_at, consumed_at";

fn pushed_from_row(r: &Row) -> StoreResult<PushedRequest> {
    Ok(PushedRequest {
        request_uri_hash: r.get("request_uri_hash")?,
        client_id: r.get("client_id")?,
        request: r.get("request")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        consumed_at: r.get("consumed_at")?,
    })
}

const DEVICE_COLUMNS: &str =
    "device_code_hash, user_code_hash, client_id, scope, audience, status, poll_interval, user_id, auth_time, sid, created_at, expires_at, consumed_at";

fn device_from_row(r: &Row) -> StoreResult<DeviceCode> {
    let status: String = r.get("status")?;
    Ok(DeviceCode {
        device_code_hash: r.get("device_code_hash")?,
        user_code_hash: r.get("user_code_hash")?,
        client_id: r.get("client_id")?,
        scope: r.get("scope")?,
        audience: r.get("audience")?,
        status: DeviceStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("device code status {status:?}")))?,
        interval: r.get("poll_interval")?,
        user_id: r.get("user_id")?,
        auth_time: r.get("auth_time")?,
        sid: r.get("sid")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        consumed_at: r.get("consumed_at")?,
    })
}

#[async_trait]
impl PushedRequestStore for SqlStore {
    async fn insert_pushed_request(&self, p: &PushedRequest) -> StoreResult<()> {
        self.db()
            .execute(
                query(format!("INSERT INTO pushed_requests ({PUSHED_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"))
                    .bind(&p.request_uri_hash)
                    .bind(&p.client_id)
                    .bind(&p.request)
                    .bind(p.created_at)
                    .bind(p.expires_at)
                    .bind(p.consumed_at),
            )
            .await?;
        Ok(())
    }

    async fn consume_pushed_request(
        &self,
        request_uri_hash: &str,
        client_id: &str,
        now: i64,
    ) -> StoreResult<Option<PushedRequest>> {
        let row = self
            .db()
            .execute_returning(
                query(format!(
                    "UPDATE pushed_requests SET consumed_at = $3 \
                     WHERE request_uri_hash = $1 AND client_id = $2 AND consumed_at IS NULL AND expires_at > $3 \
                     RETURNING {PUSHED_COLUMNS}"
                ))
                .bind(request_uri_hash)
                .bind(client_id)
                .bind(now),
            )
            .await?;
        row.as_ref().map(pushed_from_row).transpose()
    }
}

#[async_trait]
impl DeviceCodeStore for SqlStore {
    async fn insert_device_code(&self, d: &DeviceCode) -> StoreResult<()> {
        self.db()
            .execute(
                query(format!(
                    "INSERT INTO device_codes ({DEVICE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
                ))
                .bind(&d.device_code_hash)
                .bind(&d.user_code_hash)
                .bind(&d.client_id)
                .bind(&d.scope)
                .bind(&d.audience)
                .bind(d.status.as_str())
                .bind(d.interval)
                .bind(&d.user_id)
                .bind(d.auth_time)
                .bind(&d.sid)
                .bind(d.created_at)
                .bind(d.expires_at)
                .bind(d.consumed_at),
            )
            .await?;
        Ok(())
    }

    async fn get_device_code_and_user(&self, device_code_hash: &str) -> StoreResult<Option<(DeviceCode, Option<User>)>> {
        let columns = qualified(DEVICE_COLUMNS, "d");
        let user_at = columns.split(", ").count();
        let sql = format!(
            "SELECT {columns}, {} FROM device_codes d LEFT JOIN users u ON u.user_id = d.user_id WHERE d.device_code_hash = $1",
            joined_user_columns()
        );
        let Some(r) = self.db().fetch_optional(query(sql).bind(device_code_hash)).await? else { return Ok(None) };
        let code = device_from_row(&r)?;
        Ok(Some((code, joined_user(r, user_at)?)))
    }

    async fn find_device_code_by_user_code(&self, user_code_hash: &str) -> StoreResult<Option<DeviceCode>> {
        self.db()
            .optional(
                query(format!("SELECT {DEVICE_COLUMNS} FROM device_codes WHERE user_code_hash = $1")).bind(user_code_hash),
                device_from_row,
            )
            .await
    }

    async fn decide_device_code(
        &self,
        user_code_hash: &str,
        approved: bool,
        user_id: &str,
        auth_time: i64,
        sid: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        let status = if approved { DeviceStatus::Approved } else { DeviceStatus::Denied };
        self.write_one(
            query(
                "UPDATE device_codes SET status = $2, user_id = $3, auth_time = $4, sid = $5 \
                 WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $6",
            )
            .bind(user_code_hash)
            .bind(status.as_str())
            .bind(user_id)
            .bind(auth_time)
            .bind(sid)
            .bind(now),
        )
        .await
    }

    async fn redeem_device_code(&self, device_code_hash: &str, now: i64, issuance: &Issuance) -> StoreResult<bool> {
        let consume = query(
            "UPDATE device_codes SET consumed_at = $2 \
             WHERE device_code_hash = $1 AND status = 'approved' AND consumed_at IS NULL AND expires_at > $2",
        )
        .bind(device_code_hash)
        .bind(now);
        self.consume_and_record(consume, issuance).await
    }
}
