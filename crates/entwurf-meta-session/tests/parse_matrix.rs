//! Every v2 key × every JSON kind: the parser never panics, rejects exactly the values the
//! schema forbids, names the offending key, and whatever it accepts round-trips byte for byte.

use std::path::Path;

use entwurf_meta_session::{parse_record_bytes, RECORD_V2_KEYS};
use serde_json::{json, Map, Value};

fn v2_full() -> Map<String, Value> {
    let bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/golden/records/v2-full.meta.json"),
    )
    .unwrap();
    match serde_json::from_slice(&bytes).unwrap() {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

/// Which replacement values each key accepts.
fn accepts(key: &str, v: &Value) -> bool {
    let non_empty = |v: &Value| v.as_str().is_some_and(|s| !s.is_empty());
    match key {
        "schemaVersion" => v == &json!(2),
        "gardenId" => v == &json!("20260612T100000-aaaaaa"),
        "backend" => v == &json!("pi"),
        "nativeSessionId" | "cwd" | "createdAt" | "recordUpdatedAt" => non_empty(v),
        "model" | "transcriptPath" => v.is_null() || non_empty(v),
        "parentGardenId" => v.is_null() || v == &json!("20260612T100000-aaaaaa"),
        "isEntwurf" => v.is_boolean(),
        _ => unreachable!(),
    }
}

#[test]
fn every_key_times_every_kind() {
    let candidates = [
        None, // key removed
        Some(Value::Null),
        Some(json!("")),
        Some(json!("x")),
        Some(json!("pi")),
        Some(json!("20260612T100000-aaaaaa")),
        Some(json!(2)),
        Some(json!(1.5)),
        Some(json!(true)),
        Some(json!([])),
        Some(json!({})),
    ];
    let mut checked = 0;
    for key in RECORD_V2_KEYS {
        for cand in &candidates {
            let mut obj = v2_full();
            match cand {
                None => {
                    obj.shift_remove(key);
                }
                Some(v) => {
                    obj.insert(key.to_owned(), v.clone());
                }
            }
            let text = serde_json::to_string_pretty(&Value::Object(obj)).unwrap() + "\n";
            let result = parse_record_bytes(text.as_bytes());
            let should_accept = cand.as_ref().is_some_and(|v| accepts(key, v));
            match result {
                Ok(rec) => {
                    assert!(should_accept, "{key} = {cand:?} was accepted");
                    assert_eq!(String::from_utf8(rec.to_file_bytes()).unwrap(), text);
                }
                Err(e) => {
                    assert!(!should_accept, "{key} = {cand:?} was rejected: {e}");
                    let msg = e.to_string();
                    // schemaVersion 1 dispatches to the v1 parser, which complains about delivery
                    let named = if key == "schemaVersion" && cand == &Some(json!(1)) {
                        "delivery"
                    } else {
                        key
                    };
                    assert!(msg.contains(&format!("\"{named}\"")), "{key}: {msg}");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, RECORD_V2_KEYS.len() * candidates.len());
}

#[test]
fn garbage_bytes_never_panic() {
    let inputs: [&[u8]; 8] = [
        b"",
        b"\xff\xfe\x00",
        b"{",
        b"{\"schemaVersion\":2",
        b"\"just a string\"",
        b"{\"schemaVersion\":1,\"delivery\":[]}",
        b"{\"schemaVersion\":1e999}",
        b"{\"schemaVersion\":2,\"schemaVersion\":2}",
    ];
    for bytes in inputs {
        assert!(parse_record_bytes(bytes).is_err(), "{bytes:?}");
    }
}
