//! Run with: cargo run -p addsvc --bin addcli -- sum 1 2
//!
//! A command-line client of addsvc, built on addsvc's client `Set`: it calls the
//! service through the `AddService` trait, like any other caller would.

use std::process::ExitCode;
use std::time::Duration;

use addsvc::service::{AddError, AddService};
use addsvc::transport::http::client_set;
use clap::{Parser, Subcommand};
use http::Uri;
use kit_endpoint::{Context, Credentials, RequestId, cause_ref};
use kit_transport::pooled;

/// Calls addsvc.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Base URL of addsvc.
    #[arg(long, env = "ADDCLI_ADDR", default_value = "http://127.0.0.1:8081")]
    addr: Uri,
    /// How long to wait for the answer, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    timeout_ms: u64,
    /// A bearer token to present (addsvc run with `--jwt-keys`).
    #[arg(long, env = "ADDCLI_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prints a + b.
    Sum {
        /// The first term.
        #[arg(allow_negative_numbers = true)]
        a: i64,
        /// The second term.
        #[arg(allow_negative_numbers = true)]
        b: i64,
    },
    /// Prints the uppercased concatenation of a and b.
    Concat {
        /// The first part.
        a: String,
        /// The second part.
        b: String,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    let svc = match client_set(pooled(), &args.addr) {
        Ok(svc) => svc,
        Err(e) => {
            eprintln!("addcli: bad address {}: {e}", args.addr);
            return ExitCode::from(2);
        }
    };
    let mut ctx = Context::new()
        .with_request_id(RequestId::generate())
        .with_timeout(Duration::from_millis(args.timeout_ms));
    if let Some(token) = &args.token {
        // Sent as `Authorization: Bearer ...` by the HTTP client.
        ctx.set_call_credentials(Credentials::bearer_token(token));
    }
    let result = match args.command {
        Command::Sum { a, b } => svc.sum(&ctx, a, b).await.map(|v| v.to_string()),
        Command::Concat { a, b } => svc.concat(&ctx, a, b).await,
    };
    match result {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) if cause_ref::<AddError>(&*e).is_some() => {
            eprintln!("addcli: refused: {e}");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("addcli: call failed: {e}");
            ExitCode::from(2)
        }
    }
}
