//! Reading configuration from environment variables, one way for every setting: trimmed, empty
//! means unset, and a value that does not parse falls back to the default.

use std::str::FromStr;

/// A source of variables: the process environment, or a map in tests.
pub(crate) struct Vars<F>(pub(crate) F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// The variable's value, trimmed; `None` when unset or blank.
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The variable parsed, or `default` when unset or unparsable.
    pub(crate) fn parsed<T: FromStr>(&self, name: &str, default: T) -> T {
        self.text(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// `true`/`false` (any case); anything else is `default`.
    pub(crate) fn flag(&self, name: &str, default: bool) -> bool {
        match self.text(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            Some("true") => true,
            Some("false") => false,
            _ => default,
        }
    }
}

/// The process environment.
pub(crate) fn process() -> Vars<impl Fn(&str) -> Option<String>> {
    Vars(|name: &str| std::env::var(name).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_and_unparsable_values_are_unset() {
        let vars = Vars(|name: &str| match name {
            "BLANK" => Some("  ".to_owned()),
            "NUMBER" => Some(" 42 ".to_owned()),
            "WORD" => Some("many".to_owned()),
            "YES" => Some("TRUE".to_owned()),
            _ => None,
        });
        assert_eq!(vars.text("BLANK"), None);
        assert_eq!(vars.text("NUMBER").as_deref(), Some("42"));
        assert_eq!(vars.parsed("NUMBER", 7u64), 42);
        assert_eq!(vars.parsed("WORD", 7u64), 7);
        assert_eq!(vars.parsed("MISSING", 7u64), 7);
        assert!(vars.flag("YES", false));
        assert!(vars.flag("WORD", true));
    }
}
