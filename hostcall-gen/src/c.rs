//! The C backend: `hostcall.h`, the ABI every library shares, and
//! `<prefix>.h`, one library's interface, which includes it.
//!
//! Layout of `<prefix>.h`: the interface hash, the records as a comment,
//! methods, host fns and events as documented name macros, the native
//! entry points, the config keys, then the entry-point prototypes.

use askama::Template;

use crate::model::{Abi, ErrorType, Event, Function, Model, Record, Signature};
use crate::text;

/// `hostcall.h`.
#[derive(Template)]
#[template(path = "c/hostcall.h", escape = "none")]
struct AbiHeader<'a> {
    abi: &'a Abi,
}

/// `<prefix>.h`.
#[derive(Template)]
#[template(path = "c/library.h", escape = "none")]
struct LibraryHeader<'a> {
    model: &'a Model,
    /// The prefix.
    p: &'a str,
    /// The prefix in capitals, for macro names.
    pu: String,
}

/// The file name of the shared ABI header.
pub const ABI_HEADER: &str = "hostcall.h";

/// Renders `hostcall.h`.
pub fn abi_header(abi: &Abi) -> String {
    render(&AbiHeader { abi })
}

/// Renders `<prefix>.h`.
pub fn header(model: &Model) -> String {
    render(&LibraryHeader {
        model,
        p: &model.prefix.wire,
        pu: model.prefix.screaming(),
    })
}

/// Both headers, as `(file name, contents)`: what goes in a library's
/// include folder.
pub fn files(model: &Model) -> Vec<(String, String)> {
    vec![
        (format!("{}.h", model.prefix.wire), header(model)),
        (ABI_HEADER.to_owned(), abi_header(&model.abi)),
    ]
}

/// Renders a template, ending with one newline.
pub(crate) fn render(template: &impl Template) -> String {
    let mut text = template.render().expect("templates render from plain data");
    text.truncate(text.trim_end().len());
    text.push('\n');
    text
}

/// The field rows of a record's comment, names and types aligned.
fn field_rows(record: &Record) -> Vec<String> {
    let width = record
        .fields
        .iter()
        .map(|f| f.name.wire.len())
        .max()
        .unwrap_or(0);
    record
        .fields
        .iter()
        .map(|field| {
            let doc = field.doc.lines().next().unwrap_or("");
            let row = format!(
                "    {:width$}  {:8} {doc}",
                field.name.wire,
                field.ty.wire()
            );
            row.trim_end().to_owned()
        })
        .collect()
}

/// The variant rows of an error type's comment: each wire form, then its
/// doc wrapped four columns in.
fn variant_rows(error: &ErrorType) -> Vec<String> {
    let mut rows = Vec::new();
    for variant in &error.variants {
        rows.push(format!("    {}", variant.wire()));
        rows.extend(
            text::wrap(&variant.doc, 64)
                .into_iter()
                .map(|line| format!("        {line}")),
        );
    }
    rows
}

/// How a handler's reply reads in its comment.
fn reply_label(f: &Function) -> String {
    match (&f.error, f.fallible) {
        (Some(error), _) => format!("reply (RET_OK; RET_ERR_TYPED carries a {error})"),
        (None, true) => "reply (RET_OK; RET_ERR carries error text)".to_owned(),
        (None, false) => "reply (RET_OK)".to_owned(),
    }
}

/// A method's or host fn's doc block: its doc, its request array and its
/// reply.
fn function_doc(f: &Function, reply: &str) -> String {
    let mut lines = text::wrap(&f.doc, 72);
    if !lines.is_empty() {
        lines.push(String::new());
    }
    let args: Vec<String> = f
        .args
        .iter()
        .map(|a| format!("{}: {}", a.name, a.ty.wire()))
        .collect();
    lines.push(format!("request: [{}]", args.join(", ")));
    lines.push(format!("{reply}: {}", f.ret.wire()));
    if let Some(error) = &f.error
        && reply.starts_with("complete")
    {
        lines.push(format!("or complete with RET_ERR_TYPED and: {error}"));
    }
    text::c_block(&lines, "")
}

/// An event's doc block.
fn event_doc(e: &Event) -> String {
    let mut lines = text::wrap(&e.doc, 72);
    if !lines.is_empty() {
        lines.push(String::new());
    }
    lines.push(format!("payload: {}", e.payload.wire()));
    text::c_block(&lines, "")
}

/// A config key's lines: `- key (range; default N): what it does`,
/// continued two columns in.
fn config_lines(key: &hostcall_abi::ConfigKey) -> Vec<String> {
    use hostcall_abi::config::ConfigValue;
    let range = match key.value {
        ConfigValue::Count { min, max } if max == u64::MAX => format!("{min} or more"),
        ConfigValue::Count { min, max } => format!("{min} ..= {max}"),
        ConfigValue::Duration { unit, max } => {
            let unit = unit.symbol();
            if max == u64::MAX {
                unit.to_owned()
            } else {
                format!("{unit}, at most {max}")
            }
        }
        ConfigValue::Text { choices: [] } => "text".to_owned(),
        ConfigValue::Text { choices } => choices.join(" | "),
        ConfigValue::Flag => "true | false".to_owned(),
    };
    let default = match key.value {
        ConfigValue::Text { .. } => key.default_choice().unwrap_or("found").to_owned(),
        ConfigValue::Flag => (key.default != 0).to_string(),
        _ => key.default.to_string(),
    };
    let line = format!("- {} ({range}; default {default}): {}", key.key, key.doc);
    let mut lines = text::wrap(line, 72);
    for continued in lines.iter_mut().skip(1) {
        continued.insert_str(0, "  ");
    }
    lines
}

/// An entry point's prototype, wrapped like the rest of the header.
fn prototype(prefix: &str, entry: &Signature) -> String {
    let head = text::c_declaration(&entry.c_ret, &format!("{prefix}_{}", entry.name));
    let params = if entry.c_params.is_empty() {
        "void".to_owned()
    } else {
        entry.c_params.join(", ")
    };
    let one = format!("{head}({params})");
    if one.len() <= 100 {
        return one;
    }
    // Break after the last parameter that fits, aligning under the first.
    let indent = " ".repeat(head.len() + 1);
    let mut lines = vec![format!("{head}(")];
    for (i, param) in entry.c_params.iter().enumerate() {
        let sep = if i + 1 < entry.c_params.len() {
            ","
        } else {
            ")"
        };
        let last = lines.last_mut().expect("one line at least");
        let piece = format!("{param}{sep}");
        if last.len() + piece.len() + 1 > 100 && !last.ends_with('(') {
            last.truncate(last.trim_end().len());
            lines.push(format!("{indent}{piece}"));
        } else {
            if !last.ends_with('(') {
                last.push(' ');
            }
            last.push_str(&piece);
        }
    }
    lines.join("\n")
}
