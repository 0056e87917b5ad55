//! Mailbox bodies: the timestamp parser, the KST rendering and the body renderer take any text
//! without panicking; the message is the body's last section, verbatim.
#![no_main]

use entwurf_mailbox::{
    format_body, format_kst, parse_js_iso, render_body, session_line, SenderEnvelope, SEPARATOR,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_js_iso(&text);
    let _ = format_kst(&text);
    // The sender envelope as it arrives on the wire: parses or not, and what we serialise
    // parses back equal.
    if let Ok(env) = serde_json::from_str::<SenderEnvelope>(&text) {
        let back: SenderEnvelope =
            serde_json::from_str(&serde_json::to_string(&env).expect("serialises"))
                .expect("parses");
        assert_eq!(back, env);
        let _ = format_body(&env, "m", env.is_replyable(), None);
        let _ = env.is_meta_session();
        let _ = session_line(&env);
    }
    // Split the input into envelope fields and a message.
    let mut parts = text.splitn(5, '\u{1}');
    let (agent, cwd, ts, session) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let message = parts.next().unwrap_or_default();
    let mut sender = SenderEnvelope::new(session, agent, cwd, ts);
    sender.replyable = Some(true);
    let body = format_body(&sender, message, true, Some("/home/u"));
    let tail = format!("\n{SEPARATOR}\n{message}\n");
    assert!(body.ends_with(&tail));
    assert_eq!(render_body(None, message, false, None), message);
});
