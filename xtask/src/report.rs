//! The bench report, typed once for both sides: `entwurf-bench run` prints a [`Measured`] (one
//! JSON object), `cargo xtask bench` reads it back, adds the machine, the reference's figures
//! and the live gate, and prints a [`Report`] (`--json`) or renders it as a table.
//!
//! The JSON keys are the report's contract: runs are compared by paths such as
//! `control_socket_dispatch.p50_ms`, `control_socket_dispatch_cross_process.p50_ms` and
//! `mailbox_dispatch.p50_ms`. A section that did not run is `{"status":"skipped"|"failed",
//! "reason":…}` ([`Section`]); a figure with no samples behind it is `null` (`None`).

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::reference::ReferenceFigures;

/// A section that may not have run: `{"status":"ok", …its figures}`, or skipped/failed with the
/// reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Section<T> {
    /// It ran; its figures.
    Ok(T),
    /// Not run (nothing to run it against, or not asked for).
    Skipped {
        /// Why, and what to pass to run it.
        reason: String,
    },
    /// It started and could not finish.
    Failed {
        /// What went wrong.
        reason: String,
    },
}

impl<T> Section<T> {
    /// `Ok` as [`Section::Ok`], `Err` as [`Section::Failed`].
    pub fn from_result(result: Result<T, String>) -> Self {
        match result {
            Ok(figures) => Self::Ok(figures),
            Err(reason) => Self::Failed { reason },
        }
    }

    /// A failed section.
    pub fn failed(reason: impl Into<String>) -> Self {
        Self::Failed {
            reason: reason.into(),
        }
    }

    /// A skipped section.
    pub fn skipped(reason: impl Into<String>) -> Self {
        Self::Skipped {
            reason: reason.into(),
        }
    }

    /// The figures when it ran.
    pub fn figures(&self) -> Option<&T> {
        match self {
            Self::Ok(figures) => Some(figures),
            Self::Skipped { .. } | Self::Failed { .. } => None,
        }
    }
}

/// Latency percentiles of one set of samples (nearest rank), in milliseconds. Each figure is
/// `None` when there were no samples.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Samples taken.
    pub n: usize,
    /// Median.
    pub p50_ms: Option<f64>,
    /// 90th percentile.
    pub p90_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// Arithmetic mean.
    pub mean_ms: Option<f64>,
    /// Slowest sample.
    pub max_ms: Option<f64>,
}

/// Timed dispatches of one kind (`unit` is [`Dispatch::UNIT`]); `X` holds what only that kind
/// reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dispatch<X> {
    /// Always [`Dispatch::UNIT`].
    pub unit: String,
    /// The timed dispatches.
    #[serde(flatten)]
    pub latency: Summary,
    /// Untimed dispatches before them.
    pub warmup: usize,
    /// What this kind of dispatch reports besides.
    #[serde(flatten)]
    pub more: X,
}

impl<X> Dispatch<X> {
    /// The unit of every dispatch latency.
    pub const UNIT: &'static str = "ms per dispatch";

    /// Dispatch figures in [`Dispatch::UNIT`].
    pub fn new(latency: Summary, warmup: usize, more: X) -> Self {
        Self {
            unit: Self::UNIT.to_owned(),
            latency,
            warmup,
            more,
        }
    }
}

/// What a control-socket dispatch section reports besides its latency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlSocketMore {
    /// Which listener answered.
    pub listener: String,
    /// The temp world the stores were in.
    pub world: PathBuf,
    /// A bare client's round trips to the same listener (only against a listener of our own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<Floor>,
}

/// A bare client's round trips to the listener a dispatch section used: what any client pays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Floor {
    /// What one round trip is ([`Floor::WHAT`]).
    pub what: String,
    /// Always `ms`.
    pub unit: String,
    /// The round trips.
    #[serde(flatten)]
    pub latency: Summary,
}

impl Floor {
    /// What one floor round trip does.
    pub const WHAT: &'static str = "bare round trip: blocking connect, one request line, read to the reply's newline, close; no substrate";

    /// The floor of these round trips.
    pub fn new(latency: Summary) -> Self {
        Self {
            what: Self::WHAT.to_owned(),
            unit: "ms".to_owned(),
            latency,
        }
    }
}

/// What a meta-mailbox dispatch section reports besides its latency.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MailboxMore {
    /// `.msg` files in the target's mailbox afterwards (one per dispatch, warm-up included).
    pub msg_files_written: usize,
}

/// What the real-pi dispatch section reports besides its latency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealPiMore {
    /// From pi's spawn to its socket accepting a connection.
    pub boot_to_socket_ms: f64,
    /// The pi launcher used.
    pub pi_bin: PathBuf,
}

/// Control-socket dispatch figures.
pub type ControlSocketDispatch = Dispatch<ControlSocketMore>;
/// Meta-mailbox dispatch figures.
pub type MailboxDispatch = Dispatch<MailboxMore>;
/// Real-pi dispatch figures.
pub type RealPiDispatch = Dispatch<RealPiMore>;

/// Each step of the two dispatch paths run alone: step name → p50 in ms, in production order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    /// What the figures are (`ms (p50 per step)`).
    pub unit: String,
    /// Runs of each step.
    pub n: usize,
    /// The control-socket path's steps, their sum and the bare-client floor.
    pub control_socket: IndexMap<String, Option<f64>>,
    /// The meta-mailbox path's steps and their sum.
    pub meta_mailbox: IndexMap<String, Option<f64>>,
}

/// The Claude Code hook section: cold processes per event, ours and the reference's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hook {
    /// `entwurf --version`, cold: the process floor.
    pub process_floor: Summary,
    /// `entwurf hook claude-code`.
    pub ours: Section<HookSide>,
    /// The reference's hook and doorbell on an equal world.
    pub reference: Section<HookSide>,
}

/// One side of the hook section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookSide {
    /// Records in the store the events ran against.
    pub records: usize,
    /// Event (as the table names it) → its cold-process wall times.
    pub events: IndexMap<String, Section<Summary>>,
}

/// The `entwurf mcp` section, ours and the reference bridge's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mcp {
    /// `entwurf mcp`.
    pub ours: Section<McpSide>,
    /// The reference's MCP bridge, driven the same way.
    pub reference: Section<McpSide>,
}

/// One MCP server's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpSide {
    /// Process start → `tools/list` answered, a fresh server per sample.
    pub ready_to_tools_list: Summary,
    /// `entwurf_v2` call round trips to an armed mailbox citizen, one server.
    pub v2_call_mailbox: Summary,
    /// Untimed calls before them.
    pub warmup: usize,
}

/// Lock acquire + release throughput.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockFigures {
    /// How long each run hammered the lock.
    pub seconds_per_run: f64,
    /// Pairs per second, one process.
    pub single_process_pairs_per_s: f64,
    /// Processes contending for one garden id.
    pub processes: usize,
    /// Pairs per second, all of them together.
    pub multi_process_pairs_per_s: f64,
    /// `target-locked` conflicts per second, all of them together.
    pub multi_process_conflicts_per_s: f64,
}

/// Store scaling: upserts and listings at growing store sizes, and fills.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaling {
    /// One entry per store size reached.
    pub levels: Vec<Level>,
    /// A fresh store filled through one `RecordStore` handle.
    pub fill_record_store: Section<HandleFill>,
    /// The store filled by one-shot upserts (across the levels).
    pub fill: Fill,
}

/// The figures at one store size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// Records in the store.
    pub records: usize,
    /// Upserts that created a record.
    pub upsert_create: Summary,
    /// Upserts that attached to an existing record.
    pub upsert_attach: Summary,
    /// `entwurf peers` on the settled store (listing cache warm).
    pub peers: Section<Peers>,
    /// The listing inside `entwurf peers`, in-process, cache warm.
    pub list_records: Summary,
    /// `entwurf peers` without a listing cache.
    pub peers_cold: Section<Peers>,
    /// The listing without a listing cache.
    pub list_records_cold: Summary,
    /// `entwurf peers` with stale socket files in the control dir (one level only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peers_with_sockets: Option<Section<PeersWithSockets>>,
}

/// `entwurf peers` process wall times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peers {
    /// Rows it listed.
    pub rows: usize,
    /// Its wall time per run.
    pub wall: Summary,
    /// `entwurf --version` p50: the process floor.
    pub process_floor_p50_ms: Option<f64>,
}

/// `entwurf peers` with stale socket files beside the records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeersWithSockets {
    /// The runs.
    #[serde(flatten)]
    pub peers: Peers,
    /// Stale socket files in the control dir.
    pub socket_files: usize,
}

/// A fill through one `RecordStore` handle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandleFill {
    /// Records written.
    pub records: usize,
    /// Wall time, the final flush included.
    pub seconds: f64,
    /// `seconds` per record, in ms.
    pub per_upsert_mean_ms: f64,
}

/// The fill by one-shot upserts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fill {
    /// Records written.
    pub records: usize,
    /// Wall time of the upserts.
    pub upserts_s: f64,
    /// Set when the fill stopped at its time budget.
    pub note: Option<String>,
    /// `upserts_s` per record, in ms.
    pub per_upsert_mean_ms: f64,
}

/// Everything `entwurf-bench run` measured, one optional section per key (absent: not asked for
/// with `--only`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Measured {
    /// Meta-mailbox dispatch to an armed claude-code citizen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox_dispatch: Option<Section<MailboxDispatch>>,
    /// Control-socket dispatch against an instant-reply listener in the bench process (or the
    /// external one `--control-socket` names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_socket_dispatch: Option<Section<ControlSocketDispatch>>,
    /// The same with the listener in its own process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_socket_dispatch_cross_process: Option<Section<ControlSocketDispatch>>,
    /// Each dispatch step alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch_breakdown: Option<Section<Breakdown>>,
    /// Control-socket dispatch to a real pi resident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_pi_dispatch: Option<Section<RealPiDispatch>>,
    /// `control_socket_dispatch` with every store on tmpfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_socket_dispatch_tmpfs: Option<Section<ControlSocketDispatch>>,
    /// `control_socket_dispatch_cross_process` with every store on tmpfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_socket_dispatch_cross_process_tmpfs: Option<Section<ControlSocketDispatch>>,
    /// `mailbox_dispatch` with every store on tmpfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox_dispatch_tmpfs: Option<Section<MailboxDispatch>>,
    /// The Claude Code hook, one cold process per event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<Section<Hook>>,
    /// `entwurf mcp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<Mcp>,
    /// Lock throughput.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<Section<LockFigures>>,
    /// Store scaling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<Section<Scaling>>,
}

/// The machine the figures were taken on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Available parallelism.
    pub cores: usize,
    /// `/proc/cpuinfo`'s model name.
    pub cpu_model: String,
    /// `/proc/cpuinfo`'s MHz, when it says.
    pub cpu_mhz: Option<String>,
    /// Kernel release.
    pub kernel: String,
}

/// The live gate's wall times, per cell, from its JUnit file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveGate {
    /// This run, or the previous run's JUnit file.
    pub source: String,
    /// Whether the gate passed (when this run ran it).
    pub passed: Option<bool>,
    /// The whole command's wall time (when this run ran it).
    pub command_wall_s: Option<f64>,
    /// The JUnit total: the cells, concurrent.
    pub cells_wall_s: Option<f64>,
    /// The cells' wall times added up.
    pub cells_sequential_sum_s: f64,
    /// Every cell.
    pub cells: Vec<Cell>,
    /// The reference's four cells alone (when this run ran the gate).
    pub reference_cells: Option<Section<ReferenceCells>>,
}

/// One live-gate cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// `classname::name`.
    pub cell: String,
    /// Its wall time (`None` when JUnit gave none that parses).
    pub wall_s: Option<f64>,
    /// Whether it passed.
    pub passed: bool,
}

/// The reference's four cells (C1, C1b, C2, C3) run alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceCells {
    /// Whether they passed.
    pub passed: bool,
    /// The whole command's wall time.
    pub command_wall_s: f64,
    /// The JUnit total.
    pub cells_wall_s: Option<f64>,
    /// Each cell.
    pub cells: Vec<Cell>,
}

/// What `cargo xtask bench --json` prints and `--from-json` renders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Where it ran.
    pub machine: Machine,
    /// `release`.
    pub build: String,
    /// The reference's figures the table compares with (written for readers of the JSON; the
    /// table always uses [`crate::reference::REFERENCE`], so it is not read back).
    #[serde(skip_deserializing)]
    pub reference: ReferenceFigures,
    /// The measured sections.
    #[serde(flatten)]
    pub measured: Measured,
    /// The live gate's wall times.
    pub live_gate: Section<LiveGate>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_carries_its_status_beside_its_figures() {
        let ok: Section<Summary> = Section::Ok(Summary::default());
        let v = serde_json::to_value(&ok).unwrap();
        assert_eq!(v["status"], "ok");
        assert_eq!(v["n"], 0);
        // No samples: no figures, written as null and read back as none.
        assert!(v["p50_ms"].is_null());
        assert_eq!(serde_json::from_value::<Section<Summary>>(v).unwrap(), ok);
        let failed: Section<Summary> = Section::from_result(Err("boom".to_owned()));
        assert_eq!(
            serde_json::to_string(&failed).unwrap(),
            r#"{"status":"failed","reason":"boom"}"#
        );
        assert_eq!(failed.figures(), None);
    }

    #[test]
    fn an_unknown_status_is_refused_not_guessed() {
        let err = serde_json::from_str::<Section<Summary>>(r#"{"status":"maybe"}"#);
        assert!(err.is_err());
    }
}
