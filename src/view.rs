//! A flat view of a dispatch result, read from its reference JSON shape
//! (`{"kind":"executed","receipt":{…},"transport":…,"outcome":{…}}`), so in-process results and
//! `entwurf send --json` output are checked the same way.

use serde_json::Value;

/// The fields the live cells check, pulled out of a run result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchView {
    /// `rejected`, `executed` or `execution-failed`.
    pub kind: String,
    /// The plan's transport (executed / execution-failed), e.g. `control-socket`.
    pub transport: Option<String>,
    /// The control-socket outcome (`sent`, …), or `enqueued` for a mailbox success.
    pub outcome: Option<String>,
    /// The reject reason (rejected), or a control-socket `rejectReason`.
    pub reason: Option<String>,
    /// The receipt's `observedLiveness` (`None` for JSON `null`).
    pub observed_liveness: Option<String>,
    /// `target-locked` evidence: the holder's pid, when the holder parsed.
    pub holder_pid: Option<u64>,
    /// `target-locked` evidence: the conflict's lock path.
    pub conflict_lock_path: Option<String>,
    /// `target-locked` evidence: the conflict detail text.
    pub conflict_detail: Option<String>,
    /// The execution-failed error text.
    pub error: Option<String>,
    /// The whole result, compact JSON (for failure messages).
    pub raw: String,
}

impl DispatchView {
    /// Reads the reference JSON shape of a run result.
    pub fn from_json(v: &Value) -> DispatchView {
        let s = |x: &Value| x.as_str().map(str::to_owned);
        let receipt = &v["receipt"];
        let outcome_obj = &v["outcome"];
        let transport = s(&v["transport"]).or_else(|| s(&outcome_obj["transport"]));
        let outcome = match (transport.as_deref(), &outcome_obj["outcome"]) {
            (_, Value::String(o)) => Some(o.clone()),
            (Some("meta-mailbox"), _) if outcome_obj["success"] == Value::Bool(true) => {
                Some("enqueued".to_owned())
            }
            _ => None,
        };
        let conflict = &v["diagnostic"]["conflict"];
        DispatchView {
            kind: s(&v["kind"]).unwrap_or_default(),
            transport,
            outcome,
            reason: s(&receipt["reason"]).or_else(|| s(&outcome_obj["rejectReason"])),
            observed_liveness: s(&receipt["observedLiveness"]),
            holder_pid: conflict["holder"]["pid"].as_u64(),
            conflict_lock_path: s(&conflict["lockPath"]),
            conflict_detail: s(&conflict["detail"]),
            error: s(&v["error"]),
            raw: v.to_string(),
        }
    }

    /// Parses one JSON line (e.g. `entwurf send --json` stdout).
    pub fn from_json_text(text: &str) -> Result<DispatchView, serde_json::Error> {
        serde_json::from_str::<Value>(text.trim()).map(|v| DispatchView::from_json(&v))
    }

    /// `executed` over `transport` with `outcome`.
    pub fn is_executed(&self, transport: &str, outcome: &str) -> bool {
        self.kind == "executed"
            && self.transport.as_deref() == Some(transport)
            && self.outcome.as_deref() == Some(outcome)
    }

    /// `rejected` with `reason`.
    pub fn is_rejected(&self, reason: &str) -> bool {
        self.kind == "rejected" && self.reason.as_deref() == Some(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_executed_control_socket_send() {
        let v = DispatchView::from_json_text(
            r#"{"kind":"executed","receipt":{"ok":true,"action":"send","transport":"control-socket","ownership":"ack-only","observedLiveness":"alive"},"transport":"control-socket","outcome":{"transport":"control-socket","outcome":"sent"}}"#,
        )
        .unwrap();
        assert!(v.is_executed("control-socket", "sent"), "{v:?}");
        assert_eq!(v.observed_liveness.as_deref(), Some("alive"));
    }

    #[test]
    fn reads_a_mailbox_enqueue_and_a_locked_reject() {
        let m = DispatchView::from_json_text(
            r#"{"kind":"executed","receipt":{"ok":true},"transport":"meta-mailbox","outcome":{"transport":"meta-mailbox","success":true}}"#,
        )
        .unwrap();
        assert!(m.is_executed("meta-mailbox", "enqueued"));
        let r = DispatchView::from_json_text(
            r#"{"kind":"rejected","receipt":{"ok":false,"reason":"target-locked","observedLiveness":null},"diagnostic":{"kind":"target-locked","conflict":{"reason":"target-locked","lockPath":"/l/g.lock","holder":{"gardenId":"g","pid":42},"detail":"held by pid 42"}}}"#,
        )
        .unwrap();
        assert!(r.is_rejected("target-locked"));
        assert_eq!(
            (
                r.observed_liveness,
                r.holder_pid,
                r.conflict_lock_path.as_deref()
            ),
            (None, Some(42), Some("/l/g.lock"))
        );
    }
}
