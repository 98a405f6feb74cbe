//! The scenarios: what one timed operation of each is, and what it needs prepared.
//!
//! An operation is one request, except `login_flow`, which is a whole browser-less login
//! (authorize → login form → consent if asked → callback → token) timed end to end, and
//! `par_authorize`, a PAR push and the `/authorize` that uses its `request_uri`.
//! Material that a real client would already hold (codes, refresh tokens, an access
//! token) is obtained before the clock starts.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use tessera_core::model::SigningAlg;
use tessera_core::routes;

use crate::flows::{Flows, SCOPE_LOGIN, SCOPE_REFRESH, SCOPE_REFRESH_ID};
use crate::http::{Conn, Extra};
use crate::seed::{API_EDDSA, API_ES256, API_RS256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
pub enum Scenario {
    /// GET /healthz: the HTTP floor, what the server does for a request that does nothing.
    HttpFloor,
    Discovery,
    Jwks,
    ClientCredentials(SigningAlg),
    /// The token request of the authorization code flow (ID token included).
    AuthorizationCode,
    /// Refresh-token rotation without an ID token.
    Refresh,
    /// Refresh-token rotation with an ID token.
    RefreshIdToken,
    Userinfo,
    LoginFlow,
    /// RFC 9126: POST /oauth/par, then /authorize with the request_uri and a session
    /// cookie, up to the code (two requests per operation).
    ParAuthorize,
    /// RFC 8628: a token-endpoint poll with a device code the user has not approved yet
    /// (authorization_pending, or slow_down at this pace: the same read-only path).
    DevicePoll,
    /// RFC 8693: a client exchanges an access token (RS256) for one at an RS256 API; to be
    /// held against client_credentials RS256 in the same run (issue 20: within 10 %).
    TokenExchange,
    /// Issue 18, on a store loaded with `--mgmt-n` users and log entries ([`crate::mgmt`]):
    /// `GET /api/v2/users`, a page of 50 with `include_totals`.
    MgmtUsersPage,
    /// `GET /api/v2/users?q=email:"…"`, a random loaded user.
    MgmtUsersByEmail,
    /// `POST /api/v2/clients`.
    MgmtClientsCreate,
    /// `GET /api/v2/logs`, offset pages and checkpoints alternately.
    MgmtLogsPage,
}

impl From<Scenario> for &'static str {
    fn from(s: Scenario) -> Self {
        s.name()
    }
}

impl Scenario {
    pub const ALL: [Self; 18] = [
        Self::HttpFloor,
        Self::Discovery,
        Self::Jwks,
        Self::ClientCredentials(SigningAlg::RS256),
        Self::ClientCredentials(SigningAlg::ES256),
        Self::ClientCredentials(SigningAlg::EdDSA),
        Self::AuthorizationCode,
        Self::Refresh,
        Self::RefreshIdToken,
        Self::Userinfo,
        Self::LoginFlow,
        Self::ParAuthorize,
        Self::DevicePoll,
        Self::TokenExchange,
        Self::MgmtUsersPage,
        Self::MgmtUsersByEmail,
        Self::MgmtClientsCreate,
        Self::MgmtLogsPage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::HttpFloor => "http_floor",
            Self::Discovery => "discovery",
            Self::Jwks => "jwks",
            Self::ClientCredentials(SigningAlg::ES256) => "client_credentials_es256",
            Self::ClientCredentials(SigningAlg::EdDSA) => "client_credentials_eddsa",
            Self::ClientCredentials(SigningAlg::PS256) => "client_credentials_ps256",
            Self::ClientCredentials(SigningAlg::RS256) => "client_credentials_rs256",
            Self::AuthorizationCode => "authorization_code",
            Self::Refresh => "refresh_token",
            Self::RefreshIdToken => "refresh_token_id_token",
            Self::Userinfo => "userinfo",
            Self::LoginFlow => "login_flow",
            Self::ParAuthorize => "par_authorize",
            Self::DevicePoll => "device_poll",
            Self::TokenExchange => "token_exchange_rs256",
            Self::MgmtUsersPage => "mgmt_users_page",
            Self::MgmtUsersByEmail => "mgmt_users_by_email",
            Self::MgmtClientsCreate => "mgmt_clients_create",
            Self::MgmtLogsPage => "mgmt_logs_page",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.name() == s)
    }

    /// Scenarios that issue tokens: the p99-at-80 %-load target applies to them.
    pub fn issues_tokens(self) -> bool {
        matches!(
            self,
            Self::ClientCredentials(_) | Self::AuthorizationCode | Self::Refresh | Self::RefreshIdToken | Self::TokenExchange
        )
    }

    /// Management API scenarios: they run in the management pass, on the loaded store.
    pub fn management(self) -> bool {
        matches!(self, Self::MgmtUsersPage | Self::MgmtUsersByEmail | Self::MgmtClientsCreate | Self::MgmtLogsPage)
    }

    /// Scenarios with a paced pass at 80 % of the peak.
    pub fn paced(self) -> bool {
        self.issues_tokens() || self.management()
    }

    /// Issue 18's latency target covers the Management API's lists and searches; a client
    /// creation is a durable write and is reported only.
    pub fn mgmt_list_or_search(self) -> bool {
        matches!(self, Self::MgmtUsersPage | Self::MgmtUsersByEmail | Self::MgmtLogsPage)
    }

    /// Whether each operation consumes a prepared authorization code.
    pub fn needs_codes(self) -> bool {
        matches!(self, Self::AuthorizationCode)
    }
}

/// Prepared material shared by a scenario's connections.
#[derive(Debug, Default)]
pub struct Pools {
    /// Unused authorization codes; an operation takes one.
    pub codes: Mutex<Vec<String>>,
    /// Heads of refresh chains not held by a connection.
    pub refresh: Mutex<Vec<String>>,
    pub access_token: Mutex<Option<String>>,
    /// The shared browser session's `Cookie` header (PAR + /authorize).
    pub session_cookie: Mutex<Option<String>>,
    /// Pending device codes; connections share them round robin.
    pub device_codes: Mutex<Vec<String>>,
    next_device: std::sync::atomic::AtomicUsize,
    /// The token-exchange scenario's subject token (good for the whole run).
    pub subject_token: Mutex<Option<String>>,
}

impl Pools {
    fn pop_code(&self) -> Option<String> {
        self.codes.lock().ok()?.pop()
    }

    pub fn add_codes(&self, codes: Vec<String>) {
        if let Ok(mut c) = self.codes.lock() {
            c.extend(codes);
        }
    }

    pub fn code_count(&self) -> usize {
        self.codes.lock().map(|c| c.len()).unwrap_or(0)
    }

    fn pop_refresh(&self) -> Option<String> {
        self.refresh.lock().ok()?.pop()
    }

    fn push_refresh(&self, t: String) {
        if let Ok(mut r) = self.refresh.lock() {
            r.push(t);
        }
    }

    pub fn refresh_count(&self) -> usize {
        self.refresh.lock().map(|r| r.len()).unwrap_or(0)
    }
}

/// Obtains what `scenario` needs for `connections` connections, except codes (which are
/// obtained right before each timed run, see [`Scenario::needs_codes`]).
pub async fn prepare(scenario: Scenario, flows: &Arc<Flows>, pools: &Pools, connections: usize) -> Result<(), String> {
    match scenario {
        Scenario::Refresh | Scenario::RefreshIdToken => {
            let scope = if scenario == Scenario::Refresh { SCOPE_REFRESH } else { SCOPE_REFRESH_ID };
            let missing = connections.saturating_sub(pools.refresh_count());
            for t in flows.obtain_refresh_tokens(missing, scope).await? {
                pools.push_refresh(t);
            }
        }
        Scenario::ParAuthorize => {
            let has = pools.session_cookie.lock().map(|c| c.is_some()).unwrap_or(false);
            if !has {
                let cookie = flows.session_cookie().await?;
                if let Ok(mut c) = pools.session_cookie.lock() {
                    *c = cookie;
                }
            }
        }
        Scenario::DevicePoll => {
            let have = pools.device_codes.lock().map(|c| c.len()).unwrap_or(0);
            let codes = flows.obtain_device_codes(connections.saturating_sub(have)).await?;
            if let Ok(mut c) = pools.device_codes.lock() {
                c.extend(codes);
            }
        }
        Scenario::Userinfo => {
            let has = pools.access_token.lock().map(|t| t.is_some()).unwrap_or(false);
            if !has {
                let token = flows.obtain_access_token().await?;
                if let Ok(mut t) = pools.access_token.lock() {
                    *t = Some(format!("Bearer {token}"));
                }
            }
        }
        Scenario::TokenExchange => {
            let has = pools.subject_token.lock().map(|t| t.is_some()).unwrap_or(false);
            if !has {
                let token = flows.obtain_subject_token().await?;
                if let Ok(mut t) = pools.subject_token.lock() {
                    *t = Some(token);
                }
            }
        }
        s if s.management() => {
            let has = pools.access_token.lock().map(|t| t.is_some()).unwrap_or(false);
            if !has {
                let token = flows.obtain_mgmt_token().await?;
                if let Ok(mut t) = pools.access_token.lock() {
                    *t = Some(format!("Bearer {token}"));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// RFC 8628 §3.5: a poll before approval answers authorization_pending or slow_down.
fn pending(r: &crate::http::Resp) -> bool {
    let error = r.json().ok().and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string));
    matches!(error.as_deref(), Some("authorization_pending" | "slow_down"))
}

/// How one operation ended.
#[derive(Debug)]
pub enum Outcome {
    Ok,
    Failed(String),
    /// No prepared material left: this connection stops.
    Exhausted,
}

/// One connection's view of a scenario.
pub struct Work {
    scenario: Scenario,
    flows: Arc<Flows>,
    pools: Arc<Pools>,
    /// The fixed request body, for scenarios whose requests never change.
    body: Option<Bytes>,
    authorization: Option<String>,
    /// The refresh chain this connection is walking.
    chain: Option<String>,
    /// Operations sent so far on this connection.
    nth: u64,
}

impl Work {
    pub fn new(scenario: Scenario, flows: &Arc<Flows>, pools: &Arc<Pools>) -> Self {
        let body = match scenario {
            Scenario::ClientCredentials(alg) => Some(flows.client_credentials_body(match alg {
                SigningAlg::ES256 => API_ES256,
                SigningAlg::EdDSA => API_EDDSA,
                _ => API_RS256,
            })),
            Scenario::DevicePoll => {
                let n = pools.next_device.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let code = pools.device_codes.lock().ok().and_then(|c| (!c.is_empty()).then(|| c[n % c.len()].clone()));
                code.map(|c| flows.device_poll_body(&c))
            }
            Scenario::TokenExchange => {
                pools.subject_token.lock().ok().and_then(|t| t.clone()).map(|t| flows.token_exchange_body(&t))
            }
            _ => None,
        };
        let authorization = match scenario {
            Scenario::ParAuthorize => pools.session_cookie.lock().ok().and_then(|t| t.clone()),
            _ => pools.access_token.lock().ok().and_then(|t| t.clone()),
        };
        Self { scenario, flows: flows.clone(), pools: pools.clone(), body, authorization, chain: None, nth: 0 }
    }

    pub async fn op(&mut self, conn: &mut Conn) -> Outcome {
        let none = Extra::default();
        self.nth += 1;
        let result = match self.scenario {
            Scenario::HttpFloor => conn.get(routes::HEALTHZ, &none).await,
            Scenario::Discovery => conn.get(routes::OPENID_CONFIGURATION, &none).await,
            Scenario::Jwks => conn.get(routes::JWKS, &none).await,
            Scenario::Userinfo => {
                let extra = Extra { cookie: None, authorization: self.authorization.as_deref() };
                conn.get(routes::USERINFO, &extra).await
            }
            Scenario::ClientCredentials(_) | Scenario::TokenExchange => {
                conn.post_form(routes::TOKEN, &none, self.body.clone().unwrap_or_default()).await
            }
            Scenario::AuthorizationCode => {
                let Some(code) = self.pools.pop_code() else {
                    return Outcome::Exhausted;
                };
                conn.post_form(routes::TOKEN, &none, self.flows.code_body(&code)).await
            }
            Scenario::Refresh | Scenario::RefreshIdToken => return self.refresh(conn).await,
            Scenario::ParAuthorize => {
                return match self.flows.par_authorize(conn, self.authorization.as_deref()).await {
                    Ok(()) => Outcome::Ok,
                    Err(e) => Outcome::Failed(e),
                }
            }
            Scenario::DevicePoll => {
                let Some(body) = self.body.clone() else { return Outcome::Exhausted };
                return match conn.post_form(routes::TOKEN, &none, body).await {
                    Ok(r) if r.status == 400 && pending(&r) => Outcome::Ok,
                    Ok(r) => Outcome::Failed(r.describe()),
                    Err(e) => Outcome::Failed(e),
                };
            }
            Scenario::LoginFlow => {
                return match self.flows.full_login(conn, SCOPE_LOGIN).await {
                    Ok(_) => Outcome::Ok,
                    Err(e) => Outcome::Failed(e),
                }
            }
            Scenario::MgmtUsersPage | Scenario::MgmtUsersByEmail | Scenario::MgmtClientsCreate | Scenario::MgmtLogsPage => {
                let (Some(m), Some(bearer)) = (self.flows.seed.mgmt.as_ref(), self.authorization.as_deref()) else {
                    return Outcome::Failed("no management client or token prepared".into());
                };
                return match crate::mgmt::op(self.scenario, m, conn, bearer, self.nth).await {
                    Ok(()) => Outcome::Ok,
                    Err(e) => Outcome::Failed(e),
                };
            }
        };
        match result {
            Ok(r) if r.ok() => Outcome::Ok,
            Ok(r) => Outcome::Failed(r.describe()),
            Err(e) => Outcome::Failed(e),
        }
    }

    /// One rotation: the response's refresh token is the next request's. A broken chain
    /// (an error answer) is dropped and a spare one taken from the pool.
    async fn refresh(&mut self, conn: &mut Conn) -> Outcome {
        if self.chain.is_none() {
            self.chain = self.pools.pop_refresh();
        }
        let Some(token) = self.chain.take() else {
            return Outcome::Exhausted;
        };
        let resp = match conn.post_form(routes::TOKEN, &Extra::default(), self.flows.refresh_body(&token)).await {
            Ok(r) => r,
            Err(e) => {
                // Transport error: the server may not have seen it; the token may still be good.
                self.chain = Some(token);
                return Outcome::Failed(e);
            }
        };
        if !resp.ok() {
            return Outcome::Failed(resp.describe());
        }
        match resp.json().ok().and_then(|v| v.get("refresh_token").and_then(Value::as_str).map(str::to_string)) {
            Some(next) => {
                self.chain = Some(next);
                Outcome::Ok
            }
            None => Outcome::Failed("a refresh response without refresh_token".into()),
        }
    }

    /// Gives the chain this connection holds back to the pool, for the next run.
    pub fn release(self) {
        if let Some(t) = self.chain {
            self.pools.push_refresh(t);
        }
    }
}
