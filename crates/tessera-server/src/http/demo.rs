//! `GET /demo/callback` — only with `serve --demo`: the demo web app's redirect target. It
//! shows the authorization code it received and the exact `curl` that redeems it, so the
//! README walkthrough works with nothing but a browser and a shell.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tessera_core::routes;

use super::html::{escape, Page};
use crate::app::AppState;

pub const CALLBACK: &str = "/demo/callback";

pub async fn callback(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let Some(demo) = &state.demo else { return StatusCode::NOT_FOUND.into_response() };
    let params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let rows: String = params.iter().map(|(k, v)| format!("<li><b>{}</b>: <code>{}</code></li>", escape(k), escape(v))).collect();
    let body = match get("code") {
        Some(code) => {
            let curl = format!(
                "curl -s {} -d grant_type=authorization_code -d code={} -d redirect_uri={} -d client_id={} -d client_secret={}",
                routes::url(&state.issuer, routes::TOKEN),
                code,
                routes::url(&state.issuer, CALLBACK),
                demo.web_client_id,
                demo.web_client_secret
            );
            format!(
                "<h1>Signed in</h1><p>The demo app received:</p><ul>{rows}</ul>\
                 <p>Redeem the code within a minute:</p><pre><code>{}</code></pre>",
                escape(&curl)
            )
        }
        None => format!("<h1>No code</h1><p>The authorization server answered:</p><ul>{rows}</ul>"),
    };
    Page::new(StatusCode::OK, "Tessera demo", body).into_response()
}
