//! The leak harness for **your** MCP server: run your tools for hundreds of users through
//! reused isolates, from your own `cargo test`, and fail if any user's data reaches
//! another.
//!
//! [`LeakTest`] starts two embedded mock Keycard zones and N isolates (threads, each
//! with its own [`keycard_core::Gateway`] serving a clone of your
//! [`keycard_core::Server`], like a Worker's isolates), mints a token for every user of
//! an adversarial population, and sends seeded, interleaved `tools/call` and
//! `resources/read` requests. It judges every answer without knowing your tools' or
//! resources' output formats, from what it controls:
//!
//! * **Canaries.** The mock upstreams every delegated call reaches (any path under
//!   `ctx.upstream(..)`'s base URL: an upstream a tool declares as `calendar` is the mock
//!   calendar, any other name the GitHub-like one) put `"canary": "kc-canary-<hex>"` in
//!   every answer, unique to the user the presented token was issued for. An answer to user A that
//!   contains anyone else's canary anywhere in its body is a leak.
//! * **Upstream tokens.** While an isolate serves a request, the emulator tags its
//!   upstream calls; the mock upstream records the identity chain (issuer, subject,
//!   client) of every token it accepts. A call made while serving user A with a token
//!   issued for anyone else is a leak, even if the tool returns nothing of it.
//!
//! The population ([`crate::replay::generate::principals`]): `users` ordinary users,
//! plus the same subjects at a second issuer, the same users through a second client,
//! subjects built to collide in string keys (`a::b`, `../user-2`, unicode, empty), and
//! tokens without `sub`.
//!
//! ```no_run
//! use emulator::harness::LeakTest;
//! use keycard_core::Server;
//! use keycard_core::tools::{NoArgs, Tool, ToolContext, ToolError};
//!
//! fn my_server() -> Server {
//!     Server::new("my-server", "1.0.0").tool(
//!         Tool::new("profile")
//!             .description("Your profile from the upstream API.")
//!             .upstream("default")
//!             .handler(|ctx: ToolContext, _: NoArgs| async move {
//!                 let api = ctx.upstream("default");
//!                 let response = api.fetch(api.get("/user").body(Default::default())?).await?;
//!                 Ok::<_, ToolError>(String::from_utf8_lossy(response.body()).into_owned())
//!             }),
//!     )
//! }
//!
//! #[tokio::test(flavor = "multi_thread")]
//! async fn no_data_crosses_between_users() {
//!     let report = LeakTest::new(my_server())
//!         .users(500)
//!         .requests(10_000)
//!         .tool_call("profile", serde_json::json!({}))
//!         .run()
//!         .await
//!         .expect("the harness runs");
//!     println!("{report}");
//!     report.assert_no_leaks();
//!     assert!(report.upstream_calls > 0);
//! }
//! ```
//!
//! Run it on a multi-threaded tokio runtime (`#[tokio::test(flavor = "multi_thread")]`):
//! minting the users' tokens blocks.
//!
//! What it cannot see: data your tool transforms beyond recognition (hashes, encodes or
//! summarises another user's upstream answer without the canary), and upstream APIs
//! other than the mock one (calls to other hosts are made for real, untagged).

pub mod examples;
mod report;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use http::{Request, header};
use keycard_core::Server;
use keycard_core::config::DEFAULT_UPSTREAM;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

pub use report::{Leak, LeakKind, LeakReport, Outcome, Tally};

pub use crate::isolate::RoutePolicy;
use crate::isolate::{IsolateError, IsolatePool, RequestTag};
use crate::ports::{InProcessHttp, ReqwestHttp, native_ports};
use crate::replay::callers::{MintError, SubjectAlg, mint_all};
use crate::replay::driver::{Caller, PROTOCOL_VERSION, ZoneControl};
pub use crate::replay::identity::Who;
use crate::replay::run::{IN_PROCESS_ORIGIN, default_cache_entries};
use crate::replay::trace::Principal;
use crate::replay::zones::{ReplayZones, ZonePlacement};
use crate::settings::EnvMap;
use crate::zones::{EmbeddedZone, ZoneSetupError};

/// Leaks kept in full in the report (all are counted).
const LEAK_SAMPLES: usize = 20;
/// Upstream calls the mock upstream's log holds between two reads.
const UPSTREAM_LOG_CAPACITY: usize = 1 << 20;
/// Read the upstream log every this many answers.
const DRAIN_EVERY: u64 = 512;

/// What an argument generator gets to vary the arguments of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallSeed {
    /// The request's index in the run.
    pub request: u64,
    /// The calling user's index in the population.
    pub user: usize,
    /// A seeded random number for this request.
    pub random: u64,
}

type ArgsFn = Arc<dyn Fn(&CallSeed) -> Value + Send + Sync>;

/// What one kind of request does.
#[derive(Clone)]
enum CallKind {
    /// `tools/call` of [`CallSpec::name`] with these arguments.
    Tool(ArgsFn),
    /// `resources/read` of the URI [`CallSpec::name`].
    Resource,
}

#[derive(Clone)]
struct CallSpec {
    /// The tool's name or the resource's URI.
    name: String,
    weight: u32,
    kind: CallKind,
}

impl CallSpec {
    /// The key of this call in [`LeakReport::per_tool`] and [`Leak::tool`]: the tool's
    /// name, or `resources/read <uri>`.
    fn label(&self) -> String {
        match self.kind {
            CallKind::Tool(_) => self.name.clone(),
            CallKind::Resource => format!("resources/read {}", self.name),
        }
    }

    fn body(&self, id: u64, seed: &CallSeed) -> Value {
        match &self.kind {
            CallKind::Tool(args) => json!({
                "jsonrpc": "2.0",
                "id": id,
                "method": "tools/call",
                "params": { "name": self.name, "arguments": args(seed) },
            }),
            CallKind::Resource => json!({
                "jsonrpc": "2.0",
                "id": id,
                "method": "resources/read",
                "params": { "uri": self.name },
            }),
        }
    }
}

/// Why a leak test could not run (leaks are not errors: they are in the report).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A knob is out of range.
    #[error("invalid leak test setting: {0}")]
    Invalid(String),
    /// A call names a tool the server does not have.
    #[error("the server has no tool {name:?} (it has: {available})")]
    UnknownTool {
        /// The name asked for.
        name: String,
        /// The server's tools.
        available: String,
    },
    /// A read names a URI no resource or resource template of the server serves.
    #[error("the server has no resource {uri:?} (it has: {available})")]
    UnknownResource {
        /// The URI asked for.
        uri: String,
        /// The server's resource URIs and URI templates.
        available: String,
    },
    /// The mock zones.
    #[error(transparent)]
    Zone(#[from] ZoneSetupError),
    /// Minting the users' tokens.
    #[error(transparent)]
    Mint(#[from] MintError),
    /// The server's configuration (e.g. a tool declares an upstream name the harness
    /// could not configure).
    #[error("configuration: {0}")]
    Config(#[from] keycard_core::ConfigError),
    /// The isolates (e.g. building a gateway failed).
    #[error(transparent)]
    Isolate(#[from] IsolateError),
    /// The fallback HTTP client.
    #[error(transparent)]
    Http(#[from] crate::ports::ReqwestHttpError),
    /// In-process routing.
    #[error(transparent)]
    InProcess(#[from] crate::ports::InProcessError),
}

/// A leak test of a [`Server`]: configure with the builder methods, then
/// [`run`](Self::run). Defaults: 500 users, 10,000 requests, 4 isolates, 64 requests in
/// flight, seed 0, random routing, 0–2 ms of upstream/STS latency jitter, every tool
/// called with `{}` and every static resource read.
///
/// ```no_run
/// use emulator::harness::LeakTest;
/// use emulator::harness::examples::{
///     PROFILE_RESOURCE_URI, delegated_profile_resource, delegated_profile_tool, plain_echo_tool,
/// };
/// use keycard_core::Server;
///
/// # async fn leak_test() -> Result<(), emulator::harness::HarnessError> {
/// let server = Server::new("my-server", "1.0.0")
///     .tool(delegated_profile_tool())
///     .tool(plain_echo_tool())
///     .resource(delegated_profile_resource());
/// let report = LeakTest::new(server)
///     .users(500)
///     .requests(10_000)
///     .isolates(2)
///     .tool_call("upstream_profile", serde_json::json!({}))
///     .tool_call_with("echo", |seed| serde_json::json!({ "text": seed.random.to_string() }))
///     .resource_read(PROFILE_RESOURCE_URI)
///     .run()
///     .await?;
/// report.assert_no_leaks();
/// # Ok(()) }
/// ```
#[must_use]
pub struct LeakTest {
    server: Server,
    users: u32,
    requests: u64,
    isolates: usize,
    concurrency: usize,
    seed: u64,
    route: RoutePolicy,
    jitter_ms: u64,
    timeout: Duration,
    calls: Vec<CallSpec>,
    multi_zone: bool,
    #[cfg(feature = "naive-cache-demo")]
    shared_cache: Option<keycard_core::delegation::cache::CacheKeying>,
}

impl std::fmt::Debug for LeakTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeakTest")
            .field("server", &self.server.name())
            .field("users", &self.users)
            .field("requests", &self.requests)
            .field("isolates", &self.isolates)
            .field("concurrency", &self.concurrency)
            .field("seed", &self.seed)
            .field(
                "calls",
                &self.calls.iter().map(CallSpec::label).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl LeakTest {
    /// A leak test of `server` (each isolate serves its own clone, as each Worker
    /// isolate runs its own copy of your module).
    pub fn new(server: Server) -> Self {
        Self {
            server,
            users: 500,
            requests: 10_000,
            isolates: 4,
            concurrency: 64,
            seed: 0,
            route: RoutePolicy::Random,
            jitter_ms: 2,
            timeout: Duration::from_secs(30),
            calls: Vec::new(),
            multi_zone: false,
            #[cfg(feature = "naive-cache-demo")]
            shared_cache: None,
        }
    }

    /// Serves the two zones as named zones `a` and `b` of one gateway (`KEYCARD_ZONES`,
    /// each at `/{zone}/mcp` with its own issuer, credentials and resource id) instead of
    /// one zone trusting the other's issuer. Each caller calls its own zone's path; on
    /// top, the oracle checks every upstream token against the audit log of the caller's
    /// zone (issued there, for the caller's user and client, for the upstream that
    /// received it), and after the run every subject's token is sent to the other zone's
    /// path, where it must get 401.
    pub fn multi_zone(mut self) -> Self {
        self.multi_zone = true;
        self
    }

    /// With [`LeakTest::multi_zone`]: ONE token cache shared by both zones, with
    /// `keying` — mutation testing of zone separation only.
    #[cfg(feature = "naive-cache-demo")]
    #[doc(hidden)]
    pub fn shared_cache(mut self, keying: keycard_core::delegation::cache::CacheKeying) -> Self {
        self.shared_cache = Some(keying);
        self
    }

    /// Ordinary users (the adversarial identities come on top, about 10% more).
    pub fn users(mut self, users: u32) -> Self {
        self.users = users;
        self
    }

    /// Requests sent in total.
    pub fn requests(mut self, requests: u64) -> Self {
        self.requests = requests;
        self
    }

    /// Isolates (threads with their own gateway) the requests are spread over.
    pub fn isolates(mut self, isolates: usize) -> Self {
        self.isolates = isolates;
        self
    }

    /// Requests in flight at most (they interleave at every `await` inside an isolate).
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency;
        self
    }

    /// Seed of the request sequence, the routing and the mock zones' latency.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// How requests are spread over the isolates.
    pub fn route(mut self, route: RoutePolicy) -> Self {
        self.route = route;
        self
    }

    /// Random latency (0..=`ms`) the mock STS and upstream add, so calls overlap.
    pub fn jitter_ms(mut self, ms: u64) -> Self {
        self.jitter_ms = ms;
        self
    }

    /// Per-request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Calls `tool` with these arguments (weight 1). Call several times (and
    /// [`resource_read`](Self::resource_read)) to mix requests; without any, every tool
    /// of the server is called with `{}` and every static resource is read.
    pub fn tool_call(self, tool: impl Into<String>, args: Value) -> Self {
        self.weighted_call(tool, 1, move |_: &CallSeed| args.clone())
    }

    /// Calls `tool` with arguments made per request by `args` (weight 1).
    pub fn tool_call_with(
        self,
        tool: impl Into<String>,
        args: impl Fn(&CallSeed) -> Value + Send + Sync + 'static,
    ) -> Self {
        self.weighted_call(tool, 1, args)
    }

    /// Calls `tool` with arguments from `args`, `weight` times as often as a weight-1
    /// call.
    pub fn weighted_call(
        mut self,
        tool: impl Into<String>,
        weight: u32,
        args: impl Fn(&CallSeed) -> Value + Send + Sync + 'static,
    ) -> Self {
        self.calls.push(CallSpec {
            name: tool.into(),
            weight,
            kind: CallKind::Tool(Arc::new(args)),
        });
        self
    }

    /// Reads the resource `uri` (`resources/read`, weight 1): a static resource's URI or
    /// one a resource template matches. A resource whose handler calls an upstream on the
    /// caller's behalf is judged like a delegated tool (canaries and upstream tokens); in
    /// the report its key is `resources/read <uri>`.
    pub fn resource_read(self, uri: impl Into<String>) -> Self {
        self.weighted_resource_read(uri, 1)
    }

    /// Reads the resource `uri`, `weight` times as often as a weight-1 call.
    pub fn weighted_resource_read(mut self, uri: impl Into<String>, weight: u32) -> Self {
        self.calls.push(CallSpec {
            name: uri.into(),
            weight,
            kind: CallKind::Resource,
        });
        self
    }

    fn check(&mut self) -> Result<(), HarnessError> {
        let invalid = |what: &str| Err(HarnessError::Invalid(format!("{what} must be at least 1")));
        if self.users == 0 {
            return invalid("users");
        }
        if self.requests == 0 {
            return invalid("requests");
        }
        if self.isolates == 0 {
            return invalid("isolates");
        }
        if self.concurrency == 0 {
            return invalid("concurrency");
        }
        if self.calls.is_empty() {
            for tool in self.server.tools().iter() {
                self.calls.push(CallSpec {
                    name: tool.definition().name.clone(),
                    weight: 1,
                    kind: CallKind::Tool(Arc::new(|_: &CallSeed| json!({}))),
                });
            }
            for resource in self.server.resources() {
                self.calls.push(CallSpec {
                    name: resource.uri().to_owned(),
                    weight: 1,
                    kind: CallKind::Resource,
                });
            }
            if self.calls.is_empty() {
                return Err(HarnessError::Invalid(
                    "the server has no tools and no static resources".into(),
                ));
            }
        }
        for call in &self.calls {
            match call.kind {
                CallKind::Tool(_) if self.server.tools().get(&call.name).is_none() => {
                    return Err(HarnessError::UnknownTool {
                        name: call.name.clone(),
                        available: self.server.tools().names(),
                    });
                }
                CallKind::Resource if !serves(&self.server, &call.name) => {
                    return Err(HarnessError::UnknownResource {
                        uri: call.name.clone(),
                        available: resource_names(&self.server),
                    });
                }
                _ => {}
            }
        }
        if self.calls.iter().all(|c| c.weight == 0) {
            return Err(HarnessError::Invalid("every call has weight 0".into()));
        }
        Ok(())
    }

    /// Runs the test: sets everything up, sends the requests, judges every answer and
    /// every upstream call, and tears everything down.
    pub async fn run(mut self) -> Result<LeakReport, HarnessError> {
        self.check()?;
        let setup_started = Instant::now();
        let principals = population(self.users);
        let zones = ReplayZones::start(
            &principals,
            IN_PROCESS_ORIGIN,
            ZonePlacement::InProcess,
            self.seed,
            self.jitter_ms,
            None,
            false,
        )
        .await?;
        let multi = self.multi_zone;
        if multi {
            for (zone, name) in [(&zones.primary, "a"), (&zones.secondary, "b")] {
                zone.zone()
                    .set_mcp_resource(&format!("{IN_PROCESS_ORIGIN}/{name}/mcp"));
            }
        }
        let callers =
            tokio::task::block_in_place(|| mint_all(&zones, &principals, SubjectAlg::Rs256))?;
        for zone in [&zones.primary, &zones.secondary] {
            zone.zone().record_upstream_calls(UPSTREAM_LOG_CAPACITY);
        }
        let canaries = Canaries::new(&zones, &callers);

        let http = InProcessHttp::new(Arc::new(ReqwestHttp::new()?))
            .with_origin(&zones.primary.issuer(), zones.primary.router())?
            .with_origin(&zones.secondary.issuer(), zones.secondary.router())?;
        let env = if multi {
            multi_zone_env(&zones, &self.server, principals.len())?
        } else {
            gateway_env(&zones, &self.server, principals.len())?
        };
        let config = keycard_core::Zones::from_env(|k| env.get(k).map(str::to_owned))?;
        let ports = native_ports(Arc::new(http));
        let server = self.server.clone();
        #[cfg(feature = "naive-cache-demo")]
        let shared_cache = self.shared_cache;
        let pool = IsolatePool::start(self.isolates, self.route, self.seed, move |_| {
            #[cfg(feature = "naive-cache-demo")]
            if let Some(keying) = shared_cache {
                return keycard_core::Gateway::with_shared_cache(
                    config.clone(),
                    ports.clone(),
                    server.clone(),
                    keying,
                )
                .map_err(|e| e.to_string());
            }
            keycard_core::Gateway::new(config.clone(), ports.clone(), server.clone())
                .map_err(|e| e.to_string())
        })?;
        let path = |zone: &str| {
            let path = if multi {
                format!("{IN_PROCESS_ORIGIN}/{zone}/mcp")
            } else {
                format!("{IN_PROCESS_ORIGIN}/mcp")
            };
            path.parse::<http::Uri>()
                .map_err(|_| HarnessError::Invalid("in-process origin".into()))
        };
        let (url, url_b) = (path("a")?, path("b")?);
        let secondary_issuer = zones.secondary.issuer();
        let in_b = |caller: &Caller| multi && caller.who.issuer == secondary_issuer;
        let setup = setup_started.elapsed();

        let started = Instant::now();
        let mut judge = Judge::new(&self.calls, &callers, canaries, self.requests);
        judge.multi = multi;
        let total_weight: u32 = self.calls.iter().map(|c| c.weight).sum();
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut pending = FuturesUnordered::new();
        let mut next = 0u64;
        let mut done = 0u64;
        loop {
            while pending.len() < self.concurrency && next < self.requests {
                let user = rng.gen_range(0..callers.len());
                let call = pick(&self.calls, rng.gen_range(0..total_weight));
                let seed = CallSeed {
                    request: next,
                    user,
                    random: rng.r#gen(),
                };
                let body = self.calls[call].body(next, &seed);
                judge.assign(next, user, call);
                let target = if in_b(&callers[user]) { &url_b } else { &url };
                let request = build_request(target, &callers[user], next, body);
                let pool = &pool;
                let timeout = self.timeout;
                let id = next;
                pending.push(async move {
                    let answer = match request {
                        Ok(r) => tokio::time::timeout(timeout, pool.dispatch(r))
                            .await
                            .ok()
                            .and_then(Result::ok),
                        Err(_) => None,
                    };
                    (id, answer)
                });
                next += 1;
            }
            let Some((id, answer)) = pending.next().await else {
                break;
            };
            judge.answer(id, answer.as_ref());
            done += 1;
            if done.is_multiple_of(DRAIN_EVERY) {
                judge.upstream(&zones);
            }
        }
        // Every request has been answered: every upstream call it made is logged.
        judge.upstream(&zones);
        if multi {
            // Every subject's token on the other zone's path: 401, never served.
            // (The first call, a tool call or a read: refused before it is dispatched.)
            let body = self.calls[0].body(
                0,
                &CallSeed {
                    request: 0,
                    user: 0,
                    random: 0,
                },
            );
            for (user, caller) in callers.iter().enumerate() {
                if caller.who.sub.is_none() {
                    continue;
                }
                let target = if in_b(caller) { &url } else { &url_b };
                let id = next;
                next += 1;
                judge.assign(id, user, 0);
                let Ok(request) = build_request(target, caller, id, body.clone()) else {
                    continue;
                };
                let status = tokio::time::timeout(self.timeout, pool.dispatch(request))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .map_or(0, |r| r.status().as_u16());
                judge.cross_zone(id, target.path(), status);
            }
        }
        let wall = started.elapsed();
        let exchanges = zones.control().exchanges_issued().unwrap_or(0);
        let dropped = zones.primary.zone().upstream_calls_dropped()
            + zones.secondary.zone().upstream_calls_dropped();
        drop(pending);
        pool.shutdown().await;
        zones.shutdown().await;
        let mut report = judge.report(&callers, self.isolates, exchanges, wall, setup);
        report.upstream_dropped = dropped;
        Ok(report)
    }
}

/// The generated population minus the time-dependent principals (expiring tokens,
/// revoked consent), renumbered.
fn population(users: u32) -> Vec<Principal> {
    let mut out: Vec<Principal> = crate::replay::generate::principals(users, 0, 3600)
        .into_iter()
        .filter(|p| p.tag != "expiring" && p.tag != "revoked")
        .collect();
    for (id, p) in out.iter_mut().enumerate() {
        p.id = id as u32;
    }
    out
}

fn gateway_env(
    zones: &ReplayZones,
    server: &Server,
    principals: usize,
) -> Result<EnvMap, HarnessError> {
    let (client_id, secret) =
        EmbeddedZone::worker_credentials(&mock_keycard::ZoneConfig::default())?;
    let mut env = EnvMap::default();
    env.set("KEYCARD_ISSUER", zones.primary.issuer());
    env.set("KEYCARD_EXTRA_ISSUERS", zones.secondary.issuer());
    env.set("KEYCARD_RESOURCE_URL", zones.primary.upstream_url());
    env.set("KEYCARD_CLIENT_ID", client_id);
    env.set("KEYCARD_CLIENT_SECRET", secret);
    env.set("KEYCARD_LEEWAY_SECS", "1");
    env.set(
        "KEYCARD_CACHE_MAX_ENTRIES",
        default_cache_entries(principals).to_string(),
    );
    if let Some(upstreams) = named_upstreams(server, &zones.primary) {
        env.set("KEYCARD_UPSTREAMS", upstreams);
    }
    Ok(env)
}

/// Whether `server` answers `resources/read` of `uri`: a static resource's URI or one a
/// resource template matches.
fn serves(server: &Server, uri: &str) -> bool {
    server.resources().iter().any(|r| r.uri() == uri)
        || server
            .resource_templates()
            .iter()
            .any(|t| t.matches(uri).is_some())
}

/// The server's resource URIs and URI templates, for an error message.
fn resource_names(server: &Server) -> String {
    let names: Vec<&str> = server
        .resources()
        .iter()
        .map(|r| r.uri())
        .chain(server.resource_templates().iter().map(|t| t.uri_template()))
        .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// Both zones as named zones `a` (primary) and `b` (secondary) of `KEYCARD_ZONES`, each
/// with its own issuer and secret, and the same upstreams (the demo upstreams live at
/// the primary zone and trust the secondary as a peer).
fn multi_zone_env(
    zones: &ReplayZones,
    server: &Server,
    principals: usize,
) -> Result<EnvMap, HarnessError> {
    let (client_id, secret) =
        EmbeddedZone::worker_credentials(&mock_keycard::ZoneConfig::default())?;
    let upstreams: Value = named_upstreams(server, &zones.primary)
        .and_then(|u| serde_json::from_str(&u).ok())
        .unwrap_or_else(|| json!({}));
    let entry = |zone: &EmbeddedZone| {
        json!({
            "issuer": zone.issuer(),
            "client_id": client_id,
            "resource_url": zones.primary.upstream_url(),
            "upstreams": upstreams,
        })
    };
    let mut env = EnvMap::default();
    env.set(
        "KEYCARD_ZONES",
        json!({"a": entry(&zones.primary), "b": entry(&zones.secondary)}).to_string(),
    );
    env.set("KEYCARD_ZONE_A_CLIENT_SECRET", secret.clone());
    env.set("KEYCARD_ZONE_B_CLIENT_SECRET", secret);
    env.set("KEYCARD_LEEWAY_SECS", "1");
    env.set(
        "KEYCARD_CACHE_MAX_ENTRIES",
        default_cache_entries(principals).to_string(),
    );
    Ok(env)
}

/// `KEYCARD_UPSTREAMS` pointing every upstream name the server's tools, resources and
/// resource templates declare (other than the default) at a mock upstream of `zone`:
/// `calendar` at its calendar, every other name at its GitHub-like upstream.
pub(crate) fn named_upstreams(server: &Server, zone: &EmbeddedZone) -> Option<String> {
    let names: std::collections::BTreeSet<&str> = server
        .tools()
        .iter()
        .flat_map(|t| t.definition().upstreams.iter().map(String::as_str))
        .chain(
            server
                .resources()
                .iter()
                .flat_map(|r| r.upstreams().iter().map(String::as_str)),
        )
        .chain(
            server
                .resource_templates()
                .iter()
                .flat_map(|t| t.upstreams().iter().map(String::as_str)),
        )
        .filter(|n| *n != DEFAULT_UPSTREAM)
        .collect();
    if names.is_empty() {
        return None;
    }
    let map: serde_json::Map<String, Value> = names
        .into_iter()
        .map(|n| {
            let url = match n {
                "calendar" => zone.calendar_url(),
                _ => zone.upstream_url(),
            };
            (n.to_owned(), Value::from(url))
        })
        .collect();
    Some(Value::Object(map).to_string())
}

fn pick(calls: &[CallSpec], roll: u32) -> usize {
    let mut roll = roll;
    for (i, c) in calls.iter().enumerate() {
        if roll < c.weight {
            return i;
        }
        roll -= c.weight;
    }
    0
}

fn build_request(
    url: &http::Uri,
    caller: &Caller,
    tag: u64,
    body: Value,
) -> Result<Request<Bytes>, http::Error> {
    let mut request = Request::post(url.clone())
        .header(header::AUTHORIZATION, caller.auth.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", PROTOCOL_VERSION)
        .body(Bytes::from(body.to_string()))?;
    request.extensions_mut().insert(RequestTag(tag));
    Ok(request)
}

/// Every user's canary and whose each one is.
struct Canaries {
    own: Vec<Option<String>>,
    owner: HashMap<String, usize>,
}

impl Canaries {
    fn new(zones: &ReplayZones, callers: &[Caller]) -> Self {
        // The upstream lives at the primary zone; it answers the secondary zone's users too.
        let upstream = zones.primary.zone();
        let own: Vec<Option<String>> = callers
            .iter()
            .map(|c| {
                c.who
                    .sub
                    .as_deref()
                    .map(|sub| upstream.canary_for(&c.who.issuer, sub))
            })
            .collect();
        let mut owner = HashMap::new();
        for (i, canary) in own.iter().enumerate() {
            if let Some(canary) = canary {
                owner.entry(canary.clone()).or_insert(i);
            }
        }
        Self { own, owner }
    }
}

/// The oracle and the tallies.
struct Judge<'a> {
    calls: &'a [CallSpec],
    callers: &'a [Caller],
    canaries: Canaries,
    /// Per request: (user, call).
    assigned: Vec<(u32, u32)>,
    total: Tally,
    per_call: Vec<Tally>,
    leaks: Vec<Leak>,
    leak_count: u64,
    upstream_calls: u64,
    upstream_attributed: u64,
    used: HashSet<usize>,
    /// Multi-zone run: audit-check every upstream token against the caller's zone.
    multi: bool,
    upstream_audited: u64,
    cross_zone_probes: u64,
    cross_zone_refused: u64,
}

impl<'a> Judge<'a> {
    fn new(
        calls: &'a [CallSpec],
        callers: &'a [Caller],
        canaries: Canaries,
        requests: u64,
    ) -> Self {
        Self {
            calls,
            callers,
            canaries,
            assigned: Vec::with_capacity(usize::try_from(requests).unwrap_or(0).min(1 << 24)),
            total: Tally::default(),
            per_call: vec![Tally::default(); calls.len()],
            leaks: Vec::new(),
            leak_count: 0,
            upstream_calls: 0,
            upstream_attributed: 0,
            used: HashSet::new(),
            multi: false,
            upstream_audited: 0,
            cross_zone_probes: 0,
            cross_zone_refused: 0,
        }
    }

    fn assign(&mut self, id: u64, user: usize, call: usize) {
        debug_assert_eq!(self.assigned.len() as u64, id);
        self.assigned.push((user as u32, call as u32));
        self.used.insert(user);
    }

    fn leak(&mut self, id: u64, kind: LeakKind) {
        let (user, call) = self.assigned[id as usize];
        self.leak_count += 1;
        self.per_call[call as usize].leaks += 1;
        self.total.leaks += 1;
        if self.leaks.len() < LEAK_SAMPLES {
            self.leaks.push(Leak {
                request: id,
                tool: self.calls[call as usize].label(),
                caller: self.callers[user as usize].who.clone(),
                kind,
            });
        }
    }

    /// A cross-zone probe's answer: anything but 401 is a leak.
    fn cross_zone(&mut self, id: u64, path: &str, status: u16) {
        self.cross_zone_probes += 1;
        if status == 401 {
            self.cross_zone_refused += 1;
        } else {
            let path = path.to_owned();
            self.leak(id, LeakKind::CrossZoneAccepted { path, status });
        }
    }

    /// Multi-zone runs: is the upstream token of `call`, made for `caller`, in the
    /// caller's zone's audit log as issued for the caller's user and client and the
    /// upstream that received it? `None` when it is; else what is not.
    fn audit_mismatch(
        zones: &ReplayZones,
        caller: &Who,
        call: &mock_keycard::UpstreamCall,
    ) -> Option<String> {
        let zone = if caller.issuer == zones.secondary.issuer() {
            &zones.secondary
        } else {
            &zones.primary
        };
        // The demo upstreams live at the primary zone and serve both zones.
        let resource = call.upstream.resource(zones.primary.zone());
        let Some(jti) = call.identity.jti.as_deref() else {
            return Some("the upstream token has no jti".into());
        };
        let Some(event) = zone.zone().audit_by_jti(jti) else {
            return Some(format!(
                "not issued by the caller's zone {} (not in its audit log)",
                zone.issuer()
            ));
        };
        if event.outcome != mock_keycard::Outcome::Issued
            || event.grant_type.as_deref() != Some(mock_keycard::TOKEN_EXCHANGE)
        {
            return Some("its audit event is not an issued token exchange".into());
        }
        if event.user.as_deref() != caller.sub.as_deref() {
            return Some(format!("issued for user {:?}", event.user));
        }
        if event.original_client.as_deref() != Some(caller.client_id.as_str()) {
            return Some(format!("issued for client {:?}", event.original_client));
        }
        if event.resource.as_deref() != Some(resource.as_str()) {
            return Some(format!(
                "issued for resource {:?} but presented to the {} upstream ({resource})",
                event.resource,
                call.upstream.name()
            ));
        }
        None
    }

    fn answer(&mut self, id: u64, answer: Option<&http::Response<Bytes>>) {
        let (user, call) = self.assigned[id as usize];
        let (user, call) = (user as usize, call as usize);
        let outcome = match answer {
            None => Outcome::Transport,
            Some(response) if response.status() != http::StatusCode::OK => {
                Outcome::Http(response.status().as_u16())
            }
            Some(response) => classify(response.body()),
        };
        self.total.count(outcome);
        self.per_call[call].count(outcome);
        let Some(response) = answer else { return };
        // The whole body, whatever its format or status.
        let text = String::from_utf8_lossy(response.body());
        let own = self.canaries.own[user].as_deref();
        let mut saw_own = false;
        let mut foreign = None;
        for canary in mock_keycard::find_canaries(&text) {
            if Some(canary) == own {
                saw_own = true;
            } else if foreign.is_none() {
                foreign = Some(canary.to_owned());
            }
        }
        if saw_own {
            self.total.own_canary += 1;
            self.per_call[call].own_canary += 1;
        }
        if let Some(canary) = foreign {
            let owner = self
                .canaries
                .owner
                .get(&canary)
                .map(|&i| self.callers[i].who.clone());
            self.leak(id, LeakKind::ForeignCanary { canary, owner });
        }
    }

    /// Judges the upstream calls logged since the last time.
    fn upstream(&mut self, zones: &ReplayZones) {
        for zone in [&zones.primary, &zones.secondary] {
            for call in zone.zone().take_upstream_calls() {
                self.upstream_calls += 1;
                let Some(id) = call
                    .correlation
                    .as_deref()
                    .and_then(|c| c.parse::<u64>().ok())
                    .filter(|&id| id < self.assigned.len() as u64)
                else {
                    continue;
                };
                self.upstream_attributed += 1;
                let (user, _) = self.assigned[id as usize];
                let caller = &self.callers[user as usize].who;
                let seen = Who {
                    issuer: call.identity.iss.clone(),
                    sub: Some(call.identity.sub.clone()),
                    client_id: call.identity.client_id.clone().unwrap_or_default(),
                };
                if self.multi {
                    match Self::audit_mismatch(zones, caller, &call) {
                        None => self.upstream_audited += 1,
                        Some(reason) => {
                            let jti = call.identity.jti.clone();
                            self.leak(id, LeakKind::WrongIssuance { jti, reason });
                        }
                    }
                }
                if &seen != caller {
                    let call = format!("{} {}", call.method, call.path);
                    self.leak(id, LeakKind::ForeignUpstreamToken { seen, call });
                }
            }
        }
    }

    fn report(
        self,
        callers: &[Caller],
        isolates: usize,
        exchanges: u64,
        wall: Duration,
        setup: Duration,
    ) -> LeakReport {
        let subjects: HashSet<(&str, &str)> = self
            .used
            .iter()
            .filter_map(|&i| {
                let who = &callers[i].who;
                who.sub.as_deref().map(|s| (who.issuer.as_str(), s))
            })
            .collect();
        let mut per_tool = std::collections::BTreeMap::new();
        for (spec, tally) in self.calls.iter().zip(self.per_call) {
            let entry: &mut Tally = per_tool.entry(spec.label()).or_default();
            merge(entry, &tally);
        }
        LeakReport {
            requests: self.total.requests,
            users: self.used.len() as u64,
            subjects: subjects.len() as u64,
            isolates,
            total: self.total,
            per_tool,
            leak_count: self.leak_count,
            leaks: self.leaks,
            upstream_calls: self.upstream_calls,
            upstream_attributed: self.upstream_attributed,
            upstream_audited: self.upstream_audited,
            cross_zone_probes: self.cross_zone_probes,
            cross_zone_refused: self.cross_zone_refused,
            upstream_dropped: 0,
            exchanges,
            wall,
            setup,
        }
    }
}

fn merge(into: &mut Tally, from: &Tally) {
    into.requests += from.requests;
    into.ok += from.ok;
    into.tool_errors += from.tool_errors;
    into.protocol_errors += from.protocol_errors;
    for (status, n) in &from.http_errors {
        *into.http_errors.entry(*status).or_default() += n;
    }
    into.unparseable += from.unparseable;
    into.transport_errors += from.transport_errors;
    into.own_canary += from.own_canary;
    into.leaks += from.leaks;
}

/// The JSON-RPC message of an answer: the JSON body, or the last `data:` line of an SSE
/// stream.
fn message(body: &[u8]) -> Option<Value> {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        return Some(value);
    }
    let text = std::str::from_utf8(body).ok()?;
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .next_back()
}

fn classify(body: &[u8]) -> Outcome {
    let Some(message) = message(body) else {
        return Outcome::Unparseable;
    };
    if message.get("error").is_some() {
        return Outcome::ProtocolError;
    }
    match message.get("result") {
        Some(result) if result.get("isError").and_then(Value::as_bool) == Some(true) => {
            Outcome::ToolError
        }
        Some(_) => Outcome::Ok,
        None => Outcome::Unparseable,
    }
}
