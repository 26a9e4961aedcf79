//! Names as words, so each backend spells them its own way from one split.

/// A name of the description (`login_many`, `Session`) and its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// As the library spells it: the name on the wire.
    pub wire: String,
    /// Its `_`-separated words, case kept (`user_ids` → `user`, `ids`).
    pub words: Vec<String>,
}

impl Name {
    /// Splits `wire` at underscores.
    pub fn new(wire: &str) -> Self {
        Self {
            wire: wire.to_owned(),
            words: wire
                .split('_')
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// `LOGIN_MANY`.
    pub fn screaming(&self) -> String {
        self.wire.to_ascii_uppercase()
    }

    /// `LoginMany`: every word with its first letter in upper case.
    pub fn upper_camel(&self) -> String {
        self.words.iter().map(|w| capitalized(w)).collect()
    }

    /// `loginMany`: the first word as it is, the others capitalised.
    pub fn lower_camel(&self) -> String {
        let mut words = self.words.iter();
        let first = words.next().cloned().unwrap_or_default();
        first + &words.map(|w| capitalized(w)).collect::<String>()
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.wire)
    }
}

/// `word` with its first letter in upper case.
pub fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_come_from_one_split() {
        let name = Name::new("login_many");
        assert_eq!(name.upper_camel(), "LoginMany");
        assert_eq!(name.lower_camel(), "loginMany");
        assert_eq!(name.screaming(), "LOGIN_MANY");
        assert_eq!(Name::new("_unused").lower_camel(), "unused");
        assert_eq!(Name::new("Session").upper_camel(), "Session");
    }
}
