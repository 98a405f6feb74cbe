//! The OAuth conversations the scenarios are made of, and the material prepared outside
//! the timed part: authorization codes (through the real `/authorize` and hosted login
//! once, then `/authorize` again with that session cookie, one code per request), refresh-token
//! chain heads, an access token for `/userinfo`, and pending device codes.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use tessera_core::crypto::{b64url, random_alnum, sha256};
use tessera_core::routes;

use crate::browser::{self, Jar, Login};
use crate::http::{form, Conn, Extra};
use crate::seed::{Seed, API_RS256, CALLBACK};

/// Scope of the code-exchange, userinfo and login scenarios: what a typical web app asks
/// for (an ID token with profile claims, and an API), without a refresh token.
pub const SCOPE_LOGIN: &str = "openid profile email read:bench";
/// Refresh chains without an ID token: each refresh signs one token.
pub const SCOPE_REFRESH: &str = "offline_access read:bench";
/// Refresh chains with an ID token: each refresh signs two.
pub const SCOPE_REFRESH_ID: &str = "openid offline_access read:bench";

/// Everything a connection needs to talk OAuth to the server under test.
#[derive(Debug)]
pub struct Flows {
    pub addr: SocketAddr,
    pub origin: String,
    pub seed: Seed,
    /// One PKCE verifier for every code: each authorization request still carries the
    /// challenge and each redemption the verifier, so the server does the same work.
    verifier: String,
    challenge: String,
    /// A logged-in browser session, shared by every code-obtaining connection: one login
    /// (one Argon2id verification) for the whole run instead of one per batch, so that
    /// preparation disturbs the server's memory and CPU as little as possible.
    session: tokio::sync::Mutex<Option<Jar>>,
}

impl Flows {
    pub fn new(addr: SocketAddr, seed: Seed) -> Arc<Self> {
        let verifier = random_alnum(64);
        let challenge = b64url(&sha256(verifier.as_bytes()));
        Arc::new(Self {
            addr,
            origin: format!("http://{addr}"),
            seed,
            verifier,
            challenge,
            session: tokio::sync::Mutex::new(None),
        })
    }

    pub fn login(&self) -> Login {
        Login {
            origin: self.origin.clone(),
            redirect_uri: CALLBACK.to_string(),
            username: self.seed.user_email.clone(),
            password: self.seed.user_password.clone(),
        }
    }

    /// `/authorize?...` for the web client.
    pub fn authorize_path(&self, scope: &str) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.seed.web_client_id)
            .append_pair("redirect_uri", CALLBACK)
            .append_pair("scope", scope)
            .append_pair("audience", API_RS256)
            .append_pair("state", &random_alnum(16))
            .append_pair("nonce", &random_alnum(16))
            .append_pair("code_challenge", &self.challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        format!("{}?{query}", routes::AUTHORIZE)
    }

    pub fn code_body(&self, code: &str) -> Bytes {
        form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("client_id", &self.seed.web_client_id),
            ("client_secret", &self.seed.web_client_secret),
            ("code_verifier", &self.verifier),
        ])
    }

    pub fn refresh_body(&self, refresh_token: &str) -> Bytes {
        form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &self.seed.web_client_id),
            ("client_secret", &self.seed.web_client_secret),
        ])
    }

    pub fn client_credentials_body(&self, audience: &str) -> Bytes {
        form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &self.seed.m2m_client_id),
            ("client_secret", &self.seed.m2m_client_secret),
            ("audience", audience),
        ])
    }

    /// RFC 8693: the M2M client exchanges `subject` (its own RS256 access token) for a token
    /// at the RS256 API, as a service passing a caller's token on would.
    pub fn token_exchange_body(&self, subject: &str) -> Bytes {
        form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("client_id", &self.seed.m2m_client_id),
            ("client_secret", &self.seed.m2m_client_secret),
            ("subject_token", subject),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
            ("audience", API_RS256),
        ])
    }

    /// The token-exchange scenario's subject: a client_credentials token (RS256, 24 h).
    pub async fn obtain_subject_token(self: &Arc<Self>) -> Result<String, String> {
        let mut conn = Conn::open(self.addr).await?;
        let v = self.token(&mut conn, self.client_credentials_body(API_RS256)).await?;
        v.get("access_token").and_then(Value::as_str).map(str::to_string).ok_or_else(|| "no access_token".into())
    }

    /// POST /oauth/token; the JSON body of a 200, or why not.
    pub async fn token(&self, conn: &mut Conn, body: Bytes) -> Result<Value, String> {
        let resp = conn.post_form(routes::TOKEN, &Extra::default(), body).await?;
        if !resp.ok() {
            return Err(resp.describe());
        }
        resp.json()
    }

    /// A whole login from nothing: authorize, log in, (consent), callback, token.
    pub async fn full_login(&self, conn: &mut Conn, scope: &str) -> Result<Value, String> {
        let mut jar = Jar::default();
        let code = browser::authorize(conn, &mut jar, &self.login(), &self.authorize_path(scope)).await?;
        self.token(conn, self.code_body(&code)).await
    }

    /// The shared session's cookies, logging in first if there is none yet.
    async fn session(&self, conn: &mut Conn) -> Result<Jar, String> {
        let mut guard = self.session.lock().await;
        if let Some(jar) = guard.as_ref() {
            return Ok(jar.clone());
        }
        let mut jar = Jar::default();
        browser::authorize(conn, &mut jar, &self.login(), &self.authorize_path(SCOPE_LOGIN)).await?;
        *guard = Some(jar.clone());
        Ok(jar)
    }

    /// The shared session's `Cookie` header (logging in first if there is none yet).
    pub async fn session_cookie(&self) -> Result<Option<String>, String> {
        Ok(self.session(&mut Conn::open(self.addr).await?).await?.header())
    }

    /// A pushed authorization request (RFC 9126) of the web client: the parameters of
    /// [`Self::authorize_path`] and the client's credentials.
    pub fn par_body(&self, scope: &str) -> Bytes {
        form(&[
            ("client_id", &self.seed.web_client_id),
            ("client_secret", &self.seed.web_client_secret),
            ("response_type", "code"),
            ("redirect_uri", CALLBACK),
            ("scope", scope),
            ("audience", API_RS256),
            ("state", &random_alnum(16)),
            ("nonce", &random_alnum(16)),
            ("code_challenge", &self.challenge),
            ("code_challenge_method", "S256"),
        ])
    }

    /// PAR push, then `/authorize` with only `client_id` and the `request_uri`, in the
    /// session `cookie`: the browser's half of the code flow through PAR, up to the code.
    pub async fn par_authorize(&self, conn: &mut Conn, cookie: Option<&str>) -> Result<(), String> {
        let pushed = conn.post_form(routes::PAR, &Extra::default(), self.par_body(SCOPE_LOGIN)).await?;
        if pushed.status != 201 {
            return Err(pushed.describe());
        }
        let v = pushed.json()?;
        let uri = v.get("request_uri").and_then(Value::as_str).ok_or("no request_uri in the PAR response")?;
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.seed.web_client_id)
            .append_pair("request_uri", uri)
            .finish();
        let extra = Extra { cookie, authorization: None };
        let resp = conn.get(&format!("{}?{query}", routes::AUTHORIZE), &extra).await?;
        match resp.header("location") {
            Some(l) if resp.status == 302 && l.starts_with(CALLBACK) && l.contains("code=") => Ok(()),
            _ => Err(resp.describe()),
        }
    }

    /// `count` pending device codes (RFC 8628) of the device client.
    pub async fn obtain_device_codes(&self, count: usize) -> Result<Vec<String>, String> {
        let mut conn = Conn::open(self.addr).await?;
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let body = form(&[("client_id", &self.seed.device_client_id), ("scope", "openid")]);
            let resp = conn.post_form(routes::DEVICE_CODE, &Extra::default(), body).await?;
            let v = if resp.ok() { resp.json()? } else { return Err(resp.describe()) };
            out.push(v.get("device_code").and_then(Value::as_str).ok_or("no device_code")?.to_string());
        }
        Ok(out)
    }

    /// A poll of the token endpoint with `device_code`.
    pub fn device_poll_body(&self, device_code: &str) -> Bytes {
        form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
            ("client_id", &self.seed.device_client_id),
        ])
    }

    /// `count` codes for `scope`, one per `/authorize` request with the shared session,
    /// over `workers` connections.
    pub async fn obtain_codes(self: &Arc<Self>, count: usize, scope: &str, workers: usize) -> Result<Vec<String>, String> {
        let workers = workers.clamp(1, count.max(1));
        let jar = self.session(&mut Conn::open(self.addr).await?).await?;
        let mut tasks = Vec::new();
        for w in 0..workers {
            let share = count / workers + usize::from(w < count % workers);
            let (me, scope, mut jar) = (self.clone(), scope.to_string(), jar.clone());
            tasks.push(tokio::spawn(async move {
                let mut conn = Conn::open(me.addr).await?;
                let login = me.login();
                let mut codes = Vec::with_capacity(share);
                for _ in 0..share {
                    codes.push(browser::authorize(&mut conn, &mut jar, &login, &me.authorize_path(&scope)).await?);
                }
                Ok::<_, String>(codes)
            }));
        }
        let mut all = Vec::with_capacity(count);
        for t in tasks {
            all.extend(t.await.map_err(|e| format!("code worker: {e}"))??);
        }
        Ok(all)
    }

    /// `count` refresh tokens, each the head of its own rotation chain.
    pub async fn obtain_refresh_tokens(self: &Arc<Self>, count: usize, scope: &str) -> Result<Vec<String>, String> {
        let codes = self.obtain_codes(count, scope, 2).await?;
        let mut conn = Conn::open(self.addr).await?;
        let mut out = Vec::with_capacity(count);
        for code in codes {
            let v = self.token(&mut conn, self.code_body(&code)).await?;
            let rt = v.get("refresh_token").and_then(Value::as_str).ok_or("no refresh_token in the code exchange response")?;
            out.push(rt.to_string());
        }
        Ok(out)
    }

    /// A Management API token of the bootstrap client (issue 18). The client was just
    /// created by another process (the CLI), which a running node sees within a second, so
    /// a refusal is retried for a few seconds.
    pub async fn obtain_mgmt_token(&self) -> Result<String, String> {
        let m = self.seed.mgmt.as_ref().ok_or("no management client (the management pass creates it)")?;
        let body = form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &m.client_id),
            ("client_secret", &m.client_secret),
            ("audience", &m.audience),
        ]);
        let mut conn = Conn::open(self.addr).await?;
        let mut last = String::new();
        for _ in 0..20 {
            match self.token(&mut conn, body.clone()).await {
                Ok(v) => {
                    return v
                        .get("access_token")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| "no access_token".into())
                }
                Err(e) => last = e,
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        Err(format!("no management token: {last}"))
    }

    /// An access token good for /userinfo (scope openid).
    pub async fn obtain_access_token(self: &Arc<Self>) -> Result<String, String> {
        let code = self.obtain_codes(1, SCOPE_LOGIN, 1).await?.pop().ok_or("no code")?;
        let mut conn = Conn::open(self.addr).await?;
        let v = self.token(&mut conn, self.code_body(&code)).await?;
        v.get("access_token").and_then(Value::as_str).map(str::to_string).ok_or_else(|| "no access_token".into())
    }
}
