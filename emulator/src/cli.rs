//! Command-line interface (clap). `emulator` with no subcommand is `emulator serve`.

use std::path::PathBuf;

use crate::isolate::RoutePolicy;
use crate::replay::ReplayArgs;
use crate::settings::KeycardArgs;
use crate::token::TokenArgs;

/// The top-level command line.
#[derive(Debug, clap::Parser)]
#[command(
    name = "emulator",
    version,
    about = "Runs the Keycard MCP Worker's core natively with an embedded mock Keycard zone, \
             and replays multi-user traces through reused isolates with a leak oracle.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Server flags when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Start the dev server (the default).
    Serve(Box<ServeArgs>),
    /// Replay a generated or recorded multi-user trace and check for leaks.
    Replay(Box<ReplayArgs>),
    /// Print a token for a fixture user of the embedded zone (no server needed).
    Token(TokenArgs),
}

/// Flags of the dev server.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Listen address (default 127.0.0.1).
    #[arg(long, env = "EMULATOR_HOST")]
    pub host: Option<String>,
    /// Listen port (default 8787, wrangler dev's).
    #[arg(long, env = "EMULATOR_PORT")]
    pub port: Option<u16>,
    /// Port of the embedded mock zone (default 8788; 0 picks a free one).
    #[arg(long, env = "EMULATOR_ZONE_PORT")]
    pub zone_port: Option<u16>,
    /// Worker isolates (threads, each with its own isolate-wide state) (default 1).
    #[arg(long)]
    pub isolates: Option<usize>,
    /// How requests are spread over isolates (default round-robin).
    #[arg(long, value_enum)]
    pub route: Option<RoutePolicy>,
    /// Seed of the mock zone's latency jitter and the random routing.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Random latency (0..=N ms) the embedded zone adds to token and upstream calls.
    #[arg(long, default_value_t = 0)]
    pub jitter_ms: u64,
    /// TOML config file (see `settings::FileConfig`); flags and env win over it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The core's configuration (the Worker's `KEYCARD_*` variables).
    #[command(flatten)]
    pub keycard: KeycardArgs,
}
