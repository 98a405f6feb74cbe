//! Reading a cookie from a request's `Cookie` header lines (RFC 6265 §5.4: `name=value`
//! pairs separated by `; `). Pure, so the HTTP layer calls it and the fuzz target
//! `cookie_handle` drives it directly. Which cookies exist and their attributes are the
//! HTTP layer's (`tessera-server/src/http/cookies.rs`).

/// The value of cookie `name` in `header_values` (each a `Cookie` header line), if present
/// and non-empty: the first such pair wins.
pub fn value<'a>(header_values: impl IntoIterator<Item = &'a str>, name: &str) -> Option<String> {
    header_values
        .into_iter()
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn cookie_parsing_table() {
        let lines = ["x=1; tessera_session=abc; y="];
        assert_eq!(super::value(lines, "tessera_session").as_deref(), Some("abc"));
        assert_eq!(super::value(lines, "y"), None);
        assert_eq!(super::value(lines, "z"), None);
        assert_eq!(super::value(["a=", "a=2"], "a").as_deref(), Some("2"));
        assert_eq!(super::value(["a = 1"], "a"), None);
    }
}
