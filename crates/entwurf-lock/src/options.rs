//! Where the lock lives and who "we" are: the dir, our pid and hostname, the clock, the nonce
//! source and the `kill(pid, 0)` probe. Production defaults are real; tests inject fixed values.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::io::Errno;

/// The environment variable that overrides the default lock dir (non-empty, `~` expanded).
pub const LOCK_DIR_ENV: &str = "ENTWURF_V2_LOCK_DIR";

/// `kill(pid, 0)`: `Ok(())` when a signal could be delivered, else the errno.
///
/// It is only ever called with a positive pid (see [`crate::ClaimPid::probe_pid`]).
pub type ProcessProbe = Arc<dyn Fn(i32) -> Result<(), Errno> + Send + Sync>;

/// A source of strings (the clock's ISO timestamp, the nonce).
pub type StringSource = Arc<dyn Fn() -> String + Send + Sync>;

/// A process's start key now (`linux:<starttime>`), `""` when it cannot be read. Only ever
/// called with a positive pid.
pub type StartKeyProbe = Arc<dyn Fn(i32) -> String + Send + Sync>;

/// Called with the marker path while this process holds a `.reclaim` marker, before the holder
/// is re-read: a seam for fault and race tests (kill here, or check exclusivity here).
pub type MarkerHook = Arc<dyn Fn(&Path) + Send + Sync>;

/// Everything a [`crate::Lock`] needs. Build with [`LockOptions::new`] (production defaults) and
/// override fields for deterministic tests.
#[derive(Clone)]
pub struct LockOptions {
    /// The lock dir; `<dir>/<gid>.lock`. Made absolute by [`crate::Lock::with_options`].
    pub dir: PathBuf,
    /// Our pid, written into claims. Default `std::process::id()`.
    pub pid: u32,
    /// Our hostname, written into claims and compared with holders'. Default: `uname` nodename.
    pub hostname: String,
    /// `createdAt` source. Default: UTC now as ISO-8601 with milliseconds.
    pub clock: StringSource,
    /// Nonce source. Default: 8 random bytes as 16 lowercase hex chars.
    pub nonce: StringSource,
    /// The liveness probe. Default: the real `kill(pid, 0)`.
    pub probe: ProcessProbe,
    /// Our start key, written into claims (`startKey`) and reclaim markers; empty = not written.
    /// Default: [`own_start_key`] of `pid`.
    pub start_key: String,
    /// Reads a live pid's start key, to tell a reused pid from the holder. Default:
    /// [`real_start_key`].
    pub start_key_of: StartKeyProbe,
    /// Runs while this process holds a `.reclaim` marker. Default: none.
    pub on_marker_held: Option<MarkerHook>,
}

impl LockOptions {
    /// Production defaults for `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            pid: std::process::id(),
            hostname: os_hostname(),
            clock: Arc::new(now_iso),
            nonce: Arc::new(random_nonce),
            probe: Arc::new(real_kill_probe),
            start_key: own_start_key(),
            start_key_of: Arc::new(real_start_key),
            on_marker_held: None,
        }
    }
}

impl fmt::Debug for LockOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockOptions")
            .field("dir", &self.dir)
            .field("pid", &self.pid)
            .field("hostname", &self.hostname)
            .field("start_key", &self.start_key)
            .finish_non_exhaustive()
    }
}

/// The lock dir: `ENTWURF_V2_LOCK_DIR` when set and non-empty (a leading `~` is expanded to
/// `home`), else `<home>/.pi/entwurf-v2-locks`. Pure: the caller passes the environment and home.
pub fn default_lock_dir(env: &dyn Fn(&str) -> Option<String>, home: &Path) -> PathBuf {
    match env(LOCK_DIR_ENV) {
        Some(v) if !v.is_empty() => entwurf_meta_session::expand_tilde(&v, home),
        _ => home.join(".pi").join("entwurf-v2-locks"),
    }
}

/// The OS hostname (`uname` nodename), as Node's `os.hostname()` reports it.
pub fn os_hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// UTC now as `2026-06-12T10:00:00.000Z`.
pub fn now_iso() -> String {
    crate::claim::iso_millis(std::time::SystemTime::now())
}

/// 8 random bytes as 16 lowercase hex chars.
pub fn random_nonce() -> String {
    let bytes: [u8; 8] = rand::random();
    format!("{:016x}", u64::from_be_bytes(bytes))
}

/// This process's start key (read once per process, by `entwurf-fs`).
pub fn own_start_key() -> String {
    entwurf_fs::own_start_key().1.clone()
}

/// The real start key of `pid` ([`entwurf_meta_session::process_start_key`]).
pub fn real_start_key(pid: i32) -> String {
    entwurf_meta_session::process_start_key(i64::from(pid))
}

/// The real `kill(pid, 0)`. A non-positive pid is refused with `EINVAL` without a syscall.
pub fn real_kill_probe(pid: i32) -> Result<(), Errno> {
    if pid <= 0 {
        return Err(Errno::INVAL);
    }
    match rustix::process::Pid::from_raw(pid) {
        Some(p) => rustix::process::test_kill_process(p),
        None => Err(Errno::INVAL),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::unset(None, "/h/.pi/entwurf-v2-locks")]
    #[case::empty(Some(""), "/h/.pi/entwurf-v2-locks")]
    #[case::absolute(Some("/var/locks"), "/var/locks")]
    #[case::tilde_slash(Some("~/l"), "/h/l")]
    #[case::tilde_alone(Some("~"), "/h")]
    #[case::tilde_user_is_literal(Some("~bob/l"), "~bob/l")]
    fn lock_dir_resolution(#[case] var: Option<&str>, #[case] want: &str) {
        let env = |k: &str| {
            assert_eq!(k, LOCK_DIR_ENV);
            var.map(str::to_owned)
        };
        assert_eq!(default_lock_dir(&env, Path::new("/h")), PathBuf::from(want));
    }

    #[test]
    fn nonce_is_16_lowercase_hex() {
        let n = random_nonce();
        assert_eq!(n.len(), 16);
        assert!(n.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        assert_ne!(n, random_nonce());
    }

    #[test]
    fn now_is_iso_millis_utc() {
        let t = now_iso();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[19] == b'.', "{t}");
    }

    #[test]
    fn own_start_key_is_ours_and_stable() {
        let key = own_start_key();
        assert!(key.starts_with("linux:"), "{key}");
        assert_eq!(key, real_start_key(std::process::id() as i32));
        assert_eq!(key, own_start_key());
    }

    #[test]
    fn real_probe_sees_ourselves_and_refuses_non_positive_pids() {
        assert_eq!(real_kill_probe(std::process::id() as i32), Ok(()));
        assert_eq!(real_kill_probe(0), Err(Errno::INVAL));
        assert_eq!(real_kill_probe(-1), Err(Errno::INVAL));
    }
}
