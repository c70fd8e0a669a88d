//! `emulator replay`: flags, setup (zones, tokens, isolates or a remote target), the run
//! and the summary.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keycard_core::Gateway;
use keycard_core::session::{MemorySessionStore, SessionSettings, SessionStore};

use super::callers::{MintError, SubjectAlg, mint_all, mint_caller, mint_rotated_all};
use super::driver::{
    self, Caller, Callers, DriverConfig, DriverError, FaultHooks, SessionUse, Transport,
    ZoneControl,
};
use super::faults::{self, FaultKind, ZoneFaults};
use super::generate::{self, Mix};
use super::oracle::Leak;
use super::remote::RemoteZones;
use super::report::{CacheSummary, Summary};
use super::trace::{Principal, Trace, TraceError, TraceRequest};
use super::zones::{ReplayZones, ZonePlacement};
use crate::isolate::{IsolateError, IsolatePool, RoutePolicy};
use crate::ports::{InProcessHttp, ReqwestHttp, native_ports};
use crate::settings::EnvMap;
use crate::zones::{EmbeddedZone, ZoneSetupError};

/// The virtual origin of the server in in-process mode (requests never leave the process).
pub const IN_PROCESS_ORIGIN: &str = "http://mcp.replay.invalid";

/// A deliberately naive token cache (demonstration only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NaiveCache {
    /// Keyed by the upstream resource only: every user shares one token.
    ResourceOnly,
    /// Keyed by `format!("{sub}::{resource}")` (issuer and client ignored).
    SubResourceString,
    /// One slot for everything.
    SingleSlot,
}

impl NaiveCache {
    fn name(self) -> &'static str {
        match self {
            Self::ResourceOnly => "resource-only",
            Self::SubResourceString => "sub-resource-string",
            Self::SingleSlot => "single-slot",
        }
    }
}

/// `--sessions`: whether the simulated callers use MCP sessions (`Mcp-Session-Id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SessionMode {
    /// Use them wherever they exist: the in-process isolates are built with a session
    /// store (one shared by all of them); a `--target` gets `initialize` from every
    /// caller and, if it answers without `Mcp-Session-Id`, is replayed statelessly (the
    /// report says `not_offered`). Off with `--fresh-subjects` (one request per subject).
    #[default]
    Auto,
    /// Like `auto`, but a target that offers no session is a set-up error (exit 2).
    On,
    /// Stateless: no `initialize`, no session header; in-process isolates without a
    /// session store.
    Off,
}

/// `emulator replay` flags.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// Ordinary users in a generated trace (adversarial identities are added on top).
    #[arg(long, default_value_t = 200)]
    pub users: u32,
    /// Requests in a generated trace.
    #[arg(long, default_value_t = 5000)]
    pub requests: u64,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Isolates (in-process mode).
    #[arg(long, default_value_t = 1)]
    pub isolates: usize,
    /// Routing policy over isolates.
    #[arg(long, value_enum, default_value_t = RoutePolicy::RoundRobin)]
    pub route: RoutePolicy,
    /// Seed of the generator, routing and zone latency.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Op weights, e.g. `whoami=45,github_user=45,tools_list=5,bad_token=5,cross_session=5`;
    /// add `profile_resource=N` to read the delegated resource the in-process server
    /// serves (a `--target` must serve `upstream://profile` too). `cross_session` sends
    /// the caller's token with another identity's `Mcp-Session-Id` (a plain `whoami`
    /// when the run has no sessions).
    #[arg(
        long,
        default_value = "whoami=45,github_user=45,tools_list=5,bad_token=5,cross_session=5"
    )]
    pub mix: Mix,
    /// Whether callers open MCP sessions first (`initialize`) and send their requests in
    /// them.
    #[arg(long, value_enum, default_value_t = SessionMode::Auto)]
    pub sessions: SessionMode,
    /// DEMONSTRATION ONLY: the in-process sessions skip their owner check (any identity
    /// may use any session); the replay must then report leaks and exit non-zero.
    #[arg(long, conflicts_with_all = ["target", "fresh_subjects"])]
    pub naive_sessions: bool,
    /// Lifetime of the `expiring` principals' tokens, seconds.
    #[arg(long, default_value_t = 3)]
    pub expiring_secs: u64,
    /// Replay this trace (JSON or JSON Lines, see `fixtures/traces/`) instead of generating.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Also write the generated trace (JSON Lines) here.
    #[arg(long)]
    pub write_trace: Option<PathBuf>,
    /// Send requests over HTTP to this deployment (e.g. `http://127.0.0.1:8787` for
    /// `wrangler dev`) instead of in-process isolates. The embedded zones then listen on
    /// `--zone-port` / `--secondary-zone-port`; start the target with
    /// `KEYCARD_ISSUER=http://127.0.0.1:<zone-port>`, `KEYCARD_EXTRA_ISSUERS=http://127.0.0.1:<secondary-zone-port>`,
    /// `KEYCARD_RESOURCE_URL=http://127.0.0.1:<zone-port>/upstream/github`,
    /// `KEYCARD_CLIENT_ID=mcp-worker`, `KEYCARD_CLIENT_SECRET=mcp-worker-secret`.
    #[arg(long)]
    pub target: Option<String>,
    /// Port of the primary embedded zone in target mode.
    #[arg(long, default_value_t = 8788)]
    pub zone_port: u16,
    /// Port of the secondary embedded zone in target mode.
    #[arg(long, default_value_t = 8789)]
    pub secondary_zone_port: u16,
    /// Target mode with zones the replay does not start: mint through this zone's MOCK
    /// `POST /dev/token`, check `GET /audit?jti=`, revoke via `POST /admin/consent`. The
    /// zone must know the trace's subjects.
    #[arg(long, requires = "target")]
    pub zone_url: Option<String>,
    /// The second external zone (needed when the trace has `secondary` principals).
    #[arg(long, requires = "zone_url")]
    pub secondary_zone_url: Option<String>,
    /// Upstream resource identifier of the external zone (default `<zone-url>/upstream/github`).
    #[arg(long, requires = "zone_url")]
    pub upstream_url: Option<String>,
    /// The target's `exp` leeway (`KEYCARD_LEEWAY_SECS`); in-process it is applied to
    /// the isolates. Default: 1 in-process, 30 (the core's default) for a target.
    #[arg(long)]
    pub leeway_secs: Option<u64>,
    /// Token cache size of the in-process isolates (`KEYCARD_CACHE_MAX_ENTRIES`);
    /// default: 10,000 or the next power of two above the number of principals.
    #[arg(long)]
    pub cache_max_entries: Option<u64>,
    /// Random latency 0..=N ms on the zones' token endpoint and upstream.
    #[arg(long, default_value_t = 2)]
    pub jitter_ms: u64,
    /// Write per-request outcomes (id, status, identity seen) as JSON Lines here.
    #[arg(long)]
    pub per_request_out: Option<PathBuf>,
    /// DEMONSTRATION ONLY: swap a deliberately naive token cache into the isolates; the
    /// replay must then report leaks and exit non-zero.
    #[arg(long, value_enum)]
    pub naive_cache: Option<NaiveCache>,
    /// Per-request timeout, milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Verify every token signature with pure-Rust RSA, turning off the core's verified-
    /// signature memo in each isolate (`KEYCARD_VERIFIED_CACHE_MAX_ENTRIES=0`; every claim
    /// is checked on every request either way).
    #[arg(long)]
    pub plain_crypto: bool,
    /// Inject this dependency failure into the embedded zones (repeatable): set from the
    /// start (`jwks-down`: from a quarter), cleared at half after draining; see
    /// `replay::faults`.
    #[arg(long, value_enum)]
    pub fault: Vec<FaultKind>,
    /// Probability that a request to the faulty endpoint fails (status, malformed and
    /// drop faults), so some requests succeed.
    #[arg(long, default_value_t = 0.5)]
    pub fault_probability: f64,
    /// Run every fault kind in turn (sticky routing) and print one summary line each.
    #[arg(long, conflicts_with = "fault")]
    pub fault_suite: bool,
    /// Every request comes from a new subject (`fresh-{i}`; `--users` is ignored): the
    /// memory-bound run. Each subject's token is minted just before its request (ES256 by
    /// default, see `--subject-alg`), the oracle's memory is bounded (`--oracle-window`)
    /// and the primary zone's audit log defaults to 20,000 events.
    #[arg(long, conflicts_with_all = ["trace", "target"])]
    pub fresh_subjects: bool,
    /// How subject tokens are signed: RS256 (like Keycard's; the default) or ES256 with
    /// the mock zones' ES256 access-token key (the default with `--fresh-subjects`, where
    /// a token is minted per request). Embedded zones only.
    #[arg(long, value_enum)]
    pub subject_alg: Option<SubjectAlg>,
    /// Sample resident memory (VmRSS) every N requests into `rss_samples_mb`.
    #[arg(long)]
    pub rss_every: Option<u64>,
    /// Audit events the primary zone keeps (default: the zone's, 20,000 with
    /// `--fresh-subjects`).
    #[arg(long)]
    pub audit_capacity: Option<usize>,
    /// Upstream tokens the oracle remembers for reuse detection with `--fresh-subjects`.
    #[arg(long, default_value_t = 20_000)]
    pub oracle_window: usize,
}

impl Default for ReplayArgs {
    fn default() -> Self {
        Self {
            users: 200,
            requests: 5000,
            concurrency: 64,
            isolates: 1,
            route: RoutePolicy::RoundRobin,
            seed: 0,
            mix: Mix::default(),
            sessions: SessionMode::Auto,
            naive_sessions: false,
            expiring_secs: 3,
            trace: None,
            write_trace: None,
            target: None,
            zone_port: 8788,
            secondary_zone_port: 8789,
            zone_url: None,
            secondary_zone_url: None,
            upstream_url: None,
            leeway_secs: None,
            cache_max_entries: None,
            jitter_ms: 2,
            per_request_out: None,
            naive_cache: None,
            timeout_ms: 30_000,
            no_progress: false,
            plain_crypto: false,
            fault: Vec::new(),
            fault_probability: 0.5,
            fault_suite: false,
            fresh_subjects: false,
            subject_alg: None,
            rss_every: None,
            audit_capacity: None,
            oracle_window: 20_000,
        }
    }
}

/// Why a replay could not run (leaks are not errors: they are in the summary).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The trace.
    #[error(transparent)]
    Trace(#[from] TraceError),
    /// The zones.
    #[error(transparent)]
    Zone(#[from] ZoneSetupError),
    /// Minting.
    #[error(transparent)]
    Mint(#[from] MintError),
    /// The core's configuration.
    #[error("configuration: {0}")]
    Config(#[from] keycard_core::ConfigError),
    /// The isolates.
    #[error(transparent)]
    Isolate(#[from] IsolateError),
    /// The HTTP client.
    #[error(transparent)]
    Http(#[from] crate::ports::ReqwestHttpError),
    /// In-process routing.
    #[error(transparent)]
    InProcess(#[from] crate::ports::InProcessError),
    /// The run.
    #[error(transparent)]
    Driver(#[from] DriverError),
    /// `--target` is not an http(s) URL.
    #[error("--target {0:?} is not an http(s) URL")]
    Target(String),
    /// The per-request output file.
    #[error("per-request output {path}: {source}")]
    Output {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// `--fault` with zones the replay does not own.
    #[error("--fault needs the replay's embedded zones (not --zone-url)")]
    FaultNeedsEmbeddedZones,
    /// `--fault-probability` outside [0, 1].
    #[error("--fault-probability {0} is not within [0, 1]")]
    FaultProbability(f64),
    /// `--subject-alg es256` with zones the replay does not own.
    #[error("--subject-alg es256 needs the replay's embedded zones (not --zone-url)")]
    Es256NeedsEmbeddedZones,
    /// `--fault rotate-mid-run` with `--fresh-subjects` (tokens minted per request).
    #[error(
        "--fault rotate-mid-run needs tokens minted up front (not --fresh-subjects): it sends each user's token signed with the next key after the rotation"
    )]
    RotateNeedsUpFrontTokens,
    /// `--sessions on` with `--fresh-subjects`.
    #[error(
        "--sessions on needs tokens minted up front (not --fresh-subjects, which replays one request per subject statelessly)"
    )]
    SessionsNeedUpFrontTokens,
    /// `--naive-sessions` without in-process sessions.
    #[error("--naive-sessions needs the in-process isolates with sessions (not --sessions off)")]
    NaiveSessionsNeedSessions,
    /// `--naive-cache` or `--naive-sessions` without the `naive-cache-demo` feature.
    #[error(
        "--naive-cache and --naive-sessions need the emulator built with feature naive-cache-demo (on by default)"
    )]
    NaiveCacheUnavailable,
}

/// The result of a replay.
#[derive(Debug, Clone)]
pub struct ReplayOutcome {
    /// The summary.
    pub summary: Summary,
    /// The first leaks, in full.
    pub leaks: Vec<Leak>,
}

enum Zones {
    Embedded(ReplayZones),
    Remote(RemoteZones),
}

enum Requests {
    File(std::vec::IntoIter<TraceRequest>),
    Generated(Box<dyn Iterator<Item = TraceRequest> + Send>),
}

impl Iterator for Requests {
    type Item = TraceRequest;
    fn next(&mut self) -> Option<TraceRequest> {
        match self {
            Self::File(it) => it.next(),
            Self::Generated(it) => it.next(),
        }
    }
}

fn load(args: &ReplayArgs) -> Result<(Vec<Principal>, Requests, u64), ReplayError> {
    if let Some(path) = &args.trace {
        let trace = Trace::read(path)?;
        let total = trace.requests.len() as u64;
        return Ok((
            trace.principals,
            Requests::File(trace.requests.into_iter()),
            total,
        ));
    }
    if args.fresh_subjects {
        let count = u32::try_from(args.requests).unwrap_or(u32::MAX);
        return Ok((
            generate::fresh_principals(count),
            Requests::Generated(Box::new(generate::fresh_requests(
                u64::from(count),
                args.seed,
                args.mix.clone(),
            ))),
            u64::from(count),
        ));
    }
    let principals = generate::principals(args.users, args.requests, args.expiring_secs);
    let n = principals.len() as u32;
    if let Some(path) = &args.write_trace {
        let trace = Trace {
            principals: principals.clone(),
            requests: generate::requests(n, args.requests, args.seed, args.mix.clone()).collect(),
        };
        trace.write_jsonl(path)?;
    }
    let requests = generate::requests(n, args.requests, args.seed, args.mix.clone());
    Ok((
        principals,
        Requests::Generated(Box::new(requests)),
        args.requests,
    ))
}

fn target_url(target: &str) -> Result<(reqwest::Url, String), ReplayError> {
    let bad = || ReplayError::Target(target.to_owned());
    let mut url = reqwest::Url::parse(target).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad());
    }
    let origin = url.origin().ascii_serialization();
    if !url.path().ends_with("/mcp") {
        let path = format!("{}/mcp", url.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    Ok((url, origin))
}

impl ReplayArgs {
    /// How the driver uses sessions: off with `--sessions off` or (under `auto`)
    /// `--fresh-subjects`.
    pub fn session_use(&self) -> SessionUse {
        match self.sessions {
            SessionMode::Off => SessionUse::Off,
            SessionMode::Auto if self.fresh_subjects => SessionUse::Off,
            SessionMode::Auto => SessionUse::Offer,
            SessionMode::On => SessionUse::Require,
        }
    }

    /// `--subject-alg`, defaulting to ES256 with `--fresh-subjects` and RS256 otherwise.
    pub fn subject_alg(&self) -> SubjectAlg {
        self.subject_alg.unwrap_or(if self.fresh_subjects {
            SubjectAlg::Es256
        } else {
            SubjectAlg::Rs256
        })
    }
}

/// The replay's default cache size: the core's default (10,000) or, for larger
/// populations, the next power of two above the principal count, so a uniform random
/// trace does not thrash the LRU (`--cache-max-entries` sets any bound, e.g. a small one
/// to watch eviction keep memory flat).
pub fn default_cache_entries(principals: usize) -> u64 {
    (principals as u64).next_power_of_two().max(10_000)
}

fn gateway_env(
    zones: &ReplayZones,
    args: &ReplayArgs,
    leeway: u64,
    principals: usize,
) -> Result<EnvMap, ReplayError> {
    let (client_id, secret) =
        EmbeddedZone::worker_credentials(&mock_keycard::ZoneConfig::default())?;
    let mut env = EnvMap::default();
    env.set("KEYCARD_ISSUER", zones.primary.issuer());
    env.set("KEYCARD_EXTRA_ISSUERS", zones.secondary.issuer());
    env.set("KEYCARD_RESOURCE_URL", zones.primary.upstream_url());
    env.set("KEYCARD_CLIENT_ID", client_id);
    env.set("KEYCARD_CLIENT_SECRET", secret);
    env.set("KEYCARD_LEEWAY_SECS", leeway.to_string());
    env.set(
        "KEYCARD_CACHE_MAX_ENTRIES",
        args.cache_max_entries
            .unwrap_or_else(|| default_cache_entries(principals))
            .to_string(),
    );
    Ok(env)
}

/// The server every in-process isolate serves: the demo tools (`whoami`, `github_user`)
/// and the delegated resource `profile_resource` reads
/// ([`crate::harness::examples::delegated_profile_resource`]).
fn replay_server() -> keycard_core::Server {
    keycard_core::Server::demo().resource(crate::harness::examples::delegated_profile_resource())
}

/// The in-process isolates' session store (one for all of them) and whether its
/// sessions skip the owner check (`--naive-sessions`).
type InProcessSessions = Option<(Arc<dyn SessionStore>, bool)>;

fn make_gateway(
    config: &keycard_core::Config,
    ports: &keycard_core::Ports,
    naive: Option<NaiveCache>,
    sessions: &InProcessSessions,
) -> Result<Gateway, String> {
    let gateway = make_stateless_gateway(config, ports, naive)?;
    match sessions {
        None => Ok(gateway),
        Some((store, false)) => {
            Ok(gateway.with_sessions(store.clone(), SessionSettings::default()))
        }
        #[cfg(feature = "naive-cache-demo")]
        Some((store, true)) => {
            Ok(gateway.with_sessions_ignoring_owner(store.clone(), SessionSettings::default()))
        }
        #[cfg(not(feature = "naive-cache-demo"))]
        Some((_, true)) => Err("naive sessions need feature naive-cache-demo".into()),
    }
}

fn make_stateless_gateway(
    config: &keycard_core::Config,
    ports: &keycard_core::Ports,
    naive: Option<NaiveCache>,
) -> Result<Gateway, String> {
    match naive {
        None => {
            Gateway::new(config.clone(), ports.clone(), replay_server()).map_err(|e| e.to_string())
        }
        #[cfg(feature = "naive-cache-demo")]
        Some(kind) => {
            use keycard_core::delegation::cache::CacheKeying;
            let keying = match kind {
                NaiveCache::ResourceOnly => CacheKeying::ResourceOnly,
                NaiveCache::SubResourceString => CacheKeying::SubResourceString,
                NaiveCache::SingleSlot => CacheKeying::SingleSlot,
            };
            Gateway::with_cache_keying(config.clone(), ports.clone(), replay_server(), keying)
                .map_err(|e| e.to_string())
        }
        #[cfg(not(feature = "naive-cache-demo"))]
        Some(_) => Err("naive caches need feature naive-cache-demo".into()),
    }
}

/// Runs a replay end to end.
pub async fn run(args: &ReplayArgs) -> Result<ReplayOutcome, ReplayError> {
    if cfg!(not(feature = "naive-cache-demo"))
        && (args.naive_cache.is_some() || args.naive_sessions)
    {
        return Err(ReplayError::NaiveCacheUnavailable);
    }
    if args.fresh_subjects && args.sessions == SessionMode::On {
        return Err(ReplayError::SessionsNeedUpFrontTokens);
    }
    if args.naive_sessions && (args.session_use() == SessionUse::Off || args.target.is_some()) {
        return Err(ReplayError::NaiveSessionsNeedSessions);
    }
    if !(0.0..=1.0).contains(&args.fault_probability) {
        return Err(ReplayError::FaultProbability(args.fault_probability));
    }
    if !args.fault.is_empty() && args.zone_url.is_some() {
        return Err(ReplayError::FaultNeedsEmbeddedZones);
    }
    let subject_alg = args.subject_alg();
    if subject_alg == SubjectAlg::Es256 && args.zone_url.is_some() {
        return Err(ReplayError::Es256NeedsEmbeddedZones);
    }
    if args.fresh_subjects && args.fault.contains(&FaultKind::RotateMidRun) {
        return Err(ReplayError::RotateNeedsUpFrontTokens);
    }
    let setup = Instant::now();
    let (principals, requests, total) = load(args)?;
    let target = args.target.as_deref().map(target_url).transpose()?;
    let (mcp_resource, placement) = match &target {
        Some((_, origin)) => (
            origin.clone(),
            ZonePlacement::Listening {
                primary: ([127, 0, 0, 1], args.zone_port).into(),
                secondary: ([127, 0, 0, 1], args.secondary_zone_port).into(),
            },
        ),
        None => (IN_PROCESS_ORIGIN.to_owned(), ZonePlacement::InProcess),
    };
    let zones = match (&args.zone_url, &target) {
        (Some(url), Some(_)) => {
            let upstream = args
                .upstream_url
                .clone()
                .unwrap_or_else(|| format!("{}/upstream/github", url.trim_end_matches('/')));
            Zones::Remote(RemoteZones::new(
                ReqwestHttp::new()?.client().clone(),
                url,
                args.secondary_zone_url.as_deref(),
                upstream,
            ))
        }
        (Some(url), None) => return Err(ReplayError::Target(url.clone())),
        (None, _) => Zones::Embedded(
            ReplayZones::start(
                &principals,
                &mcp_resource,
                placement,
                args.seed,
                args.jitter_ms,
                args.audit_capacity
                    .or(args.fresh_subjects.then_some(20_000)),
                subject_alg == SubjectAlg::Es256,
            )
            .await?,
        ),
    };
    let callers = match &zones {
        // Minted per request by the driver.
        Zones::Embedded(_) if args.fresh_subjects => Vec::new(),
        Zones::Embedded(zones) => {
            let principals = &principals;
            let mut callers =
                tokio::task::block_in_place(|| mint_all(zones, principals, subject_alg))?;
            if args.fault.contains(&FaultKind::RotateMidRun) {
                // The primary zone's pool rotates zone-1 -> zone-2.
                tokio::task::block_in_place(|| {
                    mint_rotated_all(zones, principals, &mut callers, "zone-2")
                })?;
            }
            callers
        }
        Zones::Remote(remote) => remote.mint_all(&principals, &mcp_resource).await?,
    };
    let leeway = args
        .leeway_secs
        .unwrap_or(if target.is_some() { 30 } else { 1 });

    let mut pool_to_stop = None;
    let (transport, isolates) = match &target {
        Some((url, _)) => (
            Transport::Http {
                client: ReqwestHttp::new()?.client().clone(),
                url: url.clone(),
            },
            0,
        ),
        None => {
            let Zones::Embedded(zones) = &zones else {
                return Err(ReplayError::Target("--zone-url needs --target".into()));
            };
            let http = InProcessHttp::new(Arc::new(ReqwestHttp::new()?))
                .with_origin(&zones.primary.issuer(), zones.primary.router())?
                .with_origin(&zones.secondary.issuer(), zones.secondary.router())?;
            let mut env = gateway_env(zones, args, leeway, principals.len())?;
            if args.fault.contains(&FaultKind::StsSlow) {
                env.set(
                    "KEYCARD_OUTBOUND_TIMEOUT_MS",
                    faults::SLOW_TIMEOUT_MS.to_string(),
                );
            }
            let mut config = env.to_config()?;
            if args.fault.contains(&FaultKind::JwksDown) {
                config.jwks.ttl = faults::JWKS_TTL;
                config.jwks.grace = faults::JWKS_GRACE;
            }
            if args.fault.contains(&FaultKind::JwksDown)
                || args.fault.contains(&FaultKind::RotateMidRun)
            {
                config.jwks.refetch_cooldown = faults::JWKS_COOLDOWN;
            }
            if args.plain_crypto {
                config.cache.verified_max_entries = 0;
            }
            let ports = native_ports(Arc::new(http));
            let naive = args.naive_cache;
            // One store for every isolate: a session opened in one is found in the others.
            let sessions: InProcessSessions = (args.session_use() != SessionUse::Off).then(|| {
                let store: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new(
                    ports.clock.clone(),
                    principals.len() + 1024,
                ));
                (store, args.naive_sessions)
            });
            let pool = Arc::new(IsolatePool::start(
                args.isolates,
                args.route,
                args.seed,
                move |_| make_gateway(&config, &ports, naive, &sessions),
            )?);
            pool_to_stop = Some(pool.clone());
            let url: http::Uri = format!("{IN_PROCESS_ORIGIN}/mcp")
                .parse()
                .map_err(|_| ReplayError::Target(IN_PROCESS_ORIGIN.to_owned()))?;
            (Transport::InProcess { pool, url }, args.isolates)
        }
    };
    let setup_s = setup.elapsed().as_secs_f64();

    let mut out = match &args.per_request_out {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|source| ReplayError::Output {
                path: path.display().to_string(),
                source,
            })?,
        )),
        None => None,
    };
    let embedded_control;
    let (control, upstream_resource): (&dyn ZoneControl, String) = match &zones {
        Zones::Embedded(z) => {
            embedded_control = z.control();
            (&embedded_control, z.primary.upstream_url())
        }
        Zones::Remote(r) => (r, r.upstream().to_owned()),
    };
    let driver_config = DriverConfig {
        concurrency: args.concurrency,
        leeway_secs: leeway,
        upstream_resource,
        progress: !args.no_progress,
        request_timeout: Duration::from_millis(args.timeout_ms),
        rss_every: args.rss_every,
        oracle_bound: args.fresh_subjects.then_some(args.oracle_window),
        sessions: args.session_use(),
    };
    let zone_faults = match &zones {
        Zones::Embedded(z) if !args.fault.is_empty() => Some(ZoneFaults {
            zones: vec![
                (
                    super::trace::ZoneRef::Primary,
                    z.primary.zone().clone(),
                    z.primary.zone().faults(),
                ),
                (
                    super::trace::ZoneRef::Secondary,
                    z.secondary.zone().clone(),
                    z.secondary.zone().faults(),
                ),
            ],
        }),
        _ => None,
    };
    let hooks = zone_faults.as_ref().map(|runner| FaultHooks {
        steps: faults::schedule(&args.fault, total, args.fault_probability),
        runner,
    });
    let lazy_mint = |p: &super::trace::Principal| -> Result<Caller, MintError> {
        match &zones {
            Zones::Embedded(z) => mint_caller(z, p, subject_alg),
            Zones::Remote(_) => Err(MintError::Mint {
                principal: p.id,
                reason: "per-request minting needs the embedded zones".into(),
            }),
        }
    };
    let driver_callers = if args.fresh_subjects {
        Callers::Lazy {
            principals: &principals,
            mint: &lazy_mint,
        }
    } else {
        Callers::Ready(&callers)
    };
    let (mut tally, wall, used) = driver::run(
        driver_callers,
        requests,
        total,
        &transport,
        control,
        &driver_config,
        out.as_mut().map(|w| w as &mut dyn std::io::Write),
        hooks,
    )
    .await?;
    if let Some(report) = tally.fault.as_mut() {
        report.kinds = args.fault.clone();
    }
    let cache = match &transport {
        Transport::InProcess { pool, .. } => pool.cache_stats().await.ok().map(|stats| {
            stats.iter().fold(CacheSummary::default(), |mut acc, s| {
                acc.entries += s.entries as u64;
                acc.exchanges += s.exchanges;
                acc.evictions += s.evictions;
                acc.invalidations += s.invalidations;
                acc
            })
        }),
        Transport::Http { .. } => None,
    };
    if let Some(mut w) = out {
        use std::io::Write;
        w.flush().map_err(|source| ReplayError::Output {
            path: args
                .per_request_out
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            source,
        })?;
    }
    let subjects = match &zones {
        Zones::Embedded(z) if args.fresh_subjects => {
            let issuers = [z.primary.issuer(), z.secondary.issuer()];
            principals
                .iter()
                .zip(&used)
                .filter(|(_, used)| **used)
                .filter_map(|(p, _)| {
                    let issuer = match p.zone {
                        super::trace::ZoneRef::Primary => &issuers[0],
                        super::trace::ZoneRef::Secondary => &issuers[1],
                    };
                    p.sub.as_deref().map(|s| (issuer.clone(), s))
                })
                .collect::<HashSet<(String, &str)>>()
                .len()
        }
        _ => callers
            .iter()
            .zip(&used)
            .filter(|(_, used)| **used)
            .filter_map(|(c, _)| c.who.sub.as_deref().map(|s| (c.who.issuer.as_str(), s)))
            .collect::<HashSet<(&str, &str)>>()
            .len(),
    };
    let wall_s = wall.as_secs_f64();
    let summary = Summary {
        requests: tally.requests,
        subjects: subjects as u64,
        exchanges: tally.distinct_tokens,
        cache_hits: tally.cache_hits,
        zone_exchanges: control.exchanges_issued(),
        ok: tally.ok,
        errors: tally.errors(),
        errors_by_kind: tally.errors_by_kind.clone(),
        expected_errors: tally.expected_errors,
        unexpected_successes: tally.unexpected_successes.values().sum(),
        leaks: tally.leaks,
        p50_ms: tally.latency.quantile_ms(0.5),
        p99_ms: tally.latency.quantile_ms(0.99),
        rps: if wall_s > 0.0 {
            tally.requests as f64 / wall_s
        } else {
            0.0
        },
        wall_s,
        setup_s,
        peak_rss_mb: crate::rss::peak_rss_mb().unwrap_or(0.0),
        isolates,
        concurrency: args.concurrency,
        mode: args
            .target
            .clone()
            .unwrap_or_else(|| "in-process".to_owned()),
        naive_cache: args.naive_cache.map(|n| n.name().to_owned()),
        seed: args.seed,
        cache_len: cache.map(|c| c.entries),
        cache,
        faults: tally.fault.clone(),
        rss_samples_mb: tally.rss_samples_mb.clone(),
        sessions: tally.sessions.clone(),
        naive_sessions: args.naive_sessions,
    };
    drop(transport);
    if let Some(pool) = pool_to_stop
        && let Ok(pool) = Arc::try_unwrap(pool)
    {
        pool.shutdown().await;
    }
    if let Zones::Embedded(zones) = zones {
        zones.shutdown().await;
    }
    Ok(ReplayOutcome {
        summary,
        leaks: tally.leak_samples,
    })
}

/// Runs the replay once per fault kind (`--fault-suite`), with sticky routing so each
/// user stays on one isolate (what `reused_after_failure` assumes).
pub async fn run_suite(args: &ReplayArgs) -> Result<Vec<(FaultKind, ReplayOutcome)>, ReplayError> {
    let mut out = Vec::with_capacity(FaultKind::ALL.len());
    for kind in FaultKind::ALL {
        let one = ReplayArgs {
            fault: vec![kind],
            fault_suite: false,
            route: RoutePolicy::Sticky,
            ..args.clone()
        };
        out.push((kind, run(&one).await?));
    }
    Ok(out)
}
