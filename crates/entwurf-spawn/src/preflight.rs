//! The trust preflight for a controlled launch (spec §3.4): may a pi resident be started in this
//! cwd, and with which launch arguments?
//!
//! Facts taken from pi 0.80.10 and 1.6.0 (`core/trust-manager.js`, `utils/paths.js`; where they differ,
//! [`PiLine`] says which applies):
//! - the trust store is `<agentDir>/trust.json`, a JSON object mapping a canonical directory path
//!   to `true`, `false` or `null`; a missing file is an empty store; anything else is an error;
//! - a lookup canonicalises the cwd (`~` expansion, lexical resolve, `realpath` with a fallback
//!   to the resolved path) and walks up to the nearest directory carrying `true`/`false`;
//! - pi reads the store under a `proper-lockfile` lock: the directory `<agentDir>/trust.json.lock`;
//! - "trust-requiring project inputs" are `<cwd>/.pi/{settings.json, extensions, skills, prompts,
//!   themes, SYSTEM.md, APPEND_SYSTEM.md}` (pi 1.x adds `mcp.json`: the list is the launched pi
//!   line's, [`PiLine::trust_requiring_project_config`]), or a `.agents/skills` directory in the
//!   cwd or any ancestor (except `<home>/.agents/skills`, which is the user's own);
//! - pi 1.x drops a leading BOM from `trust.json` and compares its keys after `path.resolve`.
//!
//! Decision (saved distrust beats everything; a prefix root only promotes the undecided case):
//!
//! | store | prefix root | trust inputs | outcome |
//! |---|---|---|---|
//! | `false` | any | any | deny / saved-false |
//! | `true` | any | any | approve / saved-true, `["--approve"]` |
//! | none | cwd at or under a root | any | approve / prefix-match, `["--approve"]` |
//! | none | no match | none | trusted-no-arg / no-trust-inputs, `[]` |
//! | none | no match | some | deny / fail-fast |

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::pi_line::PiLine;

/// The pi flag that approves a project's trust-gated inputs for one launch.
pub const APPROVE_FLAG: &str = "--approve";

/// The env var holding the operator's auto-approve roots (read at the edge, parsed by
/// [`parse_prefix_roots`]).
pub const PREFIX_ROOTS_ENV: &str = "ENTWURF_PREFIX_ROOTS";

/// File name of the trust store inside the pi agent dir.
pub const TRUST_STORE_FILE: &str = "trust.json";

/// pi's project config dir name (`piConfig.configDir`).
const PI_CONFIG_DIR: &str = ".pi";

/// `proper-lockfile` defaults used by pi's trust store: a lock older than this is stale.
const TRUST_LOCK_STALE: Duration = Duration::from_secs(10);
/// pi's own retry budget for the trust store lock.
const TRUST_LOCK_ATTEMPTS: u32 = 10;
const TRUST_LOCK_RETRY_DELAY: Duration = Duration::from_millis(20);

/// Inputs of a preflight: where pi keeps its trust store, and the operator's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreflightConfig {
    /// The pi agent dir (`PI_CODING_AGENT_DIR`, default `~/.pi/agent`), holding `trust.json`.
    pub agent_dir: PathBuf,
    /// Operator auto-approve roots (see [`parse_prefix_roots`]). `~`/`~/…` roots are expanded
    /// with `home_dir`; roots that are still relative never match (absolutise them at the edge).
    pub prefix_roots: Vec<String>,
    /// The user's home dir: expands `~` and names the user-level `.agents/skills` that is not a
    /// project input. `None` → no expansion and no exclusion (the stricter reading).
    pub home_dir: Option<PathBuf>,
    /// The line of the pi to be launched: its trust inputs and trust store reading apply.
    pub pi_line: PiLine,
}

/// What the preflight allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PreflightKind {
    /// Launch with `--approve`.
    Approve,
    /// Launch without a trust flag: nothing in the project needs trust.
    TrustedNoArg,
    /// Refuse the launch (`untrusted-fail-fast`).
    Deny,
}

/// Why the preflight decided as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PreflightReason {
    /// The trust store says `true` for the cwd or its nearest decided ancestor.
    SavedTrue,
    /// The trust store says `false` for the cwd or its nearest decided ancestor.
    SavedFalse,
    /// Undecided, and the cwd is at or under an operator prefix root.
    PrefixMatch,
    /// Undecided, and the project has no trust-requiring inputs.
    NoTrustInputs,
    /// Undecided, no prefix root, and the project has trust-requiring inputs.
    FailFast,
}

/// The trust store entry that decided a cwd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustEntry {
    /// The store key (a canonical directory path): the cwd itself or an ancestor.
    pub path: String,
    /// The saved decision.
    pub decision: bool,
}

/// The outcome of [`preflight_for_cwd`], with the evidence behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preflight {
    /// Approve, trusted-no-arg or deny.
    pub kind: PreflightKind,
    /// Which rule decided.
    pub reason: PreflightReason,
    /// The pi arguments the launch must carry: `["--approve"]` for approve, `[]` otherwise.
    pub launch_args: Vec<String>,
    /// The cwd after `~` expansion, lexical resolve and `realpath` (fallback: the resolved path).
    pub canonical_cwd: PathBuf,
    /// The deciding trust store entry, if any.
    pub trust_entry: Option<TrustEntry>,
    /// Whether the project has trust-requiring inputs (computed even when another rule decided).
    pub has_trust_inputs: bool,
    /// The canonical prefix root that matched, if any.
    pub matched_prefix_root: Option<PathBuf>,
    /// The pi line whose rules judged the project.
    pub pi_line: PiLine,
}

impl Preflight {
    /// True when the launch must be refused.
    pub fn is_deny(&self) -> bool {
        self.kind == PreflightKind::Deny
    }

    /// The launch arguments of an approving outcome, or the refusal of a deny.
    pub fn approved_launch_args(&self) -> Result<&[String], UntrustedLaunch> {
        if self.is_deny() {
            Err(UntrustedLaunch {
                cwd: self.canonical_cwd.clone(),
                reason: self.reason,
                entry: self.trust_entry.as_ref().map(|e| e.path.clone()),
            })
        } else {
            Ok(&self.launch_args)
        }
    }
}

/// A launch refused by the preflight (the decider's `untrusted-fail-fast`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", untrusted_message(.cwd, *.reason, .entry.as_deref()))]
pub struct UntrustedLaunch {
    /// The canonical cwd that was refused.
    pub cwd: PathBuf,
    /// `saved-false` or `fail-fast`.
    pub reason: PreflightReason,
    /// The trust store key that carried a saved `false`, if that was the reason.
    pub entry: Option<String>,
}

fn untrusted_message(cwd_path: &Path, reason: PreflightReason, entry: Option<&str>) -> String {
    let cwd = cwd_path.display();
    match (reason, entry) {
        (PreflightReason::SavedFalse, Some(entry)) if Path::new(entry) != cwd_path => format!(
            "refusing to launch pi in {cwd}: the trust store marks the ancestor {entry} as untrusted; \
             open pi interactively in {cwd} and trust it there to override"
        ),
        (PreflightReason::SavedFalse, _) => format!(
            "refusing to launch pi in {cwd}: the trust store marks it as untrusted; \
             open pi interactively there and trust it to change that"
        ),
        _ => format!(
            "refusing to launch pi in {cwd}: the project has trust-requiring inputs, no saved trust \
             decision and no matching {PREFIX_ROOTS_ENV} root; trust it in an interactive pi or add a prefix root"
        ),
    }
}

/// Why a preflight could not decide (fail closed: no launch).
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    /// The cwd is relative; a launch cwd must be absolute.
    #[error("preflight needs an absolute cwd, got {cwd:?}; the meta-record cwd is corrupt or was not resolved")]
    RelativeCwd {
        /// The offered cwd.
        cwd: PathBuf,
    },
    /// The trust store exists but cannot be read.
    #[error("cannot read the pi trust store {path}; check its permissions")]
    ReadTrustStore {
        /// `<agentDir>/trust.json`.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The trust store is not valid JSON, not an object, or holds a value other than true/false/null.
    #[error("the pi trust store {path} is corrupt ({detail}); fix or remove it (pi rewrites it when you next trust a folder)")]
    CorruptTrustStore {
        /// `<agentDir>/trust.json`.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// pi's trust store lock stayed held by another process.
    #[error("the pi trust store lock {path} is held by another process; retry, or remove it if no pi is running")]
    TrustStoreLocked {
        /// `<agentDir>/trust.json.lock`.
        path: PathBuf,
    },
    /// Taking or dropping pi's trust store lock failed.
    #[error("cannot lock the pi trust store at {path}; check that its directory is writable")]
    LockTrustStore {
        /// `<agentDir>/trust.json.lock`.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// Splits the raw `ENTWURF_PREFIX_ROOTS` value on `:`, trims each part and drops empty ones.
/// An unset variable is `None` → no roots.
///
/// ```
/// use entwurf_spawn::preflight::parse_prefix_roots;
/// assert_eq!(parse_prefix_roots(Some(" /a : ~/b ::")), vec!["/a", "~/b"]);
/// assert!(parse_prefix_roots(None).is_empty());
/// ```
pub fn parse_prefix_roots(raw: Option<&str>) -> Vec<String> {
    raw.map(|raw| {
        raw.split(':')
            .map(js_trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

/// `String.prototype.trim`: Unicode white space and line terminators, plus the BOM, minus U+0085.
pub(crate) fn js_trim(s: &str) -> &str {
    s.trim_matches(is_js_whitespace)
}

pub(crate) fn is_js_whitespace(c: char) -> bool {
    c == '\u{feff}' || (c.is_whitespace() && c != '\u{85}')
}

/// Decides whether a pi resident may be launched in `cwd` (spec §3.4), reading
/// `<agent_dir>/trust.json` under pi's lock and probing the project for trust-requiring inputs.
///
/// Errors (never a silent approve): a relative cwd, an unreadable or corrupt trust store, a
/// trust store lock that stays held.
pub fn preflight_for_cwd(
    cwd: &Path,
    config: &PreflightConfig,
) -> Result<Preflight, PreflightError> {
    let home = config.home_dir.as_deref();
    let resolved = expand_and_resolve(cwd, home).ok_or_else(|| PreflightError::RelativeCwd {
        cwd: cwd.to_path_buf(),
    })?;
    let canonical_cwd = canonicalize_or_keep(&resolved);

    let store_path = config.agent_dir.join(TRUST_STORE_FILE);
    let line = config.pi_line;
    let store = read_trust_store(&store_path, line)?;
    let trust_entry = nearest_trust_entry_for(&store, &canonical_cwd, line);
    let has_trust_inputs = has_trust_requiring_inputs_for(&canonical_cwd, home, line);
    let matched_prefix_root = matched_prefix_root(&canonical_cwd, &config.prefix_roots, home);

    let (kind, reason) = decide(
        trust_entry.as_ref().map(|e| e.decision),
        matched_prefix_root.is_some(),
        has_trust_inputs,
    );
    let launch_args = match kind {
        PreflightKind::Approve => vec![APPROVE_FLAG.to_owned()],
        PreflightKind::TrustedNoArg | PreflightKind::Deny => Vec::new(),
    };
    Ok(Preflight {
        kind,
        reason,
        launch_args,
        canonical_cwd,
        trust_entry,
        has_trust_inputs,
        matched_prefix_root,
        pi_line: line,
    })
}

/// The pure decision table of §3.4.
pub fn decide(
    saved: Option<bool>,
    prefix_match: bool,
    has_trust_inputs: bool,
) -> (PreflightKind, PreflightReason) {
    match saved {
        Some(false) => (PreflightKind::Deny, PreflightReason::SavedFalse),
        Some(true) => (PreflightKind::Approve, PreflightReason::SavedTrue),
        None if prefix_match => (PreflightKind::Approve, PreflightReason::PrefixMatch),
        None if !has_trust_inputs => (PreflightKind::TrustedNoArg, PreflightReason::NoTrustInputs),
        None => (PreflightKind::Deny, PreflightReason::FailFast),
    }
}

/// `~` expansion (with `home`) and a lexical resolve; `None` when the result is not absolute.
fn expand_and_resolve(p: &Path, home: Option<&Path>) -> Option<PathBuf> {
    let expanded = match (p.to_str(), home) {
        (Some(s), Some(home)) => entwurf_meta_session::expand_tilde(s, home),
        _ => p.to_path_buf(),
    };
    expanded.is_absolute().then(|| lexical_normalize(&expanded))
}

/// Node's `path.resolve` on an absolute path: drops `.`, applies `..`, no trailing separator.
fn lexical_normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// pi's `canonicalizePath`: `realpath`, or the path itself when that fails.
fn canonicalize_or_keep(p: &Path) -> PathBuf {
    fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn read_trust_store(
    path: &Path,
    line: PiLine,
) -> Result<BTreeMap<String, Option<bool>>, PreflightError> {
    // pi creates the agent dir to take its lock; we only read, so an absent dir is an empty store.
    if !path.parent().is_some_and(Path::is_dir) {
        return Ok(BTreeMap::new());
    }
    let _lock = TrustStoreLock::acquire(path)?;
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(PreflightError::ReadTrustStore {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) if line.trust_store_strips_bom() => rest,
        _ => text.as_str(),
    };
    parse_trust_store(text).map_err(|detail| PreflightError::CorruptTrustStore {
        path: path.to_path_buf(),
        detail,
    })
}

/// Parses `trust.json` the way pi does: an object whose values are `true`, `false` or `null`.
pub fn parse_trust_store(text: &str) -> Result<BTreeMap<String, Option<bool>>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let serde_json::Value::Object(map) = value else {
        return Err("expected an object".to_owned());
    };
    map.into_iter()
        .map(|(key, value)| match value {
            serde_json::Value::Bool(b) => Ok((key, Some(b))),
            serde_json::Value::Null => Ok((key, None)),
            _ => Err(format!(
                "value for {} must be true, false, or null",
                serde_json::Value::String(key)
            )),
        })
        .collect()
}

/// The nearest directory (the cwd, then each ancestor) with a saved `true`/`false`, keys read
/// the way pi 0.80 reads them (exact strings).
pub fn nearest_trust_entry(
    store: &BTreeMap<String, Option<bool>>,
    canonical_cwd: &Path,
) -> Option<TrustEntry> {
    nearest_trust_entry_for(store, canonical_cwd, PiLine::V0_80)
}

/// [`nearest_trust_entry`] as `line` reads the store: pi 1.x compares each absolute key after a
/// lexical resolve (`/a/b/` and `/a/./b` name `/a/b`); of several such keys the first in sorted
/// order wins (pi writes the store sorted).
pub fn nearest_trust_entry_for(
    store: &BTreeMap<String, Option<bool>>,
    canonical_cwd: &Path,
    line: PiLine,
) -> Option<TrustEntry> {
    if line.trust_store_resolves_keys() {
        return canonical_cwd.ancestors().find_map(|dir| {
            store.iter().find_map(|(key, value)| {
                let named = Path::new(key);
                let same = named.is_absolute() && lexical_normalize(named) == dir;
                match (same, value) {
                    (true, Some(decision)) => Some(TrustEntry {
                        path: key.clone(),
                        decision: *decision,
                    }),
                    _ => None,
                }
            })
        });
    }
    canonical_cwd.ancestors().find_map(|dir| {
        let key = dir.to_string_lossy();
        match store.get(key.as_ref()) {
            Some(Some(decision)) => Some(TrustEntry {
                path: key.into_owned(),
                decision: *decision,
            }),
            _ => None,
        }
    })
}

/// True when the project at `canonical_cwd` has inputs pi 0.80 loads only from a trusted project.
pub fn has_trust_requiring_inputs(canonical_cwd: &Path, home: Option<&Path>) -> bool {
    has_trust_requiring_inputs_for(canonical_cwd, home, PiLine::V0_80)
}

/// True when the project at `canonical_cwd` has inputs the pi `line` loads only from a trusted
/// project (1.x: `.pi/mcp.json` too).
pub fn has_trust_requiring_inputs_for(
    canonical_cwd: &Path,
    home: Option<&Path>,
    line: PiLine,
) -> bool {
    let config_dir = canonical_cwd.join(PI_CONFIG_DIR);
    if line
        .trust_requiring_project_config()
        .iter()
        .any(|entry| config_dir.join(entry).exists())
    {
        return true;
    }
    let user_skills = home
        .and_then(|h| expand_and_resolve(h, None))
        .map(|h| canonicalize_or_keep(&h).join(".agents").join("skills"));
    canonical_cwd.ancestors().any(|dir| {
        let skills = dir.join(".agents").join("skills");
        Some(&skills) != user_skills.as_ref() && skills.exists()
    })
}

/// The first prefix root (canonicalised like the cwd) that contains the cwd, with a separator
/// boundary: `/org` matches `/org` and `/org/a`, never `/org2`.
pub fn matched_prefix_root(
    canonical_cwd: &Path,
    roots: &[String],
    home: Option<&Path>,
) -> Option<PathBuf> {
    let cwd = canonical_cwd.to_string_lossy();
    roots.iter().find_map(|root| {
        let resolved = expand_and_resolve(Path::new(root), home)?;
        let canonical = canonicalize_or_keep(&resolved);
        let r = canonical.to_string_lossy();
        let inside = cwd == r
            || cwd
                .strip_prefix(r.as_ref())
                .is_some_and(|rest| rest.starts_with('/'));
        inside.then_some(canonical)
    })
}

/// pi's trust store lock (`proper-lockfile`): the directory `<trust.json>.lock`, taken with
/// `mkdir`, considered stale after 10 s, removed on drop.
struct TrustStoreLock {
    path: PathBuf,
}

impl TrustStoreLock {
    fn acquire(store: &Path) -> Result<Self, PreflightError> {
        let mut name = store.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        for attempt in 1..=TRUST_LOCK_ATTEMPTS {
            match fs::create_dir(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if lock_is_stale(&path) {
                        // Same as proper-lockfile: a stale lock is removed and the mkdir retried.
                        let _ = fs::remove_dir(&path);
                        continue;
                    }
                    if attempt < TRUST_LOCK_ATTEMPTS {
                        std::thread::sleep(TRUST_LOCK_RETRY_DELAY);
                    }
                }
                Err(source) => return Err(PreflightError::LockTrustStore { path, source }),
            }
        }
        Err(PreflightError::TrustStoreLocked { path })
    }
}

fn lock_is_stale(path: &Path) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|mtime| SystemTime::now().duration_since(mtime).ok())
        .is_some_and(|age| age > TRUST_LOCK_STALE)
}

impl Drop for TrustStoreLock {
    fn drop(&mut self) {
        let _ = fs::remove_dir(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::unset(None, &[])]
    #[case::empty(Some(""), &[])]
    #[case::single(Some("/srv/a"), &["/srv/a"])]
    #[case::trims_and_drops_empties(Some(" /a : ~/b ::\t"), &["/a", "~/b"])]
    #[case::only_separators(Some(":::"), &[])]
    #[case::keeps_inner_spaces(Some("/a b:/c"), &["/a b", "/c"])]
    #[case::trims_nbsp_and_bom(Some("\u{a0}/a\u{feff}"), &["/a"])]
    fn prefix_roots_parse(#[case] raw: Option<&str>, #[case] expected: &[&str]) {
        assert_eq!(parse_prefix_roots(raw), expected);
    }

    #[rstest]
    #[case::saved_false_beats_prefix(
        Some(false),
        true,
        false,
        PreflightKind::Deny,
        PreflightReason::SavedFalse
    )]
    #[case::saved_true(
        Some(true),
        false,
        true,
        PreflightKind::Approve,
        PreflightReason::SavedTrue
    )]
    #[case::prefix_promotes_undecided(
        None,
        true,
        true,
        PreflightKind::Approve,
        PreflightReason::PrefixMatch
    )]
    #[case::no_inputs(
        None,
        false,
        false,
        PreflightKind::TrustedNoArg,
        PreflightReason::NoTrustInputs
    )]
    #[case::inputs_fail_fast(None, false, true, PreflightKind::Deny, PreflightReason::FailFast)]
    fn decision_table(
        #[case] saved: Option<bool>,
        #[case] prefix: bool,
        #[case] inputs: bool,
        #[case] kind: PreflightKind,
        #[case] reason: PreflightReason,
    ) {
        assert_eq!(decide(saved, prefix, inputs), (kind, reason));
    }

    #[rstest]
    #[case::object("{\"/a\": true, \"/b\": false, \"/c\": null}", true)]
    #[case::empty_object("{}", true)]
    #[case::array("[]", false)]
    #[case::string_value("{\"/a\": \"yes\"}", false)]
    #[case::garbage("{ broken", false)]
    fn trust_store_parse(#[case] text: &str, #[case] ok: bool) {
        assert_eq!(parse_trust_store(text).is_ok(), ok, "{text}");
    }

    #[test]
    fn lexical_normalize_matches_node_resolve() {
        assert_eq!(
            lexical_normalize(Path::new("/a/./b/../c/")),
            Path::new("/a/c")
        );
        assert_eq!(lexical_normalize(Path::new("/../x")), Path::new("/x"));
    }

    #[test]
    fn nearest_entry_walks_up_and_skips_null() {
        let store = parse_trust_store("{\"/r\": false, \"/r/p\": null, \"/r/p/q\": true}")
            .unwrap_or_default();
        let e = nearest_trust_entry(&store, Path::new("/r/p/x"));
        assert_eq!(
            e,
            Some(TrustEntry {
                path: "/r".into(),
                decision: false
            })
        );
        let e = nearest_trust_entry(&store, Path::new("/r/p/q/z"));
        assert_eq!(e.map(|e| e.decision), Some(true));
        assert_eq!(nearest_trust_entry(&store, Path::new("/elsewhere")), None);
    }
}
