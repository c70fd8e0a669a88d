//! `mock-keycard`: run an offline Keycard zone (`serve`, the default) or mint a token (`mint`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mock_keycard::{Audience, MintRequest, MockKeycard, Zone, ZoneConfig};

/// A faithful offline Keycard zone: discovery, JWKS with rotation, token exchange, auth code +
/// PKCE, dynamic registration, audit log, demo upstream API and fault injection.
#[derive(Debug, Parser)]
#[command(name = "mock-keycard", version)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Args)]
struct Common {
    /// Zone configuration (TOML); default: the embedded fixtures/zone.toml.
    #[arg(long, global = true, env = "MOCK_KEYCARD_CONFIG")]
    config: Option<PathBuf>,
    /// Port to listen on (also used to derive the issuer for `mint`).
    #[arg(long, global = true, default_value_t = 8788)]
    port: u16,
    /// Address to listen on.
    #[arg(long, global = true, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Issuer override (default `http://<host>:<port>`).
    #[arg(long, global = true)]
    issuer: Option<String>,
    /// The MCP server's resource URL (`{mcp}` in the config).
    #[arg(long, global = true)]
    mcp_resource: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the zone (the default).
    Serve,
    /// MOCK FEATURE: print a token signed by the zone's current key (no server needed).
    Mint(MintArgs),
}

#[derive(Debug, Args)]
struct MintArgs {
    /// `sub` (omit for a sub-less token).
    #[arg(long)]
    sub: Option<String>,
    /// `client_id`.
    #[arg(long)]
    client_id: Option<String>,
    /// `aud` (repeat for an array); default the MCP resource.
    #[arg(long)]
    audience: Vec<String>,
    /// `scope` (space-separated).
    #[arg(long)]
    scope: Option<String>,
    /// Lifetime in seconds (negative: already expired).
    #[arg(long, allow_negative_numbers = true)]
    lifetime: Option<i64>,
    /// Signing key: current, zone-1, zone-2, zone-3 or other-zone.
    #[arg(long)]
    key: Option<String>,
}

fn config(common: &Common) -> Result<ZoneConfig, String> {
    let mut config = match &common.config {
        Some(path) => ZoneConfig::load(path).map_err(|e| e.to_string())?,
        None => ZoneConfig::default(),
    };
    if let Some(issuer) = &common.issuer {
        config = config.with_issuer(issuer.clone());
    }
    if let Some(mcp) = &common.mcp_resource {
        config = config.with_mcp_resource(mcp.clone());
    }
    Ok(config)
}

fn mint(common: &Common, args: MintArgs) -> Result<(), String> {
    let addr = SocketAddr::new(common.host, common.port);
    let host = if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    };
    let zone = Zone::new(config(common)?, &format!("http://{host}")).map_err(|e| e.to_string())?;
    let audience = match args.audience.len() {
        0 => None,
        1 => args.audience.into_iter().next().map(Audience::One),
        _ => Some(Audience::Many(args.audience)),
    };
    let minted = zone
        .mint(MintRequest {
            sub: args.sub,
            client_id: args.client_id,
            scope: args.scope,
            audience,
            lifetime_secs: args.lifetime,
            key: args.key,
            ..MintRequest::default()
        })
        .map_err(|e| e.to_string())?;
    println!("{}", minted.access_token);
    Ok(())
}

async fn serve(common: &Common) -> Result<(), String> {
    let server = MockKeycard::start_on(config(common)?, SocketAddr::new(common.host, common.port))
        .await
        .map_err(|e| e.to_string())?;
    let issuer = server.issuer();
    let zone = server.zone();
    println!("mock-keycard zone (offline test zone; not a real identity provider)");
    println!("  issuer        {issuer}");
    println!("  discovery     {issuer}/.well-known/oauth-authorization-server");
    println!("  jwks          {}", zone.jwks_uri());
    println!(
        "  authorize     {}  (headless: add login_hint=<sub>)",
        zone.authorization_endpoint()
    );
    println!("  token         {}", zone.token_endpoint());
    println!("  register      {issuer}/register");
    println!("  upstream      {}/user", server.upstream_url());
    println!("  audit         {issuer}/audit.html");
    println!("  mcp resource  {}", zone.mcp_resource());
    println!(
        "  users         {}",
        zone.users()
            .iter()
            .map(|u| format!("{:?}", u.sub))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("  mint a token  curl -s -XPOST {issuer}/dev/token -d '{{\"sub\":\"alice\"}}'");
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    server.shutdown().await;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "mock_keycard=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Mint(args)) => mint(&cli.common, args),
        Some(Command::Serve) | None => serve(&cli.common).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-keycard: {e}");
            ExitCode::FAILURE
        }
    }
}
