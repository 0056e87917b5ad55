//! The deterministic dispatch matrix (decider spec §9, §9.1 older-rule column, and the further
//! observed rows), over call-counting fakes. Every row asserts: result kind, transport or reason,
//! observedLiveness, lock class, reach, diagnostic present or not, and no plan on a reject.
//! `coverage_every_transport_lock_class_and_reason_is_exercised` runs the same table and fails if
//! anything the spec names (except what the older rule makes unreachable) is never exercised.

use entwurf_decider::fakes;

use std::collections::BTreeSet;
use std::path::PathBuf;

use entwurf_control_rpc::{SocketInspection, SocketLiveness};
use entwurf_decider::*;
use entwurf_meta_session::Backend;
use fakes::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum LockClass {
    /// acq 0, rel 0 (reject)
    None,
    /// acq 1, rel 0, lock non-null
    Held,
    /// acq 0, rel 0, lock null (execute)
    MailboxNull,
    /// acq 1, rel 1
    Released,
    /// acq 1 (conflict), rel 0
    AcquireFail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Reach {
    /// inspect 0, probe 0, mailbox seam 0, native probe 0
    PreProbe,
    /// mailbox seam exactly 1, inspect 0, probe 0
    Unsupported,
    /// inspect ≥ 1, mailbox seam 0
    InDomain,
    /// native probe exactly 1, no lock, inspect 0, mailbox seam 0
    NativePush,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Execute(Transport),
    Reject(RejectReason),
}

struct Row {
    script: Script,
    intent: Intent,
    want: Want,
    obs: Option<FactLiveness>,
    lock: LockClass,
    reach: Reach,
    diag: bool,
    probes: Option<usize>,
    preflights: Option<usize>,
    plan_path: Option<&'static str>,
}

fn row(
    script: Script,
    intent: Intent,
    want: Want,
    obs: Option<FactLiveness>,
    lock: LockClass,
    reach: Reach,
) -> Row {
    Row {
        script,
        intent,
        want,
        obs,
        lock,
        reach,
        diag: false,
        probes: None,
        preflights: None,
        plan_path: None,
    }
}

impl Row {
    fn diag(mut self) -> Self {
        self.diag = true;
        self
    }
    fn probes(mut self, n: usize) -> Self {
        self.probes = Some(n);
        self
    }
    fn preflights(mut self, n: usize) -> Self {
        self.preflights = Some(n);
        self
    }
    fn plan_path(mut self, p: &'static str) -> Self {
        self.plan_path = Some(p);
        self
    }
}

fn at(path: &str, kind: fn(PathBuf) -> SocketInspection) -> SocketInspection {
    kind(PathBuf::from(path))
}

use FactLiveness as L;
use Intent::{FireAndForget as FF, OwnedOutcome as OWNED};
use LockClass as LC;
use Reach as R;
use RejectReason as RR;
use Want::{Execute as Ex, Reject as Rj};

fn pi() -> Script {
    Script::citizen(Backend::Pi)
}
fn cc() -> Script {
    Script::citizen(Backend::ClaudeCode)
}
fn so() -> Script {
    Script::socket_only()
}
fn ag() -> Script {
    Script::citizen(Backend::Antigravity)
}

/// The table, each row named once: `matrix! { name => row, … }` generates `table()` (every row by
/// name, for the coverage test) and one `#[tokio::test] matrix::<name>` per row.
macro_rules! matrix {
    ($($name:ident => $row:expr,)*) => {
        /// The whole table, by case name.
        fn table() -> Vec<(&'static str, Row)> {
            vec![$((stringify!($name), $row)),*]
        }

        /// One test per row, named after it.
        mod matrix {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    check(stringify!($name), $row, &mut Seen::default()).await;
                }
            )*
        }
    };
}

fn conflict_cc() -> Script {
    Script {
        resolution: Seq::one(Ok(TargetResolution {
            pre_probe_address_conflict: true,
            ..TargetResolution::citizen(identity(Backend::ClaudeCode))
        })),
        ..Script::default()
    }
}

fn alive(s: Script) -> Script {
    s.inspect(socket_file()).probe(SocketLiveness::Alive)
}

matrix! {
    // §9: the reference matrix (12 rows).
    m01_bad_target => row(
        Script::default(),
        OWNED,
        Rj(RR::BadTarget),
        None,
        LC::None,
        R::PreProbe,
    ),
    m02_address_conflict_pre_probe => row(
        conflict_cc(),
        FF,
        Rj(RR::TargetAddressConflict),
        None,
        LC::None,
        R::PreProbe,
    ),
    m03_target_locked => row(
        pi().locked(),
        FF,
        Rj(RR::TargetLocked),
        None,
        LC::AcquireFail,
        R::PreProbe,
    )
    .diag(),
    m04_unsupported_active_meta_mailbox => row(
        cc().deliverable(true),
        FF,
        Ex(Transport::MetaMailbox),
        Some(L::Unsupported),
        LC::MailboxNull,
        R::Unsupported,
    ),
    m05_unsupported_inactive_reject => row(
        cc(),
        FF,
        Rj(RR::MailboxUndeliverable),
        Some(L::Unsupported),
        LC::None,
        R::Unsupported,
    ),
    m06_unsupported_owned_reject => row(
        cc().deliverable(true),
        OWNED,
        Rj(RR::BackendLivenessUnsupported),
        Some(L::Unsupported),
        LC::None,
        R::Unsupported,
    ),
    m07_in_domain_live_ff_control_socket => row(
        pi().inspect(at("/fake/ctl/s.sock", |p| SocketInspection::SocketFile {
            socket_path: p,
        }))
        .probe(SocketLiveness::Alive),
        FF,
        Ex(Transport::ControlSocket),
        Some(L::Alive),
        LC::Held,
        R::InDomain,
    )
    .probes(1)
    .plan_path("/fake/ctl/s.sock"),
    m08_in_domain_dormant_owned_spawn_bg => row(
        pi().inspect(at("/fake/ctl/expected.sock", |p| {
            SocketInspection::Absent { socket_path: p }
        })),
        OWNED,
        Ex(Transport::SpawnBg),
        Some(L::Dead),
        LC::Held,
        R::InDomain,
    )
    .probes(0)
    .preflights(1)
    .plan_path("/fake/ctl/expected.sock"),
    m09_in_domain_live_owned_no_autosend => row(
        alive(pi()),
        OWNED,
        Rj(RR::OwnedLiveNoAutosend),
        Some(L::Alive),
        LC::Released,
        R::InDomain,
    )
    .probes(1),
    m10_in_domain_ff_dormant => row(
        pi(),
        FF,
        Rj(RR::DormantFireForgetUnsupported),
        Some(L::Dead),
        LC::Released,
        R::InDomain,
    )
    .probes(0),
    m11_in_domain_indeterminate => row(
        pi().inspect(lstat_eacces()),
        OWNED,
        Rj(RR::IndeterminateNoSpawn),
        Some(L::Indeterminate),
        LC::Released,
        R::InDomain,
    )
    .probes(0),
    m12_in_domain_address_conflict_under_lock => row(
        pi().inspect(symlink()),
        FF,
        Rj(RR::TargetAddressConflict),
        None,
        LC::Released,
        R::InDomain,
    )
    .probes(0),
    // §9.1: socket-only endpoint, older-document rule.
    s1_socket_only_ff_alive => row(
        alive(so()),
        FF,
        Ex(Transport::ControlSocket),
        Some(L::Alive),
        LC::Held,
        R::InDomain,
    )
    .probes(1),
    s2_socket_only_owned_alive_bad_target => row(
        alive(so()),
        OWNED,
        Rj(RR::BadTarget),
        None,
        LC::None,
        R::PreProbe,
    )
    .preflights(0),
    s3_socket_only_owned_absent_bad_target => row(so(), OWNED, Rj(RR::BadTarget), None, LC::None, R::PreProbe).preflights(0),
    s4_socket_only_ff_absent_dormant => row(
        so(),
        FF,
        Rj(RR::DormantFireForgetUnsupported),
        Some(L::Dead),
        LC::Released,
        R::InDomain,
    )
    .probes(0),
    s5_socket_only_ff_indeterminate => row(
        so().inspect(lstat_eacces()),
        FF,
        Rj(RR::IndeterminateNoSpawn),
        Some(L::Indeterminate),
        LC::Released,
        R::InDomain,
    )
    .probes(0),
    s6_socket_only_ff_stale_socket => row(
        so().inspect(socket_file()),
        FF,
        Rj(RR::DormantFireForgetUnsupported),
        Some(L::Dead),
        LC::Released,
        R::InDomain,
    )
    .probes(1),
    s7_socket_only_ff_symlink => row(
        so().inspect(symlink()),
        FF,
        Rj(RR::TargetAddressConflict),
        None,
        LC::Released,
        R::InDomain,
    )
    .probes(0),
    s8_socket_only_ff_locked => row(
        so().locked(),
        FF,
        Rj(RR::TargetLocked),
        None,
        LC::AcquireFail,
        R::PreProbe,
    )
    .diag(),
    s8_socket_only_owned_locked_bad_target => row(
        so().locked(),
        OWNED,
        Rj(RR::BadTarget),
        None,
        LC::None,
        R::PreProbe,
    ),
    // Further observed rows.
    f1_pi_preflight_deny_untrusted => row(
        pi().preflight(PreflightKind::Deny, &[]),
        OWNED,
        Rj(RR::UntrustedFailFast),
        Some(L::Dead),
        LC::Released,
        R::InDomain,
    )
    .preflights(1),
    f2_pi_ff_probe_indeterminate => row(
        pi().inspect(socket_file())
            .probe(SocketLiveness::Indeterminate),
        FF,
        Rj(RR::IndeterminateNoSpawn),
        Some(L::Indeterminate),
        LC::Released,
        R::InDomain,
    )
    .probes(1),
    f3_pi_not_socket_conflict => row(
        pi().inspect(not_socket()),
        FF,
        Rj(RR::TargetAddressConflict),
        None,
        LC::Released,
        R::InDomain,
    )
    .probes(0),
    f4_codex_ff_deliverable_mailbox => row(
        Script::citizen(Backend::Codex).deliverable(true),
        FF,
        Ex(Transport::MetaMailbox),
        Some(L::Unsupported),
        LC::MailboxNull,
        R::Unsupported,
    ),
    f5_codex_ff_undeliverable => row(
        Script::citizen(Backend::Codex),
        FF,
        Rj(RR::MailboxUndeliverable),
        Some(L::Unsupported),
        LC::None,
        R::Unsupported,
    ),
    f6_antigravity_ff_alive_native_push => row(
        ag().native(SocketLiveness::Alive),
        FF,
        Ex(Transport::NativePush),
        Some(L::Alive),
        LC::MailboxNull,
        R::NativePush,
    ),
    f7_antigravity_ff_dead => row(
        ag().native(SocketLiveness::Dead),
        FF,
        Rj(RR::NativePushTargetDead),
        Some(L::Dead),
        LC::None,
        R::NativePush,
    ),
    f8_antigravity_ff_indeterminate => row(
        ag().native(SocketLiveness::Indeterminate),
        FF,
        Rj(RR::NativePushProbeIndeterminate),
        Some(L::Indeterminate),
        LC::None,
        R::NativePush,
    ),
    f9_antigravity_owned_alive => row(
        ag().native(SocketLiveness::Alive),
        OWNED,
        Rj(RR::NativePushNoResumeAuthority),
        Some(L::Alive),
        LC::None,
        R::NativePush,
    ),
    f10_antigravity_owned_dead => row(
        ag().native(SocketLiveness::Dead),
        OWNED,
        Rj(RR::NativePushNoResumeAuthority),
        Some(L::Dead),
        LC::None,
        R::NativePush,
    ),
    f11_antigravity_owned_indeterminate => row(
        ag().native(SocketLiveness::Indeterminate),
        OWNED,
        Rj(RR::NativePushNoResumeAuthority),
        Some(L::Indeterminate),
        LC::None,
        R::NativePush,
    ),
}

/// What one row exercised.
#[derive(Debug, Default)]
struct Seen {
    transports: BTreeSet<Transport>,
    reasons: BTreeSet<RejectReason>,
    locks: BTreeSet<LockClass>,
    reaches: BTreeSet<Reach>,
}

fn classify_lock(c: &Calls, d: &DispatchDecision) -> Option<LockClass> {
    let lock_some = matches!(d, DispatchDecision::Execute { lock: Some(_), .. });
    let is_exec = matches!(d, DispatchDecision::Execute { .. });
    match (c.acquire, c.release, is_exec, lock_some) {
        (0, 0, false, _) => Some(LockClass::None),
        (0, 0, true, false) => Some(LockClass::MailboxNull),
        (1, 0, true, true) => Some(LockClass::Held),
        (1, 0, false, _) => Some(LockClass::AcquireFail),
        (1, 1, false, _) => Some(LockClass::Released),
        _ => None,
    }
}

fn classify_reach(c: &Calls) -> Option<Reach> {
    match (c.inspect, c.probe, c.mailbox, c.native) {
        (0, 0, 0, 0) => Some(Reach::PreProbe),
        (0, 0, 1, 0) => Some(Reach::Unsupported),
        (i, _, 0, 0) if i >= 1 => Some(Reach::InDomain),
        (0, 0, 0, 1) if c.acquire == 0 => Some(Reach::NativePush),
        _ => None,
    }
}

async fn check(name: &str, r: Row, seen: &mut Seen) {
    let seams = FakeSeams::new(r.script);
    let d = decide(&DispatchInput::new(GID, r.intent, "hi"), &config(), &seams)
        .await
        .unwrap_or_else(|e| panic!("{name}: decider raised {e}"));
    let c = seams.calls();
    let json: serde_json::Value = serde_json::to_value(&d).unwrap();
    match (&d, r.want) {
        (DispatchDecision::Execute { receipt, plan, .. }, Want::Execute(t)) => {
            assert_eq!(receipt.transport(), t, "{name}: receipt transport");
            assert_eq!(plan.transport(), t, "{name}: plan transport");
            assert_eq!(json["plan"]["transport"], t.as_str(), "{name}");
            seen.transports.insert(t);
            if let Some(p) = r.plan_path {
                let key = if t == Transport::SpawnBg {
                    "expectedSocketPath"
                } else {
                    "socketPath"
                };
                assert_eq!(
                    json["plan"][key], p,
                    "{name}: plan path is the inspected one"
                );
            }
        }
        (
            DispatchDecision::Reject {
                receipt,
                diagnostic,
            },
            Want::Reject(reason),
        ) => {
            assert_eq!(receipt.reason(), reason, "{name}: reason");
            assert!(
                json.get("plan").is_none(),
                "{name}: a reject carries no plan"
            );
            assert!(
                json.get("lock").is_none(),
                "{name}: a reject carries no lock"
            );
            assert_eq!(diagnostic.is_some(), r.diag, "{name}: diagnostic");
            if r.diag {
                assert_eq!(json["diagnostic"]["kind"], "target-locked", "{name}");
            }
            seen.reasons.insert(reason);
        }
        (d, w) => panic!("{name}: expected {w:?}, got {d:?}"),
    }
    assert_eq!(
        d.receipt().observed_liveness(),
        r.obs,
        "{name}: observedLiveness"
    );
    assert!(
        json["receipt"].get("observedLiveness").is_some(),
        "{name}: key always present"
    );
    let lock = classify_lock(&c, &d);
    assert_eq!(lock, Some(r.lock), "{name}: lock class from {c:?}");
    let reach = classify_reach(&c);
    assert_eq!(reach, Some(r.reach), "{name}: reach from {c:?}");
    assert_eq!(c.resolve, 1, "{name}: resolve once");
    if let Some(n) = r.probes {
        assert_eq!(c.probe, n, "{name}: probes");
    }
    if let Some(n) = r.preflights {
        assert_eq!(c.preflight, n, "{name}: preflights");
    }
    if r.reach == Reach::InDomain {
        assert!(
            c.inspect <= 1 && c.probe <= c.inspect,
            "{name}: one lstat, a probe only after it"
        );
    }
    seen.locks.insert(r.lock);
    seen.reaches.insert(r.reach);
}

#[tokio::test]
async fn coverage_every_transport_lock_class_and_reason_is_exercised() {
    let rows = table();
    let mut seen = Seen::default();
    for (name, r) in rows {
        check(name, r, &mut seen).await;
    }
    let want_transports: BTreeSet<Transport> = TRANSPORTS
        .into_iter()
        .filter(|t| *t != Transport::TmuxLive) // in the enum, produced by no code path
        .collect();
    assert_eq!(seen.transports, want_transports);
    let want_reasons: BTreeSet<RejectReason> = REJECT_REASONS
        .into_iter()
        .filter(|r| *r != RejectReason::SocketOnlyNoResumeAuthority) // unreachable (older rule)
        .collect();
    assert_eq!(seen.reasons, want_reasons);
    let want_locks = BTreeSet::from([
        LC::None,
        LC::Held,
        LC::MailboxNull,
        LC::Released,
        LC::AcquireFail,
    ]);
    assert_eq!(seen.locks, want_locks);
    assert_eq!(
        seen.reaches,
        BTreeSet::from([R::PreProbe, R::Unsupported, R::InDomain, R::NativePush])
    );
}

/// S1 end to end through the runner: the socket-only fire-and-forget send comes back `sent`.
#[tokio::test]
async fn s1_socket_only_runner_executes_sent() {
    struct Hands(FakeControlDeps);
    #[async_trait::async_trait]
    impl TransportHands for Hands {
        async fn send_control(
            &self,
            p: &ControlSocketPlan,
            l: Option<&entwurf_lock::LockClaim>,
        ) -> Result<ControlSendResult, HandError> {
            execute_control_socket_send(p, l, &self.0).await
        }
        async fn send_mailbox(
            &self,
            _: &MetaMailboxPlan,
            _: Option<&entwurf_lock::LockClaim>,
        ) -> Result<MailboxAck, HandError> {
            unreachable!()
        }
        async fn resume_spawn_bg(
            &self,
            _: &SpawnBgPlan,
            _: Option<&entwurf_lock::LockClaim>,
        ) -> Result<SpawnBgResumeResult, HandError> {
            unreachable!()
        }
        async fn send_native_push(
            &self,
            _: &NativePushPlan,
            _: Option<&entwurf_lock::LockClaim>,
        ) -> Result<NativePushAck, HandError> {
            unreachable!()
        }
    }
    let seams = FakeSeams::new(so().inspect(socket_file()).probe(SocketLiveness::Alive));
    let hands = Hands(FakeControlDeps::new(vec![ack(true)], Script::default()));
    let r = run(
        &DispatchInput::new(GID, FF, "hi"),
        &config(),
        &seams,
        &hands,
    )
    .await
    .unwrap();
    assert_eq!(r.to_json_line(), golden("e2e/socket-only-sent.json"));
    assert_eq!(hands.0.releases(), 1);
    assert_eq!(seams.calls().release, 0, "the decider hands the lock over");
}
