//! Names as words, so each backend spells them its own way from one split.

/// A name of the description (`login_many`, `Session`, `EmptyUserId`) and
/// its words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// As the library spells it: the name on the wire.
    pub wire: String,
    /// Its words, case kept: split at underscores (`user_ids` → `user`,
    /// `ids`) and where camel case changes (`EmptyUserId` → `Empty`,
    /// `User`, `Id`; `HTTPError` → `HTTP`, `Error`; `Utf8Bad` → `Utf8`,
    /// `Bad`).
    pub words: Vec<String>,
}

impl Name {
    /// Splits `wire` into words.
    pub fn new(wire: &str) -> Self {
        Self {
            wire: wire.to_owned(),
            words: words(wire),
        }
    }

    /// The words in lower case, separated by spaces (`EmptyUserId` →
    /// `empty user id`), for prose.
    pub fn phrase(&self) -> String {
        self.words
            .iter()
            .map(|w| w.to_lowercase())
            .collect::<Vec<_>>()
            .join(" ")
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

/// Splits at underscores, and before an upper-case letter that follows a
/// lower-case letter or digit, or that starts a word after an acronym
/// (the `E` of `HTTPError`).
fn words(wire: &str) -> Vec<String> {
    let mut words = Vec::new();
    for part in wire.split('_').filter(|w| !w.is_empty()) {
        let chars: Vec<char> = part.chars().collect();
        let mut word = String::new();
        for (i, &c) in chars.iter().enumerate() {
            let boundary = i > 0
                && c.is_uppercase()
                && (chars[i - 1].is_lowercase()
                    || chars[i - 1].is_ascii_digit()
                    || (chars[i - 1].is_uppercase()
                        && chars.get(i + 1).is_some_and(|n| n.is_lowercase())));
            if boundary {
                words.push(std::mem::take(&mut word));
            }
            word.push(c);
        }
        words.push(word);
    }
    words
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
        let words = |wire| Name::new(wire).words;
        assert_eq!(words("EmptyUserId"), ["Empty", "User", "Id"]);
        assert_eq!(words("SignInError"), ["Sign", "In", "Error"]);
        assert_eq!(words("HTTPError"), ["HTTP", "Error"]);
        assert_eq!(words("Utf8Bad"), ["Utf8", "Bad"]);
        assert_eq!(words("not_found"), ["not", "found"]);
        assert_eq!(Name::new("HTTPError").upper_camel(), "HTTPError");
        assert_eq!(Name::new("EmptyUserId").phrase(), "empty user id");
    }
}
