//! The body of a token, revocation or introspection request: a form (RFC 6749 §4.1.3) or,
//! as Auth0 accepts, a JSON object. Pure (bytes and the media type in, parameters out), so
//! the HTTP layer calls it and the fuzz target `token_request_body` drives it directly.
//!
//! RFC 6749 §3.1: request parameters MUST NOT be included more than once → a repeated
//! parameter is `invalid_request` (also in JSON, where parsers would silently keep one);
//! parameters sent without a value are treated as omitted; unknown ones are ignored.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::error::Error;
use crate::grants::Params;

fn insert(params: &mut Params, k: String, v: String) -> Result<(), Error> {
    // RFC 8707 §2: a client may name several resources; Tessera issues a token for one
    // API, so a second `resource` is invalid_target rather than a malformed request.
    if k == "resource" && params.contains_key(&k) {
        return Err(Error::new(crate::ErrorCode::InvalidTarget, "only one resource may be requested"));
    }
    if params.contains_key(&k) {
        return Err(Error::invalid_request(format!("parameter {k} is repeated")));
    }
    params.insert(k, v);
    Ok(())
}

/// Parses `body` by its `Content-Type` value (`content_type`, "" when absent). Empty values
/// are dropped after the repeat check.
pub fn parse_body(content_type: &str, body: &[u8]) -> Result<Params, Error> {
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let mut params = Params::new();
    match mime.as_str() {
        "application/x-www-form-urlencoded" => {
            for (k, v) in url::form_urlencoded::parse(body) {
                insert(&mut params, k.into_owned(), v.into_owned())?;
            }
        }
        "application/json" => {
            let mut de = serde_json::Deserializer::from_slice(body);
            let obj = de
                .deserialize_map(UniqueMap)
                .map_err(|e| Error::invalid_request(format!("the JSON body is not a flat object of unique keys: {e}")))?;
            de.end().map_err(|_| Error::invalid_request("trailing data after the JSON body"))?;
            for (k, v) in obj {
                let v = match v {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Null => String::new(),
                    _ => return Err(Error::invalid_request(format!("parameter {k} must be a string"))),
                };
                params.insert(k, v);
            }
        }
        "" => return Err(Error::invalid_request("Content-Type must be application/x-www-form-urlencoded or application/json")),
        other => {
            return Err(Error::invalid_request(format!(
                "Content-Type {other} is not supported: use application/x-www-form-urlencoded or application/json"
            )))
        }
    }
    params.retain(|_, v| !v.is_empty());
    Ok(params)
}

/// A JSON object visitor that refuses duplicate keys.
struct UniqueMap;

impl<'de> Visitor<'de> for UniqueMap {
    type Value = BTreeMap<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some((k, v)) = map.next_entry::<String, Value>()? {
            if out.contains_key(&k) {
                return Err(serde::de::Error::custom(format!("parameter {k} is repeated")));
            }
            out.insert(k, v);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_parsing_table() {
        let form = "application/x-www-form-urlencoded; charset=UTF-8";
        let json = "application/json";
        let p = parse_body(form, b"grant_type=authorization_code&code=abc&empty=&x=%2B").unwrap();
        assert_eq!(p.get("code").map(String::as_str), Some("abc"));
        assert_eq!(p.get("x").map(String::as_str), Some("+"));
        assert!(!p.contains_key("empty"));
        assert!(parse_body(form, b"code=a&code=b").unwrap_err().description().contains("repeated"));
        // RFC 8707 §2: a second resource is invalid_target (one API per token).
        assert_eq!(parse_body(form, b"resource=https://a&resource=https://a").unwrap_err().code, crate::ErrorCode::InvalidTarget);
        let p = parse_body(json, br#"{"grant_type":"authorization_code","code":"abc","n":5}"#).unwrap();
        assert_eq!(p.get("n").map(String::as_str), Some("5"));
        assert!(parse_body(json, br#"{"code":"a","code":"b"}"#).unwrap_err().description().contains("repeated"));
        assert!(parse_body(json, br#"{"code":{"x":1}}"#).is_err());
        assert!(parse_body(json, br#"["code"]"#).is_err());
        assert!(parse_body(json, br#"{"code":"a"} x"#).is_err());
        assert!(parse_body("", b"code=a").is_err());
        assert!(parse_body("text/plain", b"code=a").is_err());
    }
}
