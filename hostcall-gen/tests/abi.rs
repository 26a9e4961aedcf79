//! The ABI list (`hostcall_abi`) and what the built library really exports
//! agree: every `demo_*` symbol in `libdemo.so`'s dynamic symbol table is an
//! entry point of the list or a native entry point of the model, and each
//! of those is exported. The header, the test tables and the bindings'
//! constants are rendered from the same list (see drift.rs).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use hostcall_gen::Model;

fn libdemo() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let lib = exe.parent().expect("deps directory").join("libdemo.so");
    assert!(lib.exists(), "{} was not built", lib.display());
    lib
}

/// The defined dynamic symbols of a shared library, by `nm -D`.
fn exported(lib: &PathBuf) -> BTreeSet<String> {
    let output = Command::new("nm")
        .args(["-D", "--defined-only", "--format=posix"])
        .arg(lib)
        .output()
        .expect("nm (binutils) is installed");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_library_exports_exactly_the_listed_entry_points() {
    let lib = libdemo();
    let model = Model::lower(&hostcall_gen::load(&lib, "demo").expect("description loads"))
        .expect("the description lowers");
    let mut expected: BTreeSet<String> = hostcall_abi::ENTRY_POINTS
        .iter()
        .map(|e| format!("demo_{}", e.name))
        .collect();
    expected.extend(
        model
            .handlers
            .iter()
            .filter_map(|f| f.native.as_ref())
            .flat_map(|n| [n.symbol.clone(), n.cancellable_symbol.clone()]),
    );
    let actual: BTreeSet<String> = exported(&lib)
        .into_iter()
        .filter(|s| s.starts_with("demo_"))
        .collect();
    assert_eq!(actual, expected);
}

#[test]
fn the_typed_table_holds_the_exported_symbols() {
    let table = demo::__HOSTCALL_ENTRY_POINTS;
    let mut len = 0usize;
    // SAFETY: `len` is valid for a write; the description lives as long as
    // the process.
    let description = unsafe { (table.hostcall_description)(&mut len) };
    assert!(!description.is_null() && len > 0);
    // SAFETY: no obligations.
    let hash = unsafe { (table.interface_hash)() };
    let model = Model::lower(&hostcall_gen::load(&libdemo(), "demo").unwrap()).unwrap();
    assert_eq!(hash, model.interface_hash);
}

/// docs/abi.md, the hand-written reference.
fn documented() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/abi.md");
    std::fs::read_to_string(path).expect("docs/abi.md")
}

/// `| \`NAME\` | value | …` rows: the first two cells, backticks dropped.
fn table_rows(doc: &str) -> Vec<(String, String)> {
    doc.lines()
        .filter_map(|line| {
            let mut cells = line.strip_prefix("| `")?.split('|');
            let name = cells.next()?.trim().trim_end_matches('`').to_owned();
            let second = cells.next()?.trim().to_owned();
            Some((name, second))
        })
        .collect()
}

#[test]
fn the_reference_documents_exactly_the_listed_codes() {
    let rows = table_rows(&documented());
    let documented: BTreeSet<(String, String)> = rows
        .into_iter()
        .filter(|(name, _)| name.starts_with("HC_") || name.starts_with("RET_"))
        .collect();
    let listed: BTreeSet<(String, String)> = hostcall_abi::STATUS_CODES
        .iter()
        .chain(hostcall_abi::OUTCOME_CODES)
        .map(|c| (c.name.to_owned(), c.value.to_string()))
        .collect();
    assert_eq!(documented, listed);
}

#[test]
fn the_reference_documents_exactly_the_listed_config_keys() {
    let doc = documented();
    // The table under `| key | type | meaning | default |`.
    let table: Vec<&str> = doc
        .lines()
        .skip_while(|l| !l.starts_with("| key |"))
        .take_while(|l| l.starts_with('|'))
        .collect();
    let documented: BTreeSet<String> = table
        .iter()
        .filter_map(|line| {
            let key = line.strip_prefix("| `")?.split('`').next()?;
            (key.chars().all(|c| c.is_ascii_lowercase() || c == '_')).then(|| key.to_owned())
        })
        .collect();
    let listed: BTreeSet<String> = hostcall_abi::CONFIG_KEYS
        .iter()
        .map(|k| k.key.to_owned())
        .collect();
    assert_eq!(documented, listed);
    for key in hostcall_abi::CONFIG_KEYS {
        let row = table
            .iter()
            .find(|l| l.starts_with(&format!("| `{}` |", key.key)))
            .unwrap();
        let cell = row.rsplit('|').nth(1).unwrap();
        match key.value {
            // A text key's default is its first choice, or found by the
            // runtime, or none: the key is required.
            hostcall_abi::config::ConfigValue::Text { .. } => {
                let expected = match key.default_choice() {
                    Some(choice) => format!("`{choice}`"),
                    None if key.is_required() => "required".to_owned(),
                    None => "found".to_owned(),
                };
                assert_eq!(cell.trim(), expected, "{row}");
            }
            _ => {
                let default: String = cell.chars().filter(char::is_ascii_digit).collect();
                assert_eq!(default, key.default.to_string(), "{row}");
            }
        }
    }
}

#[test]
fn the_reference_headings_show_the_listed_signatures() {
    let doc = documented();
    let mut seen = 0;
    for entry in hostcall_abi::ENTRY_POINTS {
        let symbol = format!("demo_{}(", entry.name);
        let Some(heading) = doc
            .lines()
            .filter(|l| l.starts_with("### `"))
            .find(|l| l.contains(&format!(" {symbol}")) || l.contains(&format!("*{symbol}")))
        else {
            continue;
        };
        seen += 1;
        let params = if entry.params.is_empty() {
            "void".to_owned()
        } else {
            entry.c_params().join(", ")
        };
        let prototype = format!(
            "{}({params})",
            hostcall_abi::ctype::declare(&entry.c_ret(), &format!("demo_{}", entry.name))
        );
        assert!(
            heading.contains(&format!("`{prototype}`")),
            "{heading}\nshould show {prototype}"
        );
    }
    assert!(
        seen >= 8,
        "docs/abi.md documents {seen} entry points by heading"
    );
}
