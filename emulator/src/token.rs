//! `emulator token`: a token for a fixture user, signed with the embedded default zone's
//! key, without a running server. The token verifies against `cargo run -p emulator`'s
//! embedded zone as long as `--issuer` and `--resource` match it (the defaults do).

use mock_keycard::{MintRequest, Zone, ZoneConfig};

/// Issuer of the dev server's embedded zone with default ports.
pub const DEFAULT_ZONE_ISSUER: &str = "http://127.0.0.1:8788";
/// The dev server's resource identifier with default ports.
pub const DEFAULT_RESOURCE: &str = "http://127.0.0.1:8787";

/// `emulator token` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    /// `sub` of the token (a fixture user such as `alice` for delegated calls to work).
    #[arg(long, conflicts_with = "no_sub")]
    pub sub: Option<String>,
    /// Mint a token without `sub` (whoami works, delegated tools refuse it).
    #[arg(long)]
    pub no_sub: bool,
    /// `client_id` (the MCP client); default `mcp-client-a`.
    #[arg(long)]
    pub client_id: Option<String>,
    /// `scope`, space separated; default the MCP resource's scopes.
    #[arg(long)]
    pub scope: Option<String>,
    /// Lifetime in seconds (negative: already expired).
    #[arg(long, allow_hyphen_values = true)]
    pub lifetime_secs: Option<i64>,
    /// The zone's issuer (must equal the running zone's).
    #[arg(long, default_value = DEFAULT_ZONE_ISSUER)]
    pub issuer: String,
    /// The audience: the MCP server's resource URL.
    #[arg(long, default_value = DEFAULT_RESOURCE)]
    pub resource: String,
    /// Print the mint response as JSON (token, expiry, jti) instead of the bare token.
    #[arg(long)]
    pub json: bool,
}

/// Why no token was minted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Neither `--sub` nor `--no-sub`.
    #[error("give --sub <user> (e.g. --sub alice) or --no-sub")]
    NoSubject,
    /// The zone could not be built or could not sign.
    #[error("mock zone: {0}")]
    Zone(String),
}

/// Mints the token and returns what to print.
pub fn mint(args: &TokenArgs) -> Result<String, TokenError> {
    if args.sub.is_none() && !args.no_sub {
        return Err(TokenError::NoSubject);
    }
    let config = ZoneConfig::default()
        .with_issuer(args.issuer.trim_end_matches('/'))
        .with_mcp_resource(args.resource.trim_end_matches('/'));
    let zone = Zone::new(config, args.issuer.trim_end_matches('/'))
        .map_err(|e| TokenError::Zone(e.to_string()))?;
    let minted = zone
        .mint(MintRequest {
            sub: args.sub.clone(),
            client_id: args.client_id.clone(),
            scope: args.scope.clone(),
            lifetime_secs: args.lifetime_secs,
            ..MintRequest::default()
        })
        .map_err(|e| TokenError::Zone(e.to_string()))?;
    if args.json {
        serde_json::to_string(&minted).map_err(|e| TokenError::Zone(e.to_string()))
    } else {
        Ok(minted.access_token)
    }
}
