//! The `hostcall-gen` command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hostcall_gen::{Files, Model, model::Abi};

/// Reads a built hostcall library's own description and writes its C
/// headers and language bindings.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    what: What,
    /// Compare with what is in --out instead of writing; print the
    /// differences and exit 1 if there are any.
    #[arg(long, global = true)]
    check: bool,
}

#[derive(Subcommand)]
enum What {
    /// `<prefix>.h` and `hostcall.h`, into the --out directory.
    C(Library),
    /// The Go package of the library, into the --out directory.
    Go {
        #[command(flatten)]
        library: Library,
        /// The import path of the Go runtime support package.
        #[arg(long, default_value = hostcall_gen::go::DEFAULT_RUNTIME)]
        go_runtime: String,
    },
    /// The Kotlin binding (API and JNI glue), into the --out directory (the
    /// binding's Maven module).
    Kotlin {
        #[command(flatten)]
        library: Library,
        /// The Kotlin package (default dev.hostcall.<prefix>).
        #[arg(long)]
        kotlin_package: Option<String>,
    },
    /// The Swift package of the library (Package.swift, the C module, the
    /// generated library target and the runtime's Status.swift), into the
    /// --out directory (the package's).
    Swift(Library),
    /// The files of a language's runtime support that the ABI list
    /// determines (no library needed): `c` writes hostcall.h, `go` the Go
    /// runtime package's constants, `kotlin` the Kotlin runtime's, `swift`
    /// the Swift package's Sources/Hostcall/Status.swift.
    Abi {
        /// c, go, kotlin or swift.
        language: String,
        /// The directory to write into.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
struct Library {
    /// The built hostcall library (cdylib).
    #[arg(long)]
    lib: PathBuf,
    /// Its C prefix (default: from the file name, libdemo.so -> demo).
    #[arg(long)]
    prefix: Option<String>,
    /// The directory to write into.
    #[arg(long)]
    out: PathBuf,
}

impl Library {
    fn model(&self) -> Result<Model, String> {
        Model::lower(&self.desc()?)
    }

    fn desc(&self) -> Result<hostcall_gen::LibraryDesc, String> {
        let prefix = match &self.prefix {
            Some(prefix) => prefix.clone(),
            None => hostcall_gen::prefix_of(&self.lib)
                .ok_or("cannot tell the prefix from the file name; pass --prefix")?,
        };
        hostcall_gen::load(&self.lib, &prefix)
    }
}

fn files(what: &What) -> Result<(&Path, Files), String> {
    Ok(match what {
        What::C(library) => (&library.out, hostcall_gen::c::files(&library.model()?)),
        What::Go {
            library,
            go_runtime,
        } => (
            &library.out,
            hostcall_gen::go::package(&library.model()?, go_runtime)?,
        ),
        What::Kotlin {
            library,
            kotlin_package,
        } => {
            let model = library.model()?;
            let package = kotlin_package
                .clone()
                .unwrap_or_else(|| hostcall_gen::kotlin::default_package(&model.prefix.wire));
            (
                &library.out,
                hostcall_gen::kotlin::binding(&model, &package),
            )
        }
        What::Swift(library) => (
            &library.out,
            hostcall_gen::swift::package(&library.model()?),
        ),
        What::Abi { language, out } => {
            let abi = Abi::new();
            let files = match language.as_str() {
                "c" => vec![(
                    hostcall_gen::c::ABI_HEADER.to_owned(),
                    hostcall_gen::c::abi_header(&abi),
                )],
                "go" => hostcall_gen::go::runtime_files(&abi),
                "kotlin" => hostcall_gen::kotlin::runtime_files(&abi),
                "swift" => hostcall_gen::swift::runtime_files(&abi),
                other => {
                    return Err(format!(
                        "unknown language '{other}' (known: c, go, kotlin, swift)"
                    ));
                }
            };
            (out, files)
        }
    })
}

fn run(cli: &Cli) -> Result<bool, String> {
    let (out, files) = files(&cli.what)?;
    if cli.check {
        let stale = hostcall_gen::drift(out, &files);
        for (path, diff) in &stale {
            eprintln!("{} is out of date:\n{diff}", path.display());
        }
        return Ok(stale.is_empty());
    }
    hostcall_gen::write(out, &files)?;
    Ok(true)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("hostcall-gen: generated files differ; regenerate with scripts/generate.sh");
            ExitCode::FAILURE
        }
        Err(problem) => {
            eprintln!("hostcall-gen: {problem}");
            ExitCode::FAILURE
        }
    }
}
