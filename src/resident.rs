//! A real pi resident: `pi -ne -e <ext> --session-id <gid> --entwurf-control --mode rpc`, with
//! stdin held open, its home and agent dir inside the cell's world, and a reaper that always runs.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use entwurf_meta_session::GardenId;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::discovery::PiLocation;
use crate::target::LiveTarget;
use crate::wait::{poll_until, Timeouts};

/// A failure of the live setup itself (not of an invariant).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A world directory could not be made.
    #[error("cannot create {path}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The socket path would not fit in `sun_path` (108 bytes).
    #[error("socket path {path} is {len} bytes, over the 107-byte unix socket limit: point TMPDIR at a shorter directory")]
    SocketPathTooLong {
        /// The path.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
    },
    /// pi could not be started.
    #[error("cannot start {pi_bin}")]
    Spawn {
        /// The executable.
        pi_bin: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// pi exited before its socket was connectable.
    #[error(
        "pi for {gid} exited ({status}) before its socket stood up; stderr tail:\n{stderr_tail}"
    )]
    ExitedBeforeSocket {
        /// The resident's garden id.
        gid: GardenId,
        /// How it ended.
        status: String,
        /// Last lines of its stderr.
        stderr_tail: String,
    },
    /// The socket did not become connectable within the boot timeout.
    #[error(
        "pi for {gid} did not stand up {socket} within {timeout:?}; stderr tail:\n{stderr_tail}"
    )]
    BootTimeout {
        /// The resident's garden id.
        gid: GardenId,
        /// The socket waited for.
        socket: PathBuf,
        /// The boot timeout.
        timeout: Duration,
        /// Last lines of its stderr.
        stderr_tail: String,
    },
    /// Signalling or waiting for the resident failed.
    #[error("cannot {action} pi pid {pid}: {detail}")]
    Signal {
        /// `SIGKILL`, `wait`, …
        action: &'static str,
        /// The resident's pid.
        pid: u32,
        /// The error.
        detail: String,
    },
}

/// The directories a resident lives in (all inside one world).
#[derive(Debug, Clone)]
pub struct ResidentDirs {
    /// `HOME` of the pi process; its control dir is `<home>/.pi/entwurf-control`.
    pub home: PathBuf,
    /// `PI_CODING_AGENT_DIR` (pi's own session store).
    pub agent: PathBuf,
    /// Working directory.
    pub cwd: PathBuf,
    /// Where stdout / stderr logs go.
    pub logs: PathBuf,
}

/// How a resident ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaped {
    /// It exited (or was signalled) with this status.
    Exited(String),
    /// SIGTERM was ignored for the grace period; SIGKILL ended it.
    Killed(String),
}

/// A running pi. Reaped on drop (also when the cell panics).
#[derive(Debug)]
pub struct Resident {
    gid: GardenId,
    pid: u32,
    socket_path: PathBuf,
    stderr_path: PathBuf,
    timeouts: Timeouts,
    child: Mutex<Child>,
    stdin: Mutex<Option<ChildStdin>>,
    reaped: Mutex<Option<Reaped>>,
}

/// The control socket path of `gid` under `home`.
pub fn control_socket_path(home: &Path, gid: &GardenId) -> PathBuf {
    home.join(".pi/entwurf-control").join(format!("{gid}.sock"))
}

impl Resident {
    /// Starts pi for `gid`; does not wait for the socket (see [`Resident::wait_for_socket`]).
    ///
    /// The environment is built from scratch: `PATH` (pi's node first), `HOME`,
    /// `PI_CODING_AGENT_DIR`, `PI_OFFLINE=1`, loopback proxies. Nothing of the caller's pi
    /// session (`PI_SESSION_ID`, …) leaks in, and nothing under the real home is touched.
    pub fn start(
        pi: &PiLocation,
        target: &LiveTarget,
        gid: &GardenId,
        dirs: &ResidentDirs,
        timeouts: Timeouts,
    ) -> Result<Resident, HarnessError> {
        let socket_path = control_socket_path(&dirs.home, gid);
        let len = socket_path.as_os_str().len();
        if len > 107 {
            return Err(HarnessError::SocketPathTooLong {
                path: socket_path,
                len,
            });
        }
        for d in [&dirs.home, &dirs.agent, &dirs.cwd, &dirs.logs] {
            std::fs::create_dir_all(d).map_err(|source| HarnessError::Io {
                path: d.clone(),
                source,
            })?;
        }
        let stderr_path = dirs.logs.join(format!("pi-{gid}.stderr"));
        let stdout_path = dirs.logs.join(format!("pi-{gid}.stdout"));
        let open = |p: &Path| {
            File::create(p).map_err(|source| HarnessError::Io {
                path: p.to_path_buf(),
                source,
            })
        };
        let (stderr, stdout) = (open(&stderr_path)?, open(&stdout_path)?);

        let inherited = std::env::var_os("PATH").unwrap_or_default();
        let mut path = std::ffi::OsString::new();
        if let Some(node) = &pi.node_bin_dir {
            path.push(node.as_os_str());
            path.push(":");
        }
        path.push(inherited);

        let mut cmd = Command::new(&pi.pi_bin);
        cmd.arg("-ne")
            .arg("-e")
            .arg(&pi.extension)
            .arg("--session-id")
            .arg(gid.as_str())
            .arg("--entwurf-control")
            .arg("--mode")
            .arg("rpc")
            // Both lines: a provider always with its model (1.x refuses `--provider` alone).
            .args(entwurf_spawn::pi_line::provider_model_args(
                Some(&target.provider),
                &target.model,
            ))
            .current_dir(&dirs.cwd)
            .env_clear()
            .env("PATH", path)
            .env("HOME", &dirs.home)
            .env("PI_CODING_AGENT_DIR", &dirs.agent)
            .env("PI_OFFLINE", "1")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            // Loopback stays direct: a cell's scripted model endpoint listens there (C7).
            .env("NO_PROXY", "127.0.0.1,localhost")
            .stdin(Stdio::piped())
            .stdout(stdout)
            .stderr(stderr);
        if let Some(tmp) = std::env::var_os("TMPDIR") {
            cmd.env("TMPDIR", tmp);
        }
        // The extension's entwurf_v2 / entwurf_peers tools run this binary.
        // The extension's tools run `entwurf`: the gate's (`ENTWURF_BIN`), else the one built
        // next to this test binary, so a plain `cargo test -- --ignored` uses this build too.
        if let Ok(bin) = crate::live::discover_entwurf_bin_from_env() {
            cmd.env("ENTWURF_BIN", bin);
        }
        let mut child = cmd.spawn().map_err(|source| HarnessError::Spawn {
            pi_bin: pi.pi_bin.clone(),
            source,
        })?;
        let stdin = child.stdin.take();
        Ok(Resident {
            gid: gid.clone(),
            pid: child.id(),
            socket_path,
            stderr_path,
            timeouts,
            child: Mutex::new(child),
            stdin: Mutex::new(stdin),
            reaped: Mutex::new(None),
        })
    }

    /// The resident's garden id (its `--session-id`).
    pub fn gid(&self) -> &GardenId {
        &self.gid
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `<home>/.pi/entwurf-control/<gid>.sock`.
    pub fn socket_path(&self) -> &Path {
        &self.socket_path
    }

    /// The file pi's stderr goes to.
    pub fn stderr_path(&self) -> &Path {
        &self.stderr_path
    }

    /// The last `lines` lines of pi's stderr (empty when unreadable).
    pub fn stderr_tail(&self, lines: usize) -> String {
        tail_lines(&self.stderr_path, lines)
    }

    /// Polls (every `poll`) until the socket is a socket file that accepts a connection.
    ///
    /// Fails early when pi exits, and with [`HarnessError::BootTimeout`] after `boot`.
    /// Returns the time it took.
    pub fn wait_for_socket(&self) -> Result<Duration, HarnessError> {
        let t = self.timeouts;
        let mut exited: Option<String> = None;
        let got = poll_until(t.boot, t.poll, || {
            if socket_accepts(&self.socket_path) {
                return Some(());
            }
            if let Some(status) = self.try_status() {
                exited = Some(status.to_string());
                return Some(());
            }
            None
        });
        if let Some(status) = exited {
            return Err(HarnessError::ExitedBeforeSocket {
                gid: self.gid.clone(),
                status,
                stderr_tail: self.stderr_tail(20),
            });
        }
        match got {
            Some(((), took)) => Ok(took),
            None => Err(HarnessError::BootTimeout {
                gid: self.gid.clone(),
                socket: self.socket_path.clone(),
                timeout: t.boot,
                stderr_tail: self.stderr_tail(20),
            }),
        }
    }

    /// True while the process has not exited.
    pub fn is_running(&self) -> bool {
        self.reaped_status().is_none() && self.try_status().is_none()
    }

    /// SIGKILL and wait: the resident dies without cleaning up, leaving its socket file behind
    /// (the dormant fixture).
    pub fn kill9(&self) -> Result<String, HarnessError> {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
        let status = child.wait().map_err(|e| HarnessError::Signal {
            action: "wait for",
            pid: self.pid,
            detail: e.to_string(),
        })?;
        let text = status.to_string();
        *self.reaped.lock().unwrap_or_else(|p| p.into_inner()) = Some(Reaped::Killed(text.clone()));
        Ok(text)
    }

    /// SIGTERM, up to `grace` for it to exit, then SIGKILL; always waits. Idempotent.
    pub fn reap(&self) -> Reaped {
        if let Some(r) = self.reaped_status() {
            return r;
        }
        let pid = Pid::from_raw(self.pid as i32);
        let result = if let Some(s) = self.try_status() {
            Reaped::Exited(s.to_string())
        } else {
            let _ = kill(pid, Signal::SIGTERM);
            match poll_until(self.timeouts.grace, Duration::from_millis(20), || {
                self.try_status()
            }) {
                Some((s, _)) => Reaped::Exited(s.to_string()),
                None => {
                    let _ = kill(pid, Signal::SIGKILL);
                    let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
                    Reaped::Killed(
                        child
                            .wait()
                            .map(|s| s.to_string())
                            .unwrap_or_else(|e| format!("wait failed: {e}")),
                    )
                }
            }
        };
        // Close our end of stdin only now: EOF alone would also end pi, but SIGTERM first is
        // the documented shutdown.
        drop(self.stdin.lock().unwrap_or_else(|p| p.into_inner()).take());
        *self.reaped.lock().unwrap_or_else(|p| p.into_inner()) = Some(result.clone());
        result
    }

    fn reaped_status(&self) -> Option<Reaped> {
        self.reaped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn try_status(&self) -> Option<ExitStatus> {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        child.try_wait().ok().flatten()
    }
}

impl Drop for Resident {
    fn drop(&mut self) {
        self.reap();
    }
}

/// True when `path` is a socket file (lstat, not following links) that accepts a connection.
pub fn socket_accepts(path: &Path) -> bool {
    let is_socket = std::fs::symlink_metadata(path)
        .map(|m| m.file_type().is_socket())
        .unwrap_or(false);
    is_socket && UnixStream::connect(path).is_ok()
}

/// The last `n` lines of a text file ("" if it cannot be read).
pub fn tail_lines(path: &Path, n: usize) -> String {
    let Ok(f) = File::open(path) else {
        return String::new();
    };
    let lines: Vec<String> = BufReader::new(f).lines().map_while(Result::ok).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
