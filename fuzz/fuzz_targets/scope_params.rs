//! `scope` (RFC 6749 §3.3), `prompt` / `max_age` (OIDC Core §3.1.2.1) and the token
//! endpoint's `audience` / `resource` check (RFC 8707 §2.2).
//!
//! Input: lines. Line 1 is a scope string; line 2 the authorized audience (empty: none);
//! line 3 an /authorize or token request's query string. Invariants:
//! - scope: accepted iff every space-separated token is `1*( %x21 / %x23-5B / %x5D-7E )`;
//!   the canonical form (sorted, deduplicated, single spaces) parses to the same set and
//!   prints the same;
//! - prompt: accepted iff every value is none/login/consent/select_account and `none`
//!   stands alone; max_age accepted iff it is all digits and fits in an i64;
//! - audience/resource at the token endpoint: accepted iff each one present equals what
//!   was authorized and a `resource` is an absolute URI without a fragment (RFC 8707 §2).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::authorize::check_prompt;
use tessera_core::authorize::Params;
use tessera_core::grants::{check_target, Params as TokenParams};
use tessera_core::scope::{is_scope_token, Scope};
use tessera_core::ErrorCode;

fn scope(s: &str) {
    let tokens: Vec<&str> = s.split(' ').filter(|t| !t.is_empty()).collect();
    let valid = tokens.iter().all(|t| t.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e)));
    match Scope::parse(s) {
        Ok(parsed) => {
            assert!(valid, "accepted {s:?}");
            assert!(parsed.iter().all(is_scope_token));
            let mut sorted = tokens.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(parsed.to_string(), sorted.join(" "));
            assert_eq!(Scope::parse(&parsed.to_string()).unwrap(), parsed, "canonical form round-trips");
            assert!(tokens.iter().all(|t| parsed.contains(t)));
        }
        Err(e) => {
            assert!(!valid, "refused {s:?}");
            assert_eq!(e.code, ErrorCode::InvalidScope);
        }
    }
}

fn prompt(query: &str) {
    let params = Params::parse(query.as_bytes());
    let values: Vec<&str> = params.get("prompt").unwrap_or("").split(' ').filter(|v| !v.is_empty()).collect();
    let known = values.iter().all(|v| matches!(*v, "none" | "login" | "consent" | "select_account"));
    let none_alone = !values.contains(&"none") || values.len() == 1;
    let max_age_ok = params.get("max_age").is_none_or(|m| m.bytes().all(|b| b.is_ascii_digit()) && m.parse::<i64>().is_ok());
    match check_prompt::run(&params) {
        Ok(i) => {
            assert!(known && none_alone && max_age_ok, "accepted {query:?}");
            assert_eq!(i.prompt.none, values.contains(&"none"));
            assert_eq!(i.prompt.login, values.contains(&"login"));
            assert_eq!(i.prompt.consent, values.contains(&"consent"));
            assert!(i.max_age.is_none_or(|m| m >= 0));
            assert!(i.login_hint.is_none_or(|h| h.chars().count() <= 256));
        }
        Err(e) => {
            assert!(!(known && none_alone && max_age_ok), "refused {query:?}");
            assert_eq!(e.code, ErrorCode::InvalidRequest);
        }
    }
}

fn target(authorized: &str, query: &str) {
    let authorized = Some(authorized).filter(|a| !a.is_empty());
    let mut params = TokenParams::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if !v.is_empty() {
            params.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
    }
    let absolute = params.get("resource").is_none_or(|r| url::Url::parse(r).is_ok() && !r.contains('#'));
    let ok = absolute && ["audience", "resource"].iter().all(|n| params.get(*n).is_none_or(|v| Some(v.as_str()) == authorized));
    match check_target(&params, authorized) {
        Ok(()) => assert!(ok, "accepted a target outside the authorization"),
        Err(e) => {
            assert!(!ok);
            assert_eq!(e.code, ErrorCode::InvalidTarget);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(lines) = tessera_fuzz::lines(data) else { return };
    let line = |i: usize| lines.get(i).copied().unwrap_or("");
    scope(line(0));
    prompt(line(2));
    target(line(1), line(2));
});
