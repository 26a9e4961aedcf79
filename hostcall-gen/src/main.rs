//! The `hostcall-gen` command.

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: hostcall-gen <c|go|kotlin> --lib <path/to/lib<prefix>.so> [--prefix <prefix>] [--out <path>] [--check]

Reads the library's own description and writes its binding:
  c       the C header (--out: a file)
  go      the Go package and a copy of the header (--out: a directory)
  kotlin  the Kotlin file, the JNI glue and a copy of the header
          (--out: the Maven project directory)

  --lib      the built hostcall library (cdylib)
  --prefix   its C prefix (default: from the file name, libdemo.so -> demo)
  --out      where to write (default: stdout)
  --check    compare with --out instead of writing; exit 1 if they differ
  --go-runtime <import path>  the Go runtime support package
  --kotlin-package <name>     the Kotlin package (default dev.hostcall.<prefix>)";

struct Args {
    language: String,
    lib: PathBuf,
    prefix: Option<String>,
    out: Option<PathBuf>,
    check: bool,
    go_runtime: String,
    kotlin_package: Option<String>,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let language = argv.next().ok_or("missing the language")?;
    let (mut lib, mut prefix, mut out, mut check) = (None, None, None, false);
    let mut go_runtime = hostcall_gen::go::DEFAULT_RUNTIME.to_owned();
    let mut kotlin_package = None;
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--lib" => lib = Some(PathBuf::from(value()?)),
            "--prefix" => prefix = Some(value()?),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--check" => check = true,
            "--go-runtime" => go_runtime = value()?,
            "--kotlin-package" => kotlin_package = Some(value()?),
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
        go_runtime,
        kotlin_package,
    })
}

fn run(args: Args) -> Result<(), String> {
    let prefix = match args.prefix {
        Some(prefix) => prefix,
        None => hostcall_gen::prefix_of(&args.lib)
            .ok_or("cannot tell the prefix from the file name; pass --prefix")?,
    };
    let desc = hostcall_gen::load(&args.lib, &prefix)?;
    // (path, contents) of every file to write; a C header is one file at
    // --out, a Go package is files inside the --out directory.
    let files: Vec<(Option<String>, String)> = match args.language.as_str() {
        "c" => vec![(None, hostcall_gen::c::header(&desc))],
        "go" => hostcall_gen::go::package(&desc, &args.go_runtime)?
            .into_iter()
            .map(|(name, text)| (Some(name), text))
            .collect(),
        "kotlin" => {
            let package = args
                .kotlin_package
                .clone()
                .unwrap_or_else(|| hostcall_gen::kotlin::default_package(&desc.prefix));
            hostcall_gen::kotlin::binding(&desc, &package)
                .into_iter()
                .map(|(name, text)| (Some(name), text))
                .collect()
        }
        other => return Err(format!("unknown language '{other}' (known: c, go, kotlin)")),
    };
    let target = |name: &Option<String>| -> Option<PathBuf> {
        let out = args.out.as_ref()?;
        Some(match name {
            Some(name) => out.join(name),
            None => out.clone(),
        })
    };
    for (name, text) in &files {
        match (target(name), args.check) {
            (Some(path), true) => {
                let current = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                if &current != text {
                    return Err(format!(
                        "{} is out of date with {}; regenerate it with hostcall-gen",
                        path.display(),
                        args.lib.display()
                    ));
                }
            }
            (Some(path), false) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                }
                std::fs::write(&path, text)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            (None, true) => return Err("--check needs --out".to_owned()),
            (None, false) => print!("{text}"),
        }
    }
    Ok(())
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
