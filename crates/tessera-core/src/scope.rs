//! Scope values, RFC 6749 §3.3: a space-delimited list of case-sensitive tokens, each
//! `1*( %x21 / %x23-5B / %x5D-7E )`. Order does not matter; duplicates collapse.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(BTreeSet<String>);

/// RFC 6749 §3.3 `scope-token` characters.
pub fn is_scope_token(t: &str) -> bool {
    !t.is_empty() && t.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

impl Scope {
    /// Parses a `scope` parameter. Runs of spaces are tolerated; any other character outside
    /// the RFC's set is `invalid_scope`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let mut set = BTreeSet::new();
        for token in s.split(' ').filter(|t| !t.is_empty()) {
            if !is_scope_token(token) {
                return Err(Error::invalid_scope("scope contains a character outside RFC 6749 section 3.3"));
            }
            set.insert(token.to_string());
        }
        Ok(Self(set))
    }

    pub fn from_tokens<I: IntoIterator<Item = S>, S: Into<String>>(tokens: I) -> Self {
        Self(tokens.into_iter().map(Into::into).collect())
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn is_subset(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn intersection(&self, other: &Scope) -> Scope {
        Scope(self.0.intersection(&other.0).cloned().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn insert(&mut self, token: impl Into<String>) {
        self.0.insert(token.into());
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for t in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(t)?;
            first = false;
        }
        Ok(())
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Scope::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("openid profile", Some("openid profile")),
            ("profile openid openid", Some("openid profile")),
            ("  openid   email ", Some("email openid")),
            ("", Some("")),
            ("read:messages", Some("read:messages")),
            ("bad\"quote", None),
            ("back\\slash", None),
            ("tab\there", None),
            ("caf\u{e9}", None),
        ];
        for (input, want) in cases {
            let got = Scope::parse(input).map(|s| s.to_string()).ok();
            assert_eq!(got.as_deref(), *want, "input {input:?}");
        }
    }

    #[test]
    fn subset_and_intersection() {
        let all = Scope::parse("a b c").unwrap();
        let some = Scope::parse("a c").unwrap();
        assert!(some.is_subset(&all));
        assert!(!all.is_subset(&some));
        assert_eq!(all.intersection(&Scope::parse("c d").unwrap()).to_string(), "c");
    }
}
