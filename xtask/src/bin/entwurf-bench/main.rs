//! `entwurf-bench`: the release-built measuring half of `cargo xtask bench`.
//!
//! `entwurf-bench run [flags]` prints one JSON object with every measurement (an
//! [`xtask::report::Measured`]); `cargo xtask bench` builds this binary in release, runs it, reads
//! the same type back and renders the table. Nothing here asserts a figure.
//!
//! Flags: `--control-socket PATH` (dispatch against an existing listener), `--pi-bin P
//! --pi-node-dir D --pi-extension E` (real pi row) or `--pi-skip REASON`, `--entwurf-bin P`
//! (for `entwurf peers`), `--only SECTION[,SECTION]`, `--dispatches N`, `--warmup N`,
//! `--lock-secs S`, `--fill-budget-s S`, `--tmp DIR` (where dispatch worlds live),
//! `--also-tmpfs DIR` (repeat the dispatch sections with their worlds there),
//! `--mcp-reference-cmd "CMD ARGS"` (time the reference's MCP bridge beside `entwurf mcp`),
//! `--hook-runs N`, `--ref-checkout DIR --ref-node NODE` (the reference's hook side by side in
//! the hook section).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use xtask::report::Measured;

mod dispatch;
mod hook;
mod lockbench;
mod mcp;
mod scaling;
mod stats;

#[derive(Debug, Clone)]
pub struct Opts {
    pub control_socket: Option<PathBuf>,
    pub pi: Result<dispatch::PiSetup, String>,
    pub entwurf_bin: Option<PathBuf>,
    pub only: Option<Vec<String>>,
    pub dispatches: usize,
    pub warmup: usize,
    pub lock_secs: f64,
    pub fill_budget: Duration,
    pub upserts_per_level: usize,
    pub peers_runs: usize,
    /// Where the temp worlds of the dispatch sections live (default `/tmp`).
    pub tmp: PathBuf,
    /// Also measure the dispatch sections with their worlds on this (tmpfs) dir.
    pub also_tmpfs: Option<PathBuf>,
    /// The reference checkout for the hook section's side-by-side rows.
    pub ref_checkout: Option<PathBuf>,
    /// Node 22 for the reference's hook.
    pub ref_node: Option<PathBuf>,
    /// Cold hook processes per event.
    pub hook_runs: usize,
    /// The reference's MCP bridge, as a command line (the `mcp` section times it beside ours).
    pub mcp_reference_cmd: Option<String>,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        control_socket: None,
        pi: Err("no pi given (pass --pi-bin/--pi-node-dir/--pi-extension)".into()),
        entwurf_bin: None,
        only: None,
        dispatches: 1000,
        warmup: 100,
        lock_secs: 2.0,
        fill_budget: Duration::from_secs(240),
        upserts_per_level: 40,
        peers_runs: 10,
        tmp: PathBuf::from("/tmp"),
        also_tmpfs: None,
        ref_checkout: None,
        ref_node: None,
        hook_runs: 200,
        mcp_reference_cmd: None,
    };
    let (mut pi_bin, mut pi_node, mut pi_ext) = (None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--control-socket" => o.control_socket = Some(PathBuf::from(val()?)),
            "--pi-bin" => pi_bin = Some(PathBuf::from(val()?)),
            "--pi-node-dir" => pi_node = Some(PathBuf::from(val()?)),
            "--pi-extension" => pi_ext = Some(PathBuf::from(val()?)),
            "--pi-skip" => o.pi = Err(val()?),
            "--entwurf-bin" => o.entwurf_bin = Some(PathBuf::from(val()?)),
            "--only" => o.only = Some(val()?.split(',').map(str::to_owned).collect()),
            "--dispatches" => o.dispatches = val()?.parse().map_err(|_| "bad --dispatches")?,
            "--warmup" => o.warmup = val()?.parse().map_err(|_| "bad --warmup")?,
            "--lock-secs" => o.lock_secs = val()?.parse().map_err(|_| "bad --lock-secs")?,
            "--fill-budget-s" => {
                o.fill_budget =
                    Duration::from_secs(val()?.parse().map_err(|_| "bad --fill-budget-s")?)
            }
            "--upserts-per-level" => {
                o.upserts_per_level = val()?.parse().map_err(|_| "bad --upserts-per-level")?
            }
            "--peers-runs" => o.peers_runs = val()?.parse().map_err(|_| "bad --peers-runs")?,
            "--tmp" => o.tmp = PathBuf::from(val()?),
            "--also-tmpfs" => o.also_tmpfs = Some(PathBuf::from(val()?)),
            "--ref-checkout" => o.ref_checkout = Some(PathBuf::from(val()?)),
            "--ref-node" => o.ref_node = Some(PathBuf::from(val()?)),
            "--hook-runs" => o.hook_runs = val()?.parse().map_err(|_| "bad --hook-runs")?,
            "--mcp-reference-cmd" => o.mcp_reference_cmd = Some(val()?),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if let Some(pi_bin) = pi_bin {
        o.pi = Ok(dispatch::PiSetup {
            pi_bin,
            node_bin_dir: pi_node,
            extension: pi_ext.ok_or("--pi-bin needs --pi-extension")?,
        });
    }
    Ok(o)
}

fn wanted(o: &Opts, section: &str) -> bool {
    o.only
        .as_ref()
        .is_none_or(|v| v.iter().any(|s| s == section))
}

fn run(o: &Opts) -> Measured {
    let mut out = Measured::default();
    // The mailbox section first: on a journal-less ext4, creating a file costs more for every
    // inode deleted nearby in the last minute, and the other sections delete their worlds.
    if wanted(o, "mailbox") {
        eprintln!("entwurf-bench: meta-mailbox dispatch ...");
        out.mailbox_dispatch = Some(dispatch::mailbox(o));
    }
    if wanted(o, "control_socket") {
        eprintln!("entwurf-bench: control-socket dispatch ...");
        out.control_socket_dispatch = Some(dispatch::control_socket(o));
        if o.control_socket.is_none() {
            out.control_socket_dispatch_cross_process =
                Some(dispatch::control_socket_cross_process(o));
        }
    }
    if wanted(o, "breakdown") {
        eprintln!("entwurf-bench: per-step spans ...");
        out.dispatch_breakdown = Some(dispatch::breakdown(o));
    }
    if wanted(o, "real_pi") {
        eprintln!("entwurf-bench: real pi dispatch ...");
        out.real_pi_dispatch = Some(dispatch::real_pi(o));
    }
    if let Some(dir) = &o.also_tmpfs {
        // The same dispatches with every store on tmpfs: the substrate without the disk
        // filesystem's inode allocation and fsync costs.
        let t = Opts {
            tmp: dir.clone(),
            ..o.clone()
        };
        if wanted(o, "control_socket") && o.control_socket.is_none() {
            eprintln!("entwurf-bench: control-socket dispatch (tmpfs) ...");
            out.control_socket_dispatch_tmpfs = Some(dispatch::control_socket(&t));
            out.control_socket_dispatch_cross_process_tmpfs =
                Some(dispatch::control_socket_cross_process(&t));
        }
        if wanted(o, "mailbox") {
            eprintln!("entwurf-bench: meta-mailbox dispatch (tmpfs) ...");
            out.mailbox_dispatch_tmpfs = Some(dispatch::mailbox(&t));
        }
    }
    if wanted(o, "hook") {
        eprintln!("entwurf-bench: Claude Code hook (cold processes) ...");
        out.hook = Some(hook::run(&hook::HookOpts {
            entwurf_bin: o.entwurf_bin.clone(),
            ref_checkout: o.ref_checkout.clone(),
            ref_node: o.ref_node.clone(),
            runs: o.hook_runs,
            warmup: (o.hook_runs / 10).max(3),
            records: 1000,
            tmp: o.tmp.clone(),
        }));
    }
    if wanted(o, "mcp") {
        eprintln!("entwurf-bench: entwurf mcp (ready, tool call) ...");
        out.mcp = Some(mcp::run(o));
    }
    if wanted(o, "lock") {
        eprintln!("entwurf-bench: lock pairs ...");
        out.lock = Some(lockbench::run(o.lock_secs, 8));
    }
    if wanted(o, "scaling") {
        eprintln!("entwurf-bench: store scaling ...");
        out.scaling = Some(scaling::run(&scaling::ScalingOpts {
            entwurf_bin: o.entwurf_bin.clone(),
            upserts_per_level: o.upserts_per_level,
            peers_runs: o.peers_runs,
            fill_budget: o.fill_budget,
        }));
    }
    out
}

/// The report as one JSON line on stdout.
fn print_report(o: &Opts) -> Result<(), String> {
    let line =
        serde_json::to_string(&run(o)).map_err(|e| format!("cannot write the report: {e}"))?;
    println!("{line}");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("lock-worker") => lockbench::worker(&args[1..]),
        Some("listen") => dispatch::listen(&args[1..]),
        Some("run") => parse(&args[1..]).and_then(|o| print_report(&o)),
        _ => Err("usage: entwurf-bench run [flags] | lock-worker DIR GID START SECS | listen CONTROL_DIR GID".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("entwurf-bench: {e}");
            ExitCode::from(2)
        }
    }
}
