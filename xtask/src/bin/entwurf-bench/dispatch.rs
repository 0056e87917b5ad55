//! Dispatch latency through the decider's production path (`entwurf_decider::dispatch`: resolve,
//! lock, inspect, probe, RPC or enqueue, release), timed per dispatch inside one runtime.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use entwurf_control_rpc::{DeliveredAs, Handler, SendData, SendRequest, Server};
use entwurf_decider::{dispatch, DispatchInput, Intent, Production, ProductionDirs, RunResult};
use entwurf_meta_session::{
    iso_millis, write_receiver_marker, write_record, ArmProvenance, Backend, GardenId, MetaRecord,
    ReceiverMarkerInput,
};
use indexmap::IndexMap;
use xtask::report::{
    Breakdown, ControlSocketDispatch, ControlSocketMore, Dispatch, Floor, MailboxDispatch,
    MailboxMore, RealPiDispatch, RealPiMore, Section,
};

use crate::stats::{ms, round, Samples};
use crate::Opts;

/// Where the provisioned pi is.
#[derive(Debug, Clone)]
pub struct PiSetup {
    pub pi_bin: PathBuf,
    pub node_bin_dir: Option<PathBuf>,
    pub extension: PathBuf,
}

/// A temp world with every store directory.
struct World {
    tmp: tempfile::TempDir,
    dirs: ProductionDirs,
}

fn world(o: &Opts, prefix: &str) -> Result<World, String> {
    // Short: a pi socket path must stay under 108 bytes.
    let tmp = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&o.tmp)
        .map_err(|e| format!("temp dir: {e}"))?;
    let r = tmp.path();
    let dirs = ProductionDirs {
        sessions: r.join("s"),
        mailbox: r.join("m"),
        receivers: r.join("r"),
        lock: r.join("l"),
        control: r.join("h/.pi/entwurf-control"),
    };
    for d in [
        &dirs.sessions,
        &dirs.mailbox,
        &dirs.receivers,
        &dirs.lock,
        &dirs.control,
    ] {
        std::fs::create_dir_all(d).map_err(|e| format!("mkdir {}: {e}", d.display()))?;
    }
    Ok(World { tmp, dirs })
}

fn record(gid: &GardenId, backend: Backend, native: &str) -> MetaRecord {
    MetaRecord::new(
        gid.clone(),
        backend,
        native,
        "/tmp",
        iso_millis(chrono::Utc::now()),
    )
}

/// Arms a claude-code receiver for `gid` owned by this (live) bench process, so the start-key
/// guard sees a live owner.
pub(crate) fn arm_own_receiver(
    receivers: &Path,
    gid: &GardenId,
    native: &str,
) -> Result<(), String> {
    write_receiver_marker(
        receivers,
        &ReceiverMarkerInput {
            garden_id: gid.clone(),
            backend: Backend::ClaudeCode,
            native_session_id: native.to_owned(),
            owner_pid: i64::from(std::process::id()),
            owner_kind: None,
            arm_provenance: ArmProvenance::SessionStart,
        },
        chrono::Utc::now(),
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))
}

/// What one delivered dispatch must look like.
fn check(result: &RunResult, transport: &str) -> Result<(), String> {
    let line = result.to_json_line();
    if result.delivered() && line.contains(transport) {
        Ok(())
    } else {
        Err(format!("dispatch not delivered over {transport}: {line}"))
    }
}

/// Warm-up, then `n` timed dispatches of `gid`; every one must be delivered over `transport`.
fn measure(
    production: &Production,
    gid: &GardenId,
    transport: &str,
    warmup: usize,
    n: usize,
) -> Result<Samples, String> {
    let rt = runtime()?;
    rt.block_on(async {
        let input = DispatchInput::new(gid.as_str(), Intent::FireAndForget, "bench ping");
        for _ in 0..warmup {
            let r = dispatch(production, input.clone())
                .await
                .map_err(|e| e.to_string())?;
            check(&r, transport)?;
        }
        let mut s = Samples::default();
        for _ in 0..n {
            let t = Instant::now();
            let r = dispatch(production, input.clone()).await;
            let took = t.elapsed();
            let r = r.map_err(|e| e.to_string())?;
            check(&r, transport)?;
            s.push(took);
        }
        Ok(s)
    })
}

/// Answers every `send` at once (idle → `direct`).
struct InstantReply;

#[async_trait::async_trait]
impl Handler for InstantReply {
    async fn on_send(&self, request: SendRequest) -> Result<SendData, String> {
        Ok(SendData {
            delivered: true,
            delivered_as: DeliveredAs::choose(true, request.mode),
            wants_reply: request.wants_reply,
        })
    }
}

/// Serves `<control>/<gid>.sock` on its own thread and runtime until `stop` fires.
fn spawn_listener(
    control: PathBuf,
    gid: GardenId,
) -> Result<
    (
        std::thread::JoinHandle<()>,
        tokio::sync::oneshot::Sender<()>,
    ),
    String,
> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let handle = std::thread::spawn(move || {
        let rt = match runtime() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        rt.block_on(async move {
            match Server::bind(&control, &gid, InstantReply).await {
                Ok(server) => {
                    let _ = ready_tx.send(Ok(()));
                    let _ = stop_rx.await;
                    server.shutdown().await;
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                }
            }
        });
    });
    match ready_rx.recv() {
        Ok(Ok(())) => Ok((handle, stop_tx)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err("listener thread ended before binding".into()),
    }
}

pub fn control_socket(o: &Opts) -> Section<ControlSocketDispatch> {
    Section::from_result(control_socket_inner(o))
}

/// `entwurf-bench listen CONTROL_DIR GID`: an instant-reply listener in its own process.
/// Prints `ready` once bound and serves until its stdin closes.
pub fn listen(args: &[String]) -> Result<(), String> {
    let [control, gid] = args else {
        return Err("usage: entwurf-bench listen CONTROL_DIR GID".into());
    };
    let gid = GardenId::parse(gid).map_err(|e| e.to_string())?;
    let control = PathBuf::from(control);
    runtime()?.block_on(async move {
        let server = Server::bind(&control, &gid, InstantReply)
            .await
            .map_err(|e| e.to_string())?;
        println!("ready");
        // Until the parent closes our stdin (or goes away).
        let _ = tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink)
        })
        .await;
        server.shutdown().await;
        Ok(())
    })
}

/// Control-socket dispatch against an instant-reply listener in another process (as pi is).
pub fn control_socket_cross_process(o: &Opts) -> Section<ControlSocketDispatch> {
    Section::from_result(cross_process_inner(o))
}

fn cross_process_inner(o: &Opts) -> Result<ControlSocketDispatch, String> {
    use std::io::BufRead;
    let w = world(o, "ewb-cx-")?;
    let gid = GardenId::mint();
    let exe = std::env::current_exe().map_err(|e| format!("current exe: {e}"))?;
    let mut child = std::process::Command::new(exe)
        .arg("listen")
        .arg(&w.dirs.control)
        .arg(gid.as_str())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the listener process: {e}"))?;
    let mut line = String::new();
    let ready = child
        .stdout
        .take()
        .map(std::io::BufReader::new)
        .map(|mut r| r.read_line(&mut line));
    let result = if matches!(ready, Some(Ok(_))) && line.trim() == "ready" {
        write_record(&w.dirs.sessions, &record(&gid, Backend::Pi, "bench-pi"))
            .map_err(|e| e.to_string())
            .and_then(|_| {
                let production = Production::new(w.dirs.clone());
                let s = measure(&production, &gid, "control-socket", o.warmup, o.dispatches)?;
                let mut floor = Samples::default();
                let sock = entwurf_control_rpc::socket_path(&w.dirs.control, &gid);
                bare_round_trips(&sock, o.dispatches, &mut floor)?;
                Ok((s, floor))
            })
    } else {
        Err(format!("the listener process did not get ready ({line:?})"))
    };
    drop(child.stdin.take());
    let _ = child.wait();
    let (s, floor) = result?;
    Ok(Dispatch::new(
        s.summary(),
        o.warmup,
        ControlSocketMore {
            listener: "entwurf-control-rpc Server in a separate process, instant reply".to_owned(),
            world: w.tmp.path().to_path_buf(),
            floor: Some(Floor::new(floor.summary())),
        },
    ))
}

fn control_socket_inner(o: &Opts) -> Result<ControlSocketDispatch, String> {
    let mut w = world(o, "ewb-cs-")?;
    let (gid, listener, what) = match &o.control_socket {
        Some(path) => {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .ok_or_else(|| format!("{} has no file stem", path.display()))?;
            let gid = GardenId::parse(stem).map_err(|e| {
                format!(
                    "--control-socket {}: the file stem must be a garden id ({e})",
                    path.display()
                )
            })?;
            w.dirs.control = path
                .parent()
                .map(Path::to_path_buf)
                .ok_or_else(|| format!("{} has no parent dir", path.display()))?;
            (gid, None, format!("external listener {}", path.display()))
        }
        None => {
            let gid = GardenId::mint();
            let l = spawn_listener(w.dirs.control.clone(), gid.clone())?;
            (
                gid,
                Some(l),
                "embedded entwurf-control-rpc Server (own thread + runtime), instant reply"
                    .to_owned(),
            )
        }
    };
    write_record(&w.dirs.sessions, &record(&gid, Backend::Pi, "bench-pi"))
        .map_err(|e| e.to_string())?;
    let production = Production::new(w.dirs.clone());
    let mut floor = Samples::default();
    // The floor only against a listener of our own: an external one (perhaps a real pi) gets
    // no sends beyond the dispatches it was pointed at for.
    let own_listener = listener.is_some();
    let result =
        measure(&production, &gid, "control-socket", o.warmup, o.dispatches).and_then(|s| {
            if !own_listener {
                return Ok(s);
            }
            let sock = entwurf_control_rpc::socket_path(&w.dirs.control, &gid);
            bare_round_trips(&sock, o.dispatches, &mut floor).map(|()| s)
        });
    if let Some((handle, stop)) = listener {
        let _ = stop.send(());
        let _ = handle.join();
    }
    let s = result?;
    Ok(Dispatch::new(
        s.summary(),
        o.warmup,
        ControlSocketMore {
            listener: what,
            world: w.tmp.path().to_path_buf(),
            floor: own_listener.then(|| Floor::new(floor.summary())),
        },
    ))
}

pub fn mailbox(o: &Opts) -> Section<MailboxDispatch> {
    Section::from_result(mailbox_inner(o))
}

fn mailbox_inner(o: &Opts) -> Result<MailboxDispatch, String> {
    let w = world(o, "ewb-mb-")?;
    let gid = GardenId::mint();
    let native = "bench-claude-native";
    write_record(&w.dirs.sessions, &record(&gid, Backend::ClaudeCode, native))
        .map_err(|e| e.to_string())?;
    // The receiver marker is owned by this process, so the start-key guard sees a live owner.
    arm_own_receiver(&w.dirs.receivers, &gid, native)?;
    let production = Production::new(w.dirs.clone());
    let s = measure(&production, &gid, "meta-mailbox", o.warmup, o.dispatches)?;
    let msgs = std::fs::read_dir(w.dirs.mailbox.join(gid.as_str()))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".msg"))
                .count()
        })
        .unwrap_or(0);
    Ok(Dispatch::new(
        s.summary(),
        o.warmup,
        MailboxMore {
            msg_files_written: msgs,
        },
    ))
}

/// A pi resident started the way the live-gate harness does (fresh env, HOME in the world).
struct Pi {
    child: Child,
}

impl Drop for Pi {
    fn drop(&mut self) {
        // stdin EOF ends an RPC-mode pi and removes its socket; SIGKILL if it lingers.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_pi(pi: &PiSetup, w: &World, gid: &GardenId) -> Result<Pi, String> {
    let root = w.tmp.path();
    let (home, agent, cwd) = (root.join("h"), root.join("agent"), root.join("cwd"));
    for d in [&agent, &cwd] {
        std::fs::create_dir_all(d).map_err(|e| format!("mkdir {}: {e}", d.display()))?;
    }
    let mut path = std::ffi::OsString::new();
    if let Some(node) = &pi.node_bin_dir {
        path.push(node.as_os_str());
        path.push(":");
    }
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let log =
        |name: &str| std::fs::File::create(root.join(name)).map_err(|e| format!("log file: {e}"));
    let mut cmd = Command::new(&pi.pi_bin);
    cmd.args(["-ne", "-e"])
        .arg(&pi.extension)
        .args([
            "--session-id",
            gid.as_str(),
            "--entwurf-control",
            "--mode",
            "rpc",
        ])
        .args(["--provider", "openai-codex", "--model", "gpt-5.4"])
        .current_dir(&cwd)
        .env_clear()
        .env("PATH", path)
        .env("HOME", &home)
        .env("PI_CODING_AGENT_DIR", &agent)
        .env("PI_OFFLINE", "1")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .stdin(Stdio::piped())
        .stdout(log("pi.stdout")?)
        .stderr(log("pi.stderr")?);
    let child = cmd
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", pi.pi_bin.display()))?;
    Ok(Pi { child })
}

fn wait_for_socket(pi: &mut Pi, socket: &Path, w: &World) -> Result<Duration, String> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(30) {
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            return Ok(t.elapsed());
        }
        if let Ok(Some(status)) = pi.child.try_wait() {
            let tail = std::fs::read_to_string(w.tmp.path().join("pi.stderr")).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(5).collect();
            return Err(format!(
                "pi exited before its socket ({status}): {}",
                tail.join(" | ")
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err(format!("pi did not open {} within 30 s", socket.display()))
}

pub fn real_pi(o: &Opts) -> Section<RealPiDispatch> {
    match &o.pi {
        Ok(pi) => Section::from_result(real_pi_inner(o, pi)),
        Err(reason) => Section::skipped(reason.clone()),
    }
}

fn real_pi_inner(o: &Opts, pi: &PiSetup) -> Result<RealPiDispatch, String> {
    let w = world(o, "ewb-pi-")?;
    let gid = GardenId::mint();
    let socket = w.dirs.control.join(format!("{gid}.sock"));
    let mut resident = start_pi(pi, &w, &gid)?;
    let boot = wait_for_socket(&mut resident, &socket, &w)?;
    write_record(
        &w.dirs.sessions,
        &record(&gid, Backend::Pi, "bench-pi-native"),
    )
    .map_err(|e| e.to_string())?;
    let production = Production::new(w.dirs.clone());
    let s = measure(
        &production,
        &gid,
        "control-socket",
        o.warmup.min(50),
        o.dispatches.min(500),
    );
    if let Some(stdin) = resident.child.stdin.as_mut() {
        let _ = stdin.flush();
    }
    drop(resident);
    let s = s?;
    Ok(Dispatch::new(
        s.summary(),
        o.warmup.min(50),
        RealPiMore {
            boot_to_socket_ms: round(ms(boot)),
            pi_bin: pi.pi_bin.clone(),
        },
    ))
}

/// `n` bare round trips to `sock` after 20 warm-ups: blocking connect, one request line, read
/// until the reply's newline, close. What any client pays to the listener, substrate aside.
fn bare_round_trips(sock: &Path, n: usize, out: &mut Samples) -> Result<(), String> {
    use std::io::Read as _;
    // The very bytes a dispatch writes.
    let line = entwurf_control_rpc::Request::Send(SendRequest::new("bench ping")).to_line();
    let line = line.as_bytes();
    let mut buf = [0u8; 1024];
    for i in 0..n + 20 {
        let t = Instant::now();
        let mut c = std::os::unix::net::UnixStream::connect(sock)
            .map_err(|e| format!("bare connect {}: {e}", sock.display()))?;
        c.write_all(line).map_err(|e| format!("bare write: {e}"))?;
        let mut got = 0;
        while !buf[..got].contains(&b'\n') {
            match c.read(&mut buf[got..]) {
                Ok(0) => return Err("bare round trip: listener closed before replying".into()),
                Ok(k) => got += k,
                Err(e) => return Err(format!("bare read: {e}")),
            }
            if got == buf.len() {
                return Err("bare round trip: reply longer than 1 KiB".into());
            }
        }
        drop(c);
        if i >= 20 {
            out.push(t.elapsed());
        }
    }
    Ok(())
}

/// Per-step timing spans of the two dispatch paths, each step run alone `n` times against the
/// same kind of world (the profile behind the dispatch figures). Milliseconds, p50 per step.
pub fn breakdown(o: &Opts) -> Section<Breakdown> {
    Section::from_result(breakdown_inner(o, o.dispatches.min(500)))
}

fn span<T>(s: &mut Samples, f: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = f();
    s.push(t.elapsed());
    out
}

fn breakdown_inner(o: &Opts, n: usize) -> Result<Breakdown, String> {
    use entwurf_control_rpc::{inspect, probe_connect, socket_path, Probed, DEFAULT_RPC_TIMEOUT};
    use entwurf_lock::{AcquireOutcome, Lock};
    use entwurf_meta_session::read_record;

    let w = world(o, "ewb-bd-")?;
    let gid = GardenId::mint();
    let (handle, stop) = spawn_listener(w.dirs.control.clone(), gid.clone())?;
    write_record(&w.dirs.sessions, &record(&gid, Backend::Pi, "bench-pi"))
        .map_err(|e| e.to_string())?;
    let sock = socket_path(&w.dirs.control, &gid);
    let lock = Lock::new(&w.dirs.lock);
    // The steps production takes, in its order (the target resolves with one record read).
    let names = [
        "read_record",
        "lock acquire",
        "inspect (lstat)",
        "probe (connect, kept)",
        "send over the probe connection (RPC round trip)",
        "lock release",
    ];
    let mut s: Vec<Samples> = names.iter().map(|_| Samples::default()).collect();
    let rt = runtime()?;
    let res: Result<(), String> = rt.block_on(async {
        for i in 0..n + 20 {
            let mut tmp: Vec<Samples> = names.iter().map(|_| Samples::default()).collect();
            span(&mut tmp[0], || read_record(&w.dirs.sessions, &gid)).map_err(|e| e.to_string())?;
            let claim = match span(&mut tmp[1], || lock.acquire(&gid)).map_err(|e| e.to_string())? {
                AcquireOutcome::Acquired(c) => c,
                AcquireOutcome::Conflict(c) => return Err(c.detail),
            };
            span(&mut tmp[2], || inspect(&sock));
            // As production does: the alive probe's connection carries the send.
            let conn = match span(&mut tmp[3], || probe_connect(&sock)) {
                Probed::Alive(conn) => conn,
                other => return Err(format!("probe: {:?}", other.liveness())),
            };
            let t = Instant::now();
            conn.send_message(SendRequest::new("bench ping"), DEFAULT_RPC_TIMEOUT)
                .await
                .map_err(|e| e.to_string())?;
            tmp[4].push(t.elapsed());
            span(&mut tmp[5], || lock.release(&claim)).map_err(|e| e.to_string())?;
            if i >= 20 {
                for (a, b) in s.iter_mut().zip(tmp) {
                    if let Some(d) = b.first() {
                        a.push(d);
                    }
                }
            }
        }
        Ok(())
    });
    // The floor: the bare transport round trip to the same listener, no substrate at all.
    let mut floor = Samples::default();
    let floor_res = bare_round_trips(&sock, n, &mut floor);
    let _ = stop.send(());
    let _ = handle.join();
    res?;
    floor_res?;
    let mut control = step_p50s(&names, &s);
    control.insert(
        "floor: bare connect + request line + reply line, no substrate".into(),
        floor.summary().p50_ms,
    );

    // Meta-mailbox steps.
    let mgid = GardenId::mint();
    let native = "bench-claude-native";
    let rec = record(&mgid, Backend::ClaudeCode, native);
    write_record(&w.dirs.sessions, &rec).map_err(|e| e.to_string())?;
    arm_own_receiver(&w.dirs.receivers, &mgid, native)?;
    let mnames = [
        "resolve (read_record)",
        "deliverability (marker + /proc stat)",
        "enqueue (.msg + state.json + doorbell)",
    ];
    let mut ms_: Vec<Samples> = mnames.iter().map(|_| Samples::default()).collect();
    for _ in 0..n {
        span(&mut ms_[0], || read_record(&w.dirs.sessions, &mgid)).map_err(|e| e.to_string())?;
        let d = span(&mut ms_[1], || {
            entwurf_mailbox::mailbox_deliverability_for(&w.dirs.receivers, &rec)
        });
        if !d.deliverable {
            return Err(format!("bench citizen not deliverable: {:?}", d.reason));
        }
        span(&mut ms_[2], || {
            // As production does: to the record the resolve step read.
            entwurf_mailbox::enqueue_resolved(
                &rec,
                &w.dirs.sessions,
                &w.dirs.mailbox,
                "bench ping\n",
                chrono::Utc::now(),
                &mut entwurf_mailbox::RandomTags,
            )
        })
        .map_err(|e| e.to_string())?;
    }
    Ok(Breakdown {
        unit: "ms (p50 per step)".to_owned(),
        n,
        control_socket: control,
        meta_mailbox: step_p50s(&mnames, &ms_),
    })
}

/// Each step's p50, in order, then their sum (`sum of p50s`).
fn step_p50s(names: &[&str], samples: &[Samples]) -> IndexMap<String, Option<f64>> {
    let mut steps = IndexMap::new();
    let mut total = 0.0;
    for (name, s) in names.iter().zip(samples) {
        let p50 = s.pct_ms(50.0);
        total += p50;
        steps.insert((*name).to_owned(), p50.is_finite().then(|| round(p50)));
    }
    steps.insert(
        "sum of p50s".into(),
        total.is_finite().then(|| round(total)),
    );
    steps
}
