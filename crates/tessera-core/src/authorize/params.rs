//! The raw parameters of a browser request (/authorize, the login and consent forms), from
//! a query string or a form body.
//!
//! - RFC 6749 §3.1: parameters sent without a value are treated as if they were omitted.
//! - RFC 6749 §3.1: request parameters must not be included more than once; repeats are
//!   remembered here and refused by the checks.
//! - RFC 6749 §3.1: unrecognized parameters are ignored (nothing here rejects a name).

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    values: BTreeMap<String, String>,
    repeated: BTreeSet<String>,
}

impl Params {
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut p = Self::default();
        for (k, v) in pairs {
            match p.values.entry(k.into()) {
                Entry::Occupied(e) => {
                    p.repeated.insert(e.key().clone());
                }
                Entry::Vacant(e) => {
                    e.insert(v.into());
                }
            }
        }
        p
    }

    /// Parses `application/x-www-form-urlencoded` (a query string or a form body).
    pub fn parse(urlencoded: &[u8]) -> Self {
        Self::from_pairs(url::form_urlencoded::parse(urlencoded).map(|(k, v)| (k.into_owned(), v.into_owned())))
    }

    /// The value, or `None` when absent or empty. A repeated parameter's first value; the
    /// checks refuse repeats before trusting any value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    pub fn is_repeated(&self, name: &str) -> bool {
        self.repeated.contains(name)
    }

    pub fn repeated(&self) -> impl Iterator<Item = &str> {
        self.repeated.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_omitted_and_repeats_remembered() {
        let p = Params::parse(b"a=1&b=&c=x%20y&a=2&d=3&d=");
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        assert!(p.is_repeated("a") && p.is_repeated("d") && !p.is_repeated("c"));
        assert_eq!(p.repeated().collect::<Vec<_>>(), vec!["a", "d"]);
    }
}
