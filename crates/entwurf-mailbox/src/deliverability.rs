//! Deliverability: may a mailbox message to this citizen ever be drained?
//!
//! The predicates are pure and fail closed (a fact not given counts as false); each returns the
//! first failing reason, with the reference's exact wording. [`mailbox_deliverability_with`]
//! wires them the way production does: the record is known to exist, and one boolean (a live
//! receiver marker that matches the record) stands for both "owner alive" and "watch armed".

use entwurf_meta_session::{MetaRecord, WakeMode};
use serde::{Deserialize, Serialize};

/// Facts about a self-fetch receiver. `None` means "not known", which counts as false.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverFacts {
    /// A meta record backs the citizen.
    #[serde(default)]
    pub record_backed: Option<bool>,
    /// The marker's owner process is the same live process that armed it.
    #[serde(default)]
    pub owner_alive: Option<bool>,
    /// An idle-wake watch on `inbox.signal` is armed.
    #[serde(default)]
    pub watch_armed: Option<bool>,
}

/// Facts for the native-push rail (antigravity).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NativePushFacts {
    /// A meta record backs the citizen.
    #[serde(default)]
    pub record_backed: Option<bool>,
    /// The adapter probe found a live native conversation.
    #[serde(default)]
    pub probe_alive: Option<bool>,
}

/// Is the receiver active, and why (or why not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverActivity {
    /// Record backed ∧ owner alive ∧ watch armed.
    pub active: bool,
    /// The first failing condition, or the success sentence.
    pub reason: String,
}

/// Can a message be delivered, and why (or why not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deliverability {
    /// The verdict.
    pub deliverable: bool,
    /// The first failing condition, or the success sentence.
    pub reason: String,
}

fn yes(fact: Option<bool>) -> bool {
    fact == Some(true)
}

/// `computeMetaReceiverActive`: record backed ∧ owner alive ∧ watch armed.
pub fn compute_receiver_active(facts: &ReceiverFacts) -> ReceiverActivity {
    let fail = |reason: &str| ReceiverActivity {
        active: false,
        reason: reason.to_owned(),
    };
    if !yes(facts.record_backed) {
        return fail("no backing meta-record");
    }
    if !yes(facts.owner_alive) {
        return fail("owner not alive (start-key mismatch — session exited or pid reused)");
    }
    if !yes(facts.watch_armed) {
        return fail("idle-watch not armed — a reply would enqueue with no doorbell wake");
    }
    ReceiverActivity {
        active: true,
        reason: "record backed, owner alive, watch armed".to_owned(),
    }
}

/// `mailboxConversationalDeliverable`: wake mode `self-fetch` ∧ receiver active.
pub fn mailbox_conversational_deliverable(
    wake_mode: Option<WakeMode>,
    facts: &ReceiverFacts,
) -> Deliverability {
    if wake_mode != Some(WakeMode::SelfFetch) {
        let mode = wake_mode.map_or("(unset)", WakeMode::as_str);
        return Deliverability {
            deliverable: false,
            reason: format!(
                "backend wake mode {mode} is not self-fetch — a mailbox enqueue would never be drained"
            ),
        };
    }
    let active = compute_receiver_active(facts);
    if active.active {
        Deliverability {
            deliverable: true,
            reason: format!("self-fetch receiver active ({})", active.reason),
        }
    } else {
        Deliverability {
            deliverable: false,
            reason: format!("self-fetch receiver inactive — {}", active.reason),
        }
    }
}

/// `nativePushDeliverable`: record backed ∧ probe alive (never looks at a watch).
pub fn native_push_deliverable(facts: &NativePushFacts) -> Deliverability {
    let (deliverable, reason) = if !yes(facts.record_backed) {
        (false, "no backing meta-record")
    } else if !yes(facts.probe_alive) {
        (false, "adapter probe found no live native conversation")
    } else {
        (true, "record backed, native conversation probed alive")
    };
    Deliverability {
        deliverable,
        reason: reason.to_owned(),
    }
}

/// The production wiring over plain values: the record exists (it was read), and
/// `receiver_matched` = a receiver marker was read with owner verification **and** its
/// gardenId/backend/nativeSessionId equal the record's.
pub fn mailbox_deliverability_with(record: &MetaRecord, receiver_matched: bool) -> Deliverability {
    let facts = ReceiverFacts {
        record_backed: Some(true),
        owner_alive: Some(receiver_matched),
        watch_armed: Some(receiver_matched),
    };
    mailbox_conversational_deliverable(Some(record.backend.capability().wake_mode), &facts)
}
