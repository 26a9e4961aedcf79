//! Prints what an input of the `requests` target means: its config and
//! operations, one a line.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example show_script -- fuzz/artifacts/requests/crash-…
//! ```

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(path), None) = (args.next(), args.next()) else {
        eprintln!("usage: show_script <input file>");
        std::process::exit(2);
    };
    let input = std::fs::read(&path).unwrap_or_else(|e| {
        eprintln!("show_script: cannot read {path}: {e}");
        std::process::exit(1);
    });
    let script = hostcall_fuzz::script::decode(&input);
    println!("input: {}", hostcall_fuzz::hex(&input));
    println!("config: {:?}", script.config);
    for (i, op) in script.ops.iter().enumerate() {
        println!("{i:3}: {op:?}");
    }
}
