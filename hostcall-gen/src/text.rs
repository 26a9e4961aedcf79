//! Text helpers the templates call: wrapping doc text and writing it as
//! comments.

/// Re-wraps doc text to `width` columns: lines of a paragraph are joined,
/// blank lines separate paragraphs.
pub fn wrap(text: impl AsRef<str>, width: usize) -> Vec<String> {
    let text = text.as_ref();
    let mut lines = Vec::new();
    for (i, paragraph) in text.split("\n\n").enumerate() {
        if i > 0 {
            lines.push(String::new());
        }
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        lines.push(line);
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

/// One line inside a `/* … */` block: ` * text`, or ` *` when empty.
pub fn comment_line(line: impl AsRef<str>, indent: &str) -> String {
    let line = line.as_ref();
    if line.is_empty() {
        " *".to_owned()
    } else {
        format!(" * {indent}{line}")
    }
}

/// A C doc comment of `doc` wrapped to the header's width: `/** one line */`
/// when it fits, else a block. `indent` prefixes every line.
pub fn c_doc(doc: &str, indent: &str) -> String {
    let one = format!(
        "{indent}/** {} */",
        doc.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    if one.len() <= 100 && !doc.contains("\n\n") {
        return one;
    }
    c_block(&wrap(doc, 74), indent)
}

/// A `/** … */` block of ready lines.
pub fn c_block(lines: &[String], indent: &str) -> String {
    let mut out = format!("{indent}/**");
    for line in lines {
        out.push('\n');
        out.push_str(indent);
        out.push_str(&comment_line(line, ""));
    }
    out.push('\n');
    out.push_str(indent);
    out.push_str(" */");
    out
}

/// A C declaration of `name` with type `c` (`void *demo_new`,
/// `int demo_call`).
pub fn c_declaration(c: &str, name: &str) -> String {
    hostcall_abi::ctype::declare(c, name)
}

/// `1048576` → `1 048 576`: digits grouped by threes for docs.
pub fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// A number of microseconds in the largest unit it is whole in:
/// `(10, "ms")`, `(50, "µs")`, `(2, "s")`.
pub fn whole_unit(micros: u64) -> (u64, &'static str) {
    if micros > 0 && micros.is_multiple_of(1_000_000) {
        (micros / 1_000_000, "s")
    } else if micros > 0 && micros.is_multiple_of(1000) {
        (micros / 1000, "ms")
    } else {
        (micros, "µs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_words_whole() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert_eq!(wrap("one\n\ntwo", 80), vec!["one", "", "two"]);
        assert_eq!(wrap("one\ntwo", 80), vec!["one two"]);
    }

    #[test]
    fn numbers_are_grouped_by_threes() {
        assert_eq!(grouped(16_777_215), "16 777 215");
        assert_eq!(grouped(50), "50");
    }

    #[test]
    fn short_docs_stay_on_one_line() {
        assert_eq!(c_doc("Says hi.", ""), "/** Says hi. */");
        assert_eq!(c_doc("a\n\nb", ""), "/**\n * a\n *\n * b\n */");
    }
}
