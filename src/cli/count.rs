//! Parsing the counts options take (`--workers`, `--processes`, `--top`, `--limit`): a whole
//! number of at least one, with a message that says so (clap's own for a zero `NonZeroUsize`
//! reads "number would be zero for non-zero type").

use std::num::NonZeroUsize;

/// `text` as a count of at least 1.
///
/// # Errors
/// A sentence naming what was given and what is expected (clap prefixes the option).
pub fn at_least_one(text: &str) -> Result<NonZeroUsize, String> {
    let n: usize = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number; give 1 or more"))?;
    NonZeroUsize::new(n).ok_or_else(|| "it must be at least 1".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_words_are_refused_in_plain_words() {
        assert_eq!(at_least_one("3").map(NonZeroUsize::get), Ok(3));
        assert_eq!(at_least_one("0"), Err("it must be at least 1".to_owned()));
        assert_eq!(
            at_least_one("-1"),
            Err("`-1` is not a whole number; give 1 or more".to_owned())
        );
    }
}
