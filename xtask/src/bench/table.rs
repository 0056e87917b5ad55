//! The bench report as a text table: one function per section, each over its typed section; the
//! reference's figures and the targets come from [`xtask::reference`].

use xtask::reference::{DispatchRef, REFERENCE, TARGETS};
use xtask::report::{
    Breakdown, ControlSocketDispatch, Dispatch, Fill, HandleFill, Hook, Level, LiveGate,
    LockFigures, Machine, MailboxDispatch, Mcp, McpSide, RealPiDispatch, Report, Scaling, Section,
    Summary,
};

/// Rows of four columns (what, value, unit, target), with section headings.
#[derive(Default)]
struct Table {
    rows: Vec<Row>,
}

enum Row {
    Heading(String),
    Figure([String; 4]),
}

impl Table {
    fn section(&mut self, title: &str) {
        self.rows.push(Row::Heading(format!("== {title}")));
    }

    fn row(&mut self, what: impl Into<String>, value: String, unit: &str, target: &str) {
        self.rows.push(Row::Figure([
            format!("  {}", what.into()),
            value,
            unit.to_owned(),
            target.to_owned(),
        ]));
    }

    /// A `SKIPPED`/`FAILED` row for a section that did not run; its figures when it did.
    fn ran<'s, T>(&mut self, section: &'s Section<T>) -> Option<&'s T> {
        match not_run(section) {
            None => section.figures(),
            Some((status, reason)) => {
                self.row(status, String::new(), "", reason);
                None
            }
        }
    }

    fn render(&self) -> String {
        let mut w = [0usize; 4];
        for r in &self.rows {
            if let Row::Figure(cells) = r {
                for (i, c) in cells.iter().enumerate() {
                    w[i] = w[i].max(c.chars().count());
                }
            }
        }
        let pad =
            |c: &str, n: usize| format!("{c}{}", " ".repeat(n.saturating_sub(c.chars().count())));
        let mut s = String::new();
        for r in &self.rows {
            match r {
                Row::Heading(title) => s.push_str(title),
                Row::Figure(cells) => {
                    let line = format!(
                        "{}  {:>vw$}  {}  {}",
                        pad(&cells[0], w[0]),
                        cells[1],
                        pad(&cells[2], w[2]),
                        cells[3],
                        vw = w[1]
                    );
                    s.push_str(line.trim_end());
                }
            }
            s.push('\n');
        }
        s
    }
}

/// `SKIPPED`/`FAILED` and the reason, for a section that did not run.
fn not_run<T>(section: &Section<T>) -> Option<(&'static str, &str)> {
    match section {
        Section::Ok(_) => None,
        Section::Skipped { reason } => Some(("SKIPPED", reason)),
        Section::Failed { reason } => Some(("FAILED", reason)),
    }
}

/// A figure: whole numbers without decimals, then fewer decimals the larger it is.
fn fig(x: f64) -> String {
    if (x.fract() == 0.0 && x.abs() < 1e15) || x.abs() >= 1000.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.4}")
    }
}

/// A figure of the reference's table, as written there (`0.72`, `300`).
fn rf(x: f64) -> String {
    format!("{}", round(x))
}

/// A figure that may be missing (`-`).
fn opt(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), fig)
}

/// `a / b` as `0.123 x ref`, when both are there.
fn ratio(a: Option<f64>, b: Option<f64>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(format!("{:.3} x ref", a / b)),
        _ => None,
    }
}

/// The p50 target of a dispatch row: the ratio target, the reference's figure, this run's ratio.
fn dispatch_target(p50: Option<f64>, reference: f64) -> String {
    let target = format!(
        "<= {} x ref (ref here {})",
        TARGETS.dispatch_ratio,
        rf(reference)
    );
    match ratio(p50, Some(reference)) {
        Some(now) => format!("{target}; now {now}"),
        None => target,
    }
}

/// The whole report as text.
pub fn render_table(r: &Report) -> String {
    let mut s = header(&r.machine);
    let m = &r.measured;
    let mut t = Table::default();
    control_socket_rows(
        &mut t,
        "1. control-socket dispatch (production path) vs instant-reply listener",
        m.control_socket_dispatch.as_ref(),
        &REFERENCE.control_socket_dispatch,
    );
    control_socket_rows(
        &mut t,
        "1c. the same, the listener in a separate process (as pi is)",
        m.control_socket_dispatch_cross_process.as_ref(),
        &REFERENCE.control_socket_dispatch_cross_process,
    );
    breakdown_rows(&mut t, m.dispatch_breakdown.as_ref());
    control_socket_rows(
        &mut t,
        "1b. the same, every store on tmpfs (/dev/shm): no disk-filesystem costs",
        m.control_socket_dispatch_tmpfs.as_ref(),
        &REFERENCE.control_socket_dispatch_tmpfs,
    );
    control_socket_rows(
        &mut t,
        "1d. tmpfs, the listener in a separate process",
        m.control_socket_dispatch_cross_process_tmpfs.as_ref(),
        &REFERENCE.control_socket_dispatch_cross_process_tmpfs,
    );
    real_pi_rows(&mut t, m.real_pi_dispatch.as_ref());
    mailbox_rows(
        &mut t,
        "3. meta-mailbox dispatch to an armed claude-code citizen",
        m.mailbox_dispatch.as_ref(),
        &REFERENCE.mailbox_dispatch,
    );
    mailbox_rows(
        &mut t,
        "3b. the same, every store on tmpfs (/dev/shm)",
        m.mailbox_dispatch_tmpfs.as_ref(),
        &REFERENCE.mailbox_dispatch_tmpfs,
    );
    if let Some(mcp) = &m.mcp {
        mcp_rows(&mut t, mcp);
    }
    if let Some(lock) = &m.lock {
        lock_rows(&mut t, lock);
    }
    if let Some(scaling) = &m.scaling {
        scaling_rows(&mut t, scaling);
    }
    if let Some(hook) = &m.hook {
        hook_rows(&mut t, hook);
    }
    live_gate_rows(&mut t, &r.live_gate);
    s.push_str(&t.render());
    s
}

/// The machine and where the reference's figures come from.
fn header(m: &Machine) -> String {
    format!(
        "entwurf-rs bench (release) on {} core(s), {} ({} MHz), kernel {}\n\"ref here\": {}\n\n",
        m.cores,
        m.cpu_model,
        m.cpu_mhz.as_deref().unwrap_or("-"),
        m.kernel,
        REFERENCE.source
    )
}

/// p50 … max and the sample count of one dispatch section.
fn latency_rows<X>(t: &mut Table, d: &Dispatch<X>, p50_target: &str, p99_target: &str) {
    let l = &d.latency;
    t.row("p50", opt(l.p50_ms), "ms/dispatch", p50_target);
    t.row("p90", opt(l.p90_ms), "ms/dispatch", "");
    t.row("p99", opt(l.p99_ms), "ms/dispatch", p99_target);
    t.row("mean", opt(l.mean_ms), "ms/dispatch", "");
    t.row("max", opt(l.max_ms), "ms/dispatch", "");
    t.row(
        "samples (after warm-up)",
        format!("{} (+{})", l.n, d.warmup),
        "dispatches",
        "",
    );
}

/// Sections 1, 1b, 1c, 1d: a control-socket dispatch, its floor, and its own cost over it.
fn control_socket_rows(
    t: &mut Table,
    title: &str,
    section: Option<&Section<ControlSocketDispatch>>,
    reference: &DispatchRef,
) {
    let Some(section) = section else { return };
    t.section(title);
    let Some(d) = t.ran(section) else {
        return;
    };
    latency_rows(
        t,
        d,
        &dispatch_target(d.latency.p50_ms, reference.p50_ms),
        &format!("< {}", rf(TARGETS.control_socket_p99_ms)),
    );
    if let (Some(p50), Some(floor)) = (
        d.latency.p50_ms,
        d.more.floor.as_ref().and_then(|f| f.latency.p50_ms),
    ) {
        t.row(
            "floor p50: bare client, same listener",
            fig(floor),
            "ms/round trip",
            "connect, request line, reply line, close",
        );
        let overhead_target = match reference.overhead_ms() {
            Some(ref_overhead) => format!(
                "<= {} x ref's (ref here {} - {} node floor = {})",
                TARGETS.dispatch_ratio,
                rf(reference.p50_ms),
                reference.node_floor_p50_ms.map_or_else(String::new, rf),
                rf(ref_overhead)
            ),
            None => String::new(),
        };
        t.row(
            "overhead p50: p50 - floor p50",
            fig(round(p50 - floor)),
            "ms/dispatch",
            &overhead_target,
        );
    }
    t.row("listener", String::new(), "", &d.more.listener);
}

/// Where a dispatch's time goes: each step alone.
fn breakdown_rows(t: &mut Table, section: Option<&Section<Breakdown>>) {
    let Some(section) = section else { return };
    t.section("   where the time goes (each step alone, p50)");
    let Some(b) = t.ran(section) else {
        return;
    };
    for (title, steps) in [("control", &b.control_socket), ("mailbox", &b.meta_mailbox)] {
        for (step, p50) in steps {
            t.row(format!("{title}: {step}"), opt(*p50), "ms", "");
        }
    }
}

/// Section 2: dispatch to a real pi resident, and its boot.
fn real_pi_rows(t: &mut Table, section: Option<&Section<RealPiDispatch>>) {
    let Some(section) = section else { return };
    t.section("2. control-socket dispatch vs a real pi resident");
    let Some(d) = t.ran(section) else {
        return;
    };
    latency_rows(
        t,
        d,
        &format!(
            "ref: ~{} ms of pi's own per send",
            rf(REFERENCE.real_pi_own_per_send_ms)
        ),
        "",
    );
    let [low, high] = REFERENCE.real_pi_boot_ms;
    t.row(
        "pi boot to connectable socket",
        fig(d.more.boot_to_socket_ms),
        "ms",
        &format!("ref: {}-{}", rf(low), rf(high)),
    );
}

/// Sections 3 and 3b: a meta-mailbox dispatch.
fn mailbox_rows(
    t: &mut Table,
    title: &str,
    section: Option<&Section<MailboxDispatch>>,
    reference: &DispatchRef,
) {
    let Some(section) = section else { return };
    t.section(title);
    if let Some(d) = t.ran(section) {
        latency_rows(
            t,
            d,
            &dispatch_target(d.latency.p50_ms, reference.p50_ms),
            "",
        );
    }
}

/// Sections 3c-3e: `entwurf mcp` ready and an `entwurf_v2` call, ours and the reference
/// bridge's when it was measured, with the ratio the targets are set on.
fn mcp_rows(t: &mut Table, mcp: &Mcp) {
    let reference = mcp.reference.figures();
    let target = |ratio_target: f64, pick: fn(&McpSide) -> &Summary, ours: &Summary| {
        let theirs = reference.map(pick).and_then(|s| s.p50_ms);
        let now = match (ratio(ours.p50_ms, theirs), theirs) {
            (Some(now), Some(b)) => format!("{now} (ref p50 {b} ms)"),
            _ => "ref not measured".to_owned(),
        };
        format!("<= {ratio_target} x ref; {now}")
    };
    t.section("3c. entwurf mcp: process start to tools/list answered");
    if let Some(ours) = t.ran(&mcp.ours) {
        let r = &ours.ready_to_tools_list;
        t.row(
            "p50",
            opt(r.p50_ms),
            "ms",
            &target(TARGETS.mcp_ready_ratio, |s| &s.ready_to_tools_list, r),
        );
        t.row("p90", opt(r.p90_ms), "ms", "");
        t.row("samples", r.n.to_string(), "starts", "");
    }
    t.section("3d. entwurf mcp: entwurf_v2 call round trip to an armed mailbox citizen");
    if let Some(ours) = t.ran(&mcp.ours) {
        let r = &ours.v2_call_mailbox;
        t.row(
            "p50",
            opt(r.p50_ms),
            "ms/call",
            &target(TARGETS.mcp_call_ratio, |s| &s.v2_call_mailbox, r),
        );
        t.row("p99", opt(r.p99_ms), "ms/call", "");
        t.row(
            "samples (after warm-up)",
            format!("{} (+{})", r.n, ours.warmup),
            "calls",
            "",
        );
    }
    if let Some(theirs) = reference {
        t.section("3e. the reference's MCP bridge, same driver");
        t.row(
            "ready p50",
            opt(theirs.ready_to_tools_list.p50_ms),
            "ms",
            "",
        );
        t.row(
            "entwurf_v2 call p50",
            opt(theirs.v2_call_mailbox.p50_ms),
            "ms/call",
            "",
        );
    }
}

/// Section 4: lock pairs per second.
fn lock_rows(t: &mut Table, section: &Section<LockFigures>) {
    t.section("4. lock acquire + release");
    let Some(l) = t.ran(section) else {
        return;
    };
    t.row(
        "1 process",
        fig(l.single_process_pairs_per_s),
        "pairs/s",
        "",
    );
    t.row(
        format!("{} processes, one gid", l.processes),
        fig(l.multi_process_pairs_per_s),
        "pairs/s",
        "",
    );
    t.row(
        format!("{} processes: target-locked conflicts", l.processes),
        fig(l.multi_process_conflicts_per_s),
        "conflicts/s",
        "",
    );
}

/// Section 5: store scaling, level by level, then the fills.
fn scaling_rows(t: &mut Table, section: &Section<Scaling>) {
    t.section("5. store scaling (upsert in-process; `entwurf peers` = CLI process wall time)");
    let Some(s) = t.ran(section) else {
        return;
    };
    for level in &s.levels {
        level_rows(t, level);
    }
    if let Some(h) = s.fill_record_store.figures() {
        handle_fill_rows(t, h);
    }
    fill_rows(t, &s.fill);
}

/// One store size of section 5.
fn level_rows(t: &mut Table, lvl: &Level) {
    let n = lvl.records;
    let store_target = format!("< {}, linear", rf(TARGETS.store_op_ms));
    // The reference's upsert figure is for a store of 1,000 records.
    let upsert_target = if n.abs_diff(1_000) < 100 {
        format!(
            "{store_target} (ref {} at 1000)",
            rf(REFERENCE.upsert_at_1000_records_ms)
        )
    } else {
        store_target.clone()
    };
    for (kind, s) in [
        ("create", &lvl.upsert_create),
        ("attach", &lvl.upsert_attach),
    ] {
        t.row(
            format!("upsert {kind} @ {n} records, p50"),
            opt(s.p50_ms),
            "ms",
            &upsert_target,
        );
        t.row(
            format!("upsert {kind} @ {n} records, p99"),
            opt(s.p99_ms),
            "ms",
            "",
        );
    }
    match &lvl.peers {
        Section::Ok(p) => {
            t.row(
                format!("entwurf peers @ {n} records (settled store), p50"),
                opt(p.wall.p50_ms),
                "ms (process)",
                &store_target,
            );
            t.row(
                format!("entwurf peers @ {n} records (settled store), p99"),
                opt(p.wall.p99_ms),
                "ms (process)",
                "",
            );
            if let Some(cold) = lvl.peers_cold.figures() {
                t.row(
                    format!("entwurf peers @ {n} records, no listing cache, p50"),
                    opt(cold.wall.p50_ms),
                    "ms (process)",
                    "",
                );
            }
            t.row(
                "  (process exec floor: entwurf --version)",
                opt(p.process_floor_p50_ms),
                "ms",
                "",
            );
        }
        Section::Skipped { reason } | Section::Failed { reason } => {
            t.row(
                format!("entwurf peers @ {n} records"),
                "skipped".into(),
                "",
                reason,
            );
        }
    }
    t.row(
        format!("  of which list_records (in-process) @ {n}, p50"),
        opt(lvl.list_records.p50_ms),
        "ms",
        "",
    );
    t.row(
        format!("  list_records @ {n}, no listing cache, p50"),
        opt(lvl.list_records_cold.p50_ms),
        "ms",
        "",
    );
    if let Some(ps) = lvl.peers_with_sockets.as_ref().and_then(Section::figures) {
        t.row(
            format!(
                "entwurf peers @ {n} records + {} socket files, p50",
                ps.socket_files
            ),
            opt(ps.peers.wall.p50_ms),
            "ms (process)",
            "",
        );
    }
}

/// The fill through one `RecordStore` handle.
fn handle_fill_rows(t: &mut Table, h: &HandleFill) {
    t.row(
        format!(
            "fill a store to {} records via one RecordStore handle",
            h.records
        ),
        fig(h.seconds),
        "s",
        &format!(
            "seconds (ref > {})",
            rf(REFERENCE.fill_10000_records_over_s)
        ),
    );
    t.row(
        "  mean per upsert (incl. the final syncfs)",
        fig(h.per_upsert_mean_ms),
        "ms",
        "",
    );
}

/// The fill by one-shot upserts.
fn fill_rows(t: &mut Table, f: &Fill) {
    t.row(
        format!("fill a store to {} records by one-shot upserts", f.records),
        fig(f.upserts_s),
        "s",
        &format!("ref > {}", rf(REFERENCE.fill_10000_records_over_s)),
    );
    t.row(
        "  mean per upsert during the fill",
        fig(f.per_upsert_mean_ms),
        "ms",
        "",
    );
    if let Some(note) = &f.note {
        t.row("  note", String::new(), "", note);
    }
}

/// Section 7: the Claude Code hook, one cold process per event, ours and the reference's.
fn hook_rows(t: &mut Table, section: &Section<Hook>) {
    t.section("7. Claude Code hook: one cold process per event, 1,000-record store");
    let Some(h) = t.ran(section) else {
        return;
    };
    t.row(
        "process floor: entwurf --version, p50",
        opt(h.process_floor.p50_ms),
        "ms",
        "",
    );
    let Some(ours) = t.ran(&h.ours) else {
        return;
    };
    let theirs = h.reference.figures();
    for (event, row) in &ours.events {
        let row = match row {
            Section::Ok(row) => row,
            Section::Skipped { reason } | Section::Failed { reason } => {
                t.row(event.as_str(), "failed".into(), "", reason);
                continue;
            }
        };
        t.row(
            format!("{event}, p50"),
            opt(row.p50_ms),
            "ms",
            &format!("<= {} x ref", TARGETS.hook_ratio),
        );
        t.row(format!("{event}, p99"), opt(row.p99_ms), "ms", "");
        if let Some(r) = theirs
            .and_then(|side| side.events.get(event))
            .and_then(Section::figures)
        {
            t.row(
                format!("  reference {event}, p50"),
                opt(r.p50_ms),
                "ms",
                &ratio(row.p50_ms, r.p50_ms).unwrap_or_default(),
            );
            t.row(format!("  reference {event}, p99"), opt(r.p99_ms), "ms", "");
        }
    }
    if let Some((status, reason)) = not_run(&h.reference) {
        t.row("reference", status.to_owned(), "", reason);
    }
}

/// Section 6: the live gate's wall time, per cell.
fn live_gate_rows(t: &mut Table, section: &Section<LiveGate>) {
    t.section("6. live gate wall time");
    let Some(v) = t.ran(section) else {
        return;
    };
    let sequential = format!("< {} x ref sequential", TARGETS.live_gate_ratio);
    t.row("source", String::new(), "", &v.source);
    if let Some(wall) = v.command_wall_s {
        t.row(
            "cargo xtask live-gate (command)",
            fig(wall),
            "s",
            &sequential,
        );
    }
    t.row(
        "cells, concurrent (JUnit total)",
        opt(v.cells_wall_s),
        "s",
        "floor: one pi boot",
    );
    t.row(
        "cells, sum if run one after another",
        fig(v.cells_sequential_sum_s),
        "s",
        "",
    );
    for c in &v.cells {
        let short = c.cell.rsplit("::").next().unwrap_or(&c.cell);
        let ok = if c.passed { "" } else { "FAILED" };
        t.row(format!("cell {short}"), opt(c.wall_s), "s", ok);
    }
    if let Some(four) = v.reference_cells.as_ref().and_then(Section::figures) {
        let ok = if four.passed { "" } else { " FAILED" };
        t.row(
            "the reference's four cells (C1 C1b C2 C3) alone, concurrent",
            opt(four.cells_wall_s),
            "s",
            &format!("{sequential}{ok}"),
        );
        t.row(
            "  same, whole command (provisioning check, build, cells)",
            fig(four.command_wall_s),
            "s",
            "",
        );
    }
}

/// Four decimals are plenty for milliseconds.
fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use xtask::report::{
        Cell, Floor, HookSide, Measured, Peers, PeersWithSockets, ReferenceCells, Summary,
    };

    use super::*;

    const REPORT: &str = include_str!("../../fixtures/bench/report.json");
    const MEASURED: &str = include_str!("../../fixtures/bench/smoke-measured.json");

    fn report() -> Report {
        serde_json::from_str(REPORT).expect("the fixture report reads back")
    }

    fn summary(p50: f64) -> Summary {
        Summary {
            n: 3,
            p50_ms: Some(p50),
            p90_ms: Some(p50 + 1.0),
            p99_ms: Some(p50 + 2.0),
            mean_ms: Some(p50),
            max_ms: Some(p50 + 3.0),
        }
    }

    /// The rows `f` adds to an empty table.
    fn rows(f: impl FnOnce(&mut Table)) -> String {
        let mut t = Table::default();
        f(&mut t);
        t.render()
    }

    #[test]
    fn what_entwurf_bench_printed_reads_back_and_writes_the_same_json() {
        let measured: Measured = serde_json::from_str(MEASURED).unwrap();
        let again = serde_json::to_value(&measured).unwrap();
        let before: Value = serde_json::from_str(MEASURED).unwrap();
        assert_eq!(again, before);
    }

    #[test]
    fn a_report_keeps_its_keys_and_carries_the_reference_table() {
        let r = report();
        let again = serde_json::to_value(&r).unwrap();
        let mut before: Value = serde_json::from_str(REPORT).unwrap();
        // The old free-form `reference` object gives way to the data table.
        before["reference"] = serde_json::to_value(REFERENCE).unwrap();
        assert_eq!(again, before);
        // The paths runs are compared by.
        for (path, figure) in [
            (
                "control_socket_dispatch",
                r.measured.control_socket_dispatch.as_ref(),
            ),
            (
                "control_socket_dispatch_cross_process",
                r.measured.control_socket_dispatch_cross_process.as_ref(),
            ),
        ] {
            let p50 = figure.and_then(Section::figures).unwrap().latency.p50_ms;
            assert_eq!(again[path]["p50_ms"].as_f64(), p50, "{path}.p50_ms");
        }
        let mailbox = r
            .measured
            .mailbox_dispatch
            .as_ref()
            .and_then(Section::figures);
        assert_eq!(
            again["mailbox_dispatch"]["p50_ms"].as_f64(),
            mailbox.unwrap().latency.p50_ms
        );
        assert_eq!(again["mailbox_dispatch"]["p50_ms"], 0.2147);
    }

    #[test]
    fn the_table_shows_every_section_of_the_fixture_with_its_figures() {
        let text = render_table(&report());
        for heading in [
            "== 1. control-socket dispatch",
            "== 1c. the same, the listener in a separate process",
            "==    where the time goes",
            "== 1b. the same, every store on tmpfs",
            "== 1d. tmpfs, the listener in a separate process",
            "== 2. control-socket dispatch vs a real pi resident",
            "== 3. meta-mailbox dispatch",
            "== 3b. the same, every store on tmpfs",
            "== 3c. entwurf mcp",
            "== 3d. entwurf mcp",
            "== 4. lock acquire + release",
            "== 5. store scaling",
            "== 7. Claude Code hook",
            "== 6. live gate wall time",
        ] {
            assert!(text.contains(heading), "no {heading:?} in\n{text}");
        }
        assert!(text.contains("AMD EPYC"), "{text}");
        // A figure of each kind, as measured.
        for figure in [
            "0.2147",                                 // mailbox p50
            "50 (+5)",                                // samples after warm-up
            "3465",                                   // lock pairs/s
            "fill by upserts stopped at 279 records", // the fill's note
            "cell mcp_ts_sdk_client_round_trip",      // a live-gate cell
        ] {
            assert!(text.contains(figure), "no {figure:?} in\n{text}");
        }
        let skipped = text
            .lines()
            .find(|l| l.trim_start().starts_with("SKIPPED") && l.contains("smoke: no pi"));
        assert!(skipped.is_some(), "the real-pi row says why:\n{text}");
    }

    #[test]
    fn the_reference_figures_come_from_the_data_table() {
        let text = render_table(&report());
        assert!(text.contains(REFERENCE.source), "{text}");
        for reference in [
            REFERENCE.control_socket_dispatch,
            REFERENCE.control_socket_dispatch_cross_process,
            REFERENCE.control_socket_dispatch_tmpfs,
            REFERENCE.control_socket_dispatch_cross_process_tmpfs,
            REFERENCE.mailbox_dispatch,
            REFERENCE.mailbox_dispatch_tmpfs,
        ] {
            let target = format!("(ref here {})", reference.p50_ms);
            assert!(text.contains(&target), "no {target:?} in\n{text}");
        }
        // The mailbox row compares this run with the reference: 0.2147 / 2.25.
        let mailbox_p50 = text
            .lines()
            .find(|l| l.contains("(ref here 2.25)"))
            .unwrap();
        assert!(mailbox_p50.contains("now 0.095 x ref"), "{mailbox_p50}");
        // The cross-process overhead target subtracts the reference's node floor.
        assert!(
            text.contains("(ref here 1.03 - 0.32 node floor = 0.71)"),
            "{text}"
        );
    }

    #[test]
    fn a_section_that_did_not_run_says_so_with_its_reason() {
        let text = rows(|t| {
            real_pi_rows(t, Some(&Section::skipped("no pi")));
            lock_rows(t, &Section::failed("spawn worker: EAGAIN"));
        });
        assert!(
            text.lines()
                .any(|l| l.contains("SKIPPED") && l.ends_with("no pi")),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.contains("FAILED") && l.ends_with("spawn worker: EAGAIN")),
            "{text}"
        );
        // A section the run was not asked for has no heading at all.
        assert_eq!(rows(|t| real_pi_rows(t, None)), "");
    }

    #[test]
    fn a_control_socket_section_without_a_floor_has_no_overhead_row() {
        let mut d = Dispatch::new(
            summary(0.5),
            10,
            xtask::report::ControlSocketMore {
                listener: "external listener /x/a.sock".to_owned(),
                world: "/tmp/w".into(),
                floor: None,
            },
        );
        let reference = &REFERENCE.control_socket_dispatch_cross_process;
        let title = "1c";
        let text =
            rows(|t| control_socket_rows(t, title, Some(&Section::Ok(d.clone())), reference));
        assert!(!text.contains("overhead"), "{text}");
        assert!(text.contains("external listener /x/a.sock"), "{text}");
        d.more.floor = Some(Floor::new(summary(0.2)));
        let text = rows(|t| control_socket_rows(t, title, Some(&Section::Ok(d)), reference));
        let overhead = text.lines().find(|l| l.contains("overhead p50")).unwrap();
        assert!(overhead.contains(" 0.3000 "), "{overhead}");
    }

    #[test]
    fn a_level_near_1000_records_shows_the_reference_upsert_and_the_socket_row() {
        let peers = Peers {
            rows: 1003,
            wall: summary(20.0),
            process_floor_p50_ms: Some(1.5),
        };
        let level = Level {
            records: 1003,
            upsert_create: summary(4.0),
            upsert_attach: summary(3.0),
            peers: Section::Ok(peers.clone()),
            list_records: summary(2.0),
            peers_cold: Section::skipped("no entwurf binary"),
            list_records_cold: summary(9.0),
            peers_with_sockets: Some(Section::Ok(PeersWithSockets {
                peers,
                socket_files: 1000,
            })),
        };
        let text = rows(|t| level_rows(t, &level));
        let upsert = text
            .lines()
            .find(|l| l.contains("upsert create @ 1003 records, p50"))
            .unwrap();
        assert!(
            upsert.ends_with(&format!(
                "(ref {} at 1000)",
                REFERENCE.upsert_at_1000_records_ms
            )),
            "{upsert}"
        );
        assert!(
            text.contains("entwurf peers @ 1003 records + 1000 socket files, p50"),
            "{text}"
        );
        // The cold peers run was skipped: no row for it.
        assert!(
            !text.contains("entwurf peers @ 1003 records, no listing cache"),
            "{text}"
        );
    }

    #[test]
    fn the_hook_rows_set_ours_beside_the_reference_with_the_ratio() {
        let side = |p50: f64| HookSide {
            records: 1001,
            events: [("SessionStart".to_owned(), Section::Ok(summary(p50)))]
                .into_iter()
                .collect(),
        };
        let hook = Hook {
            process_floor: summary(1.0),
            ours: Section::Ok(side(4.0)),
            reference: Section::Ok(side(100.0)),
        };
        let text = rows(|t| hook_rows(t, &Section::Ok(hook.clone())));
        let theirs = text
            .lines()
            .find(|l| l.contains("reference SessionStart, p50"))
            .unwrap();
        assert!(theirs.ends_with("0.040 x ref"), "{theirs}");
        let ours = text
            .lines()
            .find(|l| l.contains("  SessionStart, p50"))
            .unwrap();
        assert!(
            ours.ends_with(&format!("<= {} x ref", TARGETS.hook_ratio)),
            "{ours}"
        );
        let without = Hook {
            reference: Section::skipped("pass --ref-checkout"),
            ..hook
        };
        let text = rows(|t| hook_rows(t, &Section::Ok(without)));
        assert!(
            text.lines().any(|l| l.contains("reference  ")
                && l.contains("SKIPPED")
                && l.ends_with("pass --ref-checkout")),
            "{text}"
        );
    }

    #[test]
    fn the_live_gate_rows_mark_failed_cells_and_the_reference_cells() {
        let cell = |name: &str, passed| Cell {
            cell: format!("pi-1.x::s::{name}"),
            wall_s: Some(2.5),
            passed,
        };
        let gate = LiveGate {
            source: "this run".to_owned(),
            passed: Some(false),
            command_wall_s: Some(60.0),
            cells_wall_s: Some(30.0),
            cells_sequential_sum_s: 5.0,
            cells: vec![cell("c1", true), cell("c2", false)],
            reference_cells: Some(Section::Ok(ReferenceCells {
                passed: true,
                command_wall_s: 40.0,
                cells_wall_s: Some(12.0),
                cells: vec![cell("c1", true)],
            })),
        };
        let text = rows(|t| live_gate_rows(t, &Section::Ok(gate)));
        let c2 = text.lines().find(|l| l.contains("cell c2")).unwrap();
        assert!(c2.ends_with("FAILED"), "{c2}");
        let c1 = text.lines().find(|l| l.contains("cell c1")).unwrap();
        assert!(c1.ends_with(" s"), "{c1}");
        let four = text.lines().find(|l| l.contains("four cells")).unwrap();
        assert!(
            four.ends_with(&format!("< {} x ref sequential", TARGETS.live_gate_ratio)),
            "{four}"
        );
    }
}
