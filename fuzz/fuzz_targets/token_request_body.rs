//! The token-request body (form or JSON, `tessera_core::token_request::parse_body`) and the
//! browser requests' query/form parameters (`tessera_core::authorize::Params`).
//!
//! Input: a mode byte, then the body. `j` → JSON, `q` → /authorize query, anything else →
//! form. Invariants (RFC 6749 §3.1):
//! - a repeated parameter is never accepted (form and JSON alike), and the /authorize
//!   parser reports exactly the repeated names;
//! - what is accepted is exactly the body's pairs with empty values dropped;
//! - canonical round trip: the accepted parameters, re-encoded, parse to themselves.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use tessera_core::authorize::Params as BrowserParams;
use tessera_core::token_request::parse_body;

const FORM: &str = "application/x-www-form-urlencoded";

/// The keys of a JSON object in order, duplicates kept (an oracle for the unique-key rule).
struct Keys;
impl<'de> Visitor<'de> for Keys {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<String>, A::Error> {
        let mut keys = Vec::new();
        while let Some((k, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
            keys.push(k);
        }
        Ok(keys)
    }
}

fn form(body: &[u8]) {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let mut first: BTreeMap<&str, &str> = BTreeMap::new();
    let mut repeated = false;
    for (k, v) in &pairs {
        repeated |= first.insert(k, v).is_some();
    }
    match parse_body(FORM, body) {
        Ok(params) => {
            assert!(!repeated, "a repeated parameter was accepted");
            let want: BTreeMap<String, String> =
                pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.clone(), v.clone())).collect();
            assert_eq!(params, want);
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &params {
                ser.append_pair(k, v);
            }
            assert_eq!(parse_body(FORM, ser.finish().as_bytes()).expect("canonical form parses"), params);
        }
        Err(e) => assert!(repeated, "refused a form without repeats: {e:?}"),
    }
    // The content type is matched case-insensitively, parameters after `;` ignored.
    assert_eq!(parse_body("Application/X-WWW-Form-URLencoded; charset=utf-8", body).is_ok(), !repeated);
}

fn json(body: &[u8]) {
    let result = parse_body("application/json", body);
    let value: Option<Value> = serde_json::from_slice(body).ok();
    let keys = serde_json::Deserializer::from_slice(body).deserialize_map(Keys).ok();
    let Ok(params) = result else { return };
    let Some(Value::Object(obj)) = value else { panic!("accepted a body that is not one JSON object") };
    let keys = keys.expect("an object has keys");
    let mut distinct = keys.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), keys.len(), "accepted a repeated JSON key");
    for (k, v) in &obj {
        let scalar = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => String::new(),
            _ => panic!("accepted a non-scalar value for {k}"),
        };
        assert_eq!(params.get(k).cloned().unwrap_or_default(), scalar, "{k}");
    }
    assert!(params.keys().all(|k| obj.contains_key(k)));
    assert!(params.values().all(|v| !v.is_empty()));
    let canonical = serde_json::to_vec(&params).expect("a map of strings serialises");
    assert_eq!(parse_body("application/json", &canonical).expect("canonical JSON parses"), params);
}

fn query(body: &[u8]) {
    let p = BrowserParams::parse(body);
    let mut seen: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        seen.entry(k.into_owned()).or_insert_with(|| (v.into_owned(), 0)).1 += 1;
    }
    let repeated: Vec<&str> = seen.iter().filter(|(_, (_, n))| *n > 1).map(|(k, _)| k.as_str()).collect();
    assert_eq!(p.repeated().collect::<Vec<_>>(), repeated);
    for (k, (first, _)) in &seen {
        assert_eq!(p.get(k), Some(first.as_str()).filter(|v| !v.is_empty()), "{k}");
    }
    assert_eq!(BrowserParams::parse(body), p, "parsing is a pure function of the input");
}

fuzz_target!(|data: &[u8]| {
    let Some((m, body)) = tessera_fuzz::mode(data) else { return };
    match m {
        b'j' => json(body),
        b'q' => query(body),
        _ => form(body),
    }
    // No content type, or another one, is never accepted.
    assert!(parse_body("", body).is_err());
    assert!(parse_body("text/plain", body).is_err());
});
