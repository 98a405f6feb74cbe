//! The redirect matcher (RFC 9700 §4.1.3, RFC 8252 §7.3): a presented URI matches only a
//! registered URI it equals byte for byte, except the port of a loopback IP literal for a
//! native app; every known bypass of looser matchers is refused.

use proptest::prelude::*;
use tessera_core::model::AppType;
use tessera_core::redirect_uri::{find_match, validate_registration};

const APP_TYPES: [AppType; 4] = [AppType::Native, AppType::Spa, AppType::RegularWeb, AppType::NonInteractive];

/// A registrable https URI: host, optional port, path, optional query.
fn https_uri() -> impl Strategy<Value = String> {
    (
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9]{0,6}){1,2}",
        prop::option::of(1u16..),
        "(/[A-Za-z0-9._~-]{1,8}){0,3}",
        prop::option::of("[a-z]{1,5}=[A-Za-z0-9]{0,5}"),
    )
        .prop_map(|(host, port, path, query)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let query = query.map(|q| format!("?{q}")).unwrap_or_default();
            format!("https://{host}{port}{path}{query}")
        })
}

/// A registrable loopback URI (`127.0.0.1` or `[::1]`, with or without a port).
fn loopback_uri() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("127.0.0.1"), Just("[::1]")],
        prop::option::of(1u16..),
        "(/[A-Za-z0-9._~-]{1,8}){0,3}",
        prop::option::of("[a-z]{1,5}=[A-Za-z0-9]{0,5}"),
    )
        .prop_map(|(host, port, path, query)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let query = query.map(|q| format!("?{q}")).unwrap_or_default();
            format!("http://{host}{port}{path}{query}")
        })
}

fn registered() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(prop_oneof![https_uri(), loopback_uri(), Just("com.example.app:/cb".to_string())], 1..4)
}

fn app_type() -> impl Strategy<Value = AppType> {
    prop::sample::select(APP_TYPES.to_vec())
}

/// `uri` split as `http://<loopback host>`, its port digits, and the rest; `None` for any
/// other URI. The oracle the matcher is checked against, written independently of it.
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

/// `uri` with its port replaced by `port` (digits, possibly none or too many), and
/// optionally `junk` after the port: near misses of a loopback registration.
fn with_port(uri: &str, port: &str, junk: Option<&str>) -> String {
    let Some((scheme, after)) = uri.split_once("://") else { return uri.to_string() };
    let end = after.find(['/', '?']).unwrap_or(after.len());
    let (authority, tail) = after.split_at(end);
    let host = if authority.starts_with('[') {
        &authority[..authority.find(']').map_or(authority.len(), |i| i + 1)]
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    format!("{scheme}://{host}:{port}{}{tail}", junk.unwrap_or(""))
}

/// The known bypasses of redirect matchers, applied to a registered URI.
fn bypasses(uri: &str) -> Vec<String> {
    let (scheme, after) = uri.split_once("://").unwrap_or(("", uri));
    let host_end = after.find(['/', '?']).unwrap_or(after.len());
    let (authority, tail) = after.split_at(host_end);
    let host = authority.rsplit_once(':').filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())).map_or(authority, |(h, _)| h);
    let port = &authority[host.len()..];
    let path = if tail.is_empty() { "/" } else { tail };
    let mut v = vec![
        // Case changes.
        uri.to_ascii_uppercase(),
        format!("{}://{}{tail}", scheme.to_ascii_uppercase(), authority),
        format!("{scheme}://{}{tail}", authority.to_ascii_uppercase()),
        format!("{scheme}://{authority}{}", tail.to_ascii_uppercase()),
        // Added query or fragment, path tricks.
        format!("{uri}?x=1"),
        format!("{uri}&x=1"),
        format!("{uri}#frag"),
        format!("{uri}#"),
        format!("{uri}/"),
        format!("{uri}/.."),
        format!("{scheme}://{authority}/..{path}"),
        format!("{scheme}://{authority}/x/..{path}"),
        format!("{scheme}://{authority}/%2e%2e{path}"),
        format!("{scheme}://{authority}/%2E%2E{path}"),
        format!("{scheme}://{authority}/%252e%252e{path}"),
        format!("{scheme}://{authority}{}", path.replace('/', "%2F")),
        format!("{scheme}://{authority}{}", path.replace('/', "%252F")),
        // Userinfo: the real host is after the @.
        format!("{scheme}://evil.example@{authority}{tail}"),
        format!("{scheme}://{authority}@evil.example{tail}"),
        format!("{scheme}://{host}:{}@evil.example{tail}", port.trim_start_matches(':')),
        // Backslashes, tabs and control characters (browsers strip or reinterpret them).
        format!("{scheme}:\\\\{authority}{tail}"),
        format!("{scheme}://{authority}\\{tail}"),
        format!("{scheme}://{authority}\\@evil.example{tail}"),
        format!("\t{uri}"),
        format!("{uri}\t"),
        format!("{scheme}://{authority}\n{tail}"),
        format!("{scheme}://{authority}\r\n{tail}"),
        format!("{scheme}://{authority}\0{tail}"),
        format!("{scheme}://{host}\u{7f}{port}{tail}"),
        format!(" {uri}"),
        format!("{uri} "),
        // Host look-alikes: suffixes, trailing dot, IDN homoglyphs, punycode.
        format!("{scheme}://{host}.evil.example{port}{tail}"),
        format!("{scheme}://localhost.evil{port}{tail}"),
        format!("{scheme}://{host}.{port}{tail}"),
        format!(
            "{scheme}://{}{port}{tail}",
            host.replacen('a', "\u{430}", 1).replacen('e', "\u{435}", 1).replacen('o', "\u{43e}", 1)
        ),
        format!("{scheme}://xn--{host}{port}{tail}"),
        format!("{scheme}://{host}%2e{port}{tail}"),
        // Dangerous schemes carrying the URI.
        format!("javascript:{uri}"),
        format!("javascript://{authority}/%0aalert(1)"),
        format!("data:text/html,{uri}"),
        format!("JavaScript:{uri}"),
        // Scheme downgrade or swap.
        format!("http://{after}"),
        format!("https://{after}"),
        format!("{scheme}:{after}"),
        format!("{scheme}:///{after}"),
        // IPv6 zone ids and other loopback spellings.
        format!("{scheme}://[::1%25eth0]{port}{tail}"),
        format!("{scheme}://[0:0:0:0:0:0:0:1]{port}{tail}"),
        format!("{scheme}://127.1{port}{tail}"),
        format!("{scheme}://2130706433{port}{tail}"),
        format!("{scheme}://127.0.0.2{port}{tail}"),
        format!("{scheme}://localhost{port}{tail}"),
    ];
    v.retain(|b| b != uri);
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever is presented, a match is the registered URI itself, or (native apps only)
    /// the same loopback URI with another port; and what matched is a valid redirect URI.
    #[test]
    fn a_match_is_byte_equal_except_a_native_loopback_port(
        (reg, presented) in registered().prop_flat_map(|reg| {
            let near = (prop::sample::select(reg.clone()), "[0-9]{0,7}|[6-9][0-9]{4}", prop::option::of("[:@./?#%a-z0-9]{1,3}"))
                .prop_map(|(r, port, junk)| with_port(&r, &port, junk.as_deref()));
            let presented = prop_oneof![any::<String>(), "[ -~]{0,60}", https_uri(), loopback_uri(), near];
            (Just(reg), presented)
        }),
        app in prop_oneof![Just(AppType::Native), app_type()],
    ) {
        match find_match(&reg, &presented, app) {
            None => {
                prop_assert!(!reg.contains(&presented), "an exact registration must match");
            }
            Some(r) if *r == presented => {}
            Some(r) => {
                prop_assert_eq!(app, AppType::Native, "only native apps get the loopback port exception");
                let (rh, _, rrest) = loopback_parts(r).expect("registered is loopback");
                let (ph, pport, prest) = loopback_parts(&presented).expect("presented is loopback");
                prop_assert_eq!((rh, rrest), (ph, prest), "only the port may differ");
                prop_assert!(pport.is_some() || presented.len() < r.len());
                prop_assert!(validate_registration(&presented, app).is_ok(), "matched {presented:?}, which is not a valid URI");
            }
        }
    }

    /// Any loopback port matches a native app's loopback registration, and nothing else
    /// about the URI may change.
    #[test]
    fn native_loopback_redirects_match_on_any_port(reg in loopback_uri(), port in 1u16..) {
        let (host, _, rest) = loopback_parts(&reg).unwrap();
        let presented = format!("http://{host}:{port}{rest}");
        let registered = vec![reg.clone()];
        prop_assert_eq!(find_match(&registered, &presented, AppType::Native), Some(&reg));
        for app in [AppType::Spa, AppType::RegularWeb, AppType::NonInteractive] {
            prop_assert_eq!(find_match(&registered, &presented, app).is_some(), presented == reg);
        }
    }

    /// The corpus of known bypasses is refused for every client type, and for native apps
    /// even where the loopback port exception applies.
    #[test]
    fn known_bypasses_are_always_refused(reg in prop_oneof![https_uri(), loopback_uri()], app in app_type()) {
        let registered = vec![reg.clone()];
        for bypass in bypasses(&reg) {
            let matched = find_match(&registered, &bypass, app);
            // The only legitimate non-exact match: a native app's loopback URI with another port.
            let port_only = app == AppType::Native
                && loopback_parts(&reg).zip(loopback_parts(&bypass)).is_some_and(|((a, _, x), (b, _, y))| a == b && x == y);
            prop_assert!(matched.is_none() || port_only, "{bypass:?} matched {reg:?} for {app:?}");
        }
    }

    /// Registration refuses what may never receive a response, whatever surrounds it.
    #[test]
    fn registration_refuses_fragments_userinfo_wildcards_and_dangerous_schemes(
        reg in https_uri(),
        app in app_type(),
        scheme in prop::sample::select(vec!["javascript", "data", "file", "vbscript", "JAVASCRIPT", "blob", "ws"]),
    ) {
        prop_assert!(validate_registration(&reg, app).is_ok(), "{reg}");
        let (_, after) = reg.split_once("://").unwrap();
        for bad in [
            format!("{reg}#f"),
            format!("https://user@{after}"),
            format!("https://user:pw@{after}"),
            format!("https://*.{after}"),
            format!("{scheme}:{after}"),
            format!("{scheme}://{after}"),
            format!("http://{after}"),
            format!("{reg}\t"),
            format!("{reg}\u{430}"),
        ] {
            prop_assert!(validate_registration(&bad, app).is_err(), "{bad:?} was accepted for {app:?}");
        }
    }
}
