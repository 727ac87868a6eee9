//! "Did you mean" suggestions for misspelt names.
//!
//! A name is close to a candidate when few edits turn one into the other, counting
//! a swap of two neighbouring letters as one edit (optimal string alignment, so
//! `rge` is one edit from `reg` and `digti` one from `digit`), or when it shares a
//! long prefix with a much longer name (`sparse_crossentropy` for
//! `sparse_categorical_crossentropy`).

/// The candidate closest to `name`, if it is close enough to be a likely typo.
///
/// The fewest edits win; a tie goes to the candidate listed first. With no
/// candidate within `max_edits`, the one most similar by Jaro-Winkler (at least
/// 0.8) is taken, which finds long names with a word left out.
pub fn nearest<'a, I>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let candidates: Vec<&'a str> = candidates.into_iter().collect();
    let by_edits = candidates
        .iter()
        .map(|&c| (strsim::osa_distance(name, c), c))
        .filter(|&(edits, c)| edits <= max_edits(name, c))
        .min_by_key(|&(edits, _)| edits)
        .map(|(_, c)| c);
    by_edits.or_else(|| {
        candidates
            .iter()
            .map(|&c| (strsim::jaro_winkler(name, c), c))
            .filter(|&(score, _)| score >= 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, c)| c)
    })
}

/// How many edits still make a typo of the longer of `a` and `b`: one per four
/// letters, and at least one (`sparse_` is not a typo of `binary_`).
fn max_edits(a: &str, b: &str) -> usize {
    (a.chars().count().max(b.chars().count()) / 4).max(1)
}

/// `` `a`, `b`, `c` ``: names for a message.
pub fn list<I, S>(names: I) -> String
where
    I: IntoIterator<Item = S>,
    S: std::fmt::Display,
{
    names
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// ` (did you mean `x`?)` when a candidate is close, else nothing.
pub fn did_you_mean<'a, I>(name: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    nearest(name, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(nearest("digti", ["digit", "parity"]), Some("digit"));
        assert_eq!(
            nearest("los", ["input_spec", "loss", "loss_weights"]),
            Some("loss")
        );
        assert_eq!(nearest("zzz", ["digit", "parity"]), None);
    }

    #[test]
    fn lists_names_in_backticks() {
        assert_eq!(list(["a", "b"]), "`a`, `b`");
    }
}
