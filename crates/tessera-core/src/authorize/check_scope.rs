//! `scope` (RFC 6749 §3.3) and the OpenID scopes.
//!
//! - RFC 6749 §3.3: the value must be space-delimited scope tokens, else `invalid_scope`.
//! - RFC 6749 §3.3: the server may grant less than requested. As Auth0 does, scopes the
//!   audience API does not define are dropped, not refused; the granted scope is what the
//!   code carries.
//! - OIDC Core §3.1.2.1 / §5.4: `openid` makes the request an OpenID Connect request;
//!   `profile` and `email` only request claims within one, so they need `openid`.
//! - OIDC Core §11: `offline_access` (a refresh token) is granted only when the client may
//!   use the refresh_token grant and the API, if any, allows offline access.

use super::params::Params;
use crate::error::Error;
use crate::model::{Client, GrantType, ResourceServer};
use crate::scope::Scope;

/// The requested scope, syntax-checked.
pub fn parse(params: &Params) -> Result<Scope, Error> {
    Scope::parse(params.get("scope").unwrap_or(""))
}

/// What is granted of `requested`.
pub fn grant(requested: &Scope, client: &Client, api: Option<&ResourceServer>) -> Scope {
    let oidc = requested.contains("openid");
    let offline = client.allows_grant(GrantType::RefreshToken) && api.is_none_or(|a| a.allow_offline_access);
    // RFC 6749 §3.3: the server may fully or partially ignore the requested scope.
    let granted = requested.iter().filter(|s| match *s {
        "openid" => true,
        "profile" | "email" => oidc,
        "offline_access" => offline,
        other => api.is_some_and(|a| a.has_scope(other)),
    });
    Scope::from_tokens(granted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ApiScope, AppType, ClientPatch, ResourceServerPatch};

    #[test]
    fn grant_table() {
        let web = Client::create("c".into(), ClientPatch { name: Some("w".into()), ..Default::default() }, 0).unwrap();
        let no_refresh = Client::create(
            "c".into(),
            ClientPatch {
                name: Some("w".into()),
                grant_types: Some(vec!["authorization_code".into()]),
                app_type: Some(AppType::RegularWeb),
                ..Default::default()
            },
            0,
        )
        .unwrap();
        let api = |offline| {
            ResourceServer::create(
                "a".into(),
                ResourceServerPatch {
                    identifier: Some("https://api".into()),
                    scopes: Some(vec![ApiScope { value: "read:x".into(), description: String::new() }]),
                    allow_offline_access: Some(offline),
                    ..Default::default()
                },
                0,
            )
            .unwrap()
        };
        let (on, off) = (api(true), api(false));
        let cases: &[(&str, &Client, Option<&ResourceServer>, &str)] = &[
            ("openid profile email", &web, None, "email openid profile"),
            ("profile email", &web, None, ""),
            ("openid offline_access", &web, None, "offline_access openid"),
            ("openid offline_access", &no_refresh, None, "openid"),
            ("openid offline_access read:x", &web, Some(&off), "openid read:x"),
            ("openid offline_access read:x", &web, Some(&on), "offline_access openid read:x"),
            ("openid read:x write:y", &web, Some(&on), "openid read:x"),
            ("openid read:x", &web, None, "openid"),
        ];
        for (req, client, api, want) in cases {
            let got = grant(&Scope::parse(req).unwrap(), client, *api).to_string();
            assert_eq!(&got, want, "{req}");
        }
    }
}
