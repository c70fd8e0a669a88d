//! The leak property: arbitrary users and operations, interleaved by the zone's latency
//! script, through one shared isolate state; and the oracle that judges a run.
//!
//! A [`Scenario`] is a pool of users (issuer ∈ {A, B}; `sub` from a small adversarial
//! pool including `""`, `a::b`, `x/y`, unicode, and none; a client id), at least eight
//! concurrent tasks each running a few operations (fetch `/user`, revoke a user's tokens
//! so the upstream answers 401, move the clock), and the zone's latency script. All tasks
//! share one [`UpstreamAccess`] (one token cache) and run on a single-threaded executor,
//! so the schedule is a pure function of the scenario.
//!
//! The oracle ([`check`]): every answer belongs to its requester — the identity in a 200
//! body is the requester's (issuer, sub, client_id), every upstream token sent for a
//! request was issued by the zone for that same chain, a sub-less caller gets
//! [`DelegationError::NoSubject`] and reaches no one, the zone never refuses an exchange
//! (it would only if the Worker presented a sub-less or cross-issuer subject token), at
//! most one retry per request; and, in scenarios without revocations or clock moves,
//! every caller with a `sub` gets a 200 (so the property cannot pass by failing).

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use futures::executor::block_on;
use futures::future::join_all;
use keycard_core::Identity;
use keycard_core::delegation::DelegationError;
use keycard_core::delegation::cache::CacheKeying;
use keycard_core::delegation::upstream::UpstreamAccess;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;

use super::fake_zone::{Chain, REQUEST_ID, UpstreamCall, chain_in_profile};
use super::latency::YieldTimes;
use super::tokens;
use super::world::{
    ISSUER_A, ISSUER_B, RESOURCE_ID, RESOURCE_ID_2, T0_MS, UPSTREAM, World, WorldSpec,
};

/// Subjects that collide when joined with `::` or `/`, plus unicode and the empty string.
pub const SUBJECTS: &[&str] = &[
    "alice",
    "a",
    "",
    "a::b",
    "x/y",
    "ünïcødé ✓",
    "b::https://api.upstream.test",
];
/// MCP clients a user may come through.
pub const CLIENTS: &[&str] = &["cursor", "claude", "a::b"];
/// Largest user pool per scenario.
pub const MAX_USERS: usize = 5;

/// A caller: the identity chain of the bearer token they present.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct User {
    /// `iss`.
    pub issuer: &'static str,
    /// `sub` (none for service tokens).
    pub subject: Option<&'static str>,
    /// `client_id`.
    pub client_id: &'static str,
    /// `aud`: the server origin the token was minted for (one Worker, two routes).
    pub audience: &'static str,
}

impl User {
    /// The chain the zone binds this user's upstream tokens to.
    pub fn chain(&self) -> Chain {
        Chain {
            issuer: self.issuer.to_owned(),
            subject: self.subject.map(str::to_owned),
            client_id: self.client_id.to_owned(),
            audience: self.audience.to_owned(),
        }
    }

    /// This user's bearer token: RS256, signed with the fixture zone key (memoised: the
    /// pools are small and RSA signing is not free).
    pub fn token(&self) -> String {
        static SIGNED: std::sync::OnceLock<std::sync::Mutex<HashMap<User, String>>> =
            std::sync::OnceLock::new();
        let cache = SIGNED.get_or_init(Default::default);
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(self.clone())
            .or_insert_with(|| {
                let claims = tokens::claims(
                    self.issuer,
                    self.subject,
                    self.client_id,
                    self.audience,
                    T0_MS / 1000,
                );
                tokens::signed(&claims).unwrap_or_else(|e| panic!("signing: {e}"))
            })
            .clone()
    }

    /// The verified identity the gateway would hand to a tool for this user: the real
    /// verifier's answer for [`User::token`] presented at the user's audience.
    pub async fn identity(
        &self,
        world: &World,
        auth: &keycard_core::auth::Authenticator,
    ) -> Identity {
        world.verified(auth, &self.token(), self.audience).await
    }
}

/// One step of a task. User indices are taken modulo the pool size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `GET <upstream>/user` on the user's behalf through the shared isolate state.
    Fetch(usize),
    /// The zone revokes every token issued so far for the user (the upstream then
    /// answers 401 to them, which drops them from the cache and retries once).
    Revoke(usize),
    /// Moves the shared clock forward by this many seconds (past expiry, past timeouts).
    Advance(u16),
}

/// One concurrent task: a start delay (in yields) and its operations, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Yields before the first operation.
    pub start_delay: u8,
    /// The operations, run one after the other.
    pub ops: Vec<Op>,
}

/// One case of the property. Its `Debug` is compact: proptest prints it for every
/// counterexample.
#[derive(Clone)]
pub struct Scenario {
    /// The callers.
    pub users: Vec<User>,
    /// At least eight tasks, all started at once.
    pub tasks: Vec<Task>,
    /// Token lifetime, cache bound, latency script.
    pub world: WorldSpec,
}

impl Scenario {
    /// The user an operation's index designates.
    pub fn user(&self, index: usize) -> &User {
        &self.users[index % self.users.len()]
    }

    /// Whether any operation revokes tokens or moves the clock.
    pub fn has_churn(&self) -> bool {
        self.tasks
            .iter()
            .flat_map(|t| &t.ops)
            .any(|op| !matches!(op, Op::Fetch(_)))
    }
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "Scenario {{")?;
        for (i, u) in self.users.iter().enumerate() {
            writeln!(
                f,
                "  u{i} = (iss {}, sub {:?}, client {:?}, aud {})",
                u.issuer, u.subject, u.client_id, u.audience
            )?;
        }
        for (t, task) in self.tasks.iter().enumerate() {
            let ops: Vec<String> = task
                .ops
                .iter()
                .map(|op| match *op {
                    Op::Fetch(u) => format!("fetch u{}", u % self.users.len().max(1)),
                    Op::Revoke(u) => format!("revoke u{}", u % self.users.len().max(1)),
                    Op::Advance(s) => format!("advance {s}s"),
                })
                .collect();
            writeln!(
                f,
                "  t{t} (after {} yields): {}",
                task.start_delay,
                ops.join("; ")
            )?;
        }
        write!(
            f,
            "  token lifetime {}s, cache max_entries {}, latency script {:?}\n}}",
            self.world.token_lifetime_secs, self.world.max_entries, self.world.latency
        )
    }
}

/// A user from the adversarial pools.
pub fn user() -> impl Strategy<Value = User> {
    (
        select(vec![ISSUER_A, ISSUER_B]),
        proptest::option::weighted(0.85, select(SUBJECTS.to_vec())),
        select(CLIENTS.to_vec()),
        select(vec![RESOURCE_ID, RESOURCE_ID_2]),
    )
        .prop_map(|(issuer, subject, client_id, audience)| User {
            issuer,
            subject,
            client_id,
            audience,
        })
}

fn op(churn: bool) -> BoxedStrategy<Op> {
    let fetch = (0..MAX_USERS).prop_map(Op::Fetch);
    if churn {
        prop_oneof![
            6 => fetch,
            1 => (0..MAX_USERS).prop_map(Op::Revoke),
            1 => (0u16..=120).prop_map(Op::Advance),
        ]
        .boxed()
    } else {
        fetch.boxed()
    }
}

fn task(churn: bool) -> impl Strategy<Value = Task> {
    (0u8..=6, proptest::collection::vec(op(churn), 1..=4))
        .prop_map(|(start_delay, ops)| Task { start_delay, ops })
}

/// Scenarios: half of them "calm" (fetches only), half with revocations and clock moves.
pub fn scenario() -> impl Strategy<Value = Scenario> {
    any::<bool>().prop_flat_map(|churn| {
        (
            proptest::collection::vec(user(), 1..=MAX_USERS),
            proptest::collection::vec(task(churn), 8..=16),
            select(vec![3600u64, 600, 90, 31]),
            1usize..=8,
            proptest::collection::vec(0u8..=6, 0..=24),
        )
            .prop_map(
                |(users, tasks, token_lifetime_secs, max_entries, latency)| Scenario {
                    users,
                    tasks,
                    world: WorldSpec {
                        token_lifetime_secs,
                        max_entries,
                        latency,
                    },
                },
            )
    })
}

/// What one fetch got.
#[derive(Debug)]
pub struct Outcome {
    /// `t<task>.<op>`.
    pub request_id: String,
    /// Who asked.
    pub user: User,
    /// The upstream's status and body, or why there was none.
    pub result: Result<(u16, Bytes), DelegationError>,
}

/// Counters of one run, for the non-vacuity checks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunStats {
    /// Fetches made.
    pub fetches: usize,
    /// Fetches answered 200.
    pub ok: usize,
    /// Tokens the zone issued.
    pub issued: usize,
    /// Cache hits.
    pub cache_hits: u64,
    /// Cache misses that joined another request's in-flight exchange.
    pub joined: u64,
}

/// Runs `scenario` against a fresh isolate whose cache uses `keying`, then judges it.
pub fn run(keying: CacheKeying, scenario: &Scenario) -> Result<RunStats, TestCaseError> {
    let world = World::new(&scenario.world);
    let access = world.upstream_access(keying);
    // Each user's token goes through the real verifier once, up front: the identities
    // the delegation exchanges are exactly what a gateway would hand a tool.
    let auth = world.authenticator();
    let identities: Vec<Identity> = block_on(join_all(
        scenario.users.iter().map(|u| u.identity(&world, &auth)),
    ));
    let tasks = scenario
        .tasks
        .iter()
        .enumerate()
        .map(|(t, task)| run_task(&world, &access, scenario, &identities, t, task));
    let outcomes: Vec<Outcome> = block_on(join_all(tasks)).into_iter().flatten().collect();
    let mut stats = check(&world, scenario, &outcomes)?;
    let cache = access.cache_stats();
    (stats.cache_hits, stats.joined) = (cache.hits, cache.joined);
    Ok(stats)
}

async fn run_task(
    world: &World,
    access: &UpstreamAccess,
    scenario: &Scenario,
    identities: &[Identity],
    t: usize,
    task: &Task,
) -> Vec<Outcome> {
    YieldTimes(task.start_delay.into()).await;
    let mut outcomes = Vec::new();
    for (i, op) in task.ops.iter().enumerate() {
        match *op {
            Op::Fetch(u) => {
                let user = scenario.user(u).clone();
                let request_id = format!("t{t}.{i}");
                let request = http::Request::get(format!("{UPSTREAM}/user"))
                    .header(REQUEST_ID, &request_id)
                    .body(Bytes::new())
                    .unwrap_or_else(|e| panic!("request: {e}"));
                let identity = &identities[u % identities.len()];
                let result = access
                    .fetch("default", identity, request)
                    .await
                    .map(|r| (r.status().as_u16(), r.into_body()));
                outcomes.push(Outcome {
                    request_id,
                    user,
                    result,
                });
            }
            Op::Revoke(u) => {
                world.zone.revoke(&scenario.user(u).chain());
            }
            Op::Advance(secs) => world.clock.advance(Duration::from_secs(secs.into())),
        }
    }
    outcomes
}

/// The oracle. `Err` describes the first violation, naming both identities and requests.
pub fn check(
    world: &World,
    scenario: &Scenario,
    outcomes: &[Outcome],
) -> Result<RunStats, TestCaseError> {
    let calls = world.zone.upstream_calls();
    let mut by_request: HashMap<&str, Vec<&UpstreamCall>> = HashMap::new();
    let mut first_use: HashMap<&str, &str> = HashMap::new();
    for call in &calls {
        if let Some(id) = call.request_id.as_deref() {
            by_request.entry(id).or_default().push(call);
            if let Some(token) = call.token.as_deref() {
                first_use.entry(token).or_insert(id);
            }
        }
    }
    let refusals = world.zone.refusals();
    if !refusals.is_empty() {
        return Err(TestCaseError::fail(format!(
            "the zone refused exchanges the Worker should never have attempted: {refusals:?}"
        )));
    }
    let calm = !scenario.has_churn();
    let mut stats = RunStats {
        fetches: outcomes.len(),
        issued: world.zone.issued().len(),
        ..RunStats::default()
    };
    for outcome in outcomes {
        let id = outcome.request_id.as_str();
        let want = outcome.user.chain();
        let calls = by_request.get(id).map(Vec::as_slice).unwrap_or_default();
        match (want.subject.is_some(), &outcome.result) {
            (false, Err(DelegationError::NoSubject)) if calls.is_empty() => continue,
            (false, Err(DelegationError::NoSubject)) => {
                return Err(TestCaseError::fail(format!(
                    "request {id} by sub-less {want:?} was refused but still reached the upstream"
                )));
            }
            (false, other) => {
                return Err(TestCaseError::fail(format!(
                    "request {id} by sub-less {want:?} was not refused with NoSubject: {other:?}"
                )));
            }
            (true, Err(DelegationError::NoSubject)) => {
                return Err(TestCaseError::fail(format!(
                    "request {id} by {want:?} was refused as sub-less"
                )));
            }
            _ => {}
        }
        if calls.len() > 2 {
            return Err(TestCaseError::fail(format!(
                "request {id} called the upstream {} times (at most one retry)",
                calls.len()
            )));
        }
        for call in calls {
            let Some(token) = call.token.as_deref() else {
                return Err(TestCaseError::fail(format!(
                    "request {id} reached the upstream without a bearer"
                )));
            };
            let Some(issuance) = world.zone.issuance(token) else {
                return Err(TestCaseError::fail(format!(
                    "request {id} by {want:?} sent a token the zone never issued"
                )));
            };
            if issuance.chain != want {
                return Err(TestCaseError::fail(format!(
                    "LEAK: request {id} by {want:?} sent upstream token {token} issued for {:?} \
                     (first used by request {}); the upstream answered {}",
                    issuance.chain,
                    first_use.get(token).copied().unwrap_or("?"),
                    call.status
                )));
            }
        }
        match &outcome.result {
            Ok((200, body)) => {
                stats.ok += 1;
                let got = chain_in_profile(body);
                if got.as_ref() != Some(&want) {
                    return Err(TestCaseError::fail(format!(
                        "LEAK: request {id} by {want:?} received the profile of {got:?}"
                    )));
                }
            }
            other if calm => {
                return Err(TestCaseError::fail(format!(
                    "request {id} by {want:?} failed with no revocation or clock move in the \
                     scenario: {:?}",
                    other.as_ref().map(|(status, _)| status)
                )));
            }
            _ => {}
        }
    }
    Ok(stats)
}
