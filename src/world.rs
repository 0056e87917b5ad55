//! One cell's world: a fresh temp root holding every directory the dispatch touches, including
//! the `HOME` of its pi residents (so `<world>/home/.pi/entwurf-control` is their real control
//! dir). Nothing outside the world is written.
//!
//! The root is an [`assert_fs::TempDir`] and every store path a [`ChildPath`] of it, so a cell
//! states its on-disk invariants as `predicates` over those paths ([`crate::check_path`]).
//!
//! A cell ends with [`World::pass`]. A world dropped without it (an early `Err` return, or a
//! panic) is a failed cell: its residents are reaped, its sockets removed, the directory kept
//! (`TempDir::into_persistent`) and a diagnostic block printed (garden ids, socket / lock /
//! mailbox paths, pi's stderr tail).

use std::fmt::{self, Write as _};
use std::path::Path;
use std::sync::{Arc, Mutex};

use assert_fs::fixture::{ChildPath, PathChild as _};
use assert_fs::TempDir;
use entwurf_meta_session::GardenId;

use crate::discovery::PiLocation;
use crate::resident::{control_socket_path, HarnessError, Reaped, Resident, ResidentDirs};
use crate::target::LiveTarget;
use crate::wait::Timeouts;

/// A cell's temp world. See the module docs.
pub struct World {
    cell: String,
    root: std::path::PathBuf,
    tmp: Option<TempDir>,
    timeouts: Timeouts,
    /// Meta-record store (`<gid>.meta.json`).
    pub sessions: ChildPath,
    /// Mailbox root (`<mailbox>/<gid>/`).
    pub mailbox: ChildPath,
    /// Receiver markers.
    pub receivers: ChildPath,
    /// Sender markers.
    pub senders: ChildPath,
    /// Dispatch locks (`<lock>/<gid>.lock`).
    pub lock: ChildPath,
    /// `HOME` of the residents.
    pub home: ChildPath,
    /// `<home>/.pi/entwurf-control`: the residents' real control dir.
    pub control: ChildPath,
    /// `PI_CODING_AGENT_DIR` of the residents (pi's session transcripts live here).
    pub agent: ChildPath,
    /// Working directory of the residents.
    pub cwd: ChildPath,
    /// Logs (pi stdout / stderr, dispatch outputs).
    pub logs: ChildPath,
    gids: Mutex<Vec<(String, GardenId)>>,
    residents: Mutex<Vec<Arc<Resident>>>,
    notes: Mutex<Vec<String>>,
    passed: bool,
}

impl World {
    /// Creates `<tmp>/entwurf-live-<cell>-XXXXXX/` with every directory present (the mailbox,
    /// lock and control dirs too, so "byte-identical" and "no lock left" compare against a real
    /// directory).
    pub fn new(cell: &str) -> Result<World, HarnessError> {
        let tmp = TempDir::with_prefix(format!("entwurf-live-{cell}-")).map_err(|e| {
            HarnessError::Io {
                path: std::env::temp_dir(),
                source: std::io::Error::other(e),
            }
        })?;
        let world = World {
            cell: cell.to_owned(),
            sessions: tmp.child("sessions"),
            mailbox: tmp.child("mailbox"),
            receivers: tmp.child("receivers"),
            senders: tmp.child("senders"),
            lock: tmp.child("locks"),
            control: tmp.child("home/.pi/entwurf-control"),
            agent: tmp.child("agent"),
            cwd: tmp.child("cwd"),
            logs: tmp.child("logs"),
            home: tmp.child("home"),
            root: tmp.path().to_path_buf(),
            tmp: Some(tmp),
            timeouts: Timeouts::STANDARD,
            gids: Mutex::new(Vec::new()),
            residents: Mutex::new(Vec::new()),
            notes: Mutex::new(Vec::new()),
            passed: false,
        };
        for d in [
            &world.sessions,
            &world.mailbox,
            &world.receivers,
            &world.senders,
            &world.lock,
            &world.control,
            &world.agent,
            &world.cwd,
            &world.logs,
        ] {
            std::fs::create_dir_all(d).map_err(|source| HarnessError::Io {
                path: d.to_path_buf(),
                source,
            })?;
        }
        Ok(world)
    }

    /// The world's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path under the world's root (`root/<rel>`).
    pub fn child(&self, rel: impl AsRef<Path>) -> ChildPath {
        ChildPath::new(self.root().join(rel))
    }

    /// Mints a fresh garden id and remembers it under `role` (for the diagnostic block and the
    /// socket clean-up).
    pub fn mint_gid(&self, role: &str) -> GardenId {
        let gid = GardenId::mint();
        lock(&self.gids).push((role.to_owned(), gid.clone()));
        gid
    }

    /// `<control>/<gid>.sock`.
    pub fn socket_path(&self, gid: &GardenId) -> ChildPath {
        ChildPath::new(control_socket_path(&self.home, gid))
    }

    /// `<lock>/<gid>.lock`.
    pub fn lock_path(&self, gid: &GardenId) -> ChildPath {
        self.lock.child(format!("{gid}.lock"))
    }

    /// `<mailbox>/<gid>` (the target's mailbox directory).
    pub fn target_mailbox(&self, gid: &GardenId) -> ChildPath {
        self.mailbox.child(gid.as_str())
    }

    /// Adds a line to the diagnostic block (shown only if the cell fails).
    pub fn note(&self, line: impl Into<String>) {
        lock(&self.notes).push(line.into());
    }

    /// Starts a pi resident for `gid` in this world; the world reaps it on drop.
    pub fn start_resident(
        &self,
        pi: &PiLocation,
        target: &LiveTarget,
        gid: &GardenId,
    ) -> Result<Arc<Resident>, HarnessError> {
        let dirs = ResidentDirs {
            home: self.home.to_path_buf(),
            agent: self.agent.to_path_buf(),
            cwd: self.cwd.to_path_buf(),
            logs: self.logs.to_path_buf(),
        };
        let resident = Arc::new(Resident::start(pi, target, gid, &dirs, self.timeouts)?);
        lock(&self.residents).push(Arc::clone(&resident));
        self.note(format!(
            "resident {gid}: pid {} ({} {target})",
            resident.pid(),
            pi.pi_bin.display()
        ));
        Ok(resident)
    }

    /// The cell passed: reap, remove the world.
    pub fn pass(mut self) {
        self.passed = true;
    }

    fn teardown(&mut self) {
        let residents: Vec<Arc<Resident>> = lock(&self.residents).drain(..).collect();
        let mut reaped: Vec<(GardenId, Reaped, String, std::path::PathBuf)> = Vec::new();
        for r in &residents {
            reaped.push((
                r.gid().clone(),
                r.reap(),
                r.stderr_tail(30),
                r.stderr_path().to_path_buf(),
            ));
        }
        let gids = lock(&self.gids).clone();
        let mut sockets_left = Vec::new();
        for (_, gid) in &gids {
            let sock = self.socket_path(gid);
            if std::fs::symlink_metadata(&sock).is_ok() {
                let _ = std::fs::remove_file(&sock);
                sockets_left.push(sock);
            }
        }
        let failed = !self.passed || std::thread::panicking();
        let Some(tmp) = self.tmp.take() else { return };
        if !failed {
            drop(tmp);
            return;
        }
        let kept = tmp.into_persistent();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\n===== live cell {} FAILED: world kept =====",
            self.cell
        );
        let _ = writeln!(out, "world:     {}", kept.display());
        for (role, gid) in &gids {
            let _ = writeln!(out, "gid {role:<10} {gid}");
            let _ = writeln!(out, "  socket   {}", self.socket_path(gid).display());
            let _ = writeln!(out, "  lock     {}", self.lock_path(gid).display());
            let _ = writeln!(out, "  mailbox  {}", self.target_mailbox(gid).display());
        }
        let _ = writeln!(out, "sessions:  {}", self.sessions.display());
        let _ = writeln!(out, "receivers: {}", self.receivers.display());
        for s in &sockets_left {
            let _ = writeln!(out, "socket left at teardown (removed): {}", s.display());
        }
        for n in lock(&self.notes).iter() {
            let _ = writeln!(out, "note: {n}");
        }
        for (gid, how, tail, path) in &reaped {
            let _ = writeln!(
                out,
                "--- pi {gid} reaped: {how:?}; stderr {} (tail):",
                path.display()
            );
            let _ = writeln!(out, "{tail}");
        }
        let _ = writeln!(out, "===== end of live cell {} =====", self.cell);
        eprintln!("{out}");
    }
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("World")
            .field("cell", &self.cell)
            .field("root", &self.root)
            .field("passed", &self.passed)
            .finish_non_exhaustive()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.teardown();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passing_world_is_removed_and_a_failing_one_kept() {
        let w = World::new("unit-pass").unwrap();
        let root = w.root().to_path_buf();
        assert!(w.control.ends_with("home/.pi/entwurf-control") && w.control.is_dir());
        w.pass();
        assert!(!root.exists());

        let w = World::new("unit-fail").unwrap();
        let gid = w.mint_gid("target");
        std::fs::write(w.socket_path(&gid), b"").unwrap();
        let root = w.root().to_path_buf();
        drop(w);
        assert!(root.is_dir(), "failed world kept");
        assert!(!root
            .join(format!("home/.pi/entwurf-control/{gid}.sock"))
            .exists());
        std::fs::remove_dir_all(root).unwrap();
    }
}
