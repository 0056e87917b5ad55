//! The trust preflight over real temp dirs (a temp agent dir with its own `trust.json`, a temp
//! home, temp projects). Nothing touches the real home directory.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use entwurf_spawn::millis::DEFAULT_OBSERVE_TIMEOUT_MS;
use entwurf_spawn::preflight::{parse_prefix_roots, TRUST_STORE_FILE};
use entwurf_spawn::{
    preflight_for_cwd, PiLine, PreflightConfig, PreflightError, PreflightKind, PreflightReason,
    SpawnBgPlan,
};
use rstest::rstest;
use tempfile::TempDir;

struct World {
    _tmp: TempDir,
    root: PathBuf,
    agent: PathBuf,
    home: PathBuf,
}

impl World {
    fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        // Canonical root, so store keys written by the test equal pi's canonical paths.
        let root = fs::canonicalize(tmp.path()).expect("canonical tmp");
        let agent = root.join("home/.pi/agent");
        let home = root.join("home");
        fs::create_dir_all(&agent).expect("agent dir");
        Self {
            _tmp: tmp,
            root,
            agent,
            home,
        }
    }

    fn project(&self, rel: &str) -> PathBuf {
        let p = self.root.join(rel);
        fs::create_dir_all(&p).expect("project dir");
        p
    }

    fn trust(&self, entries: &[(&Path, Option<bool>)]) {
        let map: serde_json::Map<String, serde_json::Value> = entries
            .iter()
            .map(|(p, d)| {
                (
                    p.to_string_lossy().into_owned(),
                    d.map_or(serde_json::Value::Null, serde_json::Value::Bool),
                )
            })
            .collect();
        let text = serde_json::to_string_pretty(&map).expect("json") + "\n";
        fs::write(self.agent.join(TRUST_STORE_FILE), text).expect("write trust.json");
    }

    fn config(&self, roots: &[&str]) -> PreflightConfig {
        PreflightConfig {
            agent_dir: self.agent.clone(),
            prefix_roots: roots.iter().map(|s| (*s).to_owned()).collect(),
            home_dir: Some(self.home.clone()),
            pi_line: PiLine::V0_80,
        }
    }
}

fn with_inputs(p: &Path) {
    fs::create_dir_all(p.join(".pi/extensions")).expect("trust input");
}

#[test]
fn no_store_and_no_inputs_is_trusted_without_argument() {
    let w = World::new();
    let cwd = w.project("plain");
    let out = preflight_for_cwd(&cwd, &w.config(&[])).expect("preflight");
    assert_eq!(out.kind, PreflightKind::TrustedNoArg);
    assert_eq!(out.reason, PreflightReason::NoTrustInputs);
    assert!(out.launch_args.is_empty());
    assert!(
        !w.agent.join("trust.json.lock").exists(),
        "pi's lock is dropped after the read"
    );
}

#[rstest]
#[case::settings(".pi/settings.json", false)]
#[case::extensions(".pi/extensions", true)]
#[case::skills(".pi/skills", true)]
#[case::prompts(".pi/prompts", true)]
#[case::themes(".pi/themes", true)]
#[case::system_md(".pi/SYSTEM.md", false)]
#[case::append_system_md(".pi/APPEND_SYSTEM.md", false)]
#[case::agents_skills(".agents/skills", true)]
fn each_trust_input_makes_an_undecided_cwd_fail_fast(#[case] input: &str, #[case] is_dir: bool) {
    let w = World::new();
    let cwd = w.project("proj");
    let p = cwd.join(input);
    if is_dir {
        fs::create_dir_all(&p).expect("dir");
    } else {
        fs::create_dir_all(p.parent().expect("parent")).expect("dir");
        fs::write(&p, "x").expect("file");
    }
    let out = preflight_for_cwd(&cwd, &w.config(&[])).expect("preflight");
    assert_eq!(
        (out.kind, out.reason),
        (PreflightKind::Deny, PreflightReason::FailFast)
    );
    assert!(out.has_trust_inputs);
}

#[test]
fn agents_skills_in_an_ancestor_is_an_input_but_the_users_own_is_not() {
    let w = World::new();
    // The user's ~/.agents/skills is not a project input, even for a cwd under home.
    fs::create_dir_all(w.home.join(".agents/skills")).expect("user skills");
    let cwd = fs::canonicalize(w.project("home/work/app")).expect("canonical");
    let out = preflight_for_cwd(&cwd, &w.config(&[])).expect("preflight");
    assert_eq!(out.kind, PreflightKind::TrustedNoArg);
    // A project's .agents/skills in an ancestor is one.
    fs::create_dir_all(w.root.join("home/work/.agents/skills")).expect("ancestor skills");
    let out = preflight_for_cwd(&cwd, &w.config(&[])).expect("preflight");
    assert_eq!(out.reason, PreflightReason::FailFast);
}

#[test]
fn saved_true_approves_with_the_approve_flag() {
    let w = World::new();
    let cwd = w.project("proj");
    with_inputs(&cwd);
    w.trust(&[(&cwd, Some(true))]);
    let out = preflight_for_cwd(&cwd, &w.config(&[])).expect("preflight");
    assert_eq!(
        (out.kind, out.reason),
        (PreflightKind::Approve, PreflightReason::SavedTrue)
    );
    assert_eq!(out.launch_args, ["--approve"]);
}

#[test]
fn nearest_ancestor_entry_wins() {
    let w = World::new();
    let org = w.project("org");
    let team = w.project("org/team");
    let cwd = w.project("org/team/app");
    with_inputs(&cwd);
    w.trust(&[(&org, Some(true)), (&team, Some(false))]);
    let out = preflight_for_cwd(&cwd, &w.config(&[])).expect("preflight");
    assert_eq!(
        (out.kind, out.reason),
        (PreflightKind::Deny, PreflightReason::SavedFalse)
    );
    assert_eq!(
        out.trust_entry.map(|e| e.path),
        Some(team.to_string_lossy().into_owned())
    );
    // A null entry is "undecided" and does not stop the walk.
    w.trust(&[(&org, Some(true)), (&team, None)]);
    let out = preflight_for_cwd(&cwd, &w.config(&[])).expect("preflight");
    assert_eq!(out.reason, PreflightReason::SavedTrue);
}

#[test]
fn saved_false_beats_a_matching_prefix_root() {
    let w = World::new();
    let cwd = w.project("repos/app");
    w.trust(&[(&cwd, Some(false))]);
    let root = w.root.join("repos");
    let out =
        preflight_for_cwd(&cwd, &w.config(&[root.to_str().expect("utf8")])).expect("preflight");
    assert_eq!(
        (out.kind, out.reason),
        (PreflightKind::Deny, PreflightReason::SavedFalse)
    );
    assert!(out.launch_args.is_empty());
}

#[test]
fn prefix_root_promotes_undecided_with_separator_boundary() {
    let w = World::new();
    let inside = w.project("org/app");
    let sibling = w.project("org2/app");
    with_inputs(&inside);
    with_inputs(&sibling);
    let root = w.root.join("org");
    let raw = format!(" {} :", root.display());
    let config = w.config(&[]);
    let config = PreflightConfig {
        prefix_roots: parse_prefix_roots(Some(&raw)),
        ..config
    };
    let out = preflight_for_cwd(&inside, &config).expect("preflight");
    assert_eq!(
        (out.kind, out.reason),
        (PreflightKind::Approve, PreflightReason::PrefixMatch)
    );
    assert_eq!(out.launch_args, ["--approve"]);
    assert_eq!(out.matched_prefix_root, Some(root.clone()));
    // The root itself matches too.
    let out = preflight_for_cwd(&root, &config).expect("preflight");
    assert_eq!(out.kind, PreflightKind::Approve);
    // `/org2` is not under `/org`.
    let out = preflight_for_cwd(&sibling, &config).expect("preflight");
    assert_eq!(
        (out.kind, out.reason),
        (PreflightKind::Deny, PreflightReason::FailFast)
    );
}

#[test]
fn prefix_roots_and_cwd_are_canonicalised() {
    let w = World::new();
    let real = w.project("real/app");
    with_inputs(&real);
    symlink(w.root.join("real"), w.root.join("link")).expect("symlink");
    // A root given through a symlink and with `..` still matches the canonical cwd …
    let root = format!("{}/link/../link", w.root.display());
    let out = preflight_for_cwd(&real, &w.config(&[&root])).expect("preflight");
    assert_eq!(out.reason, PreflightReason::PrefixMatch);
    // … and a cwd given through the symlink finds the canonical store entry.
    w.trust(&[(&real, Some(true))]);
    let out = preflight_for_cwd(&w.root.join("link/app"), &w.config(&[])).expect("preflight");
    assert_eq!(out.reason, PreflightReason::SavedTrue);
    assert_eq!(out.canonical_cwd, real);
}

#[test]
fn tilde_roots_expand_with_the_given_home() {
    let w = World::new();
    let cwd = w.project("home/repos/app");
    with_inputs(&cwd);
    let out = preflight_for_cwd(&cwd, &w.config(&["~/repos"])).expect("preflight");
    assert_eq!(out.reason, PreflightReason::PrefixMatch);
    let out = preflight_for_cwd(&cwd, &w.config(&["repos"])).expect("preflight");
    assert_eq!(
        out.reason,
        PreflightReason::FailFast,
        "relative roots never match"
    );
}

#[rstest]
#[case::not_json("{ broken")]
#[case::array("[]")]
#[case::bad_value("{\"/x\": 1}")]
fn a_corrupt_trust_store_is_an_error_not_a_decision(#[case] text: &str) {
    let w = World::new();
    let cwd = w.project("proj");
    fs::write(w.agent.join(TRUST_STORE_FILE), text).expect("write");
    let err = preflight_for_cwd(&cwd, &w.config(&[])).expect_err("corrupt store");
    assert!(
        matches!(err, PreflightError::CorruptTrustStore { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("trust.json"), "{err}");
}

#[test]
fn a_relative_cwd_is_refused() {
    let w = World::new();
    let err = preflight_for_cwd(Path::new("proj"), &w.config(&[])).expect_err("relative");
    assert!(matches!(err, PreflightError::RelativeCwd { .. }));
}

#[test]
fn a_held_trust_lock_is_reported_and_left_alone() {
    let w = World::new();
    let cwd = w.project("proj");
    let lock = w.agent.join("trust.json.lock");
    fs::create_dir(&lock).expect("foreign lock");
    let err = preflight_for_cwd(&cwd, &w.config(&[])).expect_err("locked");
    assert!(
        matches!(err, PreflightError::TrustStoreLocked { .. }),
        "{err}"
    );
    assert!(
        lock.exists(),
        "someone else's lock is never removed while fresh"
    );
}

#[test]
fn a_missing_agent_dir_is_an_empty_store_and_nothing_is_created() {
    let w = World::new();
    let cwd = w.project("proj");
    let config = PreflightConfig {
        agent_dir: w.root.join("no-such-agent"),
        ..w.config(&[])
    };
    let out = preflight_for_cwd(&cwd, &config).expect("preflight");
    assert_eq!(out.kind, PreflightKind::TrustedNoArg);
    assert!(!w.root.join("no-such-agent").exists());
}

#[test]
fn a_deny_never_becomes_a_spawn_plan() {
    let w = World::new();
    let cwd = w.project("proj");
    with_inputs(&cwd);
    let out = preflight_for_cwd(&cwd, &w.config(&[])).expect("preflight");
    assert!(out.is_deny());
    let refused = SpawnBgPlan::for_resume(
        &entwurf_meta_session::GardenId::parse("20260612T100000-aaaaaa").expect("gid"),
        cwd.to_str().expect("utf8"),
        "hi",
        &out,
        w.root.join("ctl/20260612T100000-aaaaaa.sock"),
        DEFAULT_OBSERVE_TIMEOUT_MS,
    )
    .expect_err("deny is refused");
    assert_eq!(refused.reason, PreflightReason::FailFast);
    assert!(
        refused.to_string().contains("refusing to launch pi"),
        "{refused}"
    );

    // An approving preflight yields the plan of §3.3 with its launch args.
    w.trust(&[(&cwd, Some(true))]);
    let out = preflight_for_cwd(&cwd, &w.config(&[])).expect("preflight");
    let plan = SpawnBgPlan::for_resume(
        &entwurf_meta_session::GardenId::parse("20260612T100000-aaaaaa").expect("gid"),
        cwd.to_str().expect("utf8"),
        "hi",
        &out,
        w.root.join("ctl/20260612T100000-aaaaaa.sock"),
        DEFAULT_OBSERVE_TIMEOUT_MS,
    )
    .expect("approved");
    assert_eq!(plan.launch_args, ["--approve"]);
    assert_eq!(plan.session_id, plan.target_garden_id);
}

/// A project whose only trust input is `.pi/mcp.json` is judged as each pi line judges it: pi
/// 0.80 does not gate `mcp.json` (it loads no project MCP config), pi 1.x does.
#[rstest::rstest]
#[case::line_0_80(
    PiLine::V0_80,
    PreflightKind::TrustedNoArg,
    PreflightReason::NoTrustInputs
)]
#[case::line_1(PiLine::V1, PreflightKind::Deny, PreflightReason::FailFast)]
fn mcp_json_alone_is_judged_per_line(
    #[case] line: PiLine,
    #[case] kind: PreflightKind,
    #[case] reason: PreflightReason,
) {
    let w = World::new();
    let cwd = w.project("mcp-only");
    fs::create_dir_all(cwd.join(".pi")).expect("mkdir .pi");
    fs::write(cwd.join(".pi/mcp.json"), "{\"mcpServers\": {}}\n").expect("write mcp.json");
    let config = PreflightConfig {
        pi_line: line,
        ..w.config(&[])
    };
    let out = preflight_for_cwd(&cwd, &config).expect("preflight");
    assert_eq!((out.kind, out.reason, out.pi_line), (kind, reason, line));
    assert_eq!(out.has_trust_inputs, line == PiLine::V1);
    // A saved trust decision approves it on both lines.
    w.trust(&[(&cwd, Some(true))]);
    let out = preflight_for_cwd(&cwd, &config).expect("preflight");
    assert_eq!(out.kind, PreflightKind::Approve);
}

/// pi 1.x reads a `trust.json` with a leading BOM and keys that name the cwd after
/// `path.resolve`; pi 0.80 finds the BOM corrupt and such a key foreign.
#[test]
fn trust_store_reading_follows_the_line() {
    let w = World::new();
    let cwd = w.project("proj");
    with_inputs(&cwd);
    let key = format!("{}/./", cwd.display());
    let text = format!(
        "\u{feff}{{{}: true}}\n",
        serde_json::Value::String(key.clone())
    );
    fs::write(w.agent.join(TRUST_STORE_FILE), text).expect("write trust.json");
    let v1 = PreflightConfig {
        pi_line: PiLine::V1,
        ..w.config(&[])
    };
    let out = preflight_for_cwd(&cwd, &v1).expect("1.x reads it");
    assert_eq!(
        (out.kind, out.reason),
        (PreflightKind::Approve, PreflightReason::SavedTrue)
    );
    assert_eq!(out.trust_entry.map(|e| e.path), Some(key.clone()));
    let err = preflight_for_cwd(&cwd, &w.config(&[])).expect_err("0.80 refuses the BOM");
    assert!(
        matches!(err, PreflightError::CorruptTrustStore { .. }),
        "{err}"
    );

    fs::write(
        w.agent.join(TRUST_STORE_FILE),
        format!("{{{}: true}}\n", serde_json::Value::String(key)),
    )
    .expect("write trust.json");
    let out = preflight_for_cwd(&cwd, &w.config(&[])).expect("0.80");
    assert_eq!(
        (out.kind, out.reason),
        (PreflightKind::Deny, PreflightReason::FailFast)
    );
}
