//! A model-based test of the protocol state machine (issue 22): random interleavings of
//! authorize → login → code → token, refresh inside and outside the reuse interval,
//! parallel refreshes, revocation (access tokens, and refresh tokens, which revoke their
//! family), reuse of consumed codes and rotated tokens, logout, client secret rotation and
//! clock advances, against a running server on each store, each step checked against a
//! small reference model of what RFC 6749 §4.1.2/§6, RFC 9700 §4.14, RFC 7009 §2.1 and
//! DESIGN decision 6 say must happen:
//! - no token is ever issued from a consumed or expired code (a reused code revokes what it
//!   issued);
//! - a revoked family never yields a token, and its access tokens stop working;
//! - after any set of parallel refreshes exactly one live family remains (with a reuse
//!   interval; without one, concurrent use is reuse and leaves none);
//! - every refusal is the RFC error the model predicts; nothing answers 5xx.
//!
//! Cases come from a fixed seed (`support_prop::samples`), so every run sends the same
//! requests; each case has its own client and browser, so cases do not interact.

use proptest::prelude::*;
use serde_json::Value;
use tessera_core::clock::Clock;
use tessera_core::model::{AppType, ClientPatch, RotationType, TokenEndpointAuthMethod};
use tessera_core::routes;

use crate::support_prop::samples;
use crate::support_web::{backends, location, query_of, Browser, WebApp, API, CALLBACK};

const CASES: usize = 80;
const IDLE: i64 = 300;
const ABSOLUTE: i64 = 900;

#[derive(Debug, Clone)]
enum Op {
    /// /authorize (logging in when the model says there is no session) → a code.
    Authorize,
    /// Redeem a code, maybe consumed or expired.
    Redeem(usize),
    /// Refresh with a token of a family: the head or an older one.
    Refresh(usize, usize),
    /// 2-4 concurrent refreshes of a family's head.
    ParallelRefresh(usize, usize),
    /// Revoke a refresh token (RFC 7009 §2.1: the whole family).
    RevokeRefresh(usize, usize),
    RevokeAccess(usize),
    Userinfo(usize),
    Logout,
    RotateSecret,
    /// Refresh a family's head with a secret that was rotated away.
    OldSecret(usize),
    Advance(i64),
}

/// An index into a collection of `n` (the generator does not know the sizes): half the
/// time the newest element, where the interesting interleavings happen.
fn ix(i: usize, n: usize) -> usize {
    if i.is_multiple_of(2) {
        n - 1
    } else {
        (i / 2) % n
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Authorize),
        4 => any::<usize>().prop_map(Op::Redeem),
        6 => (any::<usize>(), any::<usize>()).prop_map(|(f, t)| Op::Refresh(f, t)),
        2 => (any::<usize>(), 2usize..5).prop_map(|(f, n)| Op::ParallelRefresh(f, n)),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(f, t)| Op::RevokeRefresh(f, t)),
        1 => any::<usize>().prop_map(Op::RevokeAccess),
        4 => any::<usize>().prop_map(Op::Userinfo),
        1 => Just(Op::Logout),
        1 => Just(Op::RotateSecret),
        1 => any::<usize>().prop_map(Op::OldSecret),
        3 => prop::sample::select(vec![1i64, 4, 11, 29, 61, 301, 901]).prop_map(Op::Advance),
    ]
}

fn case() -> impl Strategy<Value = (i64, Vec<Op>)> {
    (prop::sample::select(vec![0i64, 10]), prop::collection::vec(op(), 6..24))
}

// --- The reference model -----------------------------------------------------------------

struct CodeM {
    value: String,
    expires_at: i64,
    consumed: bool,
    family: Option<usize>,
}

struct TokenM {
    value: String,
    superseded_at: Option<i64>,
    idle_expires_at: i64,
}

struct FamilyM {
    revoked: bool,
    absolute_expires_at: i64,
    tokens: Vec<TokenM>,
}

struct AccessM {
    value: String,
    family: usize,
    revoked: bool,
}

struct Model {
    leeway: i64,
    code_lifetime: i64,
    logged_in: bool,
    codes: Vec<CodeM>,
    families: Vec<FamilyM>,
    access: Vec<AccessM>,
    /// Every secret the client had; the last is current.
    secrets: Vec<String>,
}

/// What the model predicts for one refresh of `families[f].tokens[t]`.
enum Refresh {
    /// A new successor (the token was the head).
    Rotated,
    /// The same successor again (a retry inside the reuse interval).
    Retry(String),
    /// `invalid_grant`; `true` if the attempt revokes the family (reuse).
    Refused(bool),
}

impl Model {
    fn predict_refresh(&self, f: usize, t: usize, now: i64) -> Refresh {
        let fam = &self.families[f];
        let tok = &fam.tokens[t];
        if fam.revoked || fam.absolute_expires_at <= now {
            return Refresh::Refused(false);
        }
        if let Some(at) = tok.superseded_at {
            let successor_is_head = t + 2 == fam.tokens.len();
            if now < at + self.leeway && successor_is_head {
                return Refresh::Retry(fam.tokens[t + 1].value.clone());
            }
            return Refresh::Refused(true);
        }
        if tok.idle_expires_at <= now {
            return Refresh::Refused(false);
        }
        Refresh::Rotated
    }

    fn rotate(&mut self, f: usize, value: String, now: i64) {
        let fam = &mut self.families[f];
        if let Some(head) = fam.tokens.last_mut() {
            head.superseded_at = Some(now);
        }
        let idle_expires_at = (now + IDLE).min(fam.absolute_expires_at);
        fam.tokens.push(TokenM { value, superseded_at: None, idle_expires_at });
    }

    fn revoke_family(&mut self, f: usize) {
        self.families[f].revoked = true;
        for a in self.access.iter_mut().filter(|a| a.family == f) {
            a.revoked = true;
        }
    }
}

// --- The system under test ---------------------------------------------------------------

struct Run<'a> {
    app: &'a WebApp,
    browser: Browser,
    client_id: String,
    model: Model,
    log: Vec<String>,
}

impl Run<'_> {
    fn now(&self) -> i64 {
        self.app.clock.now()
    }

    fn ctx(&self) -> String {
        format!("[{}] leeway {}; steps so far:\n  {}", self.app.backend, self.model.leeway, self.log.join("\n  "))
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let r = reqwest::Client::new().post(self.app.url(path)).form(form).send().await.expect("request");
        let s = r.status().as_u16();
        assert!(s < 500, "{path} answered {s}\n{}", self.ctx());
        (s, r.json().await.unwrap_or(Value::Null))
    }

    async fn token(&self, form: &[(&str, &str)], secret: &str) -> (u16, Value) {
        let mut form = form.to_vec();
        form.extend([("client_id", self.client_id.as_str()), ("client_secret", secret)]);
        self.post(routes::TOKEN, &form).await
    }

    fn secret(&self) -> String {
        self.model.secrets.last().cloned().unwrap_or_default()
    }

    fn expect_error(&self, got: &(u16, Value), status: u16, error: &str, what: &str) {
        assert_eq!((got.0, got.1["error"].as_str()), (status, Some(error)), "{what}: {}\n{}", got.1, self.ctx());
    }

    fn record_access(&mut self, v: &Value, family: usize) {
        let value = v["access_token"].as_str().unwrap_or_else(|| panic!("no access_token: {v}\n{}", self.ctx())).to_string();
        self.model.access.push(AccessM { value, family, revoked: false });
    }

    async fn step(&mut self, op: &Op) {
        self.log.push(format!("{op:?}"));
        let now = self.now();
        match op {
            Op::Authorize => {
                let url = self.app.authorize_url(&[
                    ("client_id", self.client_id.as_str()),
                    ("redirect_uri", CALLBACK),
                    ("response_type", "code"),
                    ("scope", "openid offline_access read:things"),
                    ("audience", API),
                    ("state", "s"),
                ]);
                let r = if self.model.logged_in {
                    let r = self.browser.get(&url).await;
                    assert_eq!(r.status(), 302, "{}", self.ctx());
                    r
                } else {
                    self.browser.login(self.app, &url).await
                };
                let to = location(&r);
                let q = query_of(&to);
                let code = q.get("code").unwrap_or_else(|| panic!("no code in {to}\n{}", self.ctx())).clone();
                self.model.logged_in = true;
                let expires_at = now + self.model.code_lifetime;
                self.model.codes.push(CodeM { value: code, expires_at, consumed: false, family: None });
            }
            Op::Redeem(i) => {
                if self.model.codes.is_empty() {
                    return;
                }
                let c = ix(*i, self.model.codes.len());
                let code = self.model.codes[c].value.clone();
                let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", CALLBACK)];
                let got = self.token(&form, &self.secret()).await;
                let m = &self.model.codes[c];
                if m.consumed {
                    // RFC 6749 §4.1.2: refused, and what the code issued is revoked.
                    self.expect_error(&got, 400, "invalid_grant", "a consumed code");
                    if let Some(f) = m.family {
                        self.model.revoke_family(f);
                    }
                } else if m.expires_at <= now {
                    self.expect_error(&got, 400, "invalid_grant", "an expired code");
                } else {
                    assert_eq!(got.0, 200, "a fresh code: {}\n{}", got.1, self.ctx());
                    let rt = got.1["refresh_token"].as_str().expect("offline_access → a refresh token").to_string();
                    let f = self.model.families.len();
                    let absolute_expires_at = now + ABSOLUTE;
                    let first = TokenM { value: rt, superseded_at: None, idle_expires_at: (now + IDLE).min(absolute_expires_at) };
                    self.model.families.push(FamilyM { revoked: false, absolute_expires_at, tokens: vec![first] });
                    self.model.codes[c].consumed = true;
                    self.model.codes[c].family = Some(f);
                    self.record_access(&got.1, f);
                }
            }
            Op::Refresh(fi, ti) => {
                let Some((f, t)) = self.pick(fi, Some(ti)) else { return };
                let value = self.model.families[f].tokens[t].value.clone();
                let got = self.token(&[("grant_type", "refresh_token"), ("refresh_token", &value)], &self.secret()).await;
                self.check_refresh(f, t, &got, now);
            }
            Op::ParallelRefresh(fi, n) => {
                let Some((f, t)) = self.pick(fi, None) else { return };
                let value = self.model.families[f].tokens[t].value.clone();
                let predicted = self.model.predict_refresh(f, t, now);
                let mut tasks = Vec::new();
                for _ in 0..*n {
                    let (url, secret, id, value) =
                        (self.app.url(routes::TOKEN), self.secret(), self.client_id.clone(), value.clone());
                    tasks.push(tokio::spawn(async move {
                        let form = [
                            ("grant_type", "refresh_token"),
                            ("refresh_token", value.as_str()),
                            ("client_id", id.as_str()),
                            ("client_secret", secret.as_str()),
                        ];
                        let r = reqwest::Client::new().post(url).form(&form).send().await.expect("request");
                        let s = r.status().as_u16();
                        (s, r.json::<Value>().await.unwrap_or(Value::Null))
                    }));
                }
                let mut results = Vec::new();
                for task in tasks {
                    results.push(task.await.expect("task"));
                }
                for r in &results {
                    assert!(
                        r.0 == 200 || (r.0, r.1["error"].as_str()) == (400, Some("invalid_grant")),
                        "{:?}\n{}",
                        r,
                        self.ctx()
                    );
                }
                let successes: Vec<&(u16, Value)> = results.iter().filter(|r| r.0 == 200).collect();
                let successors: std::collections::BTreeSet<&str> =
                    successes.iter().filter_map(|r| r.1["refresh_token"].as_str()).collect();
                match predicted {
                    Refresh::Rotated if self.model.leeway > 0 => {
                        // Every request but one is a retry inside the reuse interval: the same
                        // successor for all, one live family.
                        assert_eq!((successes.len(), successors.len()), (*n, 1), "{results:?}\n{}", self.ctx());
                        let succ = successors.into_iter().next().unwrap_or_default().to_string();
                        self.model.rotate(f, succ.clone(), now);
                        for r in &results {
                            self.record_access(&r.1, f);
                        }
                        let (_, v) = self.post(routes::INTROSPECT, &self.introspect_form(&succ)).await;
                        assert_eq!(v["active"], true, "the one family lives on\n{}", self.ctx());
                    }
                    Refresh::Rotated => {
                        // No reuse interval: concurrent use is reuse. At most one success, and
                        // no branch survives.
                        assert!(successes.len() <= 1, "{results:?}\n{}", self.ctx());
                        for s in &successors {
                            let (_, v) = self.post(routes::INTROSPECT, &self.introspect_form(s)).await;
                            assert_eq!(v["active"], false, "a second branch survived\n{}", self.ctx());
                        }
                        if let Some(s) = successors.into_iter().next() {
                            self.model.rotate(f, s.to_string(), now);
                            self.record_access(&successes[0].1, f);
                        }
                        self.model.revoke_family(f);
                    }
                    Refresh::Retry(_) | Refresh::Refused(_) => unreachable!("the head of a live family is picked"),
                }
            }
            Op::RevokeRefresh(fi, ti) => {
                let Some((f, t)) = self.pick_any(fi, ti) else { return };
                let value = self.model.families[f].tokens[t].value.clone();
                let mut form = vec![("token", value.as_str()), ("token_type_hint", "refresh_token")];
                let secret = self.secret();
                form.extend([("client_id", self.client_id.as_str()), ("client_secret", secret.as_str())]);
                let got = self.post(routes::REVOKE, &form).await;
                assert_eq!(got.0, 200, "{}\n{}", got.1, self.ctx());
                self.model.revoke_family(f);
            }
            Op::RevokeAccess(ai) => {
                if self.model.access.is_empty() {
                    return;
                }
                let a = ix(*ai, self.model.access.len());
                let value = self.model.access[a].value.clone();
                let secret = self.secret();
                let form =
                    [("token", value.as_str()), ("client_id", self.client_id.as_str()), ("client_secret", secret.as_str())];
                let got = self.post(routes::REVOKE, &form).await;
                assert_eq!(got.0, 200, "{}\n{}", got.1, self.ctx());
                self.model.access[a].revoked = true;
            }
            Op::Userinfo(ai) => {
                if self.model.access.is_empty() {
                    return;
                }
                let a = &self.model.access[ix(*ai, self.model.access.len())];
                let r = reqwest::Client::new().get(self.app.url(routes::USERINFO)).bearer_auth(&a.value).send().await.unwrap();
                let live = !a.revoked && !self.model.families[a.family].revoked;
                let challenge = r.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                if live {
                    assert_eq!(r.status(), 200, "a live access token at /userinfo\n{}", self.ctx());
                } else {
                    assert_eq!(r.status(), 401, "a revoked access token at /userinfo\n{}", self.ctx());
                    assert!(challenge.contains("invalid_token"), "{challenge}\n{}", self.ctx());
                }
            }
            Op::Logout => {
                let r = self.browser.get(&self.app.url(routes::V2_LOGOUT)).await;
                assert!(r.status().as_u16() < 400, "logout: {}\n{}", r.status(), self.ctx());
                self.model.logged_in = false;
            }
            Op::RotateSecret => {
                let registry = &self.app.state.deployment.registry;
                let secret = registry.rotate_client_secret(&self.client_id, 0).await.expect("rotate");
                self.model.secrets.push(secret);
            }
            Op::OldSecret(fi) => {
                let Some((f, t)) = self.pick(fi, None) else { return };
                let old = if self.model.secrets.len() > 1 { self.model.secrets[0].clone() } else { "wrong".to_string() };
                let value = self.model.families[f].tokens[t].value.clone();
                let got = self.token(&[("grant_type", "refresh_token"), ("refresh_token", &value)], &old).await;
                // An unauthenticated request changes nothing: the token stays the head.
                self.expect_error(&got, 401, "invalid_client", "a rotated-away secret");
            }
            Op::Advance(s) => self.app.clock.advance(*s),
        }
    }

    fn introspect_form<'a>(&'a self, token: &'a str) -> Vec<(&'a str, &'a str)> {
        let secret = self.model.secrets.last().map_or("", String::as_str);
        vec![("token", token), ("client_id", self.client_id.as_str()), ("client_secret", secret)]
    }

    /// A family and one of its tokens (`None`: the head). For `ParallelRefresh` and
    /// `OldSecret`, only the head of a family that can still rotate.
    fn pick(&self, fi: &usize, ti: Option<&usize>) -> Option<(usize, usize)> {
        let now = self.now();
        match ti {
            Some(ti) => self.pick_any(fi, ti),
            None => {
                let live: Vec<usize> = (0..self.model.families.len())
                    .filter(|&f| {
                        matches!(self.model.predict_refresh(f, self.model.families[f].tokens.len() - 1, now), Refresh::Rotated)
                    })
                    .collect();
                (!live.is_empty()).then(|| {
                    let f = live[ix(*fi, live.len())];
                    (f, self.model.families[f].tokens.len() - 1)
                })
            }
        }
    }

    fn pick_any(&self, fi: &usize, ti: &usize) -> Option<(usize, usize)> {
        if self.model.families.is_empty() {
            return None;
        }
        let f = ix(*fi, self.model.families.len());
        let n = self.model.families[f].tokens.len();
        // Mostly the head or its predecessor (retries), sometimes anything older.
        let t = match ti % 4 {
            0 | 1 => n - 1,
            2 => n.saturating_sub(2),
            _ => (ti / 4) % n,
        };
        Some((f, t))
    }

    fn check_refresh(&mut self, f: usize, t: usize, got: &(u16, Value), now: i64) {
        match self.model.predict_refresh(f, t, now) {
            Refresh::Rotated => {
                assert_eq!(got.0, 200, "refreshing the head: {}\n{}", got.1, self.ctx());
                let succ = got.1["refresh_token"].as_str().expect("a successor").to_string();
                assert!(self.model.families[f].tokens.iter().all(|t| t.value != succ), "{}", self.ctx());
                self.model.rotate(f, succ, now);
                self.record_access(&got.1, f);
            }
            Refresh::Retry(succ) => {
                assert_eq!(got.0, 200, "a retry inside the reuse interval: {}\n{}", got.1, self.ctx());
                assert_eq!(got.1["refresh_token"].as_str(), Some(succ.as_str()), "the same successor\n{}", self.ctx());
                self.record_access(&got.1, f);
            }
            Refresh::Refused(revokes) => {
                self.expect_error(got, 400, "invalid_grant", "a dead refresh token");
                if revokes {
                    self.model.revoke_family(f);
                }
            }
        }
    }
}

async fn start_case(app: &WebApp, leeway: i64) -> Run<'_> {
    let registry = &app.state.deployment.registry;
    let created = registry
        .create_client(ClientPatch {
            name: Some("Model".into()),
            app_type: Some(AppType::RegularWeb),
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::ClientSecretPost),
            grant_types: Some(vec!["authorization_code".into(), "refresh_token".into()]),
            callbacks: Some(vec![CALLBACK.into()]),
            is_first_party: Some(true),
            rotation_type: Some(RotationType::Rotating),
            leeway: Some(leeway),
            token_lifetime: Some(ABSOLUTE),
            idle_token_lifetime: Some(IDLE),
            ..Default::default()
        })
        .await
        .expect("client");
    let model = Model {
        leeway,
        code_lifetime: app.state.deployment.config.tokens.code_lifetime,
        logged_in: false,
        codes: Vec::new(),
        families: Vec::new(),
        access: Vec::new(),
        secrets: vec![created.client_secret.expect("a confidential client has a secret")],
    };
    Run { app, browser: Browser::new(), client_id: created.client.client_id, model, log: Vec::new() }
}

async fn run_case(app: &WebApp, leeway: i64, ops: &[Op]) {
    let mut run = start_case(app, leeway).await;
    for op in ops {
        run.step(op).await;
    }
    // A revoked family never yields a token, whatever is presented: try every token of it.
    for f in 0..run.model.families.len() {
        if !run.model.families[f].revoked {
            continue;
        }
        for t in 0..run.model.families[f].tokens.len() {
            let value = run.model.families[f].tokens[t].value.clone();
            let got = run.token(&[("grant_type", "refresh_token"), ("refresh_token", &value)], &run.secret()).await;
            run.expect_error(&got, 400, "invalid_grant", "a token of a revoked family");
        }
    }
    // And every access token works exactly while neither it nor its family was revoked.
    for a in 0..run.model.access.len() {
        run.step(&Op::Userinfo(a * 2 + 1)).await;
    }
}

#[tokio::test]
async fn random_interleavings_match_the_reference_model() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let started = std::time::Instant::now();
        for (leeway, ops) in samples(case(), CASES, 22) {
            run_case(&app, leeway, &ops).await;
        }
        eprintln!("model_protocol [{backend}]: {CASES} cases in {:.1} s", started.elapsed().as_secs_f64());
    }
}

/// Regression (issue 22): the access token of a retry inside the reuse interval was not
/// recorded with its family, so revoking the family (RFC 7009 §2.1, or reuse detection)
/// left that access token working at /userinfo: a revoked family had yielded a live token.
#[tokio::test]
async fn a_retry_access_token_dies_with_its_family() {
    for backend in backends() {
        let app = WebApp::start(backend).await;
        let ops = [
            Op::Authorize,
            Op::Redeem(0),
            // The head, then its predecessor inside the interval (a retry).
            Op::Refresh(0, 0),
            Op::Refresh(0, 6),
            Op::RevokeRefresh(0, 0),
        ];
        let mut run = start_case(&app, 10).await;
        for op in &ops {
            run.step(op).await;
        }
        assert_eq!(run.model.access.len(), 3, "{}", run.ctx());
        for a in 0..3 {
            run.step(&Op::Userinfo(a)).await;
        }
    }
}
