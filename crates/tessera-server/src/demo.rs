//! `tessera serve --demo`: seeds, idempotently, an API, a confidential web app, a public
//! native app, a machine-to-machine app with a client grant, and a user, then prints their
//! ids and secrets and the walkthrough. Objects are found again by ids remembered in the
//! tenant settings, so a second start reuses them; secrets are re-issued on every start
//! because only their hashes are stored.

use tessera_core::model::{ApiScope, AppType, ClientPatch, ResourceServerPatch, TokenEndpointAuthMethod, UserPatch};
use tessera_core::registry::Registry;
use tessera_core::routes;

use crate::bootstrap::Deployment;

pub const DEMO_API: &str = "https://api.demo.test";
pub const DEMO_USER: &str = "demo@example.com";
pub const DEMO_PASSWORD: &str = "demo-password-1";

#[derive(Debug, Clone)]
pub struct Seeded {
    pub api: String,
    pub web_client_id: String,
    pub web_client_secret: String,
    pub native_client_id: String,
    pub m2m_client_id: String,
    pub m2m_client_secret: String,
    pub user_id: String,
}

fn err(e: tessera_core::Error) -> String {
    format!("demo seed: {}", crate::cli::describe(&e))
}

/// Finds the client remembered under `key`, or creates it; returns its id and, when it
/// has one, a freshly issued secret.
async fn client(d: &Deployment, key: &str, patch: ClientPatch) -> Result<(String, Option<String>), String> {
    let r: &Registry = &d.registry;
    if let Ok(Some(id)) = d.store.get_setting(key).await {
        if r.get_client(&id).await.is_ok() {
            let updated = r.update_client(&id, patch).await.map_err(err)?;
            let secret = match updated.client_secret {
                Some(s) => Some(s),
                None if updated.client.token_endpoint_auth_method.uses_secret() => {
                    Some(r.rotate_client_secret(&id, 0).await.map_err(err)?)
                }
                None => None,
            };
            return Ok((id, secret));
        }
    }
    let created = r.create_client(patch).await.map_err(err)?;
    d.store.init_setting(key, &created.client.client_id).await.map_err(|e| format!("demo seed: {e}"))?;
    Ok((created.client.client_id, created.client_secret))
}

pub async fn seed(d: &Deployment, issuer: &str) -> Result<Seeded, String> {
    let r = &d.registry;
    let api = match r.get_api(DEMO_API).await {
        Ok(api) => api,
        Err(_) => r
            .create_api(ResourceServerPatch {
                identifier: Some(DEMO_API.into()),
                name: Some("Demo API".into()),
                scopes: Some(vec![
                    ApiScope { value: "read:messages".into(), description: "Read messages".into() },
                    ApiScope { value: "write:messages".into(), description: "Write messages".into() },
                ]),
                allow_offline_access: Some(true),
                ..Default::default()
            })
            .await
            .map_err(err)?,
    };
    let callback = routes::url(issuer, "/demo/callback");
    let (web_client_id, web_secret) = client(
        d,
        "demo.web_client_id",
        ClientPatch {
            name: Some("Demo Web App".into()),
            app_type: Some(AppType::RegularWeb),
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::ClientSecretPost),
            grant_types: Some(vec!["authorization_code".into(), "refresh_token".into()]),
            callbacks: Some(vec![callback.clone()]),
            allowed_logout_urls: Some(vec![issuer.to_string()]),
            ..Default::default()
        },
    )
    .await?;
    let (native_client_id, _) = client(
        d,
        "demo.native_client_id",
        ClientPatch {
            name: Some("Demo Native App".into()),
            app_type: Some(AppType::Native),
            callbacks: Some(vec!["http://127.0.0.1/callback".into(), "com.example.demo:/callback".into()]),
            ..Default::default()
        },
    )
    .await?;
    let (m2m_client_id, m2m_secret) = client(
        d,
        "demo.m2m_client_id",
        ClientPatch {
            name: Some("Demo M2M Service".into()),
            app_type: Some(AppType::NonInteractive),
            grant_types: Some(vec!["client_credentials".into()]),
            ..Default::default()
        },
    )
    .await?;
    if r.store().find_grant(&m2m_client_id, &api.identifier).await.map_err(|e| format!("demo seed: {e}"))?.is_none() {
        r.create_grant(&m2m_client_id, &api.identifier, None).await.map_err(err)?;
    }
    let user = match r.get_user(DEMO_USER).await {
        Ok(u) => r.set_password(&u.user_id, DEMO_PASSWORD).await.map_err(err)?,
        Err(_) => r
            .create_user(
                UserPatch {
                    email: Some(DEMO_USER.into()),
                    email_verified: Some(true),
                    name: Some("Demo User".into()),
                    given_name: Some("Demo".into()),
                    family_name: Some("User".into()),
                    ..Default::default()
                },
                Some(DEMO_PASSWORD),
            )
            .await
            .map_err(err)?,
    };
    Ok(Seeded {
        api: api.identifier,
        web_client_id,
        web_client_secret: web_secret.unwrap_or_default(),
        native_client_id,
        m2m_client_id,
        m2m_client_secret: m2m_secret.unwrap_or_default(),
        user_id: user.user_id,
    })
}

impl Seeded {
    pub fn walkthrough(&self, issuer: &str) -> String {
        let u = |p: &str| routes::url(issuer, p);
        format!(
            r#"
=== Tessera demo ===
API (audience):      {api}
Web app (confidential, client_secret_post or _basic)
  client_id:         {web}
  client_secret:     {web_secret}
  callback:          {callback}
Native app (public, PKCE):
  client_id:         {native}
M2M service (client_credentials, granted {api}):
  client_id:         {m2m}
  client_secret:     {m2m_secret}
User:                {user} / {password}  ({user_id})

Try it:
  curl -s {discovery}
  curl -s {jwks}
  curl -s {ready}
"#,
            api = self.api,
            web = self.web_client_id,
            web_secret = self.web_client_secret,
            callback = u("/demo/callback"),
            native = self.native_client_id,
            m2m = self.m2m_client_id,
            m2m_secret = self.m2m_client_secret,
            user = DEMO_USER,
            password = DEMO_PASSWORD,
            user_id = self.user_id,
            discovery = u(routes::OPENID_CONFIGURATION),
            jwks = u(routes::JWKS),
            ready = u(routes::READYZ),
        )
    }
}
