//! Property tests for the lock's parsers: lock files and reclaim markers. Arbitrary bytes never
//! panic (and never make a holder of something the reference would reject); a claim or marker
//! we write parses back equal; any bytes at the lock path give an answer, never a panic or a
//! hang. Fixed case counts keep `cargo test` fast.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use entwurf_lock::{
    claim_line, marker_line, parse_holder, parse_marker, ClaimPid, Errno, Lock, LockClaim,
    LockOptions, MarkerCreator, LOCK_OWNER,
};
use entwurf_meta_session::GardenId;
use entwurf_testkit::prop::{chars, json_scalar, keyed_object};
use proptest::prelude::*;
use serde_json::{json, Value};

const GID: &str = "20260612T100000-aaaaaa";

fn gid() -> GardenId {
    GardenId::parse(GID).unwrap()
}

fn pid() -> impl Strategy<Value = ClaimPid> {
    prop_oneof![
        any::<u32>().prop_map(ClaimPid::from),
        any::<i64>().prop_map(|n| ClaimPid::from_number(n.into())),
        any::<f64>().prop_filter_map("finite", |f| {
            serde_json::Number::from_f64(f).map(ClaimPid::from_number)
        }),
    ]
}

fn claim() -> impl Strategy<Value = LockClaim> {
    (
        pid(),
        chars(0..20),
        chars(0..30),
        chars(0..20),
        chars(1..40).prop_map(PathBuf::from),
        prop::option::of(chars(1..20)),
    )
        .prop_map(
            |(pid, hostname, created_at, nonce, lock_path, start_key)| LockClaim {
                garden_id: GID.into(),
                pid,
                hostname,
                created_at,
                nonce,
                owner: LOCK_OWNER.into(),
                lock_path,
                start_key,
            },
        )
}

/// Any JSON scalar, or one of the values a claim field holds when valid (so parsing goes past it).
fn leaf() -> impl Strategy<Value = Value> {
    // Weighted as the five scalar kinds and the three fixed values were drawn alike.
    prop_oneof![
        5 => json_scalar(),
        1 => Just(json!(GID)),
        1 => Just(json!(LOCK_OWNER)),
        1 => Just(Value::Array(vec![])),
    ]
}

const KEYS: &[&str] = &[
    "gardenId",
    "pid",
    "hostname",
    "createdAt",
    "nonce",
    "owner",
    "lockPath",
    "startKey",
];

/// Objects over the claim and marker keys with arbitrary values: every field rule is reached.
fn near_claim() -> impl Strategy<Value = String> {
    keyed_object(KEYS, leaf(), 0..10).prop_map(|map| Value::Object(map).to_string())
}

/// The reference's rule for when a lock file names a holder, independently written: used to check our parser never
/// accepts what the reference would reject, nor the reverse.
fn reference_accepts(text: &str) -> bool {
    let Ok(Value::Object(o)) = serde_json::from_str::<Value>(text) else {
        return false;
    };
    let s = |k: &str| o.get(k).and_then(Value::as_str);
    s("gardenId") == Some(GID)
        && o.get("pid").is_some_and(Value::is_number)
        && s("hostname").is_some()
        && s("createdAt").is_some()
        && s("nonce").is_some()
        && s("owner") == Some(LOCK_OWNER)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn any_bytes_never_panic_the_holder_or_marker_parser(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        let path = PathBuf::from("/l/x.lock");
        prop_assert_eq!(parse_holder(&text, &path, &gid()).is_some(), reference_accepts(&text));
        let _ = parse_marker(&text);
    }

    #[test]
    fn any_claim_shaped_object_is_a_holder_exactly_when_the_reference_says_so(text in near_claim()) {
        let path = PathBuf::from("/l/x.lock");
        let holder = parse_holder(&text, &path, &gid());
        prop_assert_eq!(holder.is_some(), reference_accepts(&text));
        if let Some(h) = holder {
            prop_assert_eq!(&h.lock_path, &path, "lockPath is never read from the file");
            let _ = h.pid.probe_pid();
            let _ = h.pid.to_string();
            // What we read, we write back to the same holder.
            prop_assert_eq!(parse_holder(&claim_line(&h).unwrap(), &path, &gid()), Some(h));
        }
        if let Some(m) = parse_marker(&text) {
            prop_assert_eq!(parse_marker(&marker_line(&m).unwrap()), Some(m));
        }
    }

    #[test]
    fn a_claim_we_write_parses_back_equal(c in claim()) {
        let line = claim_line(&c).unwrap();
        prop_assert!(line.ends_with('\n') && !line[..line.len() - 1].contains('\n'));
        prop_assert_eq!(parse_holder(&line, &c.lock_path, &gid()), Some(c.clone()));
        // The reference's seven keys come first, in wire order; ours follows.
        let v: Value = serde_json::from_str(&line).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let want = if c.start_key.is_some() { KEYS } else { &KEYS[..7] };
        prop_assert_eq!(keys, want.to_vec());
    }

    #[test]
    fn a_marker_we_write_parses_back_equal(
        pid in any::<u32>(), hostname in chars(0..20), start_key in chars(0..20), created_at in chars(0..24),
    ) {
        let m = MarkerCreator { pid, hostname, start_key, created_at };
        let line = marker_line(&m).unwrap();
        prop_assert_eq!(parse_marker(&line), Some(m));
    }
}

proptest! {
    // Each case writes the bytes at a real lock path and runs inspect and acquire.
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_bytes_at_the_lock_path_give_an_answer_and_are_kept_unless_reclaimed(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            near_claim().prop_map(String::into_bytes),
        ],
        dead in any::<bool>(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("locks");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{GID}.lock"));
        fs::write(&path, &bytes).unwrap();
        let answer = if dead { Err(Errno::SRCH) } else { Ok(()) };
        let lock = Lock::with_options(LockOptions {
            probe: Arc::new(move |_| answer),
            start_key_of: Arc::new(|_| String::new()),
            hostname: "test-host".into(),
            ..LockOptions::new(&dir)
        });
        let status = lock.inspect(&gid()).unwrap().unwrap();
        let out = lock.acquire(&gid()).unwrap();
        match out {
            entwurf_lock::AcquireOutcome::Acquired(c) => {
                // Only a parsed same-host holder that is provably dead is ever replaced.
                prop_assert!(dead && status.holder.is_some_and(|h| h.hostname == "test-host" && h.pid.probe_pid().is_some()));
                prop_assert_eq!(fs::read_to_string(&path).unwrap(), claim_line(&c).unwrap());
            }
            entwurf_lock::AcquireOutcome::Conflict(_) => {
                prop_assert_eq!(fs::read(&path).unwrap(), bytes, "kept byte for byte");
            }
        }
        let left: Vec<_> = fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        prop_assert_eq!(left.len(), 1, "no marker or staging file left");
    }
}
