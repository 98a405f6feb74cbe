//! Redirect URIs: registration (`validate_registration`) and matching (`find_match`,
//! RFC 9700 §4.1.3, RFC 8252 §7.3).
//!
//! Input: lines. Line 1's first character is the app type (`n` native, `s` SPA, `w`
//! regular web, else machine-to-machine); the middle lines are URIs to register (those the
//! validator refuses are dropped, as registration would); the last line is the URI
//! presented at /authorize. Invariants:
//! - what registration accepts is an absolute ASCII URI without whitespace, controls,
//!   fragment, userinfo or wildcard, with an allowed scheme;
//! - a match is byte-equal to a registered URI, or (native apps only) the same loopback
//!   URI with another 16-bit port, and is itself a URI registration would accept;
//! - an exact registration always matches; matching is a pure function of its inputs
//!   (same answer twice, and with the registrations in reverse order).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::model::AppType;
use tessera_core::redirect_uri::{find_match, validate_registration};

/// `http://<127.0.0.1 | [::1]>`, the port (if any) and the rest, for a loopback URI.
fn loopback_parts(uri: &str) -> Option<(&str, Option<u16>, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let host = ["127.0.0.1", "[::1]"].into_iter().find(|h| rest.starts_with(h))?;
    let rest = &rest[host.len()..];
    let (port, rest) = match rest.strip_prefix(':') {
        Some(p) => {
            let end = p.find(|c: char| !c.is_ascii_digit()).unwrap_or(p.len());
            (Some(p[..end].parse::<u16>().ok()?), &p[end..])
        }
        None => (None, rest),
    };
    (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')).then_some((host, port, rest))
}

fn check_registration(uri: &str, app: AppType) {
    if validate_registration(uri, app).is_err() {
        return;
    }
    assert!(uri.is_ascii() && !uri.chars().any(|c| c.is_whitespace() || c.is_control()), "{uri:?}");
    assert!(!uri.contains('#') && !uri.contains('*'), "{uri:?}");
    let url = url::Url::parse(uri).expect("an accepted URI parses");
    assert!(url.username().is_empty() && url.password().is_none(), "{uri:?}");
    match url.scheme() {
        "https" => assert!(url.host_str().is_some_and(|h| !h.is_empty())),
        "http" => assert!(matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost")), "{uri:?}"),
        s => assert!(app == AppType::Native && s.contains('.'), "{uri:?} for {app:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(lines) = tessera_fuzz::lines(data) else { return };
    let app = match lines[0].bytes().next() {
        Some(b'n') => AppType::Native,
        Some(b's') => AppType::Spa,
        Some(b'w') => AppType::RegularWeb,
        _ => AppType::NonInteractive,
    };
    let presented = if lines.len() > 1 { lines[lines.len() - 1] } else { lines[0] };
    let middle = if lines.len() > 2 { &lines[1..lines.len() - 1] } else { &[][..] };
    for uri in middle.iter().chain([&presented]) {
        check_registration(uri, app);
    }
    let registered: Vec<String> =
        middle.iter().filter(|u| validate_registration(u, app).is_ok()).map(|u| u.to_string()).collect();
    let found = find_match(&registered, presented, app);
    assert_eq!(find_match(&registered, presented, app), found, "matching is deterministic");
    let reversed: Vec<String> = registered.iter().rev().cloned().collect();
    assert_eq!(find_match(&reversed, presented, app).is_some(), found.is_some(), "order does not decide a match");
    match found {
        None => assert!(!registered.iter().any(|r| r == presented), "an exact registration did not match"),
        Some(r) if r == presented => {}
        Some(r) => {
            assert_eq!(app, AppType::Native, "{presented:?} matched {r:?} for {app:?}");
            let (rh, _, rrest) = loopback_parts(r).expect("the registration is loopback");
            let (ph, _, prest) = loopback_parts(presented).unwrap_or_else(|| panic!("{presented:?} is not loopback"));
            assert_eq!((rh, rrest), (ph, prest), "more than the port differs");
            assert!(validate_registration(presented, app).is_ok(), "matched {presented:?}, which is not a valid URI");
        }
    }
});
