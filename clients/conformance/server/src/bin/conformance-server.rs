//! `conformance-server`: the conformance fixture server behind the emulator (embedded mock
//! Keycard zone), offline. Prints, before anything else on stdout,
//!
//! ```text
//! MCP_URL=http://127.0.0.1:<port>/mcp
//! MCP_TOKEN=<a token for --sub, minted by the embedded zone>
//! ```
//!
//! then the emulator's banner, and serves until Ctrl-C or SIGTERM. Run the suite with
//! `clients/conformance/run.sh "$MCP_URL" "$MCP_TOKEN"` (see
//! `scripts/test.d/35-conformance-emulator`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use emulator::cli::ServeArgs;
use mock_keycard::MintRequest;

/// Command line.
#[derive(Debug, clap::Parser)]
#[command(
    name = "conformance-server",
    version,
    about = "Serves the MCP conformance suite's fixtures (built with keycard-core) behind the \
             emulator and its embedded mock Keycard zone, and prints the MCP URL and a token."
)]
struct Args {
    /// `sub` of the printed token (a fixture user of the mock zone).
    #[arg(long, default_value = "alice")]
    sub: String,
    /// Lifetime of the printed token in seconds (default: the zone's access-token lifetime).
    #[arg(long)]
    token_lifetime_secs: Option<i64>,
    /// Also write the token to this file.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// The emulator's server flags (`--port`, `--zone-port`, `KEYCARD_*`...).
    #[command(flatten)]
    serve: ServeArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> ExitCode {
    let server = match emulator::serve::start_with_server(
        &args.serve,
        std::env::vars(),
        conformance_server::conformance_server(),
    )
    .await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    println!("MCP_URL={}", server.mcp_url);
    match &server.zone {
        Some(zone) => {
            let minted = zone.zone().mint(MintRequest {
                sub: Some(args.sub.clone()),
                lifetime_secs: args.token_lifetime_secs,
                ..MintRequest::default()
            });
            match minted {
                Ok(token) => {
                    println!("MCP_TOKEN={}", token.access_token);
                    if let Some(path) = &args.token_file
                        && let Err(e) = std::fs::write(path, &token.access_token)
                    {
                        eprintln!("error: cannot write {}: {e}", path.display());
                        server.shutdown().await;
                        return ExitCode::from(2);
                    }
                }
                Err(e) => {
                    eprintln!("error: the embedded zone cannot mint a token: {e}");
                    server.shutdown().await;
                    return ExitCode::from(2);
                }
            }
        }
        None => eprintln!("note: KEYCARD_ISSUER points at an external zone: no token printed"),
    }
    println!("{}", server.banner());
    println!("Press Ctrl-C to stop.");
    wait_for_stop().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// Ctrl-C, or SIGTERM on Unix (how the test scripts stop services).
async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
