//! `cargo kit new NAME --trait FILE [--kit-path PATH] [--dir DIR] [--update]`:
//! writes the kit service NAME from the trait in FILE (see the library's docs).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};

/// cargo's way in: `cargo kit ...` runs `cargo-kit kit ...`.
#[derive(Debug, Parser)]
#[command(name = "cargo", bin_name = "cargo")]
enum Cargo {
    /// kit's generator.
    #[command(subcommand, version)]
    Kit(Kit),
}

/// kit's generator.
#[derive(Debug, Subcommand)]
enum Kit {
    /// Writes a kit service (domain, endpoints, HTTP, gRPC and NATS
    /// transports, a main, tests) from the trait in a Rust file.
    New(New),
}

/// `cargo kit new`.
#[derive(Debug, clap::Args)]
struct New {
    /// The service's name: its package, binary, protobuf package and NATS
    /// subjects (lower case, e.g. `catalog`).
    name: String,
    /// The Rust file with the service's trait, its types and its business
    /// errors.
    #[arg(long = "trait", value_name = "FILE")]
    trait_file: PathBuf,
    /// Depend on kit's crates in this checkout of kit's repository (default:
    /// kit's git repository).
    #[arg(long, value_name = "PATH")]
    kit_path: Option<PathBuf>,
    /// Where to write the crate: `DIR/NAME` (default: the current directory).
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// Regenerate an existing crate after the trait changed: the generated
    /// files are replaced, yours are kept (new methods get "not implemented"
    /// stubs in `src/service.rs`).
    #[arg(long)]
    update: bool,
}

/// kit's repository, for crates generated without `--kit-path`.
const KIT_GIT: &str = "https://github.com/kit-rs/kit";

fn main() -> ExitCode {
    let Cargo::Kit(Kit::New(args)) = Cargo::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &New) -> Result<(), String> {
    if !cargo_kit::valid_package(&args.name) {
        return Err(format!(
            "{:?} cannot name a package: use lower-case letters, digits, `-` and `_`, starting with a letter",
            args.name
        ));
    }
    let trait_file = args.trait_file.display().to_string();
    let source = std::fs::read_to_string(&args.trait_file)
        .map_err(|e| format!("cannot read {trait_file}: {e}"))?;
    let service = cargo_kit::parse(&trait_file, &source).map_err(|e| e.to_string())?;
    let kit = match &args.kit_path {
        Some(p) => {
            let root =
                std::fs::canonicalize(p).map_err(|e| format!("--kit-path {}: {e}", p.display()))?;
            if !root.join("kit/endpoint/Cargo.toml").exists() {
                return Err(format!(
                    "--kit-path {}: not a checkout of kit (no kit/endpoint/Cargo.toml)",
                    p.display()
                ));
            }
            cargo_kit::KitSource::Path(root.display().to_string())
        }
        None => cargo_kit::KitSource::Git(KIT_GIT.into()),
    };
    let dir = args.dir.join(&args.name);
    let exists = dir.join("Cargo.toml").exists();
    match (exists, args.update) {
        (true, false) => {
            return Err(format!(
                "{} exists: pass --update to regenerate it from the trait (your files are kept)",
                dir.display()
            ));
        }
        (false, true) => {
            return Err(format!(
                "{} has no crate to update: leave out --update to create it",
                dir.display()
            ));
        }
        _ => {}
    }
    let files = cargo_kit::files(&args.name, &service, &file_name(&args.trait_file), &kit);
    let mut wrote = cargo_kit::write(&dir, &files)
        .map_err(|e| format!("cannot write {}: {e}", dir.display()))?;
    for f in &wrote {
        println!("wrote {}", dir.join(f).display());
    }
    if args.update {
        let path = dir.join("src/service.rs");
        let current = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for stale in cargo_kit::stale_methods(&service, &current) {
            println!(
                "note: {}: `{stale}` is no longer in the trait: remove it",
                path.display()
            );
        }
        match cargo_kit::update_service(&args.name, &service, &current) {
            Ok(Some(updated)) => {
                std::fs::write(&path, updated)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                println!(
                    "added the new methods to {}, each \"not implemented\"",
                    path.display()
                );
                wrote.push("src/service.rs".into());
            }
            Ok(None) => {}
            Err(message) => return Err(message),
        }
    }
    format_crate(&dir, &wrote);
    if !args.update {
        println!(
            "\nnext: cd {} && cargo test, then fill in src/service.rs",
            dir.display()
        );
    }
    Ok(())
}

/// The trait file as the generated files name it.
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Formats the Rust files written (and the implementation `--update` added
/// stubs to) with rustfmt, if it is installed.
fn format_crate(dir: &Path, wrote: &[String]) {
    let files: Vec<PathBuf> = wrote
        .iter()
        .filter(|f| f.ends_with(".rs"))
        .map(|f| dir.join(f))
        .collect();
    if files.is_empty() {
        return;
    }
    let _ = Command::new("rustfmt")
        .args(["--edition", "2024"])
        .args(&files)
        .status();
}
