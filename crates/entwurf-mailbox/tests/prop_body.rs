//! Property tests for mailbox bodies: the sender envelope parser, the timestamp parser and the
//! body renderer never panic on any input; an envelope we serialise parses back equal; a body
//! we enqueue is drained back byte for byte. Fixed case counts keep `cargo test` fast.

use chrono::{TimeZone, Utc};
use entwurf_mailbox::{
    drain, enqueue, format_body, format_kst, iso_millis, parse_js_iso, render_body, RandomTags,
    SenderEnvelope, SEPARATOR,
};
use entwurf_meta_session::{write_record, Backend, GardenId, MetaRecord};
use entwurf_testkit::prop::{chars, keyed_object};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Mostly date-like text, so the ISO parser's branches are reached, plus anything.
fn iso_like() -> impl Strategy<Value = String> {
    prop_oneof![
        chars(0..30),
        "[0-9+-]{0,7}(-[0-9]{0,3}(-[0-9]{0,3}(T[0-9]{0,3}(:[0-9]{0,3}(:[0-9]{0,3}(\\.[0-9]{0,10})?)?)?)?)?)?(Z|[+-][0-9]{2}:[0-9]{2})?",
    ]
}

fn envelope() -> impl Strategy<Value = SenderEnvelope> {
    (
        chars(0..16),
        chars(0..16),
        chars(0..16),
        iso_like(),
        proptest::option::of(prop_oneof![
            Just("pi-session".to_owned()),
            Just("external-mcp".to_owned()),
            Just("meta-session".to_owned()),
            chars(0..8),
        ]),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(
            |(session_id, agent_id, cwd, timestamp, origin, replyable)| SenderEnvelope {
                origin,
                replyable,
                ..SenderEnvelope::new(session_id, agent_id, cwd, timestamp)
            },
        )
}

const ENVELOPE_KEYS: &[&str] = &[
    "sessionId",
    "agentId",
    "cwd",
    "timestamp",
    "origin",
    "replyable",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        chars(0..10).prop_map(Value::String),
        Just(Value::Array(vec![])),
        Just(Value::Object(Map::new())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_never_panics_the_timestamp_parser_or_the_kst_rendering(s in iso_like()) {
        let parsed = parse_js_iso(&s);
        let shown = format_kst(&s);
        if parsed.is_none() {
            prop_assert_eq!(shown, s, "an unparsable stamp prints raw");
        } else {
            prop_assert!(shown.ends_with(" KST"));
        }
    }

    #[test]
    fn an_iso_stamp_we_write_parses_back_to_the_same_millisecond(ms in 0i64..253_402_300_799_999) {
        let t = Utc.timestamp_millis_opt(ms).unwrap();
        prop_assert_eq!(parse_js_iso(&iso_millis(t)), Some(t));
    }

    #[test]
    fn any_envelope_shaped_json_never_panics_the_envelope_parser(
        obj in keyed_object(ENVELOPE_KEYS, leaf(), 0..8),
        raw in chars(0..64),
    ) {
        let obj = Value::Object(obj);
        for text in [obj.to_string(), raw] {
            if let Ok(env) = serde_json::from_str::<SenderEnvelope>(&text) {
                let body = format_body(&env, "m", env.is_replyable(), Some("/home/u"));
                let tail = format!("\n{SEPARATOR}\nm\n");
                prop_assert!(body.ends_with(&tail));
            }
        }
    }

    #[test]
    fn an_envelope_we_serialise_parses_back_equal(env in envelope()) {
        let text = serde_json::to_string(&env).unwrap();
        let back: SenderEnvelope = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, env);
    }

    #[test]
    fn a_rendered_body_carries_the_message_verbatim_after_the_separator(
        env in envelope(),
        message in chars(0..80),
        wants_reply in any::<bool>(),
        home in proptest::option::of(chars(0..8)),
    ) {
        let body = format_body(&env, &message, wants_reply, home.as_deref());
        prop_assert!(body.starts_with("[entwurf received ⟵]\n  from:        "));
        let tail = format!("\n{SEPARATOR}\n{message}\n");
        prop_assert!(body.ends_with(&tail));
        let wants = if wants_reply { "\n  wants reply: yes\n" } else { "\n  wants reply: no\n" };
        prop_assert!(body.contains(wants));
        prop_assert_eq!(render_body(Some(&env), &message, wants_reply, home.as_deref()), body);
        prop_assert_eq!(render_body(None, &message, wants_reply, None), message);
    }
}

proptest! {
    // Each case writes a record, enqueues and drains: real files.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_body_we_enqueue_is_drained_back_byte_for_byte(
        bodies in prop::collection::vec(chars(1..200), 1..4),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let (sessions, mailbox) = (tmp.path().join("sessions"), tmp.path().join("mailbox"));
        std::fs::create_dir_all(&sessions).unwrap();
        let gid = GardenId::parse("20260612T100000-aaaaaa").unwrap();
        let record = MetaRecord::new(
            gid.clone(),
            Backend::ClaudeCode,
            "n",
            "/w",
            "2026-06-12T10:00:00.000Z",
        );
        write_record(&sessions, &record).unwrap();
        // An empty body is refused and writes nothing.
        prop_assert!(enqueue(&sessions, &mailbox, &gid, "", Utc::now(), &mut RandomTags).is_err());
        for (i, body) in bodies.iter().enumerate() {
            // Distinct, increasing stamps: the drain returns bodies in name (= time) order.
            let now = Utc.timestamp_millis_opt(1_781_258_400_000 + i as i64).unwrap();
            enqueue(&sessions, &mailbox, &gid, body, now, &mut RandomTags).unwrap();
        }
        let drained = drain(&sessions, &mailbox, &gid, Utc::now()).unwrap();
        let got: Vec<String> = drained.messages.into_iter().map(|m| m.body).collect();
        prop_assert_eq!(got, bodies);
        prop_assert!(drained.left_unread.is_empty());
    }
}
