//! Byte-for-byte compatibility with the reference corpus in `fixtures/golden/mailbox/` and
//! `fixtures/golden/markers/deliverability.json`.

use chrono::{DateTime, Utc};
use entwurf_mailbox::{
    compute_receiver_active, format_body, mailbox_conversational_deliverable, message_file_name,
    native_push_deliverable, render_body, NativePushFacts, ReceiptField, ReceiptState,
    ReceiverFacts, SenderEnvelope,
};
use entwurf_meta_session::{GardenId, WakeMode};
use serde_json::Value;

mod common;
use common::golden;

fn golden_json(rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(golden(rel)).unwrap()).unwrap()
}

fn instant(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn every_golden_body_is_reproduced_byte_for_byte() {
    let cases = golden_json("mailbox/cases.json");
    let bodies = cases["bodies"].as_array().unwrap();
    assert_eq!(bodies.len(), 24, "the corpus lists 24 body files");
    let on_disk = std::fs::read_dir(golden("mailbox/bodies")).unwrap().count();
    assert_eq!(on_disk, bodies.len(), "every body file has a manifest row");
    for case in bodies {
        let file = case["file"].as_str().unwrap();
        let sender: SenderEnvelope = serde_json::from_value(case["sender"].clone()).unwrap();
        let message = case["message"].as_str().unwrap();
        let wants_reply = case["wantsReply"].as_bool().unwrap();
        let home = case["HOME"].as_str();
        let got = format_body(&sender, message, wants_reply, home);
        let want = std::fs::read(golden(&format!("mailbox/{file}"))).unwrap();
        assert_eq!(
            got.as_bytes(),
            &want[..],
            "{file}: rendered body differs\n--- got ---\n{got}"
        );
        assert_eq!(got.len() as u64, case["bytes"].as_u64().unwrap(), "{file}");
    }
}

#[test]
fn v2_send_bodies_raw_and_enveloped() {
    let cases = golden_json("mailbox/cases.json");
    for case in cases["v2Send"].as_array().unwrap() {
        let file = case["file"].as_str().unwrap();
        let plan = &case["plan"];
        let sender: Option<SenderEnvelope> = case
            .get("sender")
            .map(|s| serde_json::from_value(s.clone()).unwrap());
        let got = render_body(
            sender.as_ref(),
            plan["message"].as_str().unwrap(),
            plan["wantsReply"].as_bool().unwrap(),
            case["HOME"].as_str(),
        );
        let want = std::fs::read(golden(&format!("mailbox/{file}"))).unwrap();
        assert_eq!(got.as_bytes(), &want[..], "{file}");
    }
}

#[test]
fn message_names_follow_the_reference_stamp() {
    let cases = golden_json("mailbox/cases.json");
    for case in cases["names"].as_array().unwrap() {
        let hex = case["randomBytes"].as_str().unwrap();
        let tag = [
            u8::from_str_radix(&hex[0..2], 16).unwrap(),
            u8::from_str_radix(&hex[2..4], 16).unwrap(),
            u8::from_str_radix(&hex[4..6], 16).unwrap(),
        ];
        let now = instant(case["now"].as_str().unwrap());
        assert_eq!(
            message_file_name(now, tag),
            case["name"].as_str().unwrap(),
            "{case}"
        );
    }
}

#[test]
fn state_files_serialize_byte_for_byte_and_parse_back() {
    let gid = GardenId::parse("20260612T100000-aaaaaa").unwrap();
    let enqueued = ReceiptField::LastEnqueuedAt.stamped(
        &ReceiptState::empty(&gid),
        "2026-06-12T10:05:00.123Z".into(),
    );
    let want = std::fs::read_to_string(golden("mailbox/state-enqueued.json")).unwrap();
    assert_eq!(enqueued.to_file_string(), want);
    assert_eq!(ReceiptState::parse(&want).unwrap(), enqueued);

    let read = ReceiptField::LastEnqueuedAt.stamped(&enqueued, "2026-06-12T10:06:00.000Z".into());
    let read = ReceiptField::LastReadAt.stamped(&read, "2026-06-12T10:07:00.000Z".into());
    let want = std::fs::read_to_string(golden("mailbox/state-read.json")).unwrap();
    assert_eq!(read.to_file_string(), want);
    assert_eq!(ReceiptState::parse(&want).unwrap(), read);
}

#[test]
fn state_reject_texts_are_the_references() {
    let cases = golden_json("mailbox/cases.json");
    let mut checked = 0;
    for case in cases["errors"].as_array().unwrap() {
        let name = case["case"].as_str().unwrap();
        if !name.starts_with("read-state-") {
            continue;
        }
        let text = serde_json::to_string(&case["state"]).unwrap();
        let err = ReceiptState::parse(&text).unwrap_err();
        assert_eq!(
            err.to_string(),
            case["error"]["message"].as_str().unwrap(),
            "{name}"
        );
        checked += 1;
    }
    assert_eq!(checked, 4);
}

fn receiver_facts(v: &Value) -> ReceiverFacts {
    serde_json::from_value(v.clone()).unwrap()
}

fn wake_mode(v: &Value) -> Option<WakeMode> {
    match v.get("wakeMode").and_then(Value::as_str) {
        None => None,
        Some("self-fetch") => Some(WakeMode::SelfFetch),
        Some("direct-inject") => Some(WakeMode::DirectInject),
        Some(other) => panic!("unexpected wake mode {other}"),
    }
}

#[test]
fn deliverability_predicates_match_every_reference_row() {
    let d = golden_json("markers/deliverability.json");
    for row in d["computeMetaReceiverActive"].as_array().unwrap() {
        let got = compute_receiver_active(&receiver_facts(&row["facts"]));
        assert_eq!(
            got.active,
            row["result"]["active"].as_bool().unwrap(),
            "{row}"
        );
        assert_eq!(
            got.reason,
            row["result"]["reason"].as_str().unwrap(),
            "{row}"
        );
    }
    for row in d["mailboxConversationalDeliverable"].as_array().unwrap() {
        let mut facts = row["facts"].clone();
        let mode = wake_mode(&facts);
        facts.as_object_mut().unwrap().remove("wakeMode");
        let got = mailbox_conversational_deliverable(mode, &receiver_facts(&facts));
        assert_eq!(
            got.deliverable,
            row["result"]["deliverable"].as_bool().unwrap(),
            "{row}"
        );
        assert_eq!(
            got.reason,
            row["result"]["reason"].as_str().unwrap(),
            "{row}"
        );
    }
    for row in d["nativePushDeliverable"].as_array().unwrap() {
        let facts: NativePushFacts = serde_json::from_value(row["facts"].clone()).unwrap();
        let got = native_push_deliverable(&facts);
        assert_eq!(
            got.deliverable,
            row["result"]["deliverable"].as_bool().unwrap(),
            "{row}"
        );
        assert_eq!(
            got.reason,
            row["result"]["reason"].as_str().unwrap(),
            "{row}"
        );
    }
}

#[test]
fn the_e2e_mailbox_body_is_reproduced_from_the_wire_sender() {
    // receipts/e2e/mailbox-body.msg: the sender of rpc/req-send-full.jsonl, HOME=/home/u,
    // wantsReply true, message "mailbox hello".
    let line = std::fs::read_to_string(golden("rpc/req-send-full.jsonl")).unwrap();
    let req: Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    let sender: SenderEnvelope = serde_json::from_value(req["sender"].clone()).unwrap();
    let got = format_body(&sender, "mailbox hello", true, Some("/home/u"));
    let want = std::fs::read(golden("receipts/e2e/mailbox-body.msg")).unwrap();
    assert_eq!(got.as_bytes(), &want[..]);
}
