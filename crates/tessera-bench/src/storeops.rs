//! The store alone: CPU time per token-endpoint store sequence, with no HTTP and no
//! signature in the way (`--store-ops`).
//!
//! The HTTP scenarios bury the store under an RSA signature that costs several times more,
//! and on shared cores their throughput moves by ±15 % between runs. This mode runs, in
//! this process, exactly the store calls one request makes:
//!
//! - `rotation`: `get_refresh_token_and_user`, `rotate_refresh_token` (a refresh grant);
//! - `exchange`: `insert_code` (done by `/authorize`), then `get_code_and_user` and
//!   `redeem_code` with a new family (a code grant);
//!
//! from many concurrent tasks on a two-thread runtime, like the server's, and reports CPU
//! microseconds per sequence: this process's and, on PostgreSQL, the database server's.
//! It needs no server process; the database is a fresh file or a fresh PostgreSQL
//! database.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_core::model::User;
use tessera_core::state::{AccessTokenRecord, AuthorizationCode, Issuance, RefreshFamily, RefreshTokenRecord};
use tessera_core::store::{Store, UserStore};

use crate::growth::now;
use crate::procstat;
use crate::server::{Store as BenchStore, StoreKind};

/// One sequence's name and what it measured.
pub struct OpsResult {
    pub store: &'static str,
    pub sequence: &'static str,
    pub tasks: usize,
    pub per_second: f64,
    /// This process (the store's client side: SQLite entirely) per sequence.
    pub client_cpu_us: f64,
    /// The PostgreSQL server processes per sequence (`None` on SQLite).
    pub database_cpu_us: Option<f64>,
    /// Transactions per commit of SQLite's writer (`None` on PostgreSQL).
    pub batch: Option<f64>,
    /// Mean microseconds a transaction waited for SQLite's writer thread (`None` on
    /// PostgreSQL).
    pub queue_wait_us: Option<f64>,
}

/// A random 32-character value (nonce, PKCE challenge, session id).
fn random_id() -> String {
    tessera_core::crypto::random_token::<24>()
}

/// What the server stores for a code or refresh token it issues: the keyed hash of an
/// ordered handle, which starts with the time.
fn stored_handle() -> String {
    use tessera_core::crypto::{ordered_handle, Keyring, MasterKey};
    static KEYRING: std::sync::OnceLock<Keyring> = std::sync::OnceLock::new();
    KEYRING.get_or_init(|| Keyring::new(&MasterKey::generate())).hash_handle(&ordered_handle())
}

/// CPU ticks of every PostgreSQL process (the server forks one backend per connection).
fn postgres_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with("postgres")))
        .filter_map(procstat::cpu_ticks)
        .sum()
}

fn user(id: &str, at: i64) -> User {
    User {
        user_id: id.into(),
        email: Some(format!("{id}@bench.test")),
        email_verified: true,
        username: None,
        name: Some("Store Bench".into()),
        given_name: None,
        family_name: None,
        picture: None,
        password_hash: None,
        blocked: false,
        created_at: at,
        updated_at: at,
    }
}

fn code(user_id: &str, at: i64) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: stored_handle(),
        client_id: "store-bench-client".into(),
        user_id: user_id.into(),
        redirect_uri: Some("https://app.bench.test/callback".into()),
        scope: "openid profile email offline_access read:bench".into(),
        audience: Some("https://bench-rs256".into()),
        nonce: Some(random_id()),
        code_challenge: Some(random_id()),
        code_challenge_method: Some("S256".into()),
        dpop_jkt: None,
        auth_time: at,
        sid: Some(random_id()),
        created_at: at,
        expires_at: at + 600,
        consumed_at: None,
        family_id: None,
    }
}

fn token(family_id: &str, generation: i64, at: i64) -> RefreshTokenRecord {
    RefreshTokenRecord {
        token_hash: stored_handle(),
        family_id: family_id.into(),
        generation,
        created_at: at,
        idle_expires_at: at + 30 * 86_400,
        superseded_at: None,
        successor_hash: None,
        successor_token: None,
    }
}

fn access(family_id: Option<&str>, code_hash: Option<&str>, at: i64) -> AccessTokenRecord {
    AccessTokenRecord {
        jti: tessera_core::crypto::ordered_id::<12>(""),
        client_id: "store-bench-client".into(),
        family_id: family_id.map(Into::into),
        code_hash: code_hash.map(Into::into),
        expires_at: at + 86_400,
    }
}

/// The issuance a code redemption writes: an access token and a new family.
fn issuance(c: &AuthorizationCode, at: i64) -> Issuance {
    let family_id = tessera_core::crypto::ordered_id::<15>("rtf_");
    let family = RefreshFamily {
        family_id: family_id.clone(),
        client_id: c.client_id.clone(),
        user_id: c.user_id.clone(),
        scope: c.scope.clone(),
        audience: c.audience.clone(),
        nonce: c.nonce.clone(),
        auth_time: c.auth_time,
        sid: c.sid.clone(),
        dpop_jkt: None,
        created_at: at,
        absolute_expires_at: at + 365 * 86_400,
        revoked_at: None,
    };
    let first = token(&family_id, 0, at);
    Issuance { access_token: access(Some(&family_id), Some(&c.code_hash), at), refresh: Some((family, first)) }
}

/// A code grant's store calls, on a code inserted beforehand.
async fn exchange(store: &dyn Store, c: &AuthorizationCode) -> Result<String, String> {
    let at = now();
    let (got, user) = store.get_code_and_user(&c.code_hash).await.map_err(|e| e.to_string())?.ok_or("the code is gone")?;
    user.ok_or("the user is gone")?;
    let issued = issuance(&got, at);
    let head = issued.refresh.as_ref().map(|(_, t)| t.token_hash.clone()).unwrap_or_default();
    match store.redeem_code(&c.code_hash, at, &issued).await.map_err(|e| e.to_string())? {
        true => Ok(head),
        false => Err("the code was already redeemed".into()),
    }
}

/// A refresh grant's store calls; the successor's hash (the chain's next head).
async fn rotation(store: &dyn Store, head: &str) -> Result<String, String> {
    let at = now();
    let (current, family, user) =
        store.get_refresh_token_and_user(head).await.map_err(|e| e.to_string())?.ok_or("the token is gone")?;
    user.ok_or("the user is gone")?;
    let next = token(&family.family_id, current.generation + 1, at);
    let sealed = "s".repeat(96);
    let ok = store
        .rotate_refresh_token(head, at, &next, Some(&sealed), &access(Some(&family.family_id), None, at))
        .await
        .map_err(|e| e.to_string())?;
    match ok {
        true => Ok(next.token_hash),
        false => Err("lost the rotation".into()),
    }
}

/// Runs `sequence` from `tasks` tasks for `duration`; `Err` on the first failed sequence.
async fn drive(
    store: Arc<dyn Store>,
    sequence: &'static str,
    tasks: usize,
    duration: Duration,
    user_id: &str,
) -> Result<(u64, Duration), String> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    // Material prepared untimed: codes for the exchange, one chain head per task otherwise.
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (store, stop, done) = (store.clone(), stop.clone(), done.clone());
        let mut head = {
            let c = code(user_id, now());
            store.insert_code(&c).await.map_err(|e| e.to_string())?;
            exchange(store.as_ref(), &c).await?
        };
        let user_id = user_id.to_string();
        handles.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match sequence {
                    "exchange" => {
                        let c = code(&user_id, now());
                        store.insert_code(&c).await.map_err(|e| e.to_string())?;
                        exchange(store.as_ref(), &c).await?;
                    }
                    _ => head = rotation(store.as_ref(), &head).await?,
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), String>(())
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.await.map_err(|e| e.to_string())??;
    }
    Ok((done.load(Ordering::Relaxed), started.elapsed()))
}

/// Measures both sequences on one fresh store.
pub async fn run(kind: StoreKind, pg_url: &str, tasks: usize, duration: Duration) -> Result<Vec<OpsResult>, String> {
    let bench_store = BenchStore::create(kind, pg_url).await?;
    let store = tessera_server::store::connect(&bench_store.sqlx_url()).await?;
    tessera_server::store::migrations::run(&store).await?;
    let store = Arc::new(store);
    let user_id = "auth0|store-bench";
    store.insert_user(&user(user_id, now())).await.map_err(|e| e.to_string())?;
    let tick = procstat::ticks_per_second();
    let me = std::process::id();
    let mut results = Vec::new();
    // SQLite's group-commit counters, as `/metrics` shows them.
    let metrics = |s: &tessera_server::store::SqlStore| {
        let mut out = String::new();
        s.render_metrics(&mut out);
        let read = |name: &str| out.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse::<f64>().ok());
        let counters = ["transactions", "commits", "queue_wait_seconds"];
        counters.map(|c| read(&format!("tessera_sqlite_{c}_total")))
    };
    for sequence in ["rotation", "exchange"] {
        // The exchange's timed loop also inserts its code (as /authorize does): the figure
        // is the store work of authorize + exchange.
        let (cpu0, pg0, m0) = (procstat::cpu_ticks(me).unwrap_or(0), postgres_ticks(), metrics(&store));
        let (n, elapsed) = drive(store.clone() as Arc<dyn Store>, sequence, tasks, duration, user_id).await?;
        let (cpu1, pg1, m1) = (procstat::cpu_ticks(me).unwrap_or(0), postgres_ticks(), metrics(&store));
        let per = |ticks: u64| ticks as f64 / tick * 1e6 / n.max(1) as f64;
        let (batch, queue_wait_us) = match (m0, m1) {
            ([Some(t0), Some(c0), Some(w0)], [Some(t1), Some(c1), Some(w1)]) if c1 > c0 => {
                (Some((t1 - t0) / (c1 - c0)), Some((w1 - w0) * 1e6 / (t1 - t0)))
            }
            _ => (None, None),
        };
        results.push(OpsResult {
            store: kind.as_str(),
            sequence,
            tasks,
            per_second: n as f64 / elapsed.as_secs_f64(),
            client_cpu_us: per(cpu1.saturating_sub(cpu0)),
            database_cpu_us: (kind == StoreKind::Postgres).then(|| per(pg1.saturating_sub(pg0))),
            batch,
            queue_wait_us,
        });
    }
    store.close().await;
    bench_store.destroy().await;
    Ok(results)
}

/// The results as a Markdown table.
pub fn markdown(results: &[OpsResult]) -> String {
    let mut out = String::from(
        "| store | sequence | tasks | sequences/s | this process CPU µs/seq | database server CPU µs/seq | SQLite transactions per commit | SQLite queue wait µs/transaction |\n\
         |---|---|--:|--:|--:|--:|--:|--:|\n",
    );
    let opt = |v: Option<f64>, digits: usize| v.map(|v| format!("{v:.digits$}")).unwrap_or_else(|| "—".into());
    for r in results {
        out.push_str(&format!(
            "| {} | {} | {} | {:.0} | {:.0} | {} | {} | {} |\n",
            r.store,
            r.sequence,
            r.tasks,
            r.per_second,
            r.client_cpu_us,
            opt(r.database_cpu_us, 0),
            opt(r.batch, 2),
            opt(r.queue_wait_us, 0)
        ));
    }
    out
}
