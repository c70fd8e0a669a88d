//! `mock-keycard`: run an offline Keycard zone (`serve`, the default), mint a token
//! (`mint`), or run the bad-token corpus against an MCP server (`corpus`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mock_keycard::{Audience, MintRequest, MockKeycard, Zone, ZoneConfig, corpus};

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
    /// Port to listen on (also derives the issuer for `mint` and `corpus`).
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
    /// Run the bad-token corpus against a running MCP server protected by this zone.
    ///
    /// Builds each case of `--dir` with this zone's keys (the same config and keys as
    /// `mock-keycard serve`: pass the same `--config`/`--port`/`--issuer` as the zone the
    /// server trusts), sends `POST <target>/mcp` (JSON-RPC `tools/call`, `whoami` or the
    /// case's tool) and checks the status, the `WWW-Authenticate` challenge, the JSON body
    /// and the tool outcome. `jku`/`x5u` cases point at a local honeypot that must see no
    /// connection. Prints PASS/FAIL per case and a summary; exits 1 on any failure.
    ///
    /// Example: `mock-keycard corpus --port 8788 --mcp-resource http://127.0.0.1:8787
    /// --target http://127.0.0.1:8787`
    #[command(verbatim_doc_comment)]
    Corpus(CorpusArgs),
}

#[derive(Debug, Args)]
struct CorpusArgs {
    /// Base URL of the MCP server under test (requests go to `<target>/mcp`).
    #[arg(long)]
    target: String,
    /// Directory of corpus cases (`*.json`).
    #[arg(long, default_value = "fixtures/bad-tokens")]
    dir: PathBuf,
    /// Run only the cases whose name contains this.
    #[arg(long)]
    only: Option<String>,
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
    let zone = offline_zone(common, config(common)?)?;
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

/// The zone `mint` and `corpus` sign with: the config and keys of `mock-keycard serve`
/// with the same flags, without a server.
fn offline_zone(common: &Common, config: ZoneConfig) -> Result<Zone, String> {
    let addr = SocketAddr::new(common.host, common.port);
    let host = if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    };
    Zone::new(config, &format!("http://{host}")).map_err(|e| e.to_string())
}

async fn corpus(common: &Common, args: CorpusArgs) -> Result<bool, String> {
    let resource = match &common.mcp_resource {
        Some(resource) => resource.clone(),
        None => url::Url::parse(&args.target)
            .map_err(|e| format!("--target {:?}: {e}", args.target))?
            .origin()
            .ascii_serialization(),
    };
    let zone = offline_zone(common, config(common)?.with_mcp_resource(resource.clone()))?;
    let mut cases = corpus::load_corpus(&args.dir).map_err(|e| e.to_string())?;
    if let Some(only) = &args.only {
        cases.retain(|c| c.name.contains(only.as_str()));
    }
    if cases.is_empty() {
        return Err(format!("no corpus cases in {}", args.dir.display()));
    }
    println!(
        "bad-token corpus: {} cases from {} against {} (issuer {}, resource {resource})",
        cases.len(),
        args.dir.display(),
        args.target,
        zone.issuer()
    );
    let report = corpus::run_remote(&zone, &args.target, &resource, &cases)
        .await
        .map_err(|e| e.to_string())?;
    for result in &report.results {
        if result.passed() {
            println!("PASS {}", result.name);
        } else {
            println!("FAIL {} [{}]", result.name, result.file);
            for problem in &result.problems {
                println!("     - {problem}");
            }
        }
    }
    if report.honeypot_hits > 0 {
        println!(
            "FAIL honeypot: the server connected {} time(s) to the attacker URL of the jku/x5u cases",
            report.honeypot_hits
        );
    }
    println!(
        "corpus: {} passed, {} failed, honeypot connections {}",
        report.results.len() - report.failed(),
        report.failed(),
        report.honeypot_hits
    );
    Ok(report.passed())
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
    println!("  calendar      {}/events", server.calendar_url());
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
        Some(Command::Corpus(args)) => match corpus(&cli.common, args).await {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
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
