//! A PostgreSQL URL that names several hosts, libpq's way
//! (`postgres://user@h1:5432,h2:5433/db?target_session_attrs=read-write`), split into one
//! single-host URL per host for the driver, which takes one host only.
//!
//! libpq (PostgreSQL docs, §34.1.1.3 "Specifying Multiple Hosts"): the hosts are tried in
//! the order given until a connection succeeds; with `target_session_attrs=read-write` a
//! connection is kept only if the server accepts writes (`SHOW transaction_read_only` is
//! `off`), `primary` only if it is not in recovery. Tessera writes on every request it
//! stores, so a URL naming several hosts always wants the writable one: `read-write` (or
//! `primary`, the same for Tessera) is the default there, and `any` is refused.

/// The hosts of one database URL, in the order to try them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostList {
    /// One URL per host, each with the URL's user, password, database and parameters
    /// (without `target_session_attrs`, which the driver does not know).
    pub urls: Vec<String>,
    /// `host:port` of each, for log lines and messages.
    pub names: Vec<String>,
    /// Keep only a connection to a server that accepts writes.
    pub read_write: bool,
}

/// Splits `url`; a URL with one host comes back as a list of one.
pub fn parse(url: &str) -> Result<HostList, String> {
    let (scheme, rest) = url.split_once("://").ok_or("a PostgreSQL URL starts with postgres://")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hosts) = match authority.rfind('@') {
        Some(at) => (&authority[..=at], &authority[at + 1..]),
        None => ("", authority),
    };
    let (path, query) = match tail.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (tail, None),
    };
    let mut attrs = None;
    let mut kept = Vec::new();
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("target_session_attrs", v)) => attrs = Some(v.to_string()),
            _ => kept.push(pair),
        }
    }
    let hosts: Vec<&str> = hosts.split(',').collect();
    if hosts.iter().any(|h| h.is_empty()) && hosts.len() > 1 {
        return Err("a PostgreSQL URL's host list has an empty entry".into());
    }
    let several = hosts.len() > 1;
    let read_write = match attrs.as_deref() {
        None => several,
        Some("read-write" | "primary") => true,
        Some("any") if !several => false,
        Some("any") => {
            return Err("target_session_attrs=any cannot be used with several hosts: Tessera writes, so it needs the \
                        writable primary (read-write, the default for a host list)"
                .into())
        }
        Some(other) => {
            return Err(format!(
                "target_session_attrs={other} is not supported; use read-write (or primary), or any for one host"
            ))
        }
    };
    let query = if kept.is_empty() { String::new() } else { format!("?{}", kept.join("&")) };
    let urls = hosts.iter().map(|h| format!("{scheme}://{userinfo}{h}{path}{query}")).collect();
    let names =
        hosts.iter().map(|h| if h.contains(':') && !h.ends_with(']') { h.to_string() } else { format!("{h}:5432") }).collect();
    Ok(HostList { urls, names, read_write })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_host_is_a_list_of_one_without_the_write_check() {
        let l = parse("postgres://u:p@db:5433/tessera?sslmode=disable").unwrap();
        assert_eq!(l.urls, vec!["postgres://u:p@db:5433/tessera?sslmode=disable"]);
        assert_eq!(l.names, vec!["db:5433"]);
        assert!(!l.read_write);
        let l = parse("postgresql://db/tessera?target_session_attrs=read-write").unwrap();
        assert_eq!(l.urls, vec!["postgresql://db/tessera"]);
        assert_eq!(l.names, vec!["db:5432"]);
        assert!(l.read_write);
    }

    #[test]
    fn several_hosts_keep_user_database_and_parameters_and_want_the_primary() {
        let l =
            parse("postgres://u:p%40x@h1:5432,h2:6432,[::1]:7432/db?target_session_attrs=read-write&sslmode=require").unwrap();
        assert_eq!(
            l.urls,
            vec![
                "postgres://u:p%40x@h1:5432/db?sslmode=require",
                "postgres://u:p%40x@h2:6432/db?sslmode=require",
                "postgres://u:p%40x@[::1]:7432/db?sslmode=require",
            ]
        );
        assert_eq!(l.names, vec!["h1:5432", "h2:6432", "[::1]:7432"]);
        assert!(l.read_write);
        assert!(parse("postgres://h1,h2/db").unwrap().read_write);
        assert!(parse("postgres://h1,h2/db?target_session_attrs=primary").unwrap().read_write);
    }

    #[test]
    fn a_host_list_is_redacted_too() {
        let r = crate::store::redact_url("postgres://u:secret@h1:5432,h2:5432/db?target_session_attrs=read-write");
        assert_eq!(r, "postgres://u:****@h1:5432,h2:5432/db?target_session_attrs=read-write");
        assert_eq!(crate::store::redact_url("postgres://u@h1/db"), "postgres://u@h1/db");
        assert_eq!(crate::store::redact_url("sqlite:///x/tessera.db"), "sqlite:///x/tessera.db");
    }

    #[test]
    fn refuses_what_cannot_work() {
        assert!(parse("postgres://h1,h2/db?target_session_attrs=any").unwrap_err().contains("several hosts"));
        assert!(parse("postgres://h1/db?target_session_attrs=standby").unwrap_err().contains("not supported"));
        assert!(parse("postgres://h1,,h2/db").unwrap_err().contains("empty"));
        assert!(parse("db").is_err());
    }
}
