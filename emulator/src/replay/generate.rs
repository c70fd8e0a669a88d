//! The seeded trace generator: a population with the adversarial identities of the
//! leak check, and a lazy stream of requests over it (a million requests never sit in
//! memory at once).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::trace::{Op, Principal, TraceRequest, ZoneRef};

/// The second MCP client some users also sign in through.
pub const SECOND_CLIENT_ID: &str = "mcp-client-b";

/// Subjects that try to collide in string-built cache keys, or that break naive parsers.
pub const TRICKY_SUBJECTS: [&str; 6] = [
    "a::b",
    "user-0::http://127.0.0.1",
    "org/team/user-1",
    "../user-2",
    "ünïcødé-用户-🦀",
    "",
];

/// Relative weights of each [`Op`] (`--mix whoami=45,github_user=45,...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    weights: [u32; 6],
}

impl Default for Mix {
    fn default() -> Self {
        Self {
            weights: [45, 45, 5, 5, 0, 5],
        }
    }
}

/// Why a `--mix` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MixError {
    /// An entry is not `name=weight`.
    #[error("mix entry {0:?} is not name=weight")]
    Syntax(String),
    /// The name is not an op.
    #[error(
        "unknown op {0:?} in mix (expected whoami, github_user, tools_list, bad_token, \
         profile_resource, cross_session)"
    )]
    UnknownOp(String),
    /// All weights are zero.
    #[error("the mix has no positive weight")]
    Empty,
}

impl std::str::FromStr for Mix {
    type Err = MixError;
    fn from_str(s: &str) -> Result<Self, MixError> {
        let mut weights = [0u32; 6];
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, weight) = entry
                .split_once('=')
                .ok_or_else(|| MixError::Syntax(entry.to_owned()))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| MixError::Syntax(entry.to_owned()))?;
            let name = name.trim().replace('-', "_");
            let slot = Op::ALL
                .iter()
                .position(|op| op.name() == name)
                .ok_or_else(|| MixError::UnknownOp(name.clone()))?;
            weights[slot] = weight;
        }
        if weights.iter().all(|&w| w == 0) {
            return Err(MixError::Empty);
        }
        Ok(Self { weights })
    }
}

impl Mix {
    fn pick(&self, roll: u32) -> Op {
        let mut roll = roll % self.total();
        for (op, &w) in Op::ALL.iter().zip(&self.weights) {
            if roll < w {
                return *op;
            }
            roll -= w;
        }
        Op::Whoami
    }

    fn total(&self) -> u32 {
        self.weights.iter().sum::<u32>().max(1)
    }
}

/// The generated population for `users` ordinary users plus the adversarial cases,
/// `k = max(2, users / 50)` of each kind:
///
/// * `normal`: `user-{i}` at the primary zone, default client;
/// * `cross-issuer`: `user-{i}` again, same `sub`, at the secondary zone;
/// * `second-client`: `user-{i}` again, same zone, through [`SECOND_CLIENT_ID`];
/// * `tricky-sub`: each of [`TRICKY_SUBJECTS`] (`::`, `/`, unicode, empty string);
/// * `no-sub`: tokens without `sub`;
/// * `expiring`: tokens living `expiring_secs` that expire mid-run;
/// * `revoked`: users whose consent is revoked when the replay reaches half of `requests`.
pub fn principals(users: u32, requests: u64, expiring_secs: u64) -> Vec<Principal> {
    let k = (users / 50).max(2);
    let mut out: Vec<Principal> = Vec::with_capacity(users as usize + 6 * k as usize + 8);
    let mut push = |zone, sub: Option<String>, client: Option<&str>, tag: &str| {
        let id = out.len() as u32;
        out.push(Principal {
            id,
            zone,
            sub,
            client_id: client.map(str::to_owned),
            lifetime_secs: None,
            revoke_at: None,
            tag: tag.to_owned(),
        });
        id as usize
    };
    for i in 0..users {
        push(ZoneRef::Primary, Some(format!("user-{i}")), None, "normal");
    }
    for i in 0..k.min(users.max(1)) {
        let sub = Some(format!("user-{i}"));
        push(ZoneRef::Secondary, sub.clone(), None, "cross-issuer");
        push(
            ZoneRef::Primary,
            sub,
            Some(SECOND_CLIENT_ID),
            "second-client",
        );
    }
    for sub in TRICKY_SUBJECTS {
        push(ZoneRef::Primary, Some(sub.to_owned()), None, "tricky-sub");
        push(ZoneRef::Secondary, Some(sub.to_owned()), None, "tricky-sub");
    }
    for i in 0..k {
        let client = (i % 2 == 1).then_some(SECOND_CLIENT_ID);
        push(ZoneRef::Primary, None, client, "no-sub");
    }
    let mut expiring = Vec::new();
    let mut revoked = Vec::new();
    for i in 0..k {
        expiring.push(push(
            ZoneRef::Primary,
            Some(format!("expiring-{i}")),
            None,
            "expiring",
        ));
        revoked.push(push(
            ZoneRef::Primary,
            Some(format!("revoked-{i}")),
            None,
            "revoked",
        ));
    }
    for i in expiring {
        out[i].lifetime_secs = Some(expiring_secs);
    }
    for i in revoked {
        out[i].revoke_at = Some(requests / 2);
    }
    out
}

/// `count` ordinary users `fresh-{i}` at the primary zone, nothing adversarial: the
/// population of `--fresh-subjects`, where request `i` is the only one of user `i`.
pub fn fresh_principals(count: u32) -> Vec<Principal> {
    (0..count)
        .map(|id| Principal {
            id,
            zone: ZoneRef::Primary,
            sub: Some(format!("fresh-{id}")),
            client_id: None,
            lifetime_secs: None,
            revoke_at: None,
            tag: "fresh".to_owned(),
        })
        .collect()
}

/// `count` requests, request `i` by principal `i` (every request a new subject), ops
/// drawn from `mix`.
pub fn fresh_requests(
    count: u64,
    seed: u64,
    mix: Mix,
) -> impl Iterator<Item = TraceRequest> + Send {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count).map(move |id| TraceRequest {
        id,
        principal: id as u32,
        op: mix.pick(rng.r#gen()),
    })
}

/// A lazy, seeded stream of `count` requests over `principals` (uniformly) with ops
/// drawn from `mix`.
pub fn requests(
    principals: u32,
    count: u64,
    seed: u64,
    mix: Mix,
) -> impl Iterator<Item = TraceRequest> + Send {
    let mut rng = StdRng::seed_from_u64(seed);
    let n = principals.max(1);
    (0..count).map(move |id| TraceRequest {
        id,
        principal: rng.gen_range(0..n),
        op: mix.pick(rng.r#gen()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_parses_and_rejects() {
        let m: Mix = "whoami=1, github-user=3".parse().unwrap();
        assert_eq!(m.weights, [1, 3, 0, 0, 0, 0]);
        assert_eq!("x=1".parse::<Mix>(), Err(MixError::UnknownOp("x".into())));
        assert_eq!(
            "whoami".parse::<Mix>(),
            Err(MixError::Syntax("whoami".into()))
        );
        assert_eq!("whoami=0".parse::<Mix>(), Err(MixError::Empty));
    }

    #[test]
    fn population_has_every_adversarial_case() {
        let p = principals(100, 1000, 3);
        super::super::trace::validate_principals(&p).unwrap();
        let tags = |t: &str| p.iter().filter(|x| x.tag == t).count();
        assert_eq!(tags("normal"), 100);
        assert_eq!(tags("cross-issuer"), 2);
        assert_eq!(tags("second-client"), 2);
        assert!(p.iter().any(|x| x.sub.as_deref() == Some("")));
        assert!(p.iter().any(|x| x.sub.is_none()));
        assert!(p.iter().any(|x| x.lifetime_secs == Some(3)));
        assert!(p.iter().any(|x| x.revoke_at == Some(500)));
        // cross-issuer really shares a sub with a primary-zone user
        let cross = p.iter().find(|x| x.tag == "cross-issuer").unwrap();
        assert!(
            p.iter()
                .any(|x| x.zone == ZoneRef::Primary && x.sub == cross.sub)
        );
    }

    #[test]
    fn requests_are_seeded_and_follow_the_mix() {
        let a: Vec<_> = requests(10, 2000, 7, Mix::default()).collect();
        let b: Vec<_> = requests(10, 2000, 7, Mix::default()).collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|r| r.principal < 10));
        let gh = a.iter().filter(|r| r.op == Op::GithubUser).count();
        assert!((700..1100).contains(&gh), "{gh}");
        let only: Mix = "tools_list=1".parse().unwrap();
        assert!(requests(3, 50, 1, only).all(|r| r.op == Op::ToolsList));
    }
}
