//! Pure rendering of tool results: text equal to the reference's for the same outcome, plus the
//! JSON payloads behind `structuredContent`. No IO, no clock, no environment.

use entwurf_decider::{ExecutedOutcome, RejectReason, RunResult, SpawnBgResumeResult};
use entwurf_fs::Chain;
use entwurf_mailbox::{abbreviate_home, format_kst, Drained, EntryKind, MailboxListing};
use serde_json::{json, Value};

use crate::facts::{Diagnostic, Facts, PeerFact, SocketOnlyFact};
use crate::identity::{Origin, SelfEnvelope};

/// A rendered tool answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// The text content (what the model reads).
    pub text: String,
    /// `isError` of the MCP result.
    pub is_error: bool,
    /// The `structuredContent` payload (attached only when the server advertises output schemas).
    pub structured: Option<Value>,
}

impl ToolOutput {
    /// A success with `text`.
    pub fn ok(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            is_error: false,
            structured: None,
        }
    }

    /// A failure with `text`.
    pub fn err(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            is_error: true,
            structured: None,
        }
    }

    /// The same answer with a structured payload.
    pub fn with_structured(mut self, v: Value) -> Self {
        self.structured = Some(v);
        self
    }
}

/// The reference's `<tool> error: <message>` failure text.
pub fn tool_error(tool: &str, message: impl std::fmt::Display) -> ToolOutput {
    ToolOutput::err(format!("{tool} error: {message}"))
}

/// The one-line "what to do instead" the reference appends to some rejects.
pub fn reject_hint(reason: RejectReason) -> Option<&'static str> {
    Some(match reason {
        RejectReason::BackendLivenessUnsupported => "meta-session backend has no liveness predicate → owned-outcome is unsupported. To reply, dispatch with intent: fire-and-forget — it routes to the meta-mailbox when a deliverable/active receiver is armed (else it fail-closes as mailbox-undeliverable). (Intent is not auto-converted; you choose it.)",
        RejectReason::OwnedLiveNoAutosend => "target is live — owned-outcome never auto-sends. Use intent: fire-and-forget (with wants_reply if you need a reply).",
        RejectReason::NativePushNoResumeAuthority => "native-push target (e.g. antigravity) has no resume/spawn authority → owned-outcome is unsupported. Use intent: fire-and-forget to direct-inject into the live conversation.",
        RejectReason::NativePushTargetDead => "native-push conversation is not live (no host process found). Re-open the conversation, then retry — there is nothing to inject into.",
        RejectReason::NativePushProbeIndeterminate => "native-push host is up but no port served this conversation (probe inconclusive). Retry once the conversation is loaded, or verify the conversation id.",
        _ => return None,
    })
}

/// The `entwurf_v2` text for a run result: the decider's surface rendering with the reference's
/// actionable hint line under a reject.
pub fn render_v2_text(result: &RunResult) -> (String, bool) {
    let rendered = result.render();
    let mut text = rendered.text;
    if let RunResult::Rejected { receipt, .. } = result {
        if let Some(hint) = reject_hint(receipt.reason()) {
            let first_end = text.find('\n').unwrap_or(text.len());
            text.insert_str(first_end, &format!("\n  → {hint}"));
        }
    }
    (text, rendered.is_error)
}

/// The short outcome word of a run result (structured payload and pi tool details).
pub fn outcome_word(result: &RunResult) -> &'static str {
    match result {
        RunResult::Rejected { .. } => "rejected",
        RunResult::Executed { outcome, .. } => match outcome {
            ExecutedOutcome::ControlSocket { outcome, .. } => outcome.as_str(),
            ExecutedOutcome::MetaMailbox { .. } => "enqueued",
            ExecutedOutcome::NativePush { .. } => "delivered",
            ExecutedOutcome::SpawnBg { result } => match result {
                SpawnBgResumeResult::SocketAlive { .. } => "socket-alive",
                SpawnBgResumeResult::ChildExited { .. } => "child-exited",
                SpawnBgResumeResult::SpawnStartFailed { .. } => "spawn-start-failed",
                SpawnBgResumeResult::LockRetained { .. } => "lock-retained",
            },
        },
        RunResult::ExecutionFailed {
            release_failed: Some(true),
            ..
        } => "delivered-lock-dirty",
        RunResult::ExecutionFailed { .. } => "execution-failed",
    }
}

/// The `entwurf_v2` answer: text plus the structured payload (transport, outcome, reason,
/// message file, receipt and the full run result).
pub fn render_v2(result: &RunResult, message_file: Option<&str>) -> ToolOutput {
    let (text, is_error) = render_v2_text(result);
    let (transport, reason, receipt) = match result {
        RunResult::Rejected { receipt, .. } => (
            None,
            Some(receipt.reason().as_str()),
            serde_json::to_value(receipt).ok(),
        ),
        RunResult::Executed {
            receipt,
            transport,
            outcome,
            ..
        } => {
            let reason = match outcome {
                ExecutedOutcome::ControlSocket { reject_reason, .. } => {
                    reject_reason.map(|r| r.as_str())
                }
                _ => None,
            };
            (
                Some(transport.as_str()),
                reason,
                serde_json::to_value(receipt).ok(),
            )
        }
        RunResult::ExecutionFailed {
            receipt, transport, ..
        } => (
            Some(transport.as_str()),
            None,
            serde_json::to_value(receipt).ok(),
        ),
    };
    let structured = json!({
        "delivered": result.delivered(),
        "outcome": outcome_word(result),
        "transport": transport,
        "reason": reason,
        "messageFile": message_file,
        "receipt": receipt,
        "result": serde_json::to_value(result).unwrap_or(Value::Null),
    });
    ToolOutput {
        text,
        is_error,
        structured: Some(structured),
    }
}

/// The `entwurf_self` answer: aligned lines, a blank line, then the compact JSON envelope.
pub fn render_self(env: &SelfEnvelope, home: Option<&str>) -> ToolOutput {
    let mut lines = vec![
        format!("sessionId:  {}", env.session_id),
        format!("agentId:    {}", env.agent_id),
        format!("origin:     {}", env.origin.as_str()),
        format!("replyable:  {}", env.replyable),
        format!("cwd:        {}", abbreviate_home(&env.cwd, home)),
        format!("timestamp:  {}", format_kst(&env.timestamp)),
    ];
    let mut obj = serde_json::Map::new();
    obj.insert("sessionId".into(), json!(env.session_id));
    obj.insert("agentId".into(), json!(env.agent_id));
    obj.insert("cwd".into(), json!(env.cwd));
    obj.insert("timestamp".into(), json!(env.timestamp));
    obj.insert("origin".into(), json!(env.origin.as_str()));
    obj.insert("replyable".into(), json!(env.replyable));
    match env.origin {
        Origin::PiSession => {
            if let Some(path) = &env.socket_path {
                let alive = env.socket_alive;
                lines.push(if alive {
                    format!("socketPath: {path}")
                } else {
                    format!("socketPath: {path}  (expected — not alive; session not run with --entwurf-control)")
                });
                obj.insert("socketPath".into(), json!(path));
                obj.insert(
                    "socketState".into(),
                    json!(if alive { "alive" } else { "expected" }),
                );
            }
        }
        Origin::MetaSession => {
            if let Some(path) = &env.mailbox_path {
                lines.push(format!("mailboxPath: {path}"));
                obj.insert("mailboxPath".into(), json!(path));
            }
        }
        Origin::ExternalMcp => {}
    }
    let value = Value::Object(obj);
    ToolOutput::ok(format!("{}\n\n{}", lines.join("\n"), value)).with_structured(value)
}

/// Newest `max` lines of a long section, with a note on how many were left out.
fn compact(lines: Vec<String>, max: usize) -> Vec<String> {
    if lines.len() <= max {
        return lines;
    }
    let omitted = lines.len() - max;
    let mut out = vec![format!(
        "  … ({omitted} older entries omitted; showing latest {max})"
    )];
    out.extend(lines.into_iter().skip(omitted));
    out
}

fn section(title: &str, lines: Vec<String>, compacted: bool) -> String {
    let lines = if compacted { compact(lines, 32) } else { lines };
    if lines.is_empty() {
        format!("{title}\n  (none)")
    } else {
        format!("{title}\n{}", lines.join("\n"))
    }
}

fn peer_line(p: &PeerFact) -> String {
    format!(
        "- {}  backend={}  liveness={}  cwd={}  model={}{}",
        p.garden_id,
        p.backend,
        p.liveness,
        p.cwd,
        p.model.as_deref().unwrap_or("(unknown)"),
        if p.is_entwurf { " entwurf" } else { "" }
    )
}

fn socket_only_line(s: &SocketOnlyFact) -> String {
    let idle = match s.idle {
        None => String::new(),
        Some(i) => format!("  idle={}", if i { "yes" } else { "no" }),
    };
    let info = match &s.info_error {
        None => String::new(),
        Some(e) => format!("  infoError={e}"),
    };
    format!(
        "- {}  liveness={}  cwd={}  model={}{idle}{info}",
        s.garden_id,
        s.liveness,
        s.cwd.as_deref().unwrap_or("(not enriched)"),
        s.model.as_deref().unwrap_or("(not enriched)"),
    )
}

fn diagnostic_line(d: &Diagnostic) -> String {
    match d {
        Diagnostic::MetaRecordReadError { filename, message } => {
            format!("- meta-record-read-error {filename}: {message}")
        }
        Diagnostic::GardenIdSocketConflict {
            garden_id,
            backend,
            message,
        } => format!("- garden-id-socket-conflict {garden_id} (backend={backend}): {message}"),
        Diagnostic::SocketSymlinkRejected { garden_id, message } => {
            format!("- socket-symlink-rejected {garden_id}: {message}")
        }
        Diagnostic::MalformedSocketName { name, message } => {
            format!("- malformed-socket-name {name}: {message}")
        }
        Diagnostic::SocketDirReadError { message } => format!("- socket-dir-read-error: {message}"),
    }
}

/// The `entwurf_peers` answer: three sections (citizens, socket-only sockets, diagnostics) and
/// the reference's payload (`controlDir`, `count`, legacy `sessions`, facts, diagnostics).
pub fn render_peers(facts: &Facts, control_dir: &str) -> ToolOutput {
    let text = [
        section(
            "Garden citizens (meta-record):",
            facts.peers.iter().map(peer_line).collect(),
            true,
        ),
        String::new(),
        section(
            "Socket-only control sockets (no meta-record):",
            facts.socket_only.iter().map(socket_only_line).collect(),
            true,
        ),
        String::new(),
        section(
            "Diagnostics:",
            facts.diagnostics.iter().map(diagnostic_line).collect(),
            false,
        ),
    ]
    .join("\n");
    let sock = |gid: &str| format!("{}/{gid}.sock", control_dir.trim_end_matches('/'));
    let mut sessions: Vec<Value> = facts
        .peers
        .iter()
        .filter(|p| p.backend == "pi" && p.liveness == "alive")
        .map(|p| p.garden_id.as_str())
        .chain(
            facts
                .socket_only
                .iter()
                .filter(|s| s.liveness == "alive")
                .map(|s| s.garden_id.as_str()),
        )
        .map(|g| json!({"sessionId": g, "socketPath": sock(g)}))
        .collect();
    sessions.sort_by(|a, b| a["sessionId"].as_str().cmp(&b["sessionId"].as_str()));
    let payload = json!({
        "controlDir": control_dir,
        "count": sessions.len(),
        "sessions": sessions,
        "peers": facts.peers,
        "socketOnly": facts.socket_only,
        "diagnostics": facts.diagnostics,
    });
    ToolOutput::ok(text).with_structured(payload)
}

/// The `entwurf_inbox_read` answer for a drain. Messages that could not be taken, entries that
/// are not messages (a FIFO, a symlink, an oversized file), a set-aside receipt state and a
/// receipt that could not be stamped are named after the bodies (the reference lost them
/// silently).
pub fn render_inbox(d: &Drained) -> ToolOutput {
    let gid = d.garden_id.as_str();
    let messages: Vec<Value> = d
        .messages
        .iter()
        .map(|m| json!({"file": m.file, "body": m.body}))
        .collect();
    let structured = json!({
        "gardenId": gid,
        "count": d.messages.len(),
        "readAt": d.read_at,
        "messages": messages,
        "leftUnread": d.left_unread.iter().map(|l| json!({"file": l.file, "error": Chain(&l.error).to_string()})).collect::<Vec<_>>(),
        "receiptError": d.receipt_error.as_ref().map(|e| Chain(e).to_string()),
        "badEntries": d.bad_entries.iter().map(|b| json!({"file": b.file, "kind": b.kind, "error": Chain(&b.error).to_string(), "hint": b.kind.hint()})).collect::<Vec<_>>(),
        "stateSetAside": d.state_set_aside,
    });
    let mut text = d.inbox_text();
    for l in &d.left_unread {
        text.push_str(&format!(
            "\n[left unread: {} — {}]",
            l.file,
            Chain(&l.error)
        ));
    }
    for b in &d.bad_entries {
        text.push_str(&format!(
            "\n[skipped {} ({}): {}]",
            b.file,
            b.what(),
            b.kind.hint()
        ));
    }
    if let Some(aside) = &d.state_set_aside {
        text.push_str(&format!(
            "\n[the receipt state was unparseable; it was set aside as {} and rebuilt]",
            aside.display()
        ));
    }
    if let Some(e) = &d.receipt_error {
        text.push_str(&format!(
            "\n[the messages above were archived but lastReadAt was not stamped: {}]",
            Chain(e)
        ));
    }
    ToolOutput::ok(text).with_structured(structured)
}

/// The `entwurf_inbox_peek` answer: what is unread, nothing changed.
pub fn render_peek(l: &MailboxListing) -> ToolOutput {
    let gid = l.garden_id.as_str();
    let unread: Vec<_> = l.unread().collect();
    let items: Vec<Value> = unread
        .iter()
        .map(|e| {
            json!({
                "file": e.file,
                "announced": e.kind == EntryKind::Delivered,
                "size": e.size,
            })
        })
        .collect();
    let structured = json!({
        "gardenId": gid,
        "unread": unread.len(),
        "messages": items,
        "lastReadAt": l.state.last_read_at,
        "lastEnqueuedAt": l.state.last_enqueued_at,
    });
    let text = if unread.is_empty() {
        format!("[entwurf inbox peek] garden {gid}: no unread messages (nothing changed).")
    } else {
        let mut t = format!(
            "[entwurf inbox peek] garden {gid}: {} unread (nothing drained; read them with entwurf_inbox_read)",
            unread.len()
        );
        for e in &unread {
            t.push_str(&format!("\n  {}  {} bytes", e.file, e.size));
        }
        t
    };
    ToolOutput::ok(text).with_structured(structured)
}

/// The `entwurf_inbox_wait` answer.
pub fn render_wait(gid: &str, unread: usize, waited_ms: u64, timed_out: bool) -> ToolOutput {
    let structured = json!({
        "gardenId": gid,
        "unread": unread,
        "timedOut": timed_out,
        "waitedMs": waited_ms,
    });
    let text = if timed_out {
        format!("[entwurf inbox wait] garden {gid}: no mail after {waited_ms} ms.")
    } else {
        format!(
            "[entwurf inbox wait] garden {gid}: {unread} unread — call entwurf_inbox_read to read them."
        )
    };
    ToolOutput::ok(text).with_structured(structured)
}

#[cfg(test)]
mod tests {
    use super::*;
    use entwurf_decider::{FactLiveness, RejectReceipt};

    #[test]
    fn the_backend_liveness_reject_carries_the_reference_hint() {
        let r = RunResult::Rejected {
            receipt: RejectReceipt::new(
                RejectReason::BackendLivenessUnsupported,
                Some(FactLiveness::Unsupported),
            )
            .unwrap(),
            diagnostic: None,
        };
        let out = render_v2(&r, None);
        assert!(out.is_error);
        assert_eq!(out.text, "entwurf_v2 rejected: backend-liveness-unsupported (observed liveness: unsupported)\n  → meta-session backend has no liveness predicate → owned-outcome is unsupported. To reply, dispatch with intent: fire-and-forget — it routes to the meta-mailbox when a deliverable/active receiver is armed (else it fail-closes as mailbox-undeliverable). (Intent is not auto-converted; you choose it.)");
        let s = out.structured.unwrap();
        assert_eq!(s["outcome"], "rejected");
        assert_eq!(s["reason"], "backend-liveness-unsupported");
        assert_eq!(s["delivered"], false);
    }

    #[test]
    fn a_reject_without_a_hint_is_one_line() {
        let r = RunResult::Rejected {
            receipt: RejectReceipt::new(RejectReason::BadTarget, None).unwrap(),
            diagnostic: None,
        };
        assert_eq!(
            render_v2_text(&r).0,
            "entwurf_v2 rejected: bad-target (observed liveness: n/a)"
        );
    }

    #[test]
    fn lock_retained_and_lock_dirty_render_as_the_reference() {
        use entwurf_decider::{
            Millis, RetainReason, RetainedDiagnostic, SendFinalOutcome, SuccessReceipt, Transport,
        };
        use entwurf_meta_session::GardenId;
        let retained = RunResult::Executed {
            receipt: SuccessReceipt::new(Transport::SpawnBg, FactLiveness::Dead),
            transport: Transport::SpawnBg,
            outcome: ExecutedOutcome::SpawnBg {
                result: SpawnBgResumeResult::LockRetained {
                    released: false,
                    reason: RetainReason::KillUnconfirmed,
                    error: Some("boom".into()),
                    diagnostic: RetainedDiagnostic {
                        target_garden_id: GardenId::parse("20260101T000000-aaaaaa").unwrap(),
                        pid: Some(7),
                        expected_socket_path: "/c/x.sock".into(),
                        lock_path: "/l/x.lock".into(),
                        observe_timeout_ms: Millis::from_whole(30000),
                        kill_grace_ms: Millis::from_whole(2000),
                    },
                },
            },
        };
        let out = render_v2(&retained, None);
        assert!(out.is_error);
        assert_eq!(out.text, "entwurf_v2 spawn-bg LOCK RETAINED (kill-unconfirmed) — lock NOT released, operator must clear:\n  target: 20260101T000000-aaaaaa\n  lockPath: /l/x.lock\n  expectedSocketPath: /c/x.sock\n  observeTimeoutMs: 30000, killGraceMs: 2000\n  error: boom");
        assert_eq!(out.structured.unwrap()["outcome"], "lock-retained");
        let dirty = RunResult::ExecutionFailed {
            receipt: SuccessReceipt::new(Transport::ControlSocket, FactLiveness::Alive),
            transport: Transport::ControlSocket,
            error: "EIO".into(),
            finalized_outcome: Some(SendFinalOutcome::Sent),
            release_failed: Some(true),
            retry_safe: false,
        };
        let out = render_v2(&dirty, None);
        assert_eq!(out.text, "entwurf_v2 control-socket DELIVERED (sent) but the lock is DIRTY (release failed) — do NOT retry, a re-send would double-deliver. Clear the lock by hand.\n  error: EIO");
        assert_eq!(out.structured.unwrap()["outcome"], "delivered-lock-dirty");
    }

    #[test]
    fn long_sections_keep_the_newest_32_lines() {
        let lines: Vec<String> = (0..40).map(|i| format!("l{i}")).collect();
        let out = compact(lines, 32);
        assert_eq!(out.len(), 33);
        assert_eq!(out[0], "  … (8 older entries omitted; showing latest 32)");
        assert_eq!(out[1], "l8");
        assert_eq!(out[32], "l39");
    }

    #[test]
    fn empty_sections_say_none() {
        assert_eq!(section("T:", vec![], true), "T:\n  (none)");
    }
}
