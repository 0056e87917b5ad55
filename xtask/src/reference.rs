//! The reference's figures (TypeScript on Node 22) and the targets set as ratios to them: one
//! data table, so the bench's rendering holds no figure of its own. Re-measure with
//! `bench/reference` on another machine kind and change only [`REFERENCE`].

use serde::Serialize;

/// One dispatch path of the reference, measured side by side on this machine kind.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DispatchRef {
    /// Median dispatch, in ms.
    pub p50_ms: f64,
    /// A bare node client's round trip to the same listener (the reference's floor), when it
    /// has one: the reference's own cost is `p50_ms` minus it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_floor_p50_ms: Option<f64>,
}

impl DispatchRef {
    /// The reference's p50 over its floor, when it has one.
    pub fn overhead_ms(&self) -> Option<f64> {
        self.node_floor_p50_ms.map(|floor| self.p50_ms - floor)
    }
}

/// The reference's figures the bench compares with. Field names are the report's section keys
/// where there is one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReferenceFigures {
    /// Where and how the figures were taken.
    pub source: &'static str,
    /// Control-socket dispatch, listener on the bench's own event loop.
    pub control_socket_dispatch: DispatchRef,
    /// Control-socket dispatch, listener in a separate node process.
    pub control_socket_dispatch_cross_process: DispatchRef,
    /// `control_socket_dispatch`, stores on tmpfs.
    pub control_socket_dispatch_tmpfs: DispatchRef,
    /// `control_socket_dispatch_cross_process`, stores on tmpfs.
    pub control_socket_dispatch_cross_process_tmpfs: DispatchRef,
    /// Meta-mailbox dispatch to an armed claude-code citizen.
    pub mailbox_dispatch: DispatchRef,
    /// `mailbox_dispatch`, stores on tmpfs.
    pub mailbox_dispatch_tmpfs: DispatchRef,
    /// What a real pi adds of its own per `send`, in ms (about).
    pub real_pi_own_per_send_ms: f64,
    /// A real pi's boot to a connectable socket, low and high, in ms.
    pub real_pi_boot_ms: [f64; 2],
    /// One upsert into a store of 1,000 records, in ms.
    pub upsert_at_1000_records_ms: f64,
    /// Filling a store to 10,000 records by upserts takes more than this, in s.
    pub fill_10000_records_over_s: f64,
}

impl Default for ReferenceFigures {
    fn default() -> Self {
        REFERENCE
    }
}

/// The reference on these 2-core machines.
pub const REFERENCE: ReferenceFigures = ReferenceFigures {
    source: "medians of the reference measured side by side on this machine kind (bench/reference, Node 22, 4 interleaved rounds on 2026-11-25; real pi, upsert and fill: issue 8); re-measure for another machine",
    control_socket_dispatch: DispatchRef {
        p50_ms: 0.72,
        node_floor_p50_ms: None,
    },
    control_socket_dispatch_cross_process: DispatchRef {
        p50_ms: 1.03,
        node_floor_p50_ms: Some(0.32),
    },
    control_socket_dispatch_tmpfs: DispatchRef {
        p50_ms: 0.71,
        node_floor_p50_ms: None,
    },
    control_socket_dispatch_cross_process_tmpfs: DispatchRef {
        p50_ms: 0.84,
        node_floor_p50_ms: Some(0.27),
    },
    mailbox_dispatch: DispatchRef {
        p50_ms: 2.25,
        node_floor_p50_ms: None,
    },
    mailbox_dispatch_tmpfs: DispatchRef {
        p50_ms: 0.56,
        node_floor_p50_ms: None,
    },
    real_pi_own_per_send_ms: 1.0,
    real_pi_boot_ms: [800.0, 1200.0],
    upsert_at_1000_records_ms: 13.0,
    fill_10000_records_over_s: 300.0,
};

/// What the figures should show (the table's target column; nothing asserts them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Targets {
    /// A dispatch p50 at most this times the reference's.
    pub dispatch_ratio: f64,
    /// A control-socket dispatch p99 under this many ms.
    pub control_socket_p99_ms: f64,
    /// A cold hook process at most this times the reference's.
    pub hook_ratio: f64,
    /// `entwurf mcp` start to `tools/list` at most this times the reference bridge's.
    pub mcp_ready_ratio: f64,
    /// An `entwurf_v2` call at most this times the reference bridge's.
    pub mcp_call_ratio: f64,
    /// The live gate's wall time at most this times the reference's sequential run.
    pub live_gate_ratio: f64,
    /// Upserts and `entwurf peers` under this many ms at every store size, growing linearly.
    pub store_op_ms: f64,
}

/// The targets the issues set.
pub const TARGETS: Targets = Targets {
    dispatch_ratio: 0.2,
    control_socket_p99_ms: 1.0,
    hook_ratio: 0.05,
    mcp_ready_ratio: 0.05,
    mcp_call_ratio: 0.2,
    live_gate_ratio: 0.5,
    store_op_ms: 50.0,
};
