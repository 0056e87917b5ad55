//! Pure pieces of the lock: the claim line, the holder parser, liveness classification and the
//! reference's detail texts. Nothing here touches the filesystem or signals a process.

use std::fmt;
use std::path::Path;
use std::time::SystemTime;

use entwurf_meta_session::GardenId;
use rustix::io::Errno;
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

use crate::{LockClaim, LOCK_OWNER};

/// The `pid` of a claim: any JSON number, exactly as it stood in the file.
///
/// The reference accepts any JSON number as a holder pid (`typeof pid === "number"`), so a claim
/// with pid `1.5`, `0` or `-1` is still a holder (not corrupt). Such a pid can never be probed:
/// [`ClaimPid::probe_pid`] returns `None` for anything that is not a positive integer fitting
/// `i32`, and the holder is then treated as alive (fail closed), so a file can never make us call
/// `kill(-1, 0)` or `kill(0, 0)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClaimPid(Number);

impl ClaimPid {
    /// Wraps any JSON number.
    pub fn from_number(n: Number) -> Self {
        Self(n)
    }

    /// The number as it was read or written.
    pub fn as_number(&self) -> &Number {
        &self.0
    }

    /// The pid when it is a non-negative integer that fits `u32`.
    pub fn as_u32(&self) -> Option<u32> {
        self.integral().and_then(|v| u32::try_from(v).ok())
    }

    /// The pid to hand to `kill(pid, 0)`: only a positive integer that fits `i32`.
    pub fn probe_pid(&self) -> Option<i32> {
        self.integral()
            .and_then(|v| i32::try_from(v).ok())
            .filter(|p| *p > 0)
    }

    fn integral(&self) -> Option<i128> {
        if let Some(v) = self.0.as_i64() {
            return Some(i128::from(v));
        }
        if let Some(v) = self.0.as_u64() {
            return Some(i128::from(v));
        }
        let f = self.0.as_f64()?;
        // JSON `4242.0` is the number 4242 for the reference; accept it as integral.
        (f.fract() == 0.0 && f.abs() < 1e18).then_some(f as i128)
    }
}

impl From<u32> for ClaimPid {
    fn from(pid: u32) -> Self {
        Self(Number::from(pid))
    }
}

impl PartialEq<u32> for ClaimPid {
    fn eq(&self, other: &u32) -> bool {
        self.as_u32() == Some(*other)
    }
}

impl fmt::Display for ClaimPid {
    /// Formats like a JavaScript number would print (integral floats without `.0`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_f64() {
            Some(v) if self.0.is_f64() && v.fract() == 0.0 && v.abs() < 1e21 => {
                write!(f, "{v:.0}")
            }
            _ => write!(f, "{}", self.0),
        }
    }
}

/// The lock file's JSON object: the reference's seven keys in wire order, then ours.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClaimLine<'a> {
    garden_id: &'a str,
    pid: &'a ClaimPid,
    hostname: &'a str,
    created_at: &'a str,
    nonce: &'a str,
    owner: &'a str,
    lock_path: &'a Path,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_key: Option<&'a str>,
}

/// The file content for a claim: compact JSON, keys in wire order, plus `\n`. A known start key
/// is written as `startKey` after `lockPath`; without one the bytes are the reference's.
pub fn claim_line(claim: &LockClaim) -> Result<String, serde_json::Error> {
    let mut line = serde_json::to_string(&ClaimLine {
        garden_id: &claim.garden_id,
        pid: &claim.pid,
        hostname: &claim.hostname,
        created_at: &claim.created_at,
        nonce: &claim.nonce,
        owner: &claim.owner,
        lock_path: &claim.lock_path,
        start_key: claim.start_key.as_deref().filter(|k| !k.is_empty()),
    })?;
    line.push('\n');
    Ok(line)
}

/// Parses a lock file's text into its holder, or `None` when it is empty, corrupt, has the wrong
/// owner, or names another garden id than `expected`.
///
/// The reference's rules: a JSON object with string `gardenId`, number `pid`, string `hostname`,
/// string `createdAt`, string `nonce`, `owner == "entwurf_v2"`, and `gardenId == expected`. The
/// `lockPath` in the file is never read: the holder's `lock_path` is `lock_path`. Our extra
/// `startKey` is taken when it is a non-empty string and ignored otherwise (a lock without it
/// keeps the reference's liveness rule).
pub fn parse_holder(raw: &str, lock_path: &Path, expected: &GardenId) -> Option<LockClaim> {
    let value: Value = serde_json::from_str(raw).ok()?;
    let obj = value.as_object()?;
    let text = |key: &str| obj.get(key).and_then(Value::as_str);
    let garden_id = text("gardenId")?;
    let pid = match obj.get("pid") {
        Some(Value::Number(n)) => ClaimPid(n.clone()),
        _ => return None,
    };
    let hostname = text("hostname")?;
    let created_at = text("createdAt")?;
    let nonce = text("nonce")?;
    if text("owner")? != LOCK_OWNER || garden_id != expected.as_str() {
        return None;
    }
    Some(LockClaim {
        garden_id: garden_id.to_owned(),
        pid,
        hostname: hostname.to_owned(),
        created_at: created_at.to_owned(),
        nonce: nonce.to_owned(),
        owner: LOCK_OWNER.to_owned(),
        lock_path: lock_path.to_path_buf(),
        start_key: text("startKey")
            .filter(|k| !k.is_empty())
            .map(str::to_owned),
    })
}

/// A time as ISO-8601 UTC with milliseconds (`2026-06-12T10:00:00.000Z`), truncated like
/// JavaScript's `Date.toISOString()`.
pub fn iso_millis(t: SystemTime) -> String {
    entwurf_meta_session::iso_millis(t.into())
}

/// The detail for a parsed holder (live, denied, unknown, other host).
pub fn holder_detail(holder: &LockClaim, lock_path: &Path, file_mtime: Option<&str>) -> String {
    format!(
        "held by pid {} on host {} since {}{} ({}); clear it by hand if that process is gone",
        holder.pid,
        holder.hostname,
        holder.created_at,
        mtime_clause("file", file_mtime),
        lock_path.display()
    )
}

/// The detail for a lock file whose holder parses as `None`.
pub fn corrupt_detail(lock_path: &Path, file_mtime: Option<&str>) -> String {
    format!(
        "lockfile at {} is empty, corrupt, or holds a different garden id{}; clear it by hand after confirming no dispatcher is mid-spawn",
        lock_path.display(),
        mtime_clause("file", file_mtime)
    )
}

/// The detail when a create lost to another acquirer whose lock was gone again by the time we
/// read it: the target is busy (it changed hands twice while we looked), not corrupt. Not one of
/// the reference's templates, which would call this file "empty, corrupt".
pub fn contended_detail(lock_path: &Path) -> String {
    format!(
        "lockfile at {} was released and taken again while this acquire looked; the target is busy, retry the dispatch",
        lock_path.display()
    )
}

/// The detail when the `.reclaim` marker already exists.
pub fn marker_busy_detail(marker_path: &Path, marker_mtime: Option<&str>) -> String {
    format!(
        "reclaim already in progress (or a stale reclaim marker at {}{}); confirm no dispatcher is mid-reclaim, then clear it by hand",
        marker_path.display(),
        mtime_clause("marker", marker_mtime)
    )
}

/// The detail for a holder, or the corrupt text when there is none.
pub fn describe_holder(
    holder: Option<&LockClaim>,
    lock_path: &Path,
    mtime: Option<&str>,
) -> String {
    match holder {
        Some(h) => holder_detail(h, lock_path, mtime),
        None => corrupt_detail(lock_path, mtime),
    }
}

fn mtime_clause(what: &str, mtime: Option<&str>) -> String {
    mtime
        .map(|m| format!(" ({what} mtime {m})"))
        .unwrap_or_default()
}

/// What `kill(pid, 0)` says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessLiveness {
    /// The signal could be delivered, or the error was unknown (fail closed).
    Alive,
    /// `ESRCH`: no such process. The only reclaimable state.
    Dead,
    /// `EPERM`: the process exists but belongs to another user.
    Denied,
}

/// Classifies the result of `kill(pid, 0)`: ok → alive, `ESRCH` → dead, `EPERM` → denied,
/// anything else → alive (we never reclaim what we cannot prove dead).
pub fn classify_kill(result: Result<(), Errno>) -> ProcessLiveness {
    match result {
        Ok(()) => ProcessLiveness::Alive,
        Err(Errno::SRCH) => ProcessLiveness::Dead,
        Err(Errno::PERM) => ProcessLiveness::Denied,
        Err(_) => ProcessLiveness::Alive,
    }
}

/// The verdict on a lock file's holder, from this host's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HolderState {
    /// The file is empty, corrupt or another gid's: never reclaimed automatically.
    Corrupt,
    /// The holder wrote from another hostname: its pid means nothing here, never reclaimed.
    OtherHost,
    /// The holder's pid is not a positive `i32` integer: not probed, treated as alive.
    UnprobeablePid,
    /// Same host, and `kill(pid, 0)` succeeded (or failed in an unknown way).
    Alive,
    /// Same host, `kill(pid, 0)` gave `EPERM`: alive, another user's process.
    Denied,
    /// Same host, `kill(pid, 0)` gave `ESRCH`: provably dead, reclaimable.
    Dead,
}

impl HolderState {
    /// Only a provably dead holder on this host may be reclaimed (or cleared without force).
    pub fn is_reclaimable(self) -> bool {
        self == HolderState::Dead
    }

    /// A short phrase for humans.
    pub fn describe(self) -> &'static str {
        match self {
            HolderState::Corrupt => "the lock file is empty, corrupt, or another garden id's",
            HolderState::OtherHost => "held from another host (liveness unknown here)",
            HolderState::UnprobeablePid => "the holder pid cannot be probed (treated as alive)",
            HolderState::Alive => "the holder process is alive on this host",
            HolderState::Denied => "the holder process is alive on this host (another user's)",
            HolderState::Dead => "the holder process is gone (dead on this host)",
        }
    }
}

/// Judges a holder: hostname first (another host is never probed), then `kill(pid, 0)` through
/// `probe` for a probeable pid. A holder that recorded its start key and whose pid answers
/// (alive or `EPERM`) is dead when `start_key_of(pid)` reads another, non-empty start key: the
/// pid now belongs to an unrelated process. Without a recorded key (a reference lock), or when
/// the current key cannot be read, the reference's rule stands.
pub fn judge_holder(
    holder: Option<&LockClaim>,
    our_hostname: &str,
    probe: &dyn Fn(i32) -> Result<(), Errno>,
    start_key_of: &dyn Fn(i32) -> String,
) -> HolderState {
    let Some(holder) = holder else {
        return HolderState::Corrupt;
    };
    if holder.hostname != our_hostname {
        return HolderState::OtherHost;
    }
    let Some(pid) = holder.pid.probe_pid() else {
        return HolderState::UnprobeablePid;
    };
    let state = match classify_kill(probe(pid)) {
        ProcessLiveness::Alive => HolderState::Alive,
        ProcessLiveness::Dead => return HolderState::Dead,
        ProcessLiveness::Denied => HolderState::Denied,
    };
    match &holder.start_key {
        Some(recorded) if is_other_process(&start_key_of(pid), recorded) => HolderState::Dead,
        _ => state,
    }
}

/// A live pid's current start key proves it is another process than the one that recorded
/// `recorded` only when both are known and differ.
fn is_other_process(current: &str, recorded: &str) -> bool {
    !current.is_empty() && !recorded.is_empty() && current != recorded
}

/// Who created a `.reclaim` marker, as we write it into the marker (the reference's marker is
/// empty, and an empty or unreadable marker is never taken over).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkerCreator {
    /// The creator's pid.
    pub pid: u32,
    /// The creator's hostname.
    pub hostname: String,
    /// The creator's start key (`linux:<starttime>`); may be empty when it could not be read.
    pub start_key: String,
    /// ISO-8601 UTC with milliseconds, at creation.
    pub created_at: String,
}

/// The marker file content: compact JSON plus `\n`.
pub fn marker_line(creator: &MarkerCreator) -> Result<String, serde_json::Error> {
    let mut line = serde_json::to_string(creator)?;
    line.push('\n');
    Ok(line)
}

/// Parses a marker's text; `None` for an empty (reference) marker or anything that is not our
/// shape (an object with a positive integer `pid`, string `hostname`, `startKey`, `createdAt`).
pub fn parse_marker(raw: &str) -> Option<MarkerCreator> {
    let value: Value = serde_json::from_str(raw).ok()?;
    let obj = value.as_object()?;
    let text = |key: &str| obj.get(key).and_then(Value::as_str).map(str::to_owned);
    let pid = obj
        .get("pid")
        .and_then(Value::as_u64)
        .and_then(|p| u32::try_from(p).ok())?;
    Some(MarkerCreator {
        pid,
        hostname: text("hostname")?,
        start_key: text("startKey")?,
        created_at: text("createdAt")?,
    })
}

/// Is the marker's creator provably gone? Only a creator on our host whose pid is a positive
/// `i32` and either gives `ESRCH` or now belongs to a process with another (known, non-empty)
/// start key. Everything else (another host, an unknown key, an unknown `kill` error) keeps the
/// marker: a reclaim fails closed.
pub fn marker_creator_is_dead(
    creator: &MarkerCreator,
    our_hostname: &str,
    probe: &dyn Fn(i32) -> Result<(), Errno>,
    start_key_of: &dyn Fn(i32) -> String,
) -> bool {
    if creator.hostname != our_hostname {
        return false;
    }
    let Some(pid) = i32::try_from(creator.pid).ok().filter(|p| *p > 0) else {
        return false;
    };
    match classify_kill(probe(pid)) {
        ProcessLiveness::Dead => true,
        ProcessLiveness::Alive | ProcessLiveness::Denied => {
            is_other_process(&start_key_of(pid), &creator.start_key)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::path::PathBuf;

    fn gid() -> GardenId {
        GardenId::parse("20260612T100000-aaaaaa").unwrap()
    }

    fn no_start_key(pid: i32) -> String {
        panic!("the start key of {pid} must not be read")
    }

    fn holder_with_pid(pid: &str) -> Option<LockClaim> {
        let raw = format!(
            r#"{{"gardenId":"20260612T100000-aaaaaa","pid":{pid},"hostname":"h","createdAt":"c","nonce":"n","owner":"entwurf_v2"}}"#
        );
        parse_holder(&raw, Path::new("/l/x.lock"), &gid())
    }

    #[rstest]
    #[case::integer("4242", Some(4242))]
    #[case::integral_float("4242.0", Some(4242))]
    #[case::fraction("1.5", None)]
    #[case::zero("0", None)]
    #[case::minus_one("-1", None)]
    #[case::beyond_i32("2147483648", None)]
    #[case::huge("1e30", None)]
    fn any_json_number_is_a_holder_but_only_positive_i32_is_probed(
        #[case] pid: &str,
        #[case] probe: Option<i32>,
    ) {
        let h = holder_with_pid(pid).expect("a JSON number pid parses as a holder");
        assert_eq!(h.pid.probe_pid(), probe);
    }

    #[rstest]
    #[case::unprobeable_never_calls_kill("-1", HolderState::UnprobeablePid)]
    #[case::zero_never_calls_kill("0", HolderState::UnprobeablePid)]
    fn unprobeable_pids_are_not_reclaimable(#[case] pid: &str, #[case] want: HolderState) {
        let h = holder_with_pid(pid).unwrap();
        let probe = |_: i32| -> Result<(), Errno> { panic!("kill must not be called") };
        let state = judge_holder(Some(&h), "h", &probe, &no_start_key);
        assert_eq!(state, want);
        assert!(!state.is_reclaimable());
    }

    #[rstest]
    #[case::alive(Ok(()), ProcessLiveness::Alive)]
    #[case::esrch(Err(Errno::SRCH), ProcessLiveness::Dead)]
    #[case::eperm(Err(Errno::PERM), ProcessLiveness::Denied)]
    #[case::einval(Err(Errno::INVAL), ProcessLiveness::Alive)]
    fn classify_matches_the_reference_table(
        #[case] r: Result<(), Errno>,
        #[case] want: ProcessLiveness,
    ) {
        assert_eq!(classify_kill(r), want);
    }

    #[test]
    fn other_host_is_never_probed() {
        let h = holder_with_pid("4242").unwrap();
        let probe = |_: i32| -> Result<(), Errno> { panic!("kill must not be called") };
        assert_eq!(
            judge_holder(Some(&h), "not-h", &probe, &no_start_key),
            HolderState::OtherHost
        );
    }

    #[rstest]
    #[case::integer("4242", "4242")]
    #[case::integral_float("4242.0", "4242")]
    #[case::fraction("1.5", "1.5")]
    #[case::negative("-7", "-7")]
    fn pid_prints_like_a_javascript_number(#[case] pid: &str, #[case] shown: &str) {
        assert_eq!(holder_with_pid(pid).unwrap().pid.to_string(), shown);
    }

    #[test]
    fn claim_line_is_compact_in_wire_order() {
        let claim = LockClaim {
            garden_id: "20260612T100000-aaaaaa".into(),
            pid: 4242.into(),
            hostname: "test-host".into(),
            created_at: "2026-06-12T10:00:00.000Z".into(),
            nonce: "deadbeefcafef00d".into(),
            owner: LOCK_OWNER.into(),
            lock_path: PathBuf::from("/t/locks/20260612T100000-aaaaaa.lock"),
            start_key: None,
        };
        assert_eq!(
            claim_line(&claim).unwrap(),
            "{\"gardenId\":\"20260612T100000-aaaaaa\",\"pid\":4242,\"hostname\":\"test-host\",\"createdAt\":\"2026-06-12T10:00:00.000Z\",\"nonce\":\"deadbeefcafef00d\",\"owner\":\"entwurf_v2\",\"lockPath\":\"/t/locks/20260612T100000-aaaaaa.lock\"}\n"
        );
    }

    #[test]
    fn details_omit_the_mtime_clause_when_unknown() {
        let p = Path::new("/l/x.lock");
        assert_eq!(
            corrupt_detail(p, None),
            "lockfile at /l/x.lock is empty, corrupt, or holds a different garden id; clear it by hand after confirming no dispatcher is mid-spawn"
        );
        assert_eq!(
            marker_busy_detail(Path::new("/l/x.lock.reclaim"), None),
            "reclaim already in progress (or a stale reclaim marker at /l/x.lock.reclaim); confirm no dispatcher is mid-reclaim, then clear it by hand"
        );
        let h = holder_with_pid("9").unwrap();
        assert_eq!(
            holder_detail(&h, p, None),
            "held by pid 9 on host h since c (/l/x.lock); clear it by hand if that process is gone"
        );
    }

    #[test]
    fn iso_millis_truncates_to_milliseconds() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_micros(1_781_258_400_123_999);
        assert_eq!(iso_millis(t), "2026-06-12T10:00:00.123Z");
    }
}
