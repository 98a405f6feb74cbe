//! SQL for the email outbox and the emailed tickets and codes ([`tessera_core::tickets`]),
//! shared by SQLite and PostgreSQL like [`super::protocol`].
//!
//! Claiming is one `UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING`: on PostgreSQL
//! the inner select takes `FOR UPDATE SKIP LOCKED`, so nodes claiming at once split the due
//! rows instead of queueing on each other's locks; SQLite's one writer serialises claims.
//! A lease that runs out (a node died mid-send) makes the row claimable again: a message
//! is delivered at least once, never lost.

use async_trait::async_trait;

use tessera_core::state::Issuance;
use tessera_core::store::*;
use tessera_core::tickets::{OutboundEmail, Ticket, TicketKind};

use super::db::{query, Row};
use super::{Backend, SqlStore};

const EMAIL_COLUMNS: &str = "id, recipient, subject, text_body, html_body, created_at, due_at, attempts, sent_at, last_error";

fn email_from_row(r: &Row) -> StoreResult<OutboundEmail> {
    Ok(OutboundEmail {
        id: r.get("id")?,
        recipient: r.get("recipient")?,
        subject: r.get("subject")?,
        text_body: r.get("text_body")?,
        html_body: r.get("html_body")?,
        created_at: r.get("created_at")?,
        due_at: r.get("due_at")?,
        attempts: r.get("attempts")?,
        sent_at: r.get("sent_at")?,
        last_error: r.get("last_error")?,
    })
}

const TICKET_COLUMNS: &str =
    "ticket_hash, kind, user_id, email, client_id, code_hash, scope, created_at, expires_at, consumed_at, attempts";

/// Consumes the live code of `ticket_hash` only if it is still the one whose hash is
/// `code_hash` (a newer code replaces the row; the old one must not consume it).
fn consume_otp_query(ticket_hash: &str, code_hash: &str, now: i64) -> super::db::Query {
    query(
        "UPDATE email_tickets SET consumed_at = $3 \
         WHERE ticket_hash = $1 AND code_hash = $2 AND kind = 'otp' AND consumed_at IS NULL AND expires_at > $3",
    )
    .bind(ticket_hash)
    .bind(code_hash)
    .bind(now)
}

fn ticket_from_row(r: &Row) -> StoreResult<Ticket> {
    let kind: String = r.get("kind")?;
    Ok(Ticket {
        ticket_hash: r.get("ticket_hash")?,
        kind: TicketKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("ticket kind {kind:?}")))?,
        user_id: r.get("user_id")?,
        email: r.get("email")?,
        client_id: r.get("client_id")?,
        code_hash: r.get("code_hash")?,
        scope: r.get("scope")?,
        created_at: r.get("created_at")?,
        expires_at: r.get("expires_at")?,
        consumed_at: r.get("consumed_at")?,
        attempts: r.get("attempts")?,
    })
}

#[async_trait]
impl EmailStore for SqlStore {
    async fn enqueue_email(&self, e: &OutboundEmail) -> StoreResult<()> {
        self.db()
            .execute(
                query(format!("INSERT INTO email_outbox ({EMAIL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
                    .bind(&e.id)
                    .bind(&e.recipient)
                    .bind(&e.subject)
                    .bind(&e.text_body)
                    .bind(&e.html_body)
                    .bind(e.created_at)
                    .bind(e.due_at)
                    .bind(e.attempts)
                    .bind(e.sent_at)
                    .bind(&e.last_error),
            )
            .await?;
        Ok(())
    }

    async fn claim_due_emails(&self, now: i64, lease_until: i64, claim: &str, limit: i64) -> StoreResult<Vec<OutboundEmail>> {
        let lock = match self.backend_kind() {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE email_outbox SET lease_until = $2, claim = $3 WHERE id IN (\
               SELECT id FROM email_outbox WHERE sent_at IS NULL AND due_at <= $1 \
               AND (lease_until IS NULL OR lease_until <= $1) ORDER BY due_at LIMIT $4{lock}) \
             RETURNING {EMAIL_COLUMNS}"
        );
        let q = query(sql).bind(now).bind(lease_until).bind(claim).bind(limit);
        let rows =
            self.db().transaction(move |c| Box::pin(async move { c.fetch_all(q).await.map(super::db::Finish::Commit) })).await?;
        rows.iter().map(email_from_row).collect()
    }

    async fn mark_email_sent(&self, id: &str, claim: &str, now: i64) -> StoreResult<bool> {
        self.write_one(
            query(
                "UPDATE email_outbox SET sent_at = $3, text_body = '', html_body = '', lease_until = NULL, last_error = NULL \
                 WHERE id = $1 AND claim = $2 AND sent_at IS NULL",
            )
            .bind(id)
            .bind(claim)
            .bind(now),
        )
        .await
    }

    async fn reschedule_email(&self, id: &str, claim: &str, due_at: i64, error: &str) -> StoreResult<bool> {
        let error: String = error.chars().take(500).collect();
        self.write_one(
            query(
                "UPDATE email_outbox SET attempts = attempts + 1, due_at = $3, last_error = $4, lease_until = NULL, claim = NULL \
                 WHERE id = $1 AND claim = $2 AND sent_at IS NULL",
            )
            .bind(id)
            .bind(claim)
            .bind(due_at)
            .bind(error),
        )
        .await
    }

    async fn get_email(&self, id: &str) -> StoreResult<Option<OutboundEmail>> {
        self.db()
            .optional(query(format!("SELECT {EMAIL_COLUMNS} FROM email_outbox WHERE id = $1")).bind(id), email_from_row)
            .await
    }

    async fn put_ticket(&self, t: &Ticket) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO email_tickets ({TICKET_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (ticket_hash) DO UPDATE SET kind = excluded.kind, user_id = excluded.user_id, email = excluded.email, \
             client_id = excluded.client_id, code_hash = excluded.code_hash, scope = excluded.scope, \
             created_at = excluded.created_at, expires_at = excluded.expires_at, consumed_at = excluded.consumed_at, \
             attempts = excluded.attempts"
        );
        self.db()
            .execute(
                query(sql)
                    .bind(&t.ticket_hash)
                    .bind(t.kind.as_str())
                    .bind(&t.user_id)
                    .bind(&t.email)
                    .bind(&t.client_id)
                    .bind(&t.code_hash)
                    .bind(&t.scope)
                    .bind(t.created_at)
                    .bind(t.expires_at)
                    .bind(t.consumed_at)
                    .bind(t.attempts),
            )
            .await?;
        Ok(())
    }

    async fn get_ticket(&self, ticket_hash: &str) -> StoreResult<Option<Ticket>> {
        self.db()
            .optional(
                query(format!("SELECT {TICKET_COLUMNS} FROM email_tickets WHERE ticket_hash = $1")).bind(ticket_hash),
                ticket_from_row,
            )
            .await
    }

    async fn consume_ticket(&self, ticket_hash: &str, kind: TicketKind, now: i64) -> StoreResult<Option<Ticket>> {
        let row = self
            .db()
            .execute_returning(
                query(format!(
                    "UPDATE email_tickets SET consumed_at = $3 \
                     WHERE ticket_hash = $1 AND kind = $2 AND consumed_at IS NULL AND expires_at > $3 \
                     RETURNING {TICKET_COLUMNS}"
                ))
                .bind(ticket_hash)
                .bind(kind.as_str())
                .bind(now),
            )
            .await?;
        row.as_ref().map(ticket_from_row).transpose()
    }

    async fn count_otp_attempt(&self, ticket_hash: &str, max_attempts: i64, now: i64) -> StoreResult<Option<Ticket>> {
        let row = self
            .db()
            .execute_returning(
                query(format!(
                    "UPDATE email_tickets SET attempts = attempts + 1 \
                     WHERE ticket_hash = $1 AND kind = 'otp' AND consumed_at IS NULL AND expires_at > $2 AND attempts < $3 \
                     RETURNING {TICKET_COLUMNS}"
                ))
                .bind(ticket_hash)
                .bind(now)
                .bind(max_attempts),
            )
            .await?;
        row.as_ref().map(ticket_from_row).transpose()
    }

    async fn redeem_otp(&self, ticket_hash: &str, code_hash: &str, now: i64, issuance: &Issuance) -> StoreResult<bool> {
        self.consume_and_record(consume_otp_query(ticket_hash, code_hash, now), issuance).await
    }

    async fn consume_otp(&self, ticket_hash: &str, code_hash: &str, now: i64) -> StoreResult<bool> {
        Ok(self.db().execute(consume_otp_query(ticket_hash, code_hash, now)).await? == 1)
    }

    async fn purge_email_state(&self, before: i64) -> StoreResult<u64> {
        let tickets = self.db().execute(query("DELETE FROM email_tickets WHERE expires_at < $1").bind(before)).await?;
        let sent =
            self.db().execute(query("DELETE FROM email_outbox WHERE sent_at IS NOT NULL AND sent_at < $1").bind(before)).await?;
        Ok(tickets + sent)
    }
}
