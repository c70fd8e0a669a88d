//! The leak oracle: does each answer belong to the requester?
//!
//! * `whoami`: the reported (issuer, subject, client_id) must equal the requester's.
//! * `github_user`: the identity the upstream API saw in the token it received (its
//!   `keycard` object: iss, sub, original client_id) must equal the requester's, and that
//!   upstream token's `jti` must be in the issuing zone's audit log as issued for the same
//!   chain (user, original client, resource).
//!
//! Anything else is a leak, reported with both identities and the request ids. Refusals
//! that are due (no `sub` on a delegated tool, revoked consent, expired or broken
//! token) are errors of an *expected* kind; a success where a refusal was due is flagged.

use std::collections::HashMap;

use keycard_core::ports::BoxFuture;
use serde_json::Value;

use super::identity::{self, UpstreamSeen, Who};
use super::trace::Op;

/// Margin (seconds) around a token's expiry in which both answers are accepted.
const EXPIRY_SLACK_SECS: u64 = 2;

/// One audited issuance, as the zone recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audited {
    /// The issuing zone.
    pub issuer: String,
    /// Whether the event is an issuance (not a refusal).
    pub issued: bool,
    /// The user.
    pub user: Option<String>,
    /// The subject token's client (the user's MCP client).
    pub original_client: Option<String>,
    /// The resource the token is for.
    pub resource: Option<String>,
    /// When (Unix seconds).
    pub time: i64,
}

/// Where the oracle looks up upstream tokens: the zones' audit logs.
pub trait AuditSource: Send + Sync {
    /// The audit event of the token `jti` issued by `issuer`, if that zone knows it.
    fn lookup<'a>(&'a self, issuer: &'a str, jti: &'a str) -> BoxFuture<'a, Option<Audited>>;
}

/// What the oracle needs to know about a request besides the answer.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The request id.
    pub request_id: u64,
    /// The requester's principal id.
    pub principal: u32,
    /// The requester.
    pub who: &'a Who,
    /// The op.
    pub op: Op,
    /// The token's `exp` (Unix seconds).
    pub expires_at: u64,
    /// The server's clock leeway on `exp`.
    pub leeway_secs: u64,
    /// Unix seconds at which the requester's consent was revoked, if that happened
    /// before this request was sent.
    pub revoked_at: Option<u64>,
    /// Whether the requester's consent had been revoked by the time the answer arrived
    /// (a request in flight across the revocation may be refused).
    pub revoked_by_answer: bool,
    /// The upstream resource identifier.
    pub upstream_resource: &'a str,
    /// For [`Op::CrossSession`]: whose session the request named (another identity's).
    pub victim: Option<&'a Who>,
    /// For [`Op::CrossSession`]: the body the server answered (with 404) for a session id
    /// it never issued; a refusal of someone's session must be indistinguishable.
    pub unknown_session: Option<&'a [u8]>,
}

/// The answer as the driver got it.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    /// HTTP status (0 when no answer arrived).
    pub status: u16,
    /// The body.
    pub body: &'a [u8],
    /// Set when no HTTP answer arrived.
    pub transport_error: Option<&'a str>,
    /// Unix seconds when the request was sent.
    pub sent_at: u64,
}

/// A leak: an answer that belongs to someone else.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Leak {
    /// The request that received the foreign answer.
    pub request_id: u64,
    /// Its principal.
    pub principal: u32,
    /// The op.
    pub op: Op,
    /// Who asked.
    pub requester: Who,
    /// Whose answer it got (as reported by the tool / the upstream / the audit log).
    pub seen: Option<Who>,
    /// The upstream token involved, if any.
    pub jti: Option<String>,
    /// The first request (id, principal) that received the same upstream token.
    pub first_seen_by: Option<(u64, u32)>,
    /// What exactly did not match.
    pub reason: String,
}

/// The verdict on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Success, answer belongs to the requester; the identity seen, if the op shows one.
    Ok {
        /// Identity in the answer.
        seen: Option<Who>,
        /// For `github_user` and `profile_resource`: whether this upstream token was seen
        /// before (a cache hit).
        reused_token: Option<bool>,
    },
    /// No success; `expected` says whether a refusal was due.
    Error {
        /// The kind (`no_subject`, `expired_token`, `http_500`, ...).
        kind: &'static str,
        /// Whether this refusal was due.
        expected: bool,
    },
    /// A success where a refusal was due (the answer itself belongs to the requester).
    UnexpectedSuccess {
        /// Why a refusal was due.
        reason: &'static str,
    },
    /// A foreign answer.
    Leak(Box<Leak>),
}

/// The oracle's memory across requests: audit lookups and which request first saw each
/// upstream token.
#[derive(Debug, Default)]
pub struct Oracle {
    audited: HashMap<String, Option<Audited>>,
    first_seen: HashMap<String, (u64, u32)>,
    /// Bound on both maps (`None`: unbounded); see [`Oracle::bounded`].
    bound: Option<usize>,
    /// Upstream tokens forgotten by the bound (still counted as distinct).
    forgotten: usize,
}

fn status_kind(status: u16) -> &'static str {
    match status {
        0 => "transport",
        400 => "http_400",
        401 => "http_401",
        403 => "http_403",
        404 => "http_404",
        405 => "http_405",
        406 => "http_406",
        413 => "http_413",
        429 => "http_429",
        500 => "http_500",
        502 => "http_502",
        503 => "http_503",
        504 => "http_504",
        s if (400..500).contains(&s) => "http_4xx",
        s if (500..600).contains(&s) => "http_5xx",
        _ => "http_other",
    }
}

impl Oracle {
    /// Number of distinct upstream tokens seen (exchanges observed from outside).
    pub fn distinct_upstream_tokens(&self) -> usize {
        self.first_seen.len() + self.forgotten
    }

    /// An oracle whose memory stays under `entries` tokens (for `--fresh-subjects`, where
    /// every request brings a new one): when full, it forgets the tokens seen so far.
    /// The leak check itself (identity seen upstream + audit chain) stays exact; only the
    /// reuse detection (`cache_hits`, `first_seen_by`) is limited to the window.
    pub fn bounded(entries: usize) -> Self {
        Self {
            bound: Some(entries.max(1)),
            ..Self::default()
        }
    }

    fn enforce_bound(&mut self) {
        if let Some(bound) = self.bound
            && self.first_seen.len() >= bound
        {
            self.forgotten += self.first_seen.len();
            self.first_seen.clear();
            self.audited.clear();
        }
    }

    /// Judges one answer.
    pub async fn judge(
        &mut self,
        expect: Expect<'_>,
        observed: Observed<'_>,
        audit: &dyn AuditSource,
    ) -> Verdict {
        let expired = observed.sent_at > expect.expires_at + expect.leeway_secs + EXPIRY_SLACK_SECS;
        let may_be_expired = observed.sent_at + EXPIRY_SLACK_SECS >= expect.expires_at;
        if observed.transport_error.is_some() {
            return Verdict::Error {
                kind: "transport",
                expected: false,
            };
        }
        if expect.op == Op::CrossSession {
            return judge_cross_session(expect, &observed, may_be_expired);
        }
        if expect.op == Op::BadToken {
            return match observed.status {
                401 => Verdict::Error {
                    kind: "bad_token",
                    expected: true,
                },
                200..=299 => Verdict::UnexpectedSuccess {
                    reason: "broken signature accepted",
                },
                s => Verdict::Error {
                    kind: status_kind(s),
                    expected: false,
                },
            };
        }
        match observed.status {
            401 if may_be_expired => {
                return Verdict::Error {
                    kind: "expired_token",
                    expected: true,
                };
            }
            200 => {}
            s => {
                return Verdict::Error {
                    kind: status_kind(s),
                    expected: false,
                };
            }
        }
        let Ok(body) = serde_json::from_slice::<Value>(observed.body) else {
            return Verdict::Error {
                kind: "unparseable",
                expected: false,
            };
        };
        let verdict = self
            .judge_result(expect, &body, may_be_expired, audit)
            .await;
        if expired && matches!(verdict, Verdict::Ok { .. }) {
            return Verdict::UnexpectedSuccess {
                reason: "expired token accepted",
            };
        }
        verdict
    }

    async fn judge_result(
        &mut self,
        expect: Expect<'_>,
        body: &Value,
        may_be_expired: bool,
        audit: &dyn AuditSource,
    ) -> Verdict {
        let Some(result) = body.get("result") else {
            if expect.op == Op::ProfileResource
                && let Some(message) = body.pointer("/error/message").and_then(Value::as_str)
            {
                // A read is a JSON-RPC request: a refused delegation is a JSON-RPC error.
                return refusal_kind(expect, message, may_be_expired);
            }
            return Verdict::Error {
                kind: "jsonrpc_error",
                expected: false,
            };
        };
        let is_error = result.get("isError").and_then(Value::as_bool) == Some(true);
        match expect.op {
            Op::ToolsList => {
                if result.get("tools").is_some_and(Value::is_array) {
                    Verdict::Ok {
                        seen: None,
                        reused_token: None,
                    }
                } else {
                    Verdict::Error {
                        kind: "unparseable",
                        expected: false,
                    }
                }
            }
            Op::Whoami | Op::BadToken | Op::CrossSession => {
                if is_error {
                    return Verdict::Error {
                        kind: "tool_error",
                        expected: false,
                    };
                }
                let Some(seen) = identity::structured(result)
                    .as_ref()
                    .and_then(identity::whoami_identity)
                else {
                    return Verdict::Error {
                        kind: "unparseable",
                        expected: false,
                    };
                };
                if &seen != expect.who {
                    return leak(
                        expect,
                        Some(seen),
                        None,
                        None,
                        "whoami reported another identity",
                    );
                }
                Verdict::Ok {
                    seen: Some(seen),
                    reused_token: None,
                }
            }
            Op::GithubUser | Op::ProfileResource => {
                if is_error {
                    return refusal_kind(expect, &identity::text(result), may_be_expired);
                }
                let Some(seen) = identity::profile(result)
                    .as_ref()
                    .and_then(identity::upstream_identity)
                else {
                    return Verdict::Error {
                        kind: "unparseable",
                        expected: false,
                    };
                };
                self.judge_upstream(expect, seen, audit).await
            }
        }
    }

    async fn judge_upstream(
        &mut self,
        expect: Expect<'_>,
        seen: UpstreamSeen,
        audit: &dyn AuditSource,
    ) -> Verdict {
        let first = self.first_seen.get(&seen.jti).copied();
        if first.is_none() {
            self.enforce_bound();
            self.first_seen
                .insert(seen.jti.clone(), (expect.request_id, expect.principal));
        }
        if &seen.who != expect.who {
            return leak(
                expect,
                Some(seen.who),
                Some(seen.jti),
                first,
                "the upstream API saw another identity",
            );
        }
        let audited = match self.audited.get(&seen.jti) {
            Some(a) => a.clone(),
            None => {
                let a = audit.lookup(&seen.who.issuer, &seen.jti).await;
                self.audited.insert(seen.jti.clone(), a.clone());
                a
            }
        };
        let Some(audited) = audited else {
            return leak(
                expect,
                Some(seen.who),
                Some(seen.jti),
                first,
                "the upstream token is not in the issuing zone's audit log",
            );
        };
        let chain_ok = audited.issued
            && audited.issuer == expect.who.issuer
            && audited.user == expect.who.sub
            && audited.original_client.as_deref() == Some(expect.who.client_id.as_str())
            && audited.resource.as_deref() == Some(expect.upstream_resource);
        if !chain_ok {
            let recorded = Who {
                issuer: audited.issuer.clone(),
                sub: audited.user.clone(),
                client_id: audited.original_client.clone().unwrap_or_default(),
            };
            return leak(
                expect,
                Some(recorded),
                Some(seen.jti),
                first,
                "the audit log records the upstream token for another identity chain or resource",
            );
        }
        if let Some(revoked_at) = expect.revoked_at
            && audited.time > revoked_at as i64
        {
            return Verdict::UnexpectedSuccess {
                reason: "token exchanged after consent was revoked",
            };
        }
        if expect.who.sub.is_none() {
            return Verdict::UnexpectedSuccess {
                reason: "delegated call made for a token without sub",
            };
        }
        Verdict::Ok {
            seen: Some(seen.who),
            reused_token: Some(first.is_some()),
        }
    }
}

/// A request with the requester's token and another identity's session id: only a 404
/// with the body of an unknown session is right. Acceptance is a leak (the session and
/// whatever it holds — log level, subscriptions, answers to its elicitations — served to
/// someone else), and so is a refusal that differs from the one for a session that never
/// existed (it would tell other users' sessions apart). A 401 for the requester's own
/// expired token comes before any session lookup and is due.
fn judge_cross_session(
    expect: Expect<'_>,
    observed: &Observed<'_>,
    may_be_expired: bool,
) -> Verdict {
    match observed.status {
        404 if expect.unknown_session.is_none_or(|b| b == observed.body) => Verdict::Error {
            kind: "cross_session_refused",
            expected: true,
        },
        404 => leak(
            expect,
            expect.victim.cloned(),
            None,
            None,
            "the refusal of another identity's session differs from the answer for an unknown session",
        ),
        200..=299 => leak(
            expect,
            expect.victim.cloned(),
            None,
            None,
            "a session opened by another identity was accepted with the requester's token",
        ),
        401 if may_be_expired => Verdict::Error {
            kind: "expired_token",
            expected: true,
        },
        s => Verdict::Error {
            kind: status_kind(s),
            expected: false,
        },
    }
}

fn refusal_kind(expect: Expect<'_>, text: &str, may_be_expired: bool) -> Verdict {
    let lower = text.to_lowercase();
    if expect.who.sub.is_none() && lower.contains("no subject") {
        return Verdict::Error {
            kind: "no_subject",
            expected: true,
        };
    }
    let consent = lower.contains("not granted access")
        || lower.contains("not authorized")
        || lower.contains("invalid_grant");
    if consent && (expect.revoked_at.is_some() || expect.revoked_by_answer) {
        return Verdict::Error {
            kind: "consent_revoked",
            expected: true,
        };
    }
    if consent && may_be_expired && lower.contains("expired") {
        // The server's leeway let the token in; the STS (no leeway) found it expired.
        return Verdict::Error {
            kind: "expired_subject_token",
            expected: true,
        };
    }
    if consent && expect.who.sub.as_deref() == Some("") {
        // No zone has a user with an empty subject: the STS refuses, as it should.
        return Verdict::Error {
            kind: "empty_sub_refused",
            expected: true,
        };
    }
    Verdict::Error {
        kind: if consent {
            "exchange_refused"
        } else if lower.contains("unavailable") {
            "sts_unavailable"
        } else if lower.contains("answered http 401") {
            "upstream_401"
        } else if lower.contains("answered http 5") {
            "upstream_5xx"
        } else if lower.contains("could not reach") {
            "upstream_unreachable"
        } else {
            "tool_error"
        },
        expected: false,
    }
}

fn leak(
    expect: Expect<'_>,
    seen: Option<Who>,
    jti: Option<String>,
    first_seen_by: Option<(u64, u32)>,
    reason: &str,
) -> Verdict {
    Verdict::Leak(Box::new(Leak {
        request_id: expect.request_id,
        principal: expect.principal,
        op: expect.op,
        requester: expect.who.clone(),
        seen,
        jti,
        first_seen_by,
        reason: reason.to_owned(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Log(HashMap<String, Audited>);
    impl AuditSource for Log {
        fn lookup<'a>(&'a self, _issuer: &'a str, jti: &'a str) -> BoxFuture<'a, Option<Audited>> {
            Box::pin(async move { self.0.get(jti).cloned() })
        }
    }

    fn who(sub: Option<&str>) -> Who {
        Who {
            issuer: "http://z".into(),
            sub: sub.map(Into::into),
            client_id: "c".into(),
        }
    }

    fn expect<'a>(w: &'a Who, op: Op) -> Expect<'a> {
        Expect {
            request_id: 9,
            principal: 1,
            who: w,
            op,
            expires_at: 2_000,
            leeway_secs: 0,
            revoked_at: None,
            revoked_by_answer: false,
            upstream_resource: "http://z/up",
            victim: None,
            unknown_session: None,
        }
    }

    fn ok(body: &Value) -> Observed<'static> {
        Observed {
            status: 200,
            body: Box::leak(body.to_string().into_bytes().into_boxed_slice()),
            transport_error: None,
            sent_at: 1_000,
        }
    }

    fn audited(user: &str, client: &str) -> Audited {
        Audited {
            issuer: "http://z".into(),
            issued: true,
            user: Some(user.into()),
            original_client: Some(client.into()),
            resource: Some("http://z/up".into()),
            time: 1_000,
        }
    }

    fn gh(sub: &str, client: &str, jti: &str) -> Value {
        json!({"jsonrpc": "2.0", "id": 1, "result": {"structuredContent": {"login": sub,
            "keycard": {"iss": "http://z", "sub": sub, "client_id": client, "jti": jti}}}})
    }

    #[tokio::test]
    async fn whoami_mismatch_is_a_leak_and_match_is_ok() {
        let log = Log(HashMap::new());
        let alice = who(Some("alice"));
        let mut o = Oracle::default();
        let body = json!({"result": {"structuredContent": {"issuer": "http://z", "subject": "alice", "client_id": "c"}}});
        assert!(matches!(
            o.judge(expect(&alice, Op::Whoami), ok(&body), &log).await,
            Verdict::Ok { .. }
        ));
        let bob = who(Some("bob"));
        let v = o.judge(expect(&bob, Op::Whoami), ok(&body), &log).await;
        let Verdict::Leak(l) = v else { panic!("{v:?}") };
        assert_eq!(l.seen, Some(alice));
        assert_eq!(l.requester, bob);
    }

    #[tokio::test]
    async fn upstream_identity_and_audit_chain_are_checked() {
        let mut map = HashMap::new();
        map.insert("j1".to_owned(), audited("alice", "c"));
        map.insert("j2".to_owned(), audited("bob", "c"));
        let log = Log(map);
        let alice = who(Some("alice"));
        let mut o = Oracle::default();
        let v = o
            .judge(
                expect(&alice, Op::GithubUser),
                ok(&gh("alice", "c", "j1")),
                &log,
            )
            .await;
        assert_eq!(
            v,
            Verdict::Ok {
                seen: Some(alice.clone()),
                reused_token: Some(false)
            }
        );
        let v = o
            .judge(
                expect(&alice, Op::GithubUser),
                ok(&gh("alice", "c", "j1")),
                &log,
            )
            .await;
        assert!(matches!(
            v,
            Verdict::Ok {
                reused_token: Some(true),
                ..
            }
        ));
        assert_eq!(o.distinct_upstream_tokens(), 1);
        // another client's token for the same sub: leak
        let v = o
            .judge(
                expect(&alice, Op::GithubUser),
                ok(&gh("alice", "other", "j1")),
                &log,
            )
            .await;
        assert!(matches!(v, Verdict::Leak(_)), "{v:?}");
        // token reported as alice's but audited for bob: leak
        let v = o
            .judge(
                expect(&alice, Op::GithubUser),
                ok(&gh("alice", "c", "j2")),
                &log,
            )
            .await;
        assert!(
            matches!(v, Verdict::Leak(ref l) if l.reason.contains("audit")),
            "{v:?}"
        );
        // unknown jti: leak
        let v = o
            .judge(
                expect(&alice, Op::GithubUser),
                ok(&gh("alice", "c", "nope")),
                &log,
            )
            .await;
        assert!(
            matches!(v, Verdict::Leak(ref l) if l.reason.contains("not in")),
            "{v:?}"
        );
    }

    #[tokio::test]
    async fn a_cross_session_request_must_be_refused_like_an_unknown_session() {
        let log = Log(HashMap::new());
        let alice = who(Some("alice"));
        let bob = who(Some("bob"));
        let unknown = br#"{"error":{"code":-32001}}"#;
        let mut o = Oracle::default();
        let mut e = expect(&alice, Op::CrossSession);
        e.victim = Some(&bob);
        e.unknown_session = Some(unknown);
        let answer = |status: u16, body: &'static [u8]| Observed {
            status,
            body,
            transport_error: None,
            sent_at: 1_000,
        };
        assert_eq!(
            o.judge(e, answer(404, unknown), &log).await,
            Verdict::Error {
                kind: "cross_session_refused",
                expected: true
            }
        );
        let v = o.judge(e, answer(404, b"{\"other\":1}"), &log).await;
        assert!(
            matches!(v, Verdict::Leak(ref l) if l.reason.contains("differs")),
            "{v:?}"
        );
        let body = br#"{"result": {"structuredContent": {"issuer": "http://z", "subject": "alice", "client_id": "c"}}}"#;
        let v = o.judge(e, answer(200, body), &log).await;
        let Verdict::Leak(l) = v else { panic!("{v:?}") };
        assert_eq!((l.requester, l.seen), (alice.clone(), Some(bob.clone())));
        assert_eq!(
            o.judge(e, answer(400, b""), &log).await,
            Verdict::Error {
                kind: "http_400",
                expected: false
            }
        );
    }

    #[tokio::test]
    async fn expected_refusals_and_unexpected_successes() {
        let log = Log(HashMap::new());
        let nosub = who(None);
        let mut o = Oracle::default();
        let refusal = json!({"result": {"isError": true, "content": [{"type": "text", "text": "This tool acts on your behalf, but your access token has no subject (`sub`)"}]}});
        assert_eq!(
            o.judge(expect(&nosub, Op::GithubUser), ok(&refusal), &log)
                .await,
            Verdict::Error {
                kind: "no_subject",
                expected: true
            }
        );
        let alice = who(Some("alice"));
        let mut e = expect(&alice, Op::GithubUser);
        let denied = json!({"result": {"isError": true, "content": [{"type": "text", "text": "The user has not authorized GitHub in Keycard"}]}});
        assert_eq!(
            o.judge(e, ok(&denied), &log).await,
            Verdict::Error {
                kind: "exchange_refused",
                expected: false
            }
        );
        e.revoked_at = Some(1_000);
        assert_eq!(
            o.judge(e, ok(&denied), &log).await,
            Verdict::Error {
                kind: "consent_revoked",
                expected: true
            }
        );
        let mut unauthorized = ok(&json!({}));
        unauthorized.status = 401;
        assert_eq!(
            o.judge(expect(&alice, Op::BadToken), unauthorized.clone(), &log)
                .await,
            Verdict::Error {
                kind: "bad_token",
                expected: true
            }
        );
        assert_eq!(
            o.judge(expect(&alice, Op::Whoami), unauthorized.clone(), &log)
                .await,
            Verdict::Error {
                kind: "http_401",
                expected: false
            }
        );
        unauthorized.sent_at = 2_001;
        assert_eq!(
            o.judge(expect(&alice, Op::Whoami), unauthorized, &log)
                .await,
            Verdict::Error {
                kind: "expired_token",
                expected: true
            }
        );
        let body = json!({"result": {"structuredContent": {"issuer": "http://z", "subject": "alice", "client_id": "c"}}});
        let mut late = ok(&body);
        late.sent_at = 3_000;
        assert_eq!(
            o.judge(expect(&alice, Op::Whoami), late, &log).await,
            Verdict::UnexpectedSuccess {
                reason: "expired token accepted"
            }
        );
    }
}
