//! Storage ports. Each method states an intent and is atomic on its own; adapters
//! (`tessera-server/src/store/`) implement them for SQLite and PostgreSQL and pass one
//! shared contract suite. Nothing here reads-then-writes across two calls when a
//! decision depends on the read: such operations are one conditional statement or one
//! transaction inside the adapter.

use async_trait::async_trait;
use serde_json::Value;

use crate::error::Error;
use crate::model::{
    Client, ClientCredential, ClientGrant, ClientSecret, Job, JobStatus, ResourceServer, SigningAlg, TrustedIssuer, User,
};
use crate::registration::{DynamicClient, RegistrationToken};
use crate::state::{
    AccessTokenRecord, AuthorizationCode, Consent, DeviceCode, Issuance, LoginTransaction, PushedRequest, RefreshFamily,
    RefreshTokenRecord, Session, ThrottleState,
};
use crate::tickets::{OutboundEmail, Ticket, TicketKind};
use crate::tokens::{KeyState, SigningKeyRecord};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness constraint refused the write (the object already exists).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database could not be reached or timed out; the operation may be retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data does not decode (corruption or a newer schema).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A refresh token, its family, and the family's user if it still exists.
pub type RefreshGrantView = (RefreshTokenRecord, RefreshFamily, Option<User>);

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Error::conflict(format!("{what} already exists")),
            StoreError::Unavailable(d) => Error::temporarily_unavailable(d),
            StoreError::Corrupt(d) => Error::server_error(d),
        }
    }
}

/// A security-relevant event (failed authentication, code reuse, key rotation, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub at: i64,
    pub kind: String,
    pub client_id: Option<String>,
    pub user_id: Option<String>,
    pub ip: Option<String>,
    pub detail: Value,
}

#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Inserts a client and (optionally) its first secret in one transaction.
    async fn insert_client(&self, client: &Client, secret: Option<&ClientSecret>) -> StoreResult<()> {
        self.insert_client_with_credentials(client, secret, &[]).await
    }
    /// Inserts a client, its first secret and its first credentials in one transaction.
    async fn insert_client_with_credentials(
        &self,
        client: &Client,
        secret: Option<&ClientSecret>,
        credentials: &[ClientCredential],
    ) -> StoreResult<()>;
    /// Returns `false` if the client does not exist.
    async fn update_client(&self, client: &Client) -> StoreResult<bool>;
    /// Deletes the client with its secrets and client grants; `false` if it did not exist.
    async fn delete_client(&self, client_id: &str) -> StoreResult<bool>;
    async fn get_client(&self, client_id: &str) -> StoreResult<Option<Client>>;
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    /// Adds `secret` and ends every other still-valid secret of the client at
    /// `others_expire_at` (now, or later for an overlap), atomically. `false` if the client
    /// does not exist.
    async fn rotate_client_secret(&self, secret: &ClientSecret, others_expire_at: i64) -> StoreResult<bool>;
    async fn client_secrets(&self, client_id: &str) -> StoreResult<Vec<ClientSecret>>;
    /// Adds a credential to its client. `false` if the client does not exist; `Conflict` if
    /// the client already has this key (same thumbprint) or this `kid`.
    async fn insert_client_credential(&self, credential: &ClientCredential) -> StoreResult<bool>;
    /// The client's credentials, oldest first.
    async fn client_credentials(&self, client_id: &str) -> StoreResult<Vec<ClientCredential>>;
    async fn get_client_credential(&self, client_id: &str, id: &str) -> StoreResult<Option<ClientCredential>>;
    /// Sets (or with `None` clears) a credential's expiry; `false` if it does not exist.
    async fn set_client_credential_expiry(
        &self,
        client_id: &str,
        id: &str,
        expires_at: Option<i64>,
        now: i64,
    ) -> StoreResult<bool>;
    /// Deletes a credential and removes it from the client's `private_key_jwt` credentials,
    /// atomically; `false` if it did not exist.
    async fn delete_client_credential(&self, client_id: &str, id: &str, now: i64) -> StoreResult<bool>;
}

#[async_trait]
pub trait ApiStore: Send + Sync {
    async fn insert_api(&self, api: &ResourceServer) -> StoreResult<()>;
    async fn update_api(&self, api: &ResourceServer) -> StoreResult<bool>;
    /// Deletes the API and the client grants that name it.
    async fn delete_api(&self, id: &str) -> StoreResult<bool>;
    async fn get_api(&self, id: &str) -> StoreResult<Option<ResourceServer>>;
    async fn get_api_by_identifier(&self, identifier: &str) -> StoreResult<Option<ResourceServer>>;
    async fn list_apis(&self) -> StoreResult<Vec<ResourceServer>>;
}

#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Conflict if the client already has a grant for this audience.
    async fn insert_grant(&self, grant: &ClientGrant) -> StoreResult<()>;
    async fn update_grant(&self, grant: &ClientGrant) -> StoreResult<bool>;
    async fn delete_grant(&self, id: &str) -> StoreResult<bool>;
    async fn get_grant(&self, id: &str) -> StoreResult<Option<ClientGrant>>;
    async fn find_grant(&self, client_id: &str, audience: &str) -> StoreResult<Option<ClientGrant>>;
    async fn list_grants(&self, client_id: Option<&str>) -> StoreResult<Vec<ClientGrant>>;
}

/// What a user search selects (the Management API's `q` terms the store answers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UserFilter {
    pub email_verified: Option<bool>,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Conflict if the email or username is taken.
    async fn insert_user(&self, user: &User) -> StoreResult<()>;
    /// Writes every field, including the password hash and the blocked flag.
    async fn update_user(&self, user: &User) -> StoreResult<bool>;
    async fn delete_user(&self, user_id: &str) -> StoreResult<bool>;
    async fn get_user(&self, user_id: &str) -> StoreResult<Option<User>>;
    /// By username (exact) or email (case-insensitive: emails are stored lower-cased).
    async fn find_user_by_login(&self, login: &str) -> StoreResult<Option<User>>;
    async fn list_users(&self, limit: i64, offset: i64) -> StoreResult<Vec<User>>;
    /// How many users there are (the Management API's `include_totals`).
    async fn count_users(&self) -> StoreResult<i64>;
    /// The users `filter` selects, in the order of [`UserStore::list_users`].
    async fn list_users_matching(&self, filter: &UserFilter, limit: i64, offset: i64) -> StoreResult<Vec<User>>;
    async fn count_users_matching(&self, filter: &UserFilter) -> StoreResult<i64>;
    /// A user's `(user_metadata, app_metadata)`; `None` when none was ever stored.
    async fn get_user_metadata(&self, user_id: &str) -> StoreResult<Option<(Value, Value)>>;
    /// The metadata of each of `user_ids` that has any, in one read: a page of a user list
    /// (at most a few hundred ids; each is one bound parameter).
    async fn get_users_metadata(&self, user_ids: &[String]) -> StoreResult<Vec<(String, Value, Value)>>;
    /// Replaces both metadata objects; false when the user does not exist.
    async fn put_user_metadata(&self, user_id: &str, user_metadata: &Value, app_metadata: &Value) -> StoreResult<bool>;
    /// Replaces the user's password hash only if it is still `old` (one conditional
    /// statement): an imported hash upgraded at login is gone once this returns `true`.
    async fn replace_password_hash(&self, user_id: &str, old: &str, new: &str, now: i64) -> StoreResult<bool>;
}

/// One user of an import batch: the user, the file's entry (for Auth0's error report) and
/// its position in the file.
#[derive(Debug, Clone)]
pub struct ImportRow {
    pub seq: i64,
    pub user: crate::users_import::ImportedUser,
    /// The error entry recorded if the user already exists and is not upserted.
    pub conflict: Value,
}

/// A slice of an import's users, applied in one transaction with the job's progress.
#[derive(Debug, Clone)]
pub struct ImportBatch {
    pub upsert: bool,
    /// The job's cursor after this batch.
    pub cursor: i64,
    pub rows: Vec<ImportRow>,
    /// Users that failed the schema: `(seq, Auth0 error entry)`.
    pub invalid: Vec<(i64, Value)>,
}

/// Background jobs (user imports and exports), claimed by one node at a time.
#[async_trait]
pub trait JobStore: Send + Sync {
    async fn insert_job(&self, job: &Job) -> StoreResult<()>;
    async fn get_job(&self, id: &str) -> StoreResult<Option<Job>>;
    /// Claims the oldest job that is pending, or processing under a lease that ran out
    /// (its node stopped): one conditional UPDATE, so of several nodes exactly one gets it.
    /// The job is then `processing` under `claim` until `lease_until`.
    async fn claim_job(&self, claim: &str, now: i64, lease_until: i64) -> StoreResult<Option<Job>>;
    /// One transaction: the batch's users are inserted (or, with `upsert`, updated by
    /// email), conflicts and invalid users recorded as errors, and the job's cursor, counts
    /// and lease moved on — only while `claim` still holds the job. `false`, with nothing
    /// written, if it does not.
    async fn import_batch(&self, job_id: &str, claim: &str, batch: &ImportBatch, now: i64, lease_until: i64)
        -> StoreResult<bool>;
    /// Ends a claimed job (completed or failed) with an export's `result` or a `failure`;
    /// drops its input. `false` if `claim` no longer holds it.
    async fn finish_job(
        &self,
        job_id: &str,
        claim: &str,
        status: JobStatus,
        result: Option<&str>,
        failure: Option<&str>,
        now: i64,
    ) -> StoreResult<bool>;
    /// An import's error entries, in file order.
    async fn job_errors(&self, job_id: &str) -> StoreResult<Vec<Value>>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn list_signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Conflict if `alg` already has a key in the record's state (`current` or `next`).
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// One transaction: `current` → `retired` (published until `publish_until`),
    /// `next` → `current`, `new_next` inserted as `next`. Conflict if `alg` has no `next`.
    async fn rotate_signing_keys(
        &self,
        alg: SigningAlg,
        now: i64,
        publish_until: i64,
        new_next: &SigningKeyRecord,
    ) -> StoreResult<()>;
    /// One transaction: marks `kid` revoked and returns its former state; if it was
    /// `current`, promotes `next`; if it was `current` or `next`, inserts `replacement` as
    /// the new `next`. `None` if no such (unrevoked) key.
    async fn revoke_signing_key(&self, kid: &str, now: i64, replacement: &SigningKeyRecord) -> StoreResult<Option<KeyState>>;
}

#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn get_setting(&self, key: &str) -> StoreResult<Option<String>>;
    /// Inserts unless present; returns the value now stored (first writer wins).
    async fn init_setting(&self, key: &str, value: &str) -> StoreResult<String>;
    /// Inserts or replaces a setting.
    async fn put_setting(&self, key: &str, value: &str) -> StoreResult<()>;
    /// A number that changes whenever clients, secrets, APIs or grants change (cache
    /// invalidation across nodes); 0 before the first change.
    async fn registry_version(&self) -> StoreResult<i64>;
    /// Increments the registry version atomically; returns the new value.
    async fn bump_registry_version(&self) -> StoreResult<i64>;
}

/// A stored [`AuditEvent`] with its id (ids grow with insertion order).
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub event: AuditEvent,
}

/// Which audit records to read: filters (all must hold), then a window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditQuery {
    /// Only these kinds (an empty list matches nothing).
    pub kinds: Option<Vec<String>>,
    pub user_id: Option<String>,
    pub client_id: Option<String>,
    /// Only records with a larger id (checkpoint pagination), read oldest first.
    pub after_id: Option<i64>,
    /// Newest first (ignored with `after_id`).
    pub newest_first: bool,
    pub offset: i64,
    pub limit: i64,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn record_audit(&self, event: &AuditEvent) -> StoreResult<()>;
    /// Several events in one transaction (the batched writer of the request path).
    async fn record_audit_batch(&self, events: &[AuditEvent]) -> StoreResult<()>;
    /// Newest first.
    async fn list_audit(&self, limit: i64) -> StoreResult<Vec<AuditEvent>>;
    async fn query_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;
    /// How many records match the filters of `q` (its window is ignored).
    async fn count_audit(&self, q: &AuditQuery) -> StoreResult<i64>;
    async fn get_audit(&self, id: i64) -> StoreResult<Option<AuditRecord>>;
    /// The distinct kinds recorded (to answer a search by Auth0 type code).
    async fn audit_kinds(&self) -> StoreResult<Vec<String>>;
}

/// Replay caches for one-time values (client assertion `jti`, DPoP proof `jti`), shared by
/// every node because they live in the database (DESIGN decision 9).
#[async_trait]
pub trait ReplayStore: Send + Sync {
    /// Records `(namespace, jti)` until `expires_at`. `true` the first time; `false` if it
    /// is already recorded and unexpired (a replay). One conditional statement.
    async fn remember_jti(&self, namespace: &str, jti: &str, expires_at: i64, now: i64) -> StoreResult<bool>;
}

#[async_trait]
pub trait CodeStore: Send + Sync {
    async fn insert_code(&self, code: &AuthorizationCode) -> StoreResult<()>;
    /// The code as stored, consumed or not (the grant checks binding before consuming).
    async fn get_code(&self, code_hash: &str) -> StoreResult<Option<AuthorizationCode>>;
    /// The code and its user (`None` if the user was deleted since) in one read: the code
    /// grant needs both, and one statement instead of two is what the token endpoint's
    /// budget allows.
    async fn get_code_and_user(&self, code_hash: &str) -> StoreResult<Option<(AuthorizationCode, Option<User>)>>;
    /// One transaction: consumes the code if it is unconsumed and unexpired at `now`
    /// (one conditional UPDATE), and records what was issued from it (access token, and
    /// the new refresh family with its first token). `false`, with nothing written, if the
    /// code was already consumed or has expired: never tokens without a consumed code,
    /// never a consumed code whose tokens were not recorded.
    async fn redeem_code(&self, code_hash: &str, now: i64, issuance: &Issuance) -> StoreResult<bool>;
    /// RFC 6749 §4.1.2 / RFC 9700 §4.5: on a second redemption, revoke every token issued
    /// from the code: its refresh family and its recorded access tokens.
    async fn revoke_code_grant(&self, code_hash: &str, now: i64) -> StoreResult<()>;
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn get_family(&self, family_id: &str) -> StoreResult<Option<RefreshFamily>>;
    /// Revokes a family, its refresh tokens and its recorded access tokens. Idempotent.
    async fn revoke_family(&self, family_id: &str, now: i64, reason: &str) -> StoreResult<()>;
    /// Records an access token `jti` as revoked until `expires_at` (it may not have been
    /// recorded at issuance, e.g. client_credentials).
    async fn revoke_access_token(&self, jti: &str, client_id: &str, expires_at: i64, now: i64) -> StoreResult<()>;
    async fn is_access_token_revoked(&self, jti: &str) -> StoreResult<bool>;
    /// A refresh token with its family, whatever their state.
    async fn get_refresh_token(&self, token_hash: &str) -> StoreResult<Option<(RefreshTokenRecord, RefreshFamily)>>;
    /// [`Self::get_refresh_token`] and the family's user (`None` if the user was deleted
    /// since), in one read, for the refresh grant.
    async fn get_refresh_token_and_user(&self, token_hash: &str) -> StoreResult<Option<RefreshGrantView>>;
    /// Rotation, one transaction: the family must be live (locked first, so a concurrent
    /// revocation is ordered before or after, never interleaved); `old_hash` is superseded
    /// by `successor` only if it is the live head and not idle-expired (compare-and-set),
    /// with `sealed_successor` kept for an idempotent retry; the access token is recorded.
    /// `false`, with nothing written, if any condition fails.
    async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        now: i64,
        successor: &RefreshTokenRecord,
        sealed_successor: Option<&str>,
        access_token: &AccessTokenRecord,
    ) -> StoreResult<bool>;
    /// Non-rotating use, one transaction: slides the idle expiry of a live head token in a
    /// live family and records the access token. `false` if the token is not usable.
    async fn use_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
        idle_expires_at: i64,
        access_token: &AccessTokenRecord,
    ) -> StoreResult<bool>;
    /// Revokes every live family of a client and/or a user (at least one must be given);
    /// returns how many.
    async fn revoke_families(&self, client_id: Option<&str>, user_id: Option<&str>, now: i64, reason: &str) -> StoreResult<u64>;
    /// A user's live families (not revoked, not past their absolute lifetime), oldest first.
    async fn list_user_families(&self, user_id: &str, now: i64) -> StoreResult<Vec<RefreshFamily>>;
    /// Records what a grant without a single-use credential issued (the password grants:
    /// the access token, and the new refresh family with its first token) in one
    /// transaction, so revoking the family reaches the access token.
    async fn record_issuance(&self, issuance: &Issuance) -> StoreResult<()>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn insert_session(&self, session: &Session) -> StoreResult<()>;
    /// The session if it exists (active or not; callers check [`Session::is_active`]).
    async fn get_session(&self, session_hash: &str) -> StoreResult<Option<Session>>;
    /// Slides the idle expiry (never past the absolute one).
    async fn touch_session(&self, session_hash: &str, now: i64, idle_expires_at: i64) -> StoreResult<()>;
    /// Ends a session; `true` if it was active.
    async fn end_session(&self, session_hash: &str, now: i64) -> StoreResult<bool>;
    /// Ends a session by its public `sid` (logout with an ID token hint).
    async fn end_session_by_sid(&self, sid: &str, now: i64) -> StoreResult<bool>;
    async fn get_session_by_sid(&self, sid: &str) -> StoreResult<Option<Session>>;
    /// A user's active sessions, oldest first.
    async fn list_user_sessions(&self, user_id: &str, now: i64) -> StoreResult<Vec<Session>>;
    /// Ends every active session of a user; how many.
    async fn end_user_sessions(&self, user_id: &str, now: i64) -> StoreResult<u64>;
}

#[async_trait]
pub trait LoginStore: Send + Sync {
    async fn insert_login(&self, txn: &LoginTransaction) -> StoreResult<()>;
    async fn get_login(&self, txn_hash: &str) -> StoreResult<Option<LoginTransaction>>;
    /// Records who authenticated in the transaction; `false` if it is gone, expired or done.
    async fn set_login_user(&self, txn_hash: &str, user_id: &str, auth_time: i64, now: i64) -> StoreResult<bool>;
    /// Single use: marks the transaction completed if it was not; `false` otherwise.
    async fn complete_login(&self, txn_hash: &str, now: i64) -> StoreResult<bool>;
}

#[async_trait]
pub trait ConsentStore: Send + Sync {
    async fn get_consent(&self, user_id: &str, client_id: &str, audience: &str) -> StoreResult<Option<Consent>>;
    /// Inserts or replaces the decision for user × client × audience.
    async fn put_consent(&self, consent: &Consent) -> StoreResult<()>;
}

/// Brute-force counters shared by every node (one atomic statement per failure).
#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// Counts a failure for `key` in a window of `window` seconds; when the count reaches
    /// `max_failures`, the key is blocked until `now + block_for`.
    async fn record_failure(
        &self,
        key: &str,
        now: i64,
        window: i64,
        max_failures: i64,
        block_for: i64,
    ) -> StoreResult<ThrottleState>;
    /// The latest `blocked_until` among `keys` that is still in the future.
    async fn blocked_until(&self, keys: &[&str], now: i64) -> StoreResult<Option<i64>>;
    async fn clear_failures(&self, key: &str) -> StoreResult<()>;
    /// Takes back one counted attempt that turned out not to be a failure (a successful
    /// login); lifts the block when the count falls below `max_failures`. One statement.
    async fn refund_attempt(&self, key: &str, max_failures: i64) -> StoreResult<()>;
}

/// Issuers whose JWTs are accepted as grants (RFC 7523) and exchange subjects (RFC 8693).
#[async_trait]
pub trait TrustedIssuerStore: Send + Sync {
    /// Conflict if another trusted issuer has the same `issuer`.
    async fn insert_trusted_issuer(&self, issuer: &TrustedIssuer) -> StoreResult<()>;
    /// Writes every field; `false` if it does not exist. Conflict on a duplicate `issuer`.
    async fn update_trusted_issuer(&self, issuer: &TrustedIssuer) -> StoreResult<bool>;
    async fn delete_trusted_issuer(&self, id: &str) -> StoreResult<bool>;
    async fn get_trusted_issuer(&self, id: &str) -> StoreResult<Option<TrustedIssuer>>;
    /// By the exact `iss` value (the token-endpoint lookup: one indexed read).
    async fn find_trusted_issuer(&self, issuer: &str) -> StoreResult<Option<TrustedIssuer>>;
    async fn list_trusted_issuers(&self) -> StoreResult<Vec<TrustedIssuer>>;
}

/// Pushed authorization requests (RFC 9126).
#[async_trait]
pub trait PushedRequestStore: Send + Sync {
    async fn insert_pushed_request(&self, request: &PushedRequest) -> StoreResult<()>;
    /// Single use, one conditional UPDATE: marks the request consumed and returns it if it
    /// belongs to `client_id`, is unconsumed and unexpired at `now`. `None` otherwise, with
    /// nothing written (another client's `request_uri` is not burnt by trying it).
    async fn consume_pushed_request(
        &self,
        request_uri_hash: &str,
        client_id: &str,
        now: i64,
    ) -> StoreResult<Option<PushedRequest>>;
}

/// Device authorizations (RFC 8628).
#[async_trait]
pub trait DeviceCodeStore: Send + Sync {
    /// Conflict if the user code (or device code) hash is already taken: the caller draws
    /// a new user code.
    async fn insert_device_code(&self, code: &DeviceCode) -> StoreResult<()>;
    /// The device code with the user it was approved for (`None` before a decision or if
    /// the user was deleted since), in one indexed read: all a poll costs before approval.
    async fn get_device_code_and_user(&self, device_code_hash: &str) -> StoreResult<Option<(DeviceCode, Option<User>)>>;
    /// The authorization a user code names, whatever its state.
    async fn find_device_code_by_user_code(&self, user_code_hash: &str) -> StoreResult<Option<DeviceCode>>;
    /// The user's decision, once: sets the status (approved or denied) and the user only if
    /// the code is still pending and unexpired at `now`. `false`, with nothing written,
    /// otherwise (the user code is single use).
    async fn decide_device_code(
        &self,
        user_code_hash: &str,
        approved: bool,
        user_id: &str,
        auth_time: i64,
        sid: Option<&str>,
        now: i64,
    ) -> StoreResult<bool>;
    /// One transaction: consumes an approved, unconsumed, unexpired device code (one
    /// conditional UPDATE) and records what was issued from it. `false`, with nothing
    /// written, if another poll got there first or it expired.
    async fn redeem_device_code(&self, device_code_hash: &str, now: i64, issuance: &Issuance) -> StoreResult<bool>;
}

/// Dynamically registered clients (RFC 7591 / RFC 7592) and initial access tokens.
#[async_trait]
pub trait RegistrationStore: Send + Sync {
    /// Inserts the client (and its secret) with its registration record, unless
    /// `max_clients` (> 0) dynamic clients exist already: then `false` and nothing stays
    /// written.
    async fn insert_dynamic_client(
        &self,
        client: &Client,
        secret: Option<&ClientSecret>,
        record: &DynamicClient,
        max_clients: i64,
    ) -> StoreResult<bool>;
    async fn get_dynamic_client(&self, client_id: &str) -> StoreResult<Option<DynamicClient>>;
    /// Replaces the stored metadata (RFC 7592 §2.2); `false` if the client is not dynamic.
    async fn update_dynamic_metadata(&self, client_id: &str, metadata: &Value, now: i64) -> StoreResult<bool>;
    /// Records a use at `now` unless one was recorded after `since` (one conditional
    /// UPDATE, so frequent use writes rarely).
    async fn touch_dynamic_client(&self, client_id: &str, now: i64, since: i64) -> StoreResult<()>;
    async fn count_dynamic_clients(&self) -> StoreResult<i64>;
    /// Dynamic clients never used and registered before `unused_before`, or last used
    /// before `idle_before` (either `None`: that rule is off); at most `limit`.
    async fn expired_dynamic_clients(
        &self,
        unused_before: Option<i64>,
        idle_before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Vec<String>>;
    async fn insert_registration_token(&self, token: &RegistrationToken) -> StoreResult<()>;
    /// One conditional UPDATE: takes one use of an unexpired token with uses left; `false`
    /// with nothing written otherwise.
    async fn consume_registration_token(&self, token_hash: &str, now: i64) -> StoreResult<bool>;
    async fn list_registration_tokens(&self) -> StoreResult<Vec<RegistrationToken>>;
    async fn delete_registration_token(&self, id: &str) -> StoreResult<bool>;
}

/// The email outbox and the emailed tickets and one-time codes ([`crate::tickets`]).
#[async_trait]
pub trait EmailStore: Send + Sync {
    /// Queues a message; it stays until delivered (durable across restarts and nodes).
    async fn enqueue_email(&self, email: &OutboundEmail) -> StoreResult<()>;
    /// Claims up to `limit` unsent messages due at `now` whose lease (if any) has run out,
    /// leasing them to `claim` until `lease_until`, in one statement (PostgreSQL skips rows
    /// another node is claiming): of several workers each message goes to exactly one
    /// until its lease ends.
    async fn claim_due_emails(&self, now: i64, lease_until: i64, claim: &str, limit: i64) -> StoreResult<Vec<OutboundEmail>>;
    /// Marks a claimed message sent and wipes its body; `false` if `claim` no longer holds it.
    async fn mark_email_sent(&self, id: &str, claim: &str, now: i64) -> StoreResult<bool>;
    /// Counts a failed delivery of a claimed message and makes it due again at `due_at`.
    async fn reschedule_email(&self, id: &str, claim: &str, due_at: i64, error: &str) -> StoreResult<bool>;
    async fn get_email(&self, id: &str) -> StoreResult<Option<OutboundEmail>>;
    /// Inserts a ticket; a code ([`TicketKind::Otp`]) replaces the live one of the same hash.
    async fn put_ticket(&self, ticket: &Ticket) -> StoreResult<()>;
    async fn get_ticket(&self, ticket_hash: &str) -> StoreResult<Option<Ticket>>;
    /// Single use, one conditional UPDATE: consumes an unconsumed, unexpired ticket of
    /// `kind` and returns it; `None`, with nothing written, otherwise.
    async fn consume_ticket(&self, ticket_hash: &str, kind: TicketKind, now: i64) -> StoreResult<Option<Ticket>>;
    /// Counts one guess at a live code (one atomic increment) if fewer than
    /// `max_attempts` were counted; returns the code row as counted, `None` when there is
    /// no live code or its attempts are used up.
    async fn count_otp_attempt(&self, ticket_hash: &str, max_attempts: i64, now: i64) -> StoreResult<Option<Ticket>>;
    /// One transaction: consumes the live code whose hash is `code_hash` (one conditional
    /// UPDATE) and records what was issued from it; `false`, with nothing written, if it was
    /// consumed meanwhile or has expired.
    async fn redeem_otp(&self, ticket_hash: &str, code_hash: &str, now: i64, issuance: &Issuance) -> StoreResult<bool>;
    /// Consumes the live code whose hash is `code_hash` (one conditional UPDATE), for a
    /// magic link, which starts a session rather than issuing tokens; `false` if it was
    /// consumed meanwhile, replaced by a newer code, or has expired.
    async fn consume_otp(&self, ticket_hash: &str, code_hash: &str, now: i64) -> StoreResult<bool>;
    /// Deletes tickets that expired before `before` and sent messages older than it.
    async fn purge_email_state(&self, before: i64) -> StoreResult<u64>;
}

/// Everything a Tessera node needs from its database.
#[async_trait]
pub trait Store:
    ClientStore
    + ApiStore
    + GrantStore
    + UserStore
    + KeyStore
    + SettingsStore
    + AuditStore
    + ReplayStore
    + CodeStore
    + TokenStore
    + SessionStore
    + LoginStore
    + ConsentStore
    + ThrottleStore
    + TrustedIssuerStore
    + PushedRequestStore
    + DeviceCodeStore
    + RegistrationStore
    + EmailStore
    + JobStore
{
    /// A round trip to the database, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
}
