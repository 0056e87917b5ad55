//! Where the stores live: an explicit [`Dirs`] value, built once at the edge.
//!
//! Nothing in this crate reads the environment. [`Dirs::from_env`] takes the lookup function and
//! the home directory as arguments, so the CLI (or the production wiring) reads the process
//! environment exactly once and tests pass plain values.

use std::path::{Component, Path, PathBuf};

/// The store directories of the meta-session subsystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    /// The pi agent dir (`$PI_CODING_AGENT_DIR` or `~/.pi/agent`); the stores default under it.
    pub agent: PathBuf,
    /// Meta records: `<agent>/meta-sessions`.
    pub sessions: PathBuf,
    /// Mailboxes: `<agent>/meta-mailbox` (a sibling of the record store, never nested in it).
    pub mailbox: PathBuf,
    /// Receiver markers: `<agent>/meta-receivers`.
    pub receivers: PathBuf,
    /// Sender markers: `<agent>/meta-senders`.
    pub senders: PathBuf,
}

/// The environment could not be turned into store directories.
#[derive(Debug, thiserror::Error)]
pub enum DirsError {
    /// Both the current and the original-design variable of one store are set, to different paths.
    #[error(
        "conflicting store overrides: {current_var}={current_value:?} and {legacy_var}={legacy_value:?} \
         name different directories; unset one of them or give both the same value"
    )]
    Conflict {
        /// The current (`ENTWURF_META_*`) variable name.
        current_var: &'static str,
        /// Its value, verbatim.
        current_value: String,
        /// The original-design (`PI_META_*`) variable name.
        legacy_var: &'static str,
        /// Its value, verbatim.
        legacy_value: String,
    },
    /// A relative override could not be resolved because the current directory is unknown.
    #[error("cannot resolve relative path {value:?} from {var}: the current directory is unavailable; use an absolute path")]
    CurrentDir {
        /// The variable holding the relative path.
        var: &'static str,
        /// Its value.
        value: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// One store's pair of override variables: current name first, original-design name second.
struct StoreVars {
    current: &'static str,
    legacy: &'static str,
    default_leaf: &'static str,
}

const SESSIONS: StoreVars = StoreVars {
    current: "ENTWURF_META_SESSIONS_DIR",
    legacy: "PI_META_SESSIONS_DIR",
    default_leaf: "meta-sessions",
};
const MAILBOX: StoreVars = StoreVars {
    current: "ENTWURF_META_MAILBOX_DIR",
    legacy: "PI_META_MAILBOX_DIR",
    default_leaf: "meta-mailbox",
};
const RECEIVERS: StoreVars = StoreVars {
    current: "ENTWURF_META_RECEIVERS_DIR",
    legacy: "PI_META_RECEIVERS_DIR",
    default_leaf: "meta-receivers",
};
const SENDERS: StoreVars = StoreVars {
    current: "ENTWURF_META_SENDERS_DIR",
    legacy: "PI_META_SENDERS_DIR",
    default_leaf: "meta-senders",
};

/// The agent-dir variable.
pub const AGENT_DIR_VAR: &str = "PI_CODING_AGENT_DIR";

impl Dirs {
    /// Every store under one root: `root/meta-sessions`, `root/meta-mailbox`,
    /// `root/meta-receivers`, `root/meta-senders`; `agent` = `root`. Meant for tests and tools.
    pub fn under(root: &Path) -> Dirs {
        Dirs {
            agent: root.to_path_buf(),
            sessions: root.join(SESSIONS.default_leaf),
            mailbox: root.join(MAILBOX.default_leaf),
            receivers: root.join(RECEIVERS.default_leaf),
            senders: root.join(SENDERS.default_leaf),
        }
    }

    /// Resolves the stores from an environment lookup and a home directory.
    ///
    /// * agent = `$PI_CODING_AGENT_DIR` (if non-empty) else `<home>/.pi/agent`;
    /// * each store = `$ENTWURF_META_<X>_DIR`, else `$PI_META_<X>_DIR`, else `<agent>/meta-<x>`;
    /// * an empty value counts as unset; `~` and `~/…` expand against `home`;
    /// * a relative value is resolved against the process's current directory (the only place
    ///   this crate looks at it; it is why this belongs at the edge) and `.`/`..` are folded;
    /// * both names of one store set to different resolved paths → [`DirsError::Conflict`].
    ///
    /// ```
    /// use std::path::Path;
    /// use entwurf_meta_session::Dirs;
    /// let env = |k: &str| (k == "PI_META_MAILBOX_DIR").then(|| "~/mbox".to_string());
    /// let dirs = Dirs::from_env(&env, Path::new("/home/u")).unwrap();
    /// assert_eq!(dirs.mailbox, Path::new("/home/u/mbox"));
    /// assert_eq!(dirs.sessions, Path::new("/home/u/.pi/agent/meta-sessions"));
    /// ```
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>, home: &Path) -> Result<Dirs, DirsError> {
        let lookup = |k: &str| env(k).filter(|v| !v.is_empty());
        let agent = match lookup(AGENT_DIR_VAR) {
            Some(v) => resolve(AGENT_DIR_VAR, &v, home)?,
            None => home.join(".pi").join("agent"),
        };
        let store = |vars: &StoreVars| -> Result<PathBuf, DirsError> {
            let current = lookup(vars.current)
                .map(|v| resolve(vars.current, &v, home).map(|p| (v, p)))
                .transpose()?;
            let legacy = lookup(vars.legacy)
                .map(|v| resolve(vars.legacy, &v, home).map(|p| (v, p)))
                .transpose()?;
            match (current, legacy) {
                (Some((cv, cp)), Some((lv, lp))) => {
                    if cp == lp {
                        Ok(cp)
                    } else {
                        Err(DirsError::Conflict {
                            current_var: vars.current,
                            current_value: cv,
                            legacy_var: vars.legacy,
                            legacy_value: lv,
                        })
                    }
                }
                (Some((_, p)), None) | (None, Some((_, p))) => Ok(p),
                (None, None) => Ok(agent.join(vars.default_leaf)),
            }
        };
        Ok(Dirs {
            sessions: store(&SESSIONS)?,
            mailbox: store(&MAILBOX)?,
            receivers: store(&RECEIVERS)?,
            senders: store(&SENDERS)?,
            agent,
        })
    }
}

/// Expands `~` and `~/…` against `home` (nothing else: `~user` stays literal).
pub fn expand_tilde(value: &str, home: &Path) -> PathBuf {
    if value == "~" {
        home.to_path_buf()
    } else if let Some(rest) = value.strip_prefix("~/") {
        home.join(rest)
    } else {
        PathBuf::from(value)
    }
}

fn resolve(var: &'static str, value: &str, home: &Path) -> Result<PathBuf, DirsError> {
    let expanded = expand_tilde(value, home);
    let absolute = if expanded.is_absolute() {
        expanded
    } else {
        let cwd = std::env::current_dir().map_err(|source| DirsError::CurrentDir {
            var,
            value: value.to_owned(),
            source,
        })?;
        cwd.join(expanded)
    };
    Ok(normalize(&absolute))
}

/// Lexically folds `.` and `..` (like Node's `path.resolve`), without touching the filesystem.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    const HOME: &str = "/home/u";

    #[test]
    fn defaults_sit_under_home_pi_agent() {
        let d = Dirs::from_env(&env_of(&[]), Path::new(HOME)).unwrap();
        assert_eq!(d, Dirs::under(Path::new("/home/u/.pi/agent")));
    }

    #[rstest]
    #[case::agent_dir_absolute(&[("PI_CODING_AGENT_DIR", "/srv/agent")], "/srv/agent/meta-sessions")]
    #[case::agent_dir_tilde(&[("PI_CODING_AGENT_DIR", "~/ag")], "/home/u/ag/meta-sessions")]
    #[case::agent_dir_bare_tilde(&[("PI_CODING_AGENT_DIR", "~")], "/home/u/meta-sessions")]
    #[case::agent_dir_empty_is_unset(&[("PI_CODING_AGENT_DIR", "")], "/home/u/.pi/agent/meta-sessions")]
    #[case::current_name(&[("ENTWURF_META_SESSIONS_DIR", "/a/s")], "/a/s")]
    #[case::original_name(&[("PI_META_SESSIONS_DIR", "/b/s")], "/b/s")]
    #[case::current_empty_falls_back(&[("ENTWURF_META_SESSIONS_DIR", ""), ("PI_META_SESSIONS_DIR", "/b/s")], "/b/s")]
    #[case::both_same(&[("ENTWURF_META_SESSIONS_DIR", "/a/s"), ("PI_META_SESSIONS_DIR", "/a/s")], "/a/s")]
    #[case::both_same_after_expansion(&[("ENTWURF_META_SESSIONS_DIR", "~/s"), ("PI_META_SESSIONS_DIR", "/home/u/s/")], "/home/u/s")]
    #[case::override_beats_agent(&[("PI_CODING_AGENT_DIR", "/x"), ("PI_META_SESSIONS_DIR", "/b/s")], "/b/s")]
    #[case::dots_are_folded(&[("PI_META_SESSIONS_DIR", "/a/./b/../s")], "/a/s")]
    fn sessions_dir_resolution(#[case] env: &[(&str, &str)], #[case] want: &str) {
        let d = Dirs::from_env(&env_of(env), Path::new(HOME)).unwrap();
        assert_eq!(d.sessions, Path::new(want));
    }

    #[rstest]
    #[case::sessions("ENTWURF_META_SESSIONS_DIR", "PI_META_SESSIONS_DIR")]
    #[case::mailbox("ENTWURF_META_MAILBOX_DIR", "PI_META_MAILBOX_DIR")]
    #[case::receivers("ENTWURF_META_RECEIVERS_DIR", "PI_META_RECEIVERS_DIR")]
    #[case::senders("ENTWURF_META_SENDERS_DIR", "PI_META_SENDERS_DIR")]
    fn conflicting_names_are_refused_naming_both(#[case] cur: &str, #[case] old: &str) {
        let err =
            Dirs::from_env(&env_of(&[(cur, "/one"), (old, "/two")]), Path::new(HOME)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(cur) && msg.contains(old), "{msg}");
        assert!(msg.contains("/one") && msg.contains("/two"), "{msg}");
    }

    #[test]
    fn each_store_honours_both_names() {
        let d = Dirs::from_env(
            &env_of(&[
                ("ENTWURF_META_MAILBOX_DIR", "/m"),
                ("PI_META_RECEIVERS_DIR", "/r"),
                ("ENTWURF_META_SENDERS_DIR", "/s"),
            ]),
            Path::new(HOME),
        )
        .unwrap();
        assert_eq!(d.mailbox, Path::new("/m"));
        assert_eq!(d.receivers, Path::new("/r"));
        assert_eq!(d.senders, Path::new("/s"));
        assert_eq!(d.sessions, Path::new("/home/u/.pi/agent/meta-sessions"));
    }

    #[test]
    fn relative_override_resolves_against_cwd() {
        let d = Dirs::from_env(
            &env_of(&[("PI_META_SESSIONS_DIR", "rel/s")]),
            Path::new(HOME),
        )
        .unwrap();
        assert!(d.sessions.is_absolute());
        assert!(d.sessions.ends_with("rel/s"));
    }

    #[test]
    fn tilde_forms() {
        let h = Path::new(HOME);
        assert_eq!(expand_tilde("~", h), h);
        assert_eq!(expand_tilde("~/a", h), Path::new("/home/u/a"));
        assert_eq!(expand_tilde("~bob/a", h), Path::new("~bob/a"));
        assert_eq!(expand_tilde("/x/~/y", h), Path::new("/x/~/y"));
    }
}
