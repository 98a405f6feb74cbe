//! CORS (Fetch Standard §3.2) for the endpoints a browser app calls cross-origin:
//! `POST /oauth/token`, `POST /oauth/revoke` (a SPA redeems its PKCE code, refreshes and
//! revokes there, as with Auth0) and `/userinfo`.
//!
//! Any origin may call them, without credentials (`Access-Control-Allow-Origin: *`, never
//! `Access-Control-Allow-Credentials`): they read no cookie and have no ambient authority.
//! The request itself carries what authenticates it (the client's credentials or PKCE
//! verifier, the access token), so a page can learn nothing it could not learn without a
//! browser.
//!
//! - Every actual response, success or error (4xx JSON included), allows the origin and
//!   exposes `WWW-Authenticate` (the challenge of a 401) and `DPoP-Nonce` (RFC 9449 §8: the
//!   client must read the nonce to retry).
//! - A preflight (`OPTIONS`) is answered 204 with the route's methods and the request
//!   headers that are not CORS-safelisted: `Authorization` (Basic client credentials, the
//!   access token), `Content-Type` (a JSON body), `DPoP` (the proof) and `Auth0-Client`
//!   (the base64 JSON SDK name and version that auth0-spa-js and Auth0's other SDKs send
//!   on every call; Tessera ignores its value, but a preflight that refused it would make
//!   the browser block the call).

use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use crate::app::AppState;

/// Request headers a preflight may ask for.
const ALLOW_HEADERS: &str = "Authorization, Content-Type, DPoP, Auth0-Client";
/// Response headers a page may read.
const EXPOSE_HEADERS: &str = "WWW-Authenticate, DPoP-Nonce";
/// Seconds a browser may cache a preflight answer.
const MAX_AGE: &str = "600";

/// Opens `route` to cross-origin calls: its responses allow any origin, and `OPTIONS`
/// answers the preflight for `methods` (e.g. `"POST"`).
pub fn any_origin(route: MethodRouter<AppState>, methods: &'static str) -> MethodRouter<AppState> {
    route.layer(middleware::map_response(allow_origin)).options(move || preflight(methods))
}

async fn allow_origin(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS));
    resp
}

async fn preflight(methods: &'static str) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(methods));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
    resp
}

/// CORS for Auth0's cross-origin authentication endpoints (`/dbconnections/*`,
/// `/passwordless/start`): unlike the token endpoint, only an origin some application
/// registered in its Allowed Origins (`allowed_origins`) or Allowed Web Origins
/// (`web_origins`) is allowed, and named exactly (`Vary: Origin`), never `*`. A preflight
/// carries no body, so it cannot name the application: the origin must be registered by
/// one. No credentials are allowed: these endpoints read no cookie.
pub fn web_origins(route: MethodRouter<AppState>, methods: &'static str, state: AppState) -> MethodRouter<AppState> {
    let preflight_state = state.clone();
    route.layer(middleware::from_fn_with_state(state, allow_registered)).options(move |headers: axum::http::HeaderMap| {
        let state = preflight_state.clone();
        async move {
            let mut resp = StatusCode::NO_CONTENT.into_response();
            if let Some(origin) = registered_origin(&state, &headers).await {
                let h = resp.headers_mut();
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(methods));
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
                h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
            }
            resp.headers_mut().insert(header::VARY, HeaderValue::from_static("Origin"));
            resp
        }
    })
}

/// The request's `Origin`, when a registered application allows it.
async fn registered_origin(state: &AppState, headers: &axum::http::HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok()?.to_string();
    let clients = state.deployment.registry.list_clients().await.ok()?;
    let known = clients.iter().any(|c| c.allowed_origins.iter().chain(&c.web_origins).any(|o| *o == origin));
    known.then(|| HeaderValue::from_str(&origin).ok()).flatten()
}

async fn allow_registered(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    let origin = registered_origin(&state, req.headers()).await;
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Some(o) = origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
    }
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    resp
}
