//! Property tests for the NDJSON wire: the server's line parser and send validation, the
//! client's response matcher and the line splitter never panic on any bytes; a request or a
//! response we write parses back to itself; splitting is independent of how bytes arrive.
//! Fixed case counts keep `cargo test` fast.

use entwurf_control_rpc::wire::{
    drain_lines, js_trim, parse_line, validate_send, Request, Response, SendMode, SendRequest,
    SenderEnvelope,
};
use entwurf_testkit::prop::{chars, json_value, keyed_object};
use proptest::prelude::*;
use serde_json::Value;

/// Text that is not blank after JavaScript's trim (what the server requires).
fn solid(len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    chars(len).prop_filter("not blank", |s| !js_trim(s).is_empty())
}

const KEYS: &[&str] = &[
    "type",
    "command",
    "success",
    "data",
    "error",
    "id",
    "message",
    "mode",
    "wants_reply",
    "sender",
    "summarize",
];

/// Objects over the wire keys with arbitrary values (`type`/`command` often a real command).
fn wire_object() -> impl Strategy<Value = String> {
    let command = prop::sample::select(vec!["send", "get_info", "response", "clear", "parse"])
        .prop_map(|s| Value::String(s.into()));
    (
        keyed_object(KEYS, prop_oneof![command, json_value()], 0..8),
        prop::option::of(json_value()),
    )
        .prop_map(|(mut map, sender)| {
            if let Some(s) = sender {
                map.insert("sender".into(), s);
            }
            Value::Object(map).to_string()
        })
}

fn sender() -> impl Strategy<Value = SenderEnvelope> {
    (
        solid(1..12),
        solid(1..12),
        solid(1..12),
        solid(1..12),
        prop::option::of(chars(1..8)),
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            |(session_id, agent_id, cwd, timestamp, origin, replyable)| SenderEnvelope {
                origin,
                replyable,
                ..SenderEnvelope::new(session_id, agent_id, cwd, timestamp)
            },
        )
}

fn send() -> impl Strategy<Value = SendRequest> {
    (
        solid(1..60),
        prop::sample::select(vec![SendMode::Steer, SendMode::FollowUp]),
        any::<bool>(),
        prop::option::of(sender()),
    )
        .prop_map(|(message, mode, wants_reply, sender)| SendRequest {
            message,
            mode,
            wants_reply,
            sender,
        })
}

fn response() -> impl Strategy<Value = Response> {
    (
        chars(0..10),
        any::<bool>(),
        prop::option::of(json_value()),
        prop::option::of(chars(0..20)),
        prop::option::of(chars(0..10)),
    )
        .prop_map(|(command, success, data, error, id)| Response {
            kind: "response".into(),
            command,
            success,
            data,
            error,
            id,
        })
}

fn check_any_line(line: &str) {
    if let Ok(incoming) = parse_line(line) {
        let _ = validate_send(&incoming.body);
    }
    for command in ["send", "get_info", "clear", ""] {
        if let Some(resp) = Response::match_line(line, command) {
            // What the matcher took, written back, matches the same way.
            assert_eq!(Response::match_line(&resp.to_line(), command), Some(resp));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_never_panic_the_wire_parsers(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut buf = bytes.clone();
        for line in drain_lines(&mut buf) {
            check_any_line(&line);
        }
        check_any_line(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn any_wire_shaped_object_never_panics_the_wire_parsers(line in wire_object()) {
        check_any_line(&line);
    }

    #[test]
    fn a_send_we_write_is_parsed_and_validated_back_equal(req in send()) {
        let line = Request::Send(req.clone()).to_line();
        prop_assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
        let incoming = parse_line(line.trim_end()).unwrap();
        prop_assert_eq!(incoming.command.as_str(), "send");
        prop_assert_eq!(validate_send(&incoming.body), Ok(req.clone()));
        // The typed line is the value rendering, byte for byte.
        prop_assert_eq!(line, format!("{}\n", Request::Send(req).to_value()));
    }

    #[test]
    fn other_requests_we_write_parse_back(summarize in prop::option::of(any::<bool>())) {
        for req in [Request::GetInfo, Request::GetMessage, Request::Abort, Request::Clear { summarize }] {
            let incoming = parse_line(req.to_line().trim_end()).unwrap();
            prop_assert_eq!(incoming.command.as_str(), req.command());
            prop_assert_eq!(incoming.id, None);
        }
    }

    #[test]
    fn a_response_we_write_matches_back_equal(resp in response()) {
        let line = resp.to_line();
        prop_assert_eq!(Response::match_line(&line, &resp.command), Some(resp.clone()));
        let other = format!("{}x", resp.command);
        prop_assert_eq!(Response::match_line(&line, &other), None);
    }

    #[test]
    fn line_splitting_does_not_depend_on_how_the_bytes_arrive(
        lines in prop::collection::vec(chars(0..20).prop_filter("one line", |s| !s.contains('\n')), 0..6),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let stream: Vec<u8> = lines.iter().flat_map(|l| format!("{l}\n").into_bytes()).collect();
        let mut whole = stream.clone();
        let expected = drain_lines(&mut whole);
        prop_assert!(whole.is_empty());
        let want: Vec<String> = lines.iter().map(|l| js_trim(l).to_owned()).filter(|l| !l.is_empty()).collect();
        prop_assert_eq!(&expected, &want);
        // The same bytes in arbitrary chunks.
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.sort_unstable();
        let (mut buf, mut got, mut at) = (Vec::new(), Vec::new(), 0);
        for p in points.into_iter().chain([stream.len()]) {
            buf.extend_from_slice(&stream[at..p]);
            at = p;
            got.extend(drain_lines(&mut buf));
        }
        prop_assert_eq!(got, expected);
    }
}

/// Found by `a_response_we_write_matches_back_equal`: serde_json's default float parser is off by
/// an ulp for some extreme values, so a `data` payload came back changed. The workspace enables
/// serde_json's `float_roundtrip`, as JavaScript's `JSON.parse` is exact.
#[test]
fn an_extreme_float_in_response_data_matches_back_exactly() {
    let data: Value = serde_json::from_str(r#"{"":-3.7770782498799844e-287}"#).unwrap();
    assert_eq!(
        data[""].as_f64(),
        Some(-3.7770782498799844e-287),
        "parsed exactly"
    );
    let resp = Response::ok("get_info", Some(data), None);
    assert_eq!(
        Response::match_line(&resp.to_line(), "get_info"),
        Some(resp.clone())
    );
}
