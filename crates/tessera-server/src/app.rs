//! The running server: [`Application::build`] opens the deployment and binds (port 0 works,
//! for tests), [`Application::run_until_stopped`] serves until the shutdown future resolves
//! and lets in-flight requests finish.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tessera_core::clock::Clock;
use tessera_core::discovery::Capabilities;
use tessera_core::model::GrantType;
use tessera_core::tokens::KeySet;
use tokio::net::TcpListener;

use crate::bootstrap::Deployment;
use crate::config::Config;
use crate::http;
use crate::http::metrics::Metrics;

/// The signing keys in memory, swapped whole when the stored set changes (a rotation by the
/// CLI or another node). Readers clone an `Arc` and never wait on a reload.
#[derive(Clone)]
pub struct KeyCache {
    current: Arc<RwLock<Arc<KeySet>>>,
}

impl KeyCache {
    pub async fn load(d: &Deployment) -> Result<Self, String> {
        let records = d.store.list_signing_keys().await.map_err(|e| format!("cannot read signing keys: {e}"))?;
        let set = KeySet::load(&records, &d.keyring, d.clock.now())
            .map_err(|e| format!("cannot load signing keys ({}); refusing to start", e.detail.unwrap_or_default()))?;
        Ok(Self { current: Arc::new(RwLock::new(Arc::new(set))) })
    }

    pub fn get(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the keys; swaps only if the set changed or retired keys aged out of the JWKS.
    pub async fn reload(&self, d: &Deployment) -> Result<bool, String> {
        let records = d.store.list_signing_keys().await.map_err(|e| e.to_string())?;
        let now = d.clock.now();
        // Decrypting and parsing every key each interval would be wasted work when nothing
        // changed, which is almost always.
        if self.get().fingerprint() == KeySet::fingerprint_of(&records, now) {
            return Ok(false);
        }
        let set = KeySet::load(&records, &d.keyring, now).map_err(|e| format!("{e:?}"))?;
        match self.current.write() {
            Ok(mut g) => *g = Arc::new(set),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(set),
        }
        Ok(true)
    }
}

pub struct AppInner {
    pub issuer: String,
    pub deployment: Deployment,
    pub keys: KeyCache,
    pub metrics: Metrics,
    pub capabilities: Capabilities,
    /// Set by `serve --demo`: what was seeded, for the demo callback page.
    pub demo: Option<crate::demo::Seeded>,
    /// Argon2id verification, bounded (see [`crate::passwords`]).
    pub passwords: crate::passwords::PasswordPool,
    /// Audit events of the request path, written in batches (see [`crate::audit_log`]).
    pub audit: crate::audit_log::AuditWriter,
    /// The Management API's per-client rate limit.
    pub management_limits: crate::http::management::rate_limit::RateLimiter,
    /// Dynamic client registration's policy and per-address limit.
    pub registration: crate::http::registration::Registration,
    /// Set when shutdown starts: `/readyz` then says not ready.
    pub draining: std::sync::atomic::AtomicBool,
}

impl AppInner {
    pub fn now(&self) -> i64 {
        self.deployment.clock.now()
    }
}

pub type AppState = Arc<AppInner>;

/// What this build serves; discovery is generated from it.
pub fn capabilities(config: &Config) -> Capabilities {
    Capabilities {
        pushed_authorization: true,
        require_pushed_authorization_requests: config.par.required,
        device_authorization: true,
        registration_endpoint: false,
        client_id_metadata_documents: false,
        grant_types: vec![
            "authorization_code",
            "refresh_token",
            "client_credentials",
            tessera_core::model::GrantType::DeviceCode.as_str(),
            // Auth0's passwordless grant (issue 17): only for clients that enable it.
            tessera_core::model::GrantType::PasswordlessOtp.as_str(),
        ],
        revocation: true,
        authorize: true,
        userinfo: true,
        end_session: true,
        scopes: ["openid", "profile", "email", "offline_access"].map(String::from).to_vec(),
        claims: vec![
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "sid",
            "azp",
            "at_hash",
            "name",
            "given_name",
            "family_name",
            "nickname",
            "preferred_username",
            "picture",
            "updated_at",
            "email",
            "email_verified",
        ],
        introspection: true,
        dpop_algs: tessera_core::dpop::PROOF_ALGS.to_vec(),
        token_endpoint_auth_methods: vec![
            "client_secret_basic",
            "client_secret_post",
            "client_secret_jwt",
            "private_key_jwt",
            "none",
        ],
    }
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    tls: Option<crate::tls::Tls>,
    /// The deployment's clock, when it follows the database server's (crate::clock_sync).
    follows: Option<tessera_core::clock::CorrectedClock>,
}

impl Application {
    pub async fn build(config: Config, clock: Arc<dyn Clock>) -> Result<Self, String> {
        let addr = config.listen_addr()?;
        // Before the deployment is opened: a bad certificate stops the start with nothing
        // written.
        let tls = config.tls.files().map(|(cert, key)| crate::tls::Tls::load(&cert, &key)).transpose()?;
        let deployment = Deployment::open(&config, clock).await?;
        let listener = TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        let mut app = Self::from_parts(listener, config.issuer_for(bound), deployment).await?;
        app.tls = tls;
        Ok(app)
    }

    /// Serves an already-opened deployment on a bound listener.
    pub async fn from_parts(listener: TcpListener, issuer: String, deployment: Deployment) -> Result<Self, String> {
        let keys = KeyCache::load(&deployment).await?;
        if let Ok(Some(prev)) = deployment.store.get_setting("issuer").await {
            if prev != issuer {
                tracing::warn!(previous = %prev, now = %issuer, "the issuer changed; tokens issued under the previous issuer will not validate");
            }
        }
        let _ = deployment.store.init_setting("issuer", &issuer).await;
        let deployment_audit_queue = deployment.config.audit.queue;
        let management_rate_limit = deployment.config.management.rate_limit;
        let mut caps = capabilities(&deployment.config);
        // Issue 20: each extension grant is advertised (and accepted) only when enabled.
        let grants = &deployment.config.grants;
        let extensions = [
            (grants.token_exchange, GrantType::TokenExchange),
            (grants.jwt_bearer, GrantType::JwtBearer),
            (grants.password, GrantType::Password),
            (grants.password, GrantType::PasswordRealm),
        ];
        for (on, grant) in extensions {
            if on {
                caps.grant_types.push(grant.as_str());
            }
        }
        let rc = &deployment.config.registration;
        let registration = crate::http::registration::Registration {
            policy: rc.policy()?,
            limiter: crate::http::registration::rate_limit::RegistrationLimiter::new(rc.rate_limit, rc.rate_limit_window),
        };
        caps.registration_endpoint = registration.enabled();
        deployment.registry.set_jwks_fetcher(Arc::new(crate::jwks::HttpJwksFetcher::new()?));
        let fetch = deployment.config.fetch.policy()?;
        if fetch.allow_private {
            tracing::warn!(
                "fetch.allow_private_addresses is on: URLs that clients name (client metadata documents, clients' jwks_uri) may reach loopback and private addresses; use it only for tests and private deployments"
            );
        }
        let metadata = deployment.config.client_metadata_documents.clone();
        caps.client_id_metadata_documents = metadata.enabled;
        let safe = Arc::new(crate::fetch::SafeFetcher::new(fetch)?);
        deployment.registry.set_client_jwks_fetcher(safe.clone());
        deployment.registry.install_metadata_documents(metadata, safe);
        let state = Arc::new(AppInner {
            issuer,
            deployment,
            keys,
            metrics: Metrics::new(),
            capabilities: caps,
            demo: None,
            passwords: crate::passwords::PasswordPool::per_core(),
            audit: crate::audit_log::AuditWriter::new(deployment_audit_queue),
            management_limits: crate::http::management::rate_limit::RateLimiter::new(management_rate_limit),
            registration,
            draining: Default::default(),
        });
        Ok(Self { listener, state, tls: None, follows: None })
    }

    /// `clock` (the one this application was built with) follows the PostgreSQL server's
    /// clock while serving (crate::clock_sync).
    pub fn follow_database_clock(&mut self, clock: tessera_core::clock::CorrectedClock) {
        self.follows = Some(clock);
    }

    /// Seeds the demo registry and serves its callback page. Before `run_until_stopped`.
    pub async fn enable_demo(&mut self) -> Result<crate::demo::Seeded, String> {
        let seeded = crate::demo::seed(&self.state.deployment, &self.state.issuer).await?;
        let state = Arc::get_mut(&mut self.state).ok_or("enable_demo must run before the server is shared")?;
        state.demo = Some(seeded.clone());
        Ok(seeded)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then stops accepting and waits for in-flight
    /// requests to finish.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let state = self.state.clone();
        let reload_every = Duration::from_secs(state.deployment.config.keys.reload_interval);
        let reloader = tokio::spawn(async move {
            let mut tick = tokio::time::interval(reload_every);
            tick.tick().await;
            loop {
                tick.tick().await;
                match state.keys.reload(&state.deployment).await {
                    Ok(true) => tracing::info!("signing keys changed; reloaded"),
                    Ok(false) => {}
                    Err(e) => tracing::error!(error = %e, "cannot reload signing keys; keeping the loaded set"),
                }
                match state.deployment.registry.purge_dynamic_clients(&state.registration.policy).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "deleted dynamic clients that were never used or went idle"),
                    Err(e) => tracing::warn!(error = %e, "cannot purge expired dynamic clients"),
                }
            }
        });
        // Registry changes made by another node or the CLI show up within a second. A new
        // client or API may sign with an algorithm that got its first key with it (the CLI
        // creates one), so the keys are re-read then too, not only every reload interval.
        let state = self.state.clone();
        let cache_sync = tokio::spawn(async move {
            let registry = &state.deployment.registry;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut keys_seen_at = registry.cached_version();
            // PostgreSQL announces each change (LISTEN/NOTIFY): every node re-reads at once;
            // the poll stays as the backstop for a lost listening connection.
            let mut listener = match state.deployment.sql.change_listener().await {
                Some(Ok(l)) => Some(l),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "cannot listen for registry changes; polling every second only");
                    None
                }
                None => None,
            };
            loop {
                match listener.as_mut() {
                    Some(l) => tokio::select! {
                        _ = tick.tick() => {}
                        changed = l.changed() => if let Err(e) = changed {
                            // Reconnects on the next call; not more often than the poll.
                            tracing::warn!(error = %e, "lost the registry change listener; reconnecting");
                            tick.tick().await;
                        },
                    },
                    None => {
                        tick.tick().await;
                    }
                }
                // Revoked access tokens, mirrored so that checking one reads no database
                // (store::revocations); a failed re-read leaves the mirror to go stale, and
                // checks then read the store.
                if let Err(e) = state.deployment.sql.sync_revocations(state.now()).await {
                    tracing::warn!(error = %e, "cannot re-read revoked access tokens");
                }
                if let Err(e) = registry.sync_cache().await {
                    tracing::warn!(error = ?e, "cannot check the registry version");
                    continue;
                }
                // Changed here or elsewhere since the keys were last read, or a promoted key
                // has become old enough to sign (see `tessera_core::tokens::keys::SIGNING_LEAD`).
                let version = registry.cached_version();
                let key_due = state.keys.get().change_at().is_some_and(|t| state.now() >= t);
                if version != keys_seen_at || key_due {
                    match state.keys.reload(&state.deployment).await {
                        Ok(_) => keys_seen_at = version,
                        Err(e) => tracing::error!(error = %e, "cannot reload signing keys; keeping the loaded set"),
                    }
                }
            }
        });
        // The audit log: batches of the request path's events (retention is housekeeping's).
        let state = self.state.clone();
        let audit_writer = tokio::spawn(async move {
            let mut tick = tokio::time::interval(crate::audit_log::FLUSH_EVERY);
            loop {
                tick.tick().await;
                state.audit.flush(state.deployment.store.as_ref()).await;
            }
        });
        // Expired codes, tokens, sessions and the like, purged by one node at a time.
        let housekeeping = tokio::spawn(crate::housekeeping::run(self.state.clone()));
        let clock_sync = self.follows.clone().map(|clock| tokio::spawn(crate::clock_sync::run(self.state.clone(), clock)));
        // Issue 17: the email outbox's delivery worker.
        let email_worker = tokio::spawn(crate::email::worker::run(self.state.clone()));
        // Management API jobs (user imports and exports), claimed from the database.
        let jobs = tokio::spawn(crate::http::management::jobs::worker::run(self.state.clone()));
        let router = http::router(self.state.clone());
        let tls_watcher = self.tls.as_ref().map(crate::tls::Tls::spawn_watcher);
        let acceptor = self.tls.as_ref().map(|t| t.acceptor().clone());
        let state = self.state.clone();
        let shutdown = async move {
            shutdown.await;
            state.draining.store(true, std::sync::atomic::Ordering::SeqCst);
        };
        let server = &self.state.deployment.config.server;
        let limits =
            crate::workers::Limits { grace: Duration::from_secs(server.shutdown_grace), max_connections: server.max_connections };
        let result = crate::workers::serve(self.listener, router, acceptor, shutdown, limits).await;
        reloader.abort();
        cache_sync.abort();
        audit_writer.abort();
        housekeeping.abort();
        if let Some(c) = clock_sync {
            c.abort();
        }
        email_worker.abort();
        jobs.abort();
        self.state.audit.flush(self.state.deployment.store.as_ref()).await;
        if let Some(w) = tls_watcher {
            w.abort();
        }
        self.state.deployment.close().await;
        result
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
