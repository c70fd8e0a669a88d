//! `emulator` binary: see `emulator --help`.

use std::process::ExitCode;

use clap::Parser;
use emulator::cli::{Cli, Command};

/// Logs go to stderr; `RUST_LOG` overrides `default` (info for the server, warn for a
/// replay, whose per-request logs would drown the summary).
fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve(Box::new(cli.serve)));
    if let Command::Token(args) = &command {
        return match emulator::token::mint(args) {
            Ok(out) => {
                println!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    init_tracing(if matches!(command, Command::Replay(_)) {
        "warn"
    } else {
        "info"
    });
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
    runtime.block_on(async move {
        match command {
            Command::Serve(args) => serve(*args).await,
            Command::Replay(args) => replay(*args).await,
            Command::Token(_) => ExitCode::SUCCESS,
        }
    })
}

async fn serve(args: emulator::cli::ServeArgs) -> ExitCode {
    let server = match emulator::serve::start(&args).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    println!("{}", server.banner());
    println!("Press Ctrl-C to stop.");
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

async fn fault_suite(args: emulator::replay::ReplayArgs) -> ExitCode {
    match emulator::replay::run_suite(&args).await {
        Ok(runs) => {
            let mut failed = false;
            for (kind, outcome) in &runs {
                let f = outcome.summary.faults.clone().unwrap_or_default();
                failed |=
                    outcome.summary.leaks > 0 || f.stale_failures > 0 || f.reused_after_failure > 0;
                println!("{}", outcome.summary.fault_line(kind.name()));
            }
            if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn replay(args: emulator::replay::ReplayArgs) -> ExitCode {
    if args.fault_suite {
        return fault_suite(args).await;
    }
    match emulator::replay::run(&args).await {
        Ok(outcome) => {
            eprint!("{}", outcome.summary.human(&outcome.leaks));
            match serde_json::to_string(&outcome.summary) {
                Ok(line) => println!("{line}"),
                Err(e) => eprintln!("error: summary: {e}"),
            }
            if outcome.summary.leaks > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
