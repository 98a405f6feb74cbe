//! Helpers shared by the fuzz targets: how a target's raw input is split into its parts.
//! Inputs are mostly text with one part per line, so the seed corpora in `corpus/` are
//! readable and editable by hand.

/// The input as lines (`\n`-separated), or `None` when it is not UTF-8.
pub fn lines(data: &[u8]) -> Option<Vec<&str>> {
    std::str::from_utf8(data).ok().map(|s| s.split('\n').collect())
}

/// The first byte (a mode selector) and the rest.
pub fn mode(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(m, rest)| (*m, rest))
}
