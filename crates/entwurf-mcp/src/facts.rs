//! The peers fact surface: garden citizens (records) with their liveness, record-less control
//! sockets, and diagnostics — facts only, never a routing verb.
//!
//! [`collect`] does the IO (one record listing, one control-dir read, a connect probe per pi
//! citizen and socket, `get_info` of each alive socket); [`resolve`] is the pure join.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use entwurf_control_rpc::{get_info_within, probe, socket_path, SocketLiveness};
use entwurf_fs::Chain;
use entwurf_meta_session::{list_records, Backend, GardenId, MetaRecord};
use serde::Serialize;

/// A citizen with its liveness fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerFact {
    /// Its garden id.
    pub garden_id: String,
    /// Its backend.
    pub backend: String,
    /// The backend's own session id.
    pub native_session_id: String,
    /// Its cwd.
    pub cwd: String,
    /// Its model, when known.
    pub model: Option<String>,
    /// The parent citizen, when spawned by one.
    pub parent_garden_id: Option<String>,
    /// Spawned by entwurf.
    pub is_entwurf: bool,
    /// Record creation time.
    pub created_at: String,
    /// Record update time.
    pub record_updated_at: String,
    /// `alive` / `dead` / `indeterminate` (pi), `unsupported` (other backends).
    pub liveness: String,
}

/// A control socket without a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SocketOnlyFact {
    /// Always `socket-only`.
    pub kind: &'static str,
    /// The socket's garden id.
    pub garden_id: String,
    /// `alive` / `dead` / `indeterminate`.
    pub liveness: String,
    /// From `get_info` of an alive socket.
    pub cwd: Option<String>,
    /// From `get_info` of an alive socket.
    pub model: Option<String>,
    /// From `get_info` of an alive socket.
    pub idle: Option<bool>,
    /// Why `get_info` failed.
    pub info_error: Option<String>,
}

/// Something the listing could not fold into a fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Diagnostic {
    /// A record file could not be read or parsed.
    MetaRecordReadError {
        /// The file.
        filename: String,
        /// Why.
        message: String,
    },
    /// A non-pi citizen shares its gid with a control socket; both are left out.
    GardenIdSocketConflict {
        /// The gid.
        garden_id: String,
        /// The citizen's backend.
        backend: String,
        /// Explanation.
        message: String,
    },
    /// A gid-named socket path is a symlink (never followed).
    SocketSymlinkRejected {
        /// The gid.
        garden_id: String,
        /// Explanation.
        message: String,
    },
    /// A `*.sock` whose stem is not a garden id.
    MalformedSocketName {
        /// The file name.
        name: String,
        /// Explanation.
        message: String,
    },
    /// The control dir could not be read.
    SocketDirReadError {
        /// Why.
        message: String,
    },
}

impl Diagnostic {
    fn sort_key(&self) -> (u8, &str) {
        match self {
            Diagnostic::MetaRecordReadError { filename, .. } => (0, filename),
            Diagnostic::GardenIdSocketConflict { garden_id, .. } => (1, garden_id),
            Diagnostic::SocketSymlinkRejected { garden_id, .. } => (2, garden_id),
            Diagnostic::MalformedSocketName { name, .. } => (3, name),
            Diagnostic::SocketDirReadError { .. } => (4, ""),
        }
    }
}

/// The whole listing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Facts {
    /// Citizens, by gid.
    pub peers: Vec<PeerFact>,
    /// Record-less sockets, by gid.
    pub socket_only: Vec<SocketOnlyFact>,
    /// Diagnostics, in the reference's order.
    pub diagnostics: Vec<Diagnostic>,
}

/// One probed socket gid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketProbe {
    /// Liveness of the canonical path.
    pub liveness: SocketLiveness,
    /// `get_info` fields of an alive socket.
    pub cwd: Option<String>,
    /// `provider/id`.
    pub model: Option<String>,
    /// Idle flag.
    pub idle: Option<bool>,
    /// `get_info` failure.
    pub info_error: Option<String>,
}

/// What the control dir holds by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SocketScan {
    /// Gid-named non-symlink entries.
    pub sockets: BTreeSet<GardenId>,
    /// Gid-named symlinks.
    pub symlinked: BTreeSet<GardenId>,
    /// `*.sock` names that are not gids.
    pub malformed: Vec<String>,
    /// The dir could not be read (other than missing).
    pub dir_error: Option<String>,
}

fn liveness_str(l: SocketLiveness) -> &'static str {
    match l {
        SocketLiveness::Alive => "alive",
        SocketLiveness::Dead => "dead",
        SocketLiveness::Indeterminate => "indeterminate",
    }
}

/// Reads the control dir's names (never follows a symlink).
pub fn scan_control_dir(dir: &Path) -> SocketScan {
    let mut scan = SocketScan::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return scan,
        Err(e) => {
            scan.dir_error = Some(format!("{}: {e}", dir.display()));
            return scan;
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".sock") else {
            continue;
        };
        let Ok(gid) = GardenId::parse(stem) else {
            scan.malformed.push(name);
            continue;
        };
        if entry.file_type().map(|t| t.is_symlink()).unwrap_or(false) {
            scan.symlinked.insert(gid);
        } else {
            scan.sockets.insert(gid);
        }
    }
    scan.malformed.sort();
    scan
}

/// Every gid that must be probed: the sockets found and every pi citizen's canonical path.
pub fn gids_to_probe(records: &[MetaRecord], scan: &SocketScan) -> BTreeSet<GardenId> {
    let mut all = scan.sockets.clone();
    for r in records {
        if r.backend == Backend::Pi {
            all.insert(r.garden_id.clone());
        }
    }
    all
}

/// The pure join (`listEntwurfFacts` + `resolveFactList`): conflicts quarantined, socket probes
/// folded into pi citizens, the rest listed as socket-only, diagnostics sorted.
pub fn resolve(
    records: &[MetaRecord],
    record_errors: &[(String, String)],
    scan: &SocketScan,
    probes: &BTreeMap<GardenId, SocketProbe>,
) -> Facts {
    let mut diagnostics = Vec::new();
    for (filename, message) in record_errors {
        diagnostics.push(Diagnostic::MetaRecordReadError {
            filename: filename.clone(),
            message: message.clone(),
        });
    }
    for gid in &scan.symlinked {
        diagnostics.push(Diagnostic::SocketSymlinkRejected {
            garden_id: gid.to_string(),
            message: "control socket is a symlink — never probed (it could redirect to another session's listener and forge an alive liveness for this gardenId); a citizen owning it is treated as dead (dormant), a record-less one dropped.".into(),
        });
    }
    for name in &scan.malformed {
        diagnostics.push(Diagnostic::MalformedSocketName {
            name: name.clone(),
            message: "control-socket filename is not a garden id — no citizen to correlate to; dropped from the listing.".into(),
        });
    }
    if let Some(e) = &scan.dir_error {
        diagnostics.push(Diagnostic::SocketDirReadError {
            message: format!("control-socket directory unreadable (socket axis incomplete; meta-record citizens still listed): {e}"),
        });
    }
    let mut conflicts = BTreeSet::new();
    for r in records {
        if r.backend != Backend::Pi
            && (scan.sockets.contains(&r.garden_id) || scan.symlinked.contains(&r.garden_id))
        {
            conflicts.insert(r.garden_id.clone());
            diagnostics.push(Diagnostic::GardenIdSocketConflict {
                garden_id: r.garden_id.to_string(),
                backend: r.backend.as_str().to_owned(),
                message: format!("non-pi citizen ({}) shares its gardenId with a control socket (real or symlinked) — address ambiguity; both the citizen and the socket are quarantined from the listing.", r.backend.as_str()),
            });
        }
    }
    let mut peers = Vec::new();
    let mut consumed = BTreeSet::new();
    for r in records {
        if conflicts.contains(&r.garden_id) || !consumed.insert(r.garden_id.clone()) {
            continue;
        }
        let liveness = if r.backend == Backend::Pi {
            probes
                .get(&r.garden_id)
                .map_or("dead", |p| liveness_str(p.liveness))
        } else {
            "unsupported"
        };
        peers.push(PeerFact {
            garden_id: r.garden_id.to_string(),
            backend: r.backend.as_str().to_owned(),
            native_session_id: r.native_session_id.clone(),
            cwd: r.cwd.clone(),
            model: r.model.clone(),
            parent_garden_id: r.parent_garden_id.as_ref().map(|g| g.to_string()),
            is_entwurf: r.is_entwurf,
            created_at: r.created_at.clone(),
            record_updated_at: r.record_updated_at.clone(),
            liveness: liveness.to_owned(),
        });
    }
    let mut socket_only = Vec::new();
    for (gid, p) in probes {
        if consumed.contains(gid) || conflicts.contains(gid) || !scan.sockets.contains(gid) {
            continue;
        }
        socket_only.push(SocketOnlyFact {
            kind: "socket-only",
            garden_id: gid.to_string(),
            liveness: liveness_str(p.liveness).to_owned(),
            cwd: p.cwd.clone(),
            model: p.model.clone(),
            idle: p.idle,
            info_error: p.info_error.clone(),
        });
    }
    peers.sort_by(|a, b| a.garden_id.cmp(&b.garden_id));
    socket_only.sort_by(|a, b| a.garden_id.cmp(&b.garden_id));
    diagnostics.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Facts {
        peers,
        socket_only,
        diagnostics,
    }
}

/// Budget for `get_info` of an alive socket.
const GET_INFO_BUDGET: Duration = Duration::from_millis(1500);

/// Lists the facts over real directories. Never fails: an unlistable record store becomes a
/// diagnostic, as an unreadable control dir does.
pub async fn collect(sessions_dir: &Path, control_dir: &Path) -> Facts {
    let (records, errors) = match list_records(sessions_dir) {
        Ok(l) => (
            l.records,
            l.errors
                .into_iter()
                .map(|e| (e.filename, e.message))
                .collect::<Vec<_>>(),
        ),
        Err(e) => (
            Vec::new(),
            vec![(sessions_dir.display().to_string(), Chain(&e).to_string())],
        ),
    };
    let scan = scan_control_dir(control_dir);
    let mut probes = BTreeMap::new();
    for gid in gids_to_probe(&records, &scan) {
        let path = socket_path(control_dir, &gid);
        let liveness = if scan.symlinked.contains(&gid) {
            SocketLiveness::Dead
        } else if scan.dir_error.is_some() {
            SocketLiveness::Indeterminate
        } else {
            probe(&path).await
        };
        let mut p = SocketProbe {
            liveness,
            cwd: None,
            model: None,
            idle: None,
            info_error: None,
        };
        if liveness == SocketLiveness::Alive {
            match get_info_within(&path, GET_INFO_BUDGET).await {
                Ok(info) => {
                    p.model = info.display_model();
                    p.cwd = info.cwd;
                    p.idle = info.idle;
                }
                Err(e) => p.info_error = Some(Chain(&e).to_string()),
            }
        }
        probes.insert(gid, p);
    }
    resolve(&records, &errors, &scan, &probes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(gid: &str, backend: Backend) -> MetaRecord {
        MetaRecord::new(GardenId::parse(gid).unwrap(), backend, "n", "/w", "t")
    }

    fn probe_of(l: SocketLiveness) -> SocketProbe {
        SocketProbe {
            liveness: l,
            cwd: None,
            model: None,
            idle: None,
            info_error: None,
        }
    }

    #[test]
    fn a_non_pi_citizen_sharing_a_socket_gid_is_quarantined_with_its_socket() {
        let g = GardenId::parse("20260101T000000-aaaaaa").unwrap();
        let records = vec![rec(g.as_str(), Backend::ClaudeCode)];
        let scan = SocketScan {
            sockets: [g.clone()].into(),
            ..Default::default()
        };
        let probes = [(g.clone(), probe_of(SocketLiveness::Alive))].into();
        let f = resolve(&records, &[], &scan, &probes);
        assert!(f.peers.is_empty());
        assert!(f.socket_only.is_empty());
        assert!(matches!(
            &f.diagnostics[..],
            [Diagnostic::GardenIdSocketConflict { .. }]
        ));
    }

    #[test]
    fn pi_citizens_take_their_probe_and_other_sockets_are_socket_only() {
        let a = GardenId::parse("20260101T000000-aaaaaa").unwrap();
        let b = GardenId::parse("20260101T000000-bbbbbb").unwrap();
        let records = vec![rec(a.as_str(), Backend::Pi)];
        let scan = SocketScan {
            sockets: [a.clone(), b.clone()].into(),
            malformed: vec!["x.sock".into()],
            ..Default::default()
        };
        let probes = [
            (a.clone(), probe_of(SocketLiveness::Alive)),
            (b.clone(), probe_of(SocketLiveness::Dead)),
        ]
        .into();
        let f = resolve(
            &records,
            &[("bad.meta.json".into(), "x".into())],
            &scan,
            &probes,
        );
        assert_eq!(f.peers[0].liveness, "alive");
        assert_eq!(f.socket_only[0].garden_id, b.as_str());
        assert_eq!(f.socket_only[0].liveness, "dead");
        assert!(matches!(
            &f.diagnostics[..],
            [
                Diagnostic::MetaRecordReadError { .. },
                Diagnostic::MalformedSocketName { .. }
            ]
        ));
    }
}
