//! The `hostcall-gen` command.

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: hostcall-gen <c> --lib <path/to/lib<prefix>.so> [--prefix <prefix>] [--out <file>] [--check]

Reads the library's own description and writes its binding:
  c    the C header

  --lib      the built hostcall library (cdylib)
  --prefix   its C prefix (default: from the file name, libdemo.so -> demo)
  --out      where to write (default: stdout)
  --check    compare with --out instead of writing; exit 1 if they differ";

struct Args {
    language: String,
    lib: PathBuf,
    prefix: Option<String>,
    out: Option<PathBuf>,
    check: bool,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let language = argv.next().ok_or("missing the language")?;
    let (mut lib, mut prefix, mut out, mut check) = (None, None, None, false);
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--lib" => lib = Some(PathBuf::from(value()?)),
            "--prefix" => prefix = Some(value()?),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--check" => check = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(Args {
        language,
        lib: lib.ok_or("--lib is required")?,
        prefix,
        out,
        check,
    })
}

fn run(args: Args) -> Result<(), String> {
    let prefix = match args.prefix {
        Some(prefix) => prefix,
        None => hostcall_gen::prefix_of(&args.lib)
            .ok_or("cannot tell the prefix from the file name; pass --prefix")?,
    };
    let desc = hostcall_gen::load(&args.lib, &prefix)?;
    let text = match args.language.as_str() {
        "c" => hostcall_gen::c::header(&desc),
        other => return Err(format!("unknown language '{other}' (known: c)")),
    };
    match (args.out, args.check) {
        (Some(out), true) => {
            let current = std::fs::read_to_string(&out)
                .map_err(|e| format!("cannot read {}: {e}", out.display()))?;
            if current != text {
                return Err(format!(
                    "{} is out of date with {}; regenerate it with hostcall-gen",
                    out.display(),
                    args.lib.display()
                ));
            }
            Ok(())
        }
        (Some(out), false) => {
            std::fs::write(&out, text).map_err(|e| format!("cannot write {}: {e}", out.display()))
        }
        (None, true) => Err("--check needs --out".to_owned()),
        (None, false) => {
            print!("{text}");
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("hostcall-gen: {problem}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("hostcall-gen: {problem}");
            ExitCode::FAILURE
        }
    }
}
