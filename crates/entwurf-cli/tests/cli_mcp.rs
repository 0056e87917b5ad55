//! `entwurf mcp` driven by a real MCP client (rmcp's) over stdio, on temp worlds: the handshake,
//! the tool list against the reference's golden schemas, every tool's success and error paths,
//! our stricter defaults, and the reference's own sessions replayed under `--reference`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use entwurf_control_rpc::test_support::{Script, ScriptedListener};
use entwurf_meta_session::{
    write_record, write_sender_marker, Backend, GardenId, MetaRecord, SenderMarkerInput,
};
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Map, Value};

/// A temp world: stores, control dir, a cwd and a HOME, all under one temp dir.
struct World {
    tmp: tempfile::TempDir,
}

const CALLER: &str = "20261206T214142-f88292";
const ARMED: &str = "20261206T214142-bd9d96";
const UNARMED: &str = "20261206T214142-51a7e2";
const DORMANT: &str = "20261206T214142-a6cc3a";

impl World {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        for d in ["home", "ctl", "cwd", "sessions", "mailbox"] {
            fs::create_dir_all(tmp.path().join(d)).unwrap();
        }
        Self { tmp }
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }

    fn p(&self, leaf: &str) -> PathBuf {
        self.root().join(leaf)
    }

    fn record(&self, gid: &str, backend: Backend, model: Option<&str>) -> MetaRecord {
        let r = MetaRecord {
            model: model.map(str::to_owned),
            ..MetaRecord::new(
                GardenId::parse(gid).unwrap(),
                backend,
                format!("native-{gid}"),
                self.p("cwd").display().to_string(),
                "2026-12-06T21:41:42.000Z",
            )
        };
        write_record(&self.p("sessions"), &r).unwrap();
        r
    }

    /// Arms `r`'s receiver, owned by this (live) test process.
    fn arm(&self, r: &MetaRecord) {
        common::arm_receiver(&self.p("receivers"), r);
    }

    /// A sender marker owned by this test process: the server's parent, so the server finds
    /// it by walking up its process chain.
    fn sender_marker(&self, r: &MetaRecord) {
        self.sender_marker_in("senders", r);
    }

    /// A Claude Code citizen that is this test's caller: its record, its armed receiver and a
    /// sender marker the server finds up its process chain.
    fn claude_code_caller(&self, gid: &str) {
        let me = self.record(gid, Backend::ClaudeCode, None);
        self.arm(&me);
        self.sender_marker(&me);
    }

    /// The same marker under `<world>/<leaf>` (outside the senders dir, so only an explicit
    /// `ENTWURF_META_SENDER_MARKER` finds it).
    fn sender_marker_in(&self, leaf: &str, r: &MetaRecord) {
        write_sender_marker(
            &self.p(leaf),
            &SenderMarkerInput {
                backend: r.backend,
                garden_id: r.garden_id.clone(),
                native_session_id: r.native_session_id.clone(),
                cwd: self.p("cwd").display().to_string(),
                owner_pid: i64::from(std::process::id()),
            },
            chrono::Utc::now(),
        )
        .unwrap();
    }

    /// The golden world: an armed and an unarmed claude-code citizen, a dormant pi, and the
    /// caller's own (dormant) pi record.
    fn golden_world(&self) {
        let armed = self.record(ARMED, Backend::ClaudeCode, None);
        self.arm(&armed);
        self.record(UNARMED, Backend::ClaudeCode, None);
        self.record(DORMANT, Backend::Pi, Some("gpt-5.4"));
        self.record(CALLER, Backend::Pi, Some("gpt-5.4"));
    }

    fn unread(&self, gid: &str) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.p("mailbox").join(gid))
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".msg") || n.ends_with(".msg.delivered"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// `entwurf mcp <args>` as an MCP child: cleared environment, HOME and every store inside
    /// the world, cwd `<world>/cwd`, plus `envs`.
    async fn client(&self, args: &[&str], envs: &[(&str, &str)]) -> RunningService<RoleClient, ()> {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_entwurf"));
        cmd.env_clear()
            .env("HOME", self.p("home"))
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .current_dir(self.p("cwd"));
        for (flag, leaf) in [
            ("--sessions-dir", "sessions"),
            ("--mailbox-dir", "mailbox"),
            ("--receivers-dir", "receivers"),
            ("--senders-dir", "senders"),
            ("--lock-dir", "locks"),
            ("--control-dir", "ctl"),
        ] {
            cmd.arg(flag).arg(self.p(leaf));
        }
        cmd.arg("mcp").args(args);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        ().serve(TokioChildProcess::new(cmd).unwrap())
            .await
            .unwrap()
    }
}

async fn call(c: &RunningService<RoleClient, ()>, name: &str, args: Value) -> CallToolResult {
    let mut p = CallToolRequestParams::new(name.to_owned());
    if let Value::Object(m) = args {
        p = p.with_arguments(m);
    }
    c.call_tool(p).await.unwrap()
}

/// A fire-and-forget `entwurf_v2` call.
async fn send_ff(
    c: &RunningService<RoleClient, ()>,
    target: &str,
    message: &str,
) -> CallToolResult {
    call(
        c,
        "entwurf_v2",
        json!({"target": target, "intent": "fire-and-forget", "message": message}),
    )
    .await
}

fn text(r: &CallToolResult) -> String {
    let v = serde_json::to_value(&r.content).unwrap();
    v[0]["text"].as_str().unwrap().to_owned()
}

fn is_error(r: &CallToolResult) -> bool {
    r.is_error == Some(true)
}

fn golden(name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/golden/mcp")
        .join(name);
    serde_json::from_str(&fs::read_to_string(p).unwrap()).unwrap()
}

/// Replaces what varies per run: the temp root, KST and ISO timestamps, message file names.
fn normalise(s: &str, root: &Path) -> String {
    let s = s.replace(&root.display().to_string(), "<tmp>");
    let kst = regex_lite::Regex::new(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} KST").unwrap();
    let iso = regex_lite::Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z").unwrap();
    let msg =
        regex_lite::Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z-[0-9a-f]{6}\.msg")
            .unwrap();
    let s = msg.replace_all(&s, "<msg>").into_owned();
    let s = kst.replace_all(&s, "<kst>").into_owned();
    iso.replace_all(&s, "<iso>").into_owned()
}

/// Removes every `description` key (our descriptions are our own words).
fn strip_descriptions(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("description");
            for x in m.values_mut() {
                strip_descriptions(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip_descriptions),
        _ => {}
    }
}

/// Replays a golden session against `client`, comparing texts and `isError` after
/// normalisation. `register_native` is compared by prefix: we refuse it without probing.
async fn replay(world: &World, client: &RunningService<RoleClient, ()>, session: &Value) {
    for (i, c) in session["calls"].as_array().unwrap().iter().enumerate() {
        let name = c["name"].as_str().unwrap();
        let mut args = c["arguments"].clone();
        // The golden paths are `<tmp>`-relative.
        if let Some(cwd) = args.get_mut("cwd") {
            *cwd = json!(cwd
                .as_str()
                .unwrap()
                .replace("<tmp>", &world.root().display().to_string()));
        }
        let got = call(client, name, args).await;
        let want = &c["result"];
        let want_text = want["content"][0]["text"].as_str().unwrap();
        let want_err = want["isError"].as_bool().unwrap_or(false);
        assert_eq!(is_error(&got), want_err, "call {i} ({name}): isError");
        let got_text = normalise(&text(&got), world.root());
        if name == "entwurf_register_native" {
            assert!(
                got_text.starts_with("entwurf_register_native error: entwurf_register_native: refusing to register antigravity conversation \"ag-1\""),
                "call {i}: {got_text}"
            );
            continue;
        }
        assert_eq!(
            got_text,
            normalise(want_text, Path::new("<tmp>")),
            "call {i} ({name})"
        );
        assert!(
            got.structured_content.is_none(),
            "--reference sends text only"
        );
    }
}

#[tokio::test]
async fn initialize_names_the_server_entwurf_with_tools() {
    let w = World::new();
    let c = w.client(&[], &[]).await;
    let info = c.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().unwrap().name, "entwurf");
    assert!(info.capabilities.tools.is_some());
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn the_reference_tool_list_has_the_golden_input_schemas() {
    let w = World::new();
    let c = w.client(&["--reference"], &[]).await;
    let tools = c.list_all_tools().await.unwrap();
    let mut got: Vec<Value> = tools
        .iter()
        .map(|t| json!({"name": t.name, "inputSchema": *t.input_schema}))
        .collect();
    let mut want: Vec<Value> = golden("tools-list.json")
        .as_array()
        .unwrap()
        .iter()
        .map(|t| json!({"name": t["name"], "inputSchema": t["inputSchema"]}))
        .collect();
    got.iter_mut().for_each(strip_descriptions);
    want.iter_mut().for_each(strip_descriptions);
    assert_eq!(got, want);
    assert!(tools.iter().all(|t| t.output_schema.is_none()));
    // Our descriptions are shorter than the reference's.
    let ours: usize = tools
        .iter()
        .map(|t| t.description.as_ref().unwrap().len())
        .sum();
    let theirs: usize = golden("tools-list.json")
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["description"].as_str().unwrap().len())
        .sum();
    assert!(ours * 2 < theirs, "{ours} vs {theirs}");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn the_default_tool_list_adds_peek_wait_and_output_schemas() {
    let w = World::new();
    let c = w.client(&[], &[]).await;
    let tools = c.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "entwurf_v2",
            "entwurf_self",
            "entwurf_peers",
            "entwurf_inbox_read",
            "entwurf_register_native",
            "entwurf_inbox_peek",
            "entwurf_inbox_wait"
        ]
    );
    assert!(tools.iter().all(|t| t.output_schema.is_some()));
    let read = tools
        .iter()
        .find(|t| t.name == "entwurf_inbox_read")
        .unwrap();
    assert!(
        read.input_schema.get("required").is_none(),
        "gardenId defaults to the caller's"
    );
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn golden_identified_session_replays_under_reference_switches() {
    let w = World::new();
    w.golden_world();
    let c = w
        .client(
            &["--reference"],
            &[
                ("PI_SESSION_ID", CALLER),
                ("PI_AGENT_ID", "openai-codex/gpt-5.4"),
            ],
        )
        .await;
    replay(&w, &c, &golden("calls-identified.json")).await;
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn golden_anonymous_session_replays_under_reference_switches() {
    let w = World::new();
    w.golden_world();
    let c = w.client(&["--reference"], &[]).await;
    replay(&w, &c, &golden("calls-anonymous.json")).await;
    // The anonymous body carries the reference's external envelope.
    let body = fs::read_to_string(w.p("mailbox").join(ARMED).join(&w.unread(ARMED)[0])).unwrap();
    assert!(
        body.contains("  from:        external-mcp/unknown-host @ "),
        "{body}"
    );
    assert!(body.contains("  session:     external-mcp (external, non-replyable)\n"));
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn golden_require_sender_session_replays_under_reference_switches() {
    let w = World::new();
    w.golden_world();
    let c = w
        .client(
            &["--reference"],
            &[("ENTWURF_BRIDGE_REQUIRE_META_SENDER", "1")],
        )
        .await;
    replay(&w, &c, &golden("calls-require-sender.json")).await;
    assert!(w.unread(ARMED).is_empty());
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn anonymous_sends_are_refused_by_default_and_nothing_is_written() {
    let w = World::new();
    w.golden_world();
    let c = w.client(&[], &[]).await;
    let r = send_ff(&c, ARMED, "hi").await;
    assert!(is_error(&r));
    assert!(
        text(&r).starts_with("entwurf_v2 error: entwurf mcp refused: anonymous sends are off."),
        "{}",
        text(&r)
    );
    assert!(text(&r).contains("--allow-anonymous"));
    assert!(w.unread(ARMED).is_empty());
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn a_sender_label_sends_as_an_identified_non_replyable_external() {
    let w = World::new();
    w.golden_world();
    let c = w
        .client(&["--sender-label", "external-mcp/codex"], &[])
        .await;
    let r = call(&c, "entwurf_v2", json!({"target": ARMED, "intent": "fire-and-forget", "message": "from codex", "wants_reply": true})).await;
    assert!(!is_error(&r), "{}", text(&r));
    assert_eq!(text(&r), "entwurf_v2 meta-mailbox → enqueued");
    let s = r.structured_content.unwrap();
    assert_eq!(s["outcome"], "enqueued");
    assert_eq!(s["transport"], "meta-mailbox");
    assert_eq!(s["delivered"], true);
    assert_eq!(s["receipt"]["transport"], "meta-mailbox");
    let files = w.unread(ARMED);
    assert_eq!(files.len(), 1);
    assert_eq!(
        s["messageFile"].as_str().unwrap(),
        w.p("mailbox")
            .join(ARMED)
            .join(&files[0])
            .display()
            .to_string()
    );
    let body = fs::read_to_string(w.p("mailbox").join(ARMED).join(&files[0])).unwrap();
    assert!(
        body.starts_with("[entwurf received ⟵]\n  from:        external-mcp/codex @ "),
        "{body}"
    );
    assert!(body.contains("  session:     external-mcp (external, non-replyable)\n"));
    assert!(body.contains("  wants reply: yes\n"));
    assert!(body.ends_with("────\nfrom codex\n"));
    // Without an identity, entwurf_self still refuses: a label is not a reply address.
    let me = call(&c, "entwurf_self", json!({})).await;
    assert!(is_error(&me));
    // Codex stays a sender only: mail to a codex citizen is never deliverable.
    let codex = w.record("20261206T214142-c0dec5", Backend::Codex, None);
    w.arm(&codex);
    let r = call(
        &c,
        "entwurf_v2",
        json!({"target": "20261206T214142-c0dec5", "intent": "fire-and-forget", "message": "x"}),
    )
    .await;
    assert!(is_error(&r));
    assert_eq!(
        text(&r),
        "entwurf_v2 rejected: mailbox-undeliverable (observed liveness: unsupported)"
    );
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn a_meta_session_caller_is_found_by_its_sender_marker_and_reads_only_its_own_inbox() {
    let w = World::new();
    w.golden_world();
    w.claude_code_caller("20261206T214142-3e3e3e");
    let c = w.client(&[], &[]).await;

    let s = call(&c, "entwurf_self", json!({})).await;
    assert!(!is_error(&s), "{}", text(&s));
    let t = normalise(&text(&s), w.root());
    assert!(t.starts_with("sessionId:  20261206T214142-3e3e3e\nagentId:    meta-session/claude-code\norigin:     meta-session\nreplyable:  true\ncwd:        <tmp>/cwd\ntimestamp:  <kst>\nmailboxPath: <tmp>/mailbox/20261206T214142-3e3e3e\n\n{"), "{t}");
    assert_eq!(
        s.structured_content.as_ref().unwrap()["origin"],
        "meta-session"
    );

    // A send carries the replyable meta-session envelope.
    let r = send_ff(&c, ARMED, "reply to me").await;
    assert_eq!(text(&r), "entwurf_v2 meta-mailbox → enqueued");
    let body = fs::read_to_string(w.p("mailbox").join(ARMED).join(&w.unread(ARMED)[0])).unwrap();
    assert!(
        body.contains("  from:        meta-session/claude-code @ "),
        "{body}"
    );
    assert!(body.contains(
        "  session:     20261206T214142-3e3e3e (meta-session, replyable — reply via entwurf_v2"
    ));

    // Someone else's inbox is refused and left untouched.
    let r = call(&c, "entwurf_inbox_read", json!({"gardenId": ARMED})).await;
    assert!(is_error(&r));
    assert!(
        text(&r).contains("it is not yours (you are 20261206T214142-3e3e3e)"),
        "{}",
        text(&r)
    );
    assert_eq!(w.unread(ARMED).len(), 1);

    // Mail to me: peek lists without draining, read (no gardenId) drains mine.
    let r = call(&c, "entwurf_v2", json!({"target": "20261206T214142-3e3e3e", "intent": "fire-and-forget", "message": "note to self"})).await;
    assert!(!is_error(&r), "{}", text(&r));
    let p = call(&c, "entwurf_inbox_peek", json!({})).await;
    assert!(
        text(&p).contains(": 1 unread (nothing drained"),
        "{}",
        text(&p)
    );
    assert_eq!(p.structured_content.as_ref().unwrap()["unread"], 1);
    assert_eq!(w.unread("20261206T214142-3e3e3e").len(), 1);
    let r = call(&c, "entwurf_inbox_read", json!({})).await;
    let t = normalise(&text(&r), w.root());
    assert!(t.starts_with("[entwurf inbox read ⟵]\n  garden:   20261206T214142-3e3e3e\n  messages: 1\n  receipt:  lastReadAt=<iso>\n\n--- message 1 (<msg>) ---\n[entwurf received ⟵]\n"), "{t}");
    assert!(t.ends_with("note to self\n"));
    assert!(w.unread("20261206T214142-3e3e3e").is_empty());
    assert_eq!(r.structured_content.as_ref().unwrap()["count"], 1);

    // Waiting on an empty inbox times out; mail already waiting returns at once.
    let r = call(&c, "entwurf_inbox_wait", json!({"timeoutMs": 0})).await;
    assert_eq!(r.structured_content.as_ref().unwrap()["timedOut"], true);
    c.cancel().await.unwrap();

    // --any-inbox restores the reference: any mailbox can be drained.
    let c = w.client(&["--any-inbox"], &[]).await;
    let r = call(&c, "entwurf_inbox_read", json!({"gardenId": ARMED})).await;
    assert!(!is_error(&r), "{}", text(&r));
    assert!(w.unread(ARMED).is_empty());
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn inbox_wait_wakes_when_mail_arrives() {
    let w = World::new();
    w.claude_code_caller("20261206T214142-3e3e3e");
    let c = w.client(&[], &[]).await;
    let waiter = {
        let peer = c.peer().clone();
        tokio::spawn(async move {
            peer.call_tool(
                CallToolRequestParams::new("entwurf_inbox_wait")
                    .with_arguments(json!({"timeoutMs": 600000}).as_object().unwrap().clone()),
            )
            .await
        })
    };
    // A second client sends while the first waits (either order must end with one unread).
    let sender = w
        .client(&["--sender-label", "external-mcp/test"], &[])
        .await;
    let r = call(&sender, "entwurf_v2", json!({"target": "20261206T214142-3e3e3e", "intent": "fire-and-forget", "message": "wake up"})).await;
    assert!(!is_error(&r), "{}", text(&r));
    let got = waiter.await.unwrap().unwrap();
    let s = got.structured_content.unwrap();
    assert_eq!(s["unread"], 1);
    assert_eq!(s["timedOut"], false);
    sender.cancel().await.unwrap();
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn control_socket_paths_render_sent_hints_locks_and_failures() {
    let w = World::new();
    let live = "20261206T214142-11ee11";
    w.record(live, Backend::Pi, Some("m"));
    let rt_listener = {
        let sock = w.p("ctl").join(format!("{live}.sock"));
        ScriptedListener::start(
            &sock,
            Script::reply_lines(&[
                r#"{"type":"response","command":"send","success":true,"data":{"delivered":true}}"#,
            ]),
        )
        .unwrap()
    };
    let c = w
        .client(&["--sender-label", "external-mcp/test"], &[])
        .await;
    let r = call(
        &c,
        "entwurf_v2",
        json!({"target": live, "intent": "fire-and-forget", "message": "hi", "mode": "steer"}),
    )
    .await;
    assert_eq!(text(&r), "entwurf_v2 control-socket → sent");
    assert!(!is_error(&r));
    let r = call(
        &c,
        "entwurf_v2",
        json!({"target": live, "intent": "owned-outcome", "message": "hi"}),
    )
    .await;
    assert!(is_error(&r));
    assert_eq!(text(&r), "entwurf_v2 rejected: owned-live-no-autosend (observed liveness: alive)\n  → target is live — owned-outcome never auto-sends. Use intent: fire-and-forget (with wants_reply if you need a reply).");

    // Someone holds the target's lock: target-locked with the holder.
    let lock = entwurf_lock::Lock::new(w.p("locks"));
    let entwurf_lock::AcquireOutcome::Acquired(claim) =
        lock.acquire(&GardenId::parse(live).unwrap()).unwrap()
    else {
        panic!("lock")
    };
    let r = send_ff(&c, live, "hi").await;
    let t = normalise(&text(&r), w.root());
    assert!(t.starts_with(&format!("entwurf_v2 rejected: target-locked (observed liveness: n/a)\n  target-locked: <tmp>/locks/{live}.lock\n")), "{t}");
    assert!(
        t.contains(&format!("\n  holder: pid {} on ", std::process::id())),
        "{t}"
    );
    lock.release(&claim).unwrap();
    drop(rt_listener);

    // A listener that hangs up: execution failed, never retry-safe.
    let gone = "20261206T214142-22ee22";
    w.record(gone, Backend::Pi, Some("m"));
    let _l = ScriptedListener::start(
        &w.p("ctl").join(format!("{gone}.sock")),
        Script::accept_then_close(),
    )
    .unwrap();
    let r = send_ff(&c, gone, "hi").await;
    assert!(is_error(&r));
    assert!(
        text(&r).starts_with("entwurf_v2 control-socket execution failed: "),
        "{}",
        text(&r)
    );
    assert!(text(&r).ends_with(" (retry-safe: false)"));
    assert_eq!(
        r.structured_content.as_ref().unwrap()["outcome"],
        "execution-failed"
    );

    // Peers shows the live pi with its get_info-less liveness and the dead one.
    let p = call(&c, "entwurf_peers", json!({})).await;
    let t = normalise(&text(&p), w.root());
    assert!(
        t.starts_with(
            "Garden citizens (meta-record):\n- 20261206T214142-11ee11  backend=pi  liveness="
        ),
        "{t}"
    );
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn bad_arguments_and_unknown_tools_are_error_results_naming_the_field() {
    let w = World::new();
    let c = w.client(&["--sender-label", "x/y"], &[]).await;
    let cases = [
        (
            "entwurf_v2",
            json!({"intent": "fire-and-forget", "message": "m"}),
            "at target",
        ),
        (
            "entwurf_v2",
            json!({"target": "g", "intent": "fire-and-forget", "message": "m", "mode": "now"}),
            "received 'now' at mode",
        ),
        (
            "entwurf_v2",
            json!({"target": "g", "intent": "fire-and-forget", "message": "m", "extra": 1}),
            "'extra' at arguments",
        ),
        (
            "entwurf_inbox_wait",
            json!({"timeoutMs": 700000}),
            "less than or equal to 600000 at timeoutMs",
        ),
        (
            "entwurf_inbox_wait",
            json!({"timeoutMs": "soon"}),
            "at timeoutMs",
        ),
        (
            "entwurf_register_native",
            json!({"backend": "codex", "nativeSessionId": "a", "cwd": "/"}),
            "at backend",
        ),
    ];
    for (tool, args, needle) in cases {
        let r = call(&c, tool, args).await;
        assert!(is_error(&r));
        assert!(
            text(&r).starts_with(&format!(
                "MCP error -32602: Input validation error: Invalid arguments for tool {tool}: "
            )),
            "{}",
            text(&r)
        );
        assert!(text(&r).ends_with(needle), "{} / {needle}", text(&r));
    }
    let r = call(&c, "nope", json!({})).await;
    assert_eq!(text(&r), "MCP error -32602: Tool nope not found");
    let r = call(
        &c,
        "entwurf_register_native",
        json!({"backend": "antigravity", "nativeSessionId": "ag-1", "cwd": "/w"}),
    )
    .await;
    assert!(is_error(&r));
    assert!(text(&r).contains("this build has no antigravity (native-push) adapter"));
    assert!(
        !w.p("sessions").read_dir().unwrap().any(|_| true),
        "nothing written"
    );
    // An invalid target is an error, not a receipt.
    let r = call(
        &c,
        "entwurf_v2",
        json!({"target": "../etc", "intent": "fire-and-forget", "message": "m"}),
    )
    .await;
    assert_eq!(text(&r), "entwurf_v2 error: entwurf_v2 decider: refusing to dispatch to an invalid garden id (\"../etc\").");
    // The server is still serving after all of that.
    assert_eq!(c.list_all_tools().await.unwrap().len(), 7);
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn a_pi_caller_reads_its_own_identity_from_the_environment() {
    let w = World::new();
    w.golden_world();
    let c = w
        .client(
            &[],
            &[
                ("PI_SESSION_ID", CALLER),
                ("PI_AGENT_ID", "openai-codex/gpt-5.4"),
            ],
        )
        .await;
    let r = call(&c, "entwurf_self", json!({})).await;
    let s = r.structured_content.unwrap();
    assert_eq!(s["origin"], "pi-session");
    assert_eq!(s["socketState"], "expected");
    assert_eq!(s["replyable"], false);
    let _ = Map::<String, Value>::new();
    c.cancel().await.unwrap();
}

#[test]
fn mcp_call_runs_one_tool_with_the_pi_sessions_identity() {
    let w = World::new();
    w.golden_world();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_entwurf"));
    cmd.env_clear()
        .env("HOME", w.p("home"))
        .env("PI_SESSION_ID", CALLER)
        .env("PI_AGENT_ID", "openai-codex/gpt-5.4")
        .current_dir(w.p("cwd"));
    for (flag, leaf) in [
        ("--sessions-dir", "sessions"),
        ("--mailbox-dir", "mailbox"),
        ("--receivers-dir", "receivers"),
        ("--senders-dir", "senders"),
        ("--lock-dir", "locks"),
        ("--control-dir", "ctl"),
    ] {
        cmd.arg(flag).arg(w.p(leaf));
    }
    let args =
        json!({"target": ARMED, "intent": "fire-and-forget", "message": "from pi"}).to_string();
    let out = cmd
        .args(["mcp-call", "entwurf_v2", "--args", &args])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["text"], "entwurf_v2 meta-mailbox → enqueued");
    assert_eq!(v["isError"], false);
    assert_eq!(v["structured"]["transport"], "meta-mailbox");
    let body = fs::read_to_string(w.p("mailbox").join(ARMED).join(&w.unread(ARMED)[0])).unwrap();
    assert!(
        body.contains("  from:        openai-codex/gpt-5.4 @ "),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "  session:     {CALLER} (external, non-replyable)\n"
        )),
        "{body}"
    );
    // Bad --args is an error result, not a crash.
    let mut bad = std::process::Command::new(env!("CARGO_BIN_EXE_entwurf"));
    bad.env_clear().env("HOME", w.p("home"));
    let out = bad
        .args(["--sessions-dir"])
        .arg(w.p("sessions"))
        .args(["mcp-call", "entwurf_peers", "--args", "[1]"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["isError"], true);
    assert!(v["text"]
        .as_str()
        .unwrap()
        .contains("--args must be a JSON object"));
}

/// Live gate: the MCP TypeScript SDK (pinned, on the pinned Node; `cargo xtask live-gate`
/// provisions both and sets `ENTWURF_MCP_SDK_DIR` / `ENTWURF_NODE`) drives `entwurf mcp`: the
/// handshake, the tool list, peers, a send as an identified external, a bad intent, then the
/// armed citizen's own server (its sender marker) peeks, reads and waits — the mail round trip
/// MCP send → mailbox → MCP inbox_read. The SDK checks every `structuredContent` against the
/// tool's `outputSchema`.
#[test]
#[ignore = "live: needs the MCP TypeScript SDK and Node (cargo xtask live-gate)"]
fn mcp_ts_sdk_client_round_trip() {
    // Outside the gate: what `cargo xtask pi` provisions (the SDK, and the line's Node 22).
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
    let line = std::env::var("ENTWURF_PI_LINE")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "1.x".to_owned());
    let sdk = std::env::var_os("ENTWURF_MCP_SDK_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("mcp-sdk"));
    assert!(
        sdk.join("client.mjs").is_file(),
        "no MCP SDK at {}: run `cargo xtask pi` (or set ENTWURF_MCP_SDK_DIR)",
        sdk.display()
    );
    let node = std::env::var_os("ENTWURF_NODE")
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .or_else(|| {
            Some(target.join("pi").join(&line).join("node_modules/.bin/node"))
                .filter(|p| p.exists())
        })
        .unwrap_or_else(|| PathBuf::from("node"));
    let w = World::new();
    w.golden_world();
    let armed =
        entwurf_meta_session::read_record(&w.p("sessions"), &GardenId::parse(ARMED).unwrap())
            .unwrap();
    w.sender_marker_in("explicit-marker", &armed);
    let marker = w
        .p("explicit-marker")
        .join("claude-code")
        .join(format!("{}.json", std::process::id()));
    let mut dir_args = Vec::new();
    for (flag, leaf) in [
        ("--sessions-dir", "sessions"),
        ("--mailbox-dir", "mailbox"),
        ("--receivers-dir", "receivers"),
        ("--senders-dir", "senders"),
        ("--lock-dir", "locks"),
        ("--control-dir", "ctl"),
    ] {
        dir_args.push(flag.to_owned());
        dir_args.push(w.p(leaf).display().to_string());
    }
    let cfg = json!({
        "entwurf": env!("CARGO_BIN_EXE_entwurf"),
        "dirArgs": dir_args,
        "cwd": w.p("cwd"),
        "env": {"HOME": w.p("home"), "PATH": std::env::var("PATH").unwrap_or_default()},
        "armed": ARMED,
        "markerPath": marker,
    });
    let out = std::process::Command::new(&node)
        .arg(sdk.join("client.mjs"))
        .arg(cfg.to_string())
        .current_dir(&sdk)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["server"]["name"], "entwurf");
    assert_eq!(r["tools"].as_array().unwrap().len(), 7);
    let calls = r["calls"].as_array().unwrap();
    let by = |i: usize| &calls[i];
    assert!(by(0)["text"]
        .as_str()
        .unwrap()
        .starts_with("Garden citizens (meta-record):\n"));
    assert_eq!(by(1)["text"], "entwurf_v2 meta-mailbox → enqueued");
    assert_eq!(by(1)["structured"]["outcome"], "enqueued");
    assert_eq!(by(2)["isError"], true);
    assert!(by(2)["text"]
        .as_str()
        .unwrap()
        .ends_with("received 'bogus' at intent"));
    assert_eq!(by(3)["structured"]["sessionId"], ARMED);
    assert_eq!(by(3)["structured"]["origin"], "meta-session");
    assert_eq!(by(4)["structured"]["unread"], 1);
    let read = by(5)["text"].as_str().unwrap();
    assert!(
        read.starts_with(&format!(
            "[entwurf inbox read ⟵]\n  garden:   {ARMED}\n  messages: 1\n"
        )),
        "{read}"
    );
    assert!(
        read.contains("  from:        external-mcp/ts-sdk @ "),
        "{read}"
    );
    assert!(read.contains("  wants reply: yes\n"), "{read}");
    assert!(read.ends_with("hello from the ts sdk\n"), "{read}");
    assert_eq!(by(6)["structured"]["timedOut"], true);
    assert!(w.unread(ARMED).is_empty());
}

/// A tool error shows the whole cause chain: the record error's own text does not repeat the
/// parse error, so the tool result carries it as the cause after the error.
#[tokio::test]
async fn a_tool_error_carries_the_cause_of_the_failure() {
    let w = World::new();
    fs::write(w.p("sessions").join(format!("{ARMED}.meta.json")), "{ half").unwrap();
    let c = w.client(&["--allow-anonymous"], &[]).await;
    let r = send_ff(&c, ARMED, "hi").await;
    assert!(is_error(&r));
    let t = text(&r);
    assert!(t.contains("corrupt meta-record"), "{t}");
    assert!(t.contains("not valid JSON"), "the cause is lost: {t}");
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn inbox_read_names_entries_it_skipped_and_still_returns_the_messages() {
    let w = World::new();
    w.golden_world();
    w.claude_code_caller("20261206T214142-4f4f4f");
    let c = w.client(&[], &[]).await;
    let r = call(&c, "entwurf_v2", json!({"target": "20261206T214142-4f4f4f", "intent": "fire-and-forget", "message": "a real one"})).await;
    assert!(!is_error(&r), "{}", text(&r));
    // A FIFO named like a message: a drain must neither hang on it nor stay silent about it.
    let fifo = "2026-06-12T10-05-00-000Z-fifo00.msg";
    nix::unistd::mkfifo(
        &w.p("mailbox").join("20261206T214142-4f4f4f").join(fifo),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();

    let r = call(&c, "entwurf_inbox_read", json!({})).await;
    assert!(!is_error(&r), "{}", text(&r));
    let t = text(&r);
    assert!(t.contains("a real one"), "{t}");
    assert!(
        t.contains(&format!("[skipped {fifo} (fifo): not a message")),
        "{t}"
    );
    let s = r.structured_content.as_ref().unwrap();
    assert_eq!(s["count"], 1);
    assert_eq!(s["badEntries"][0]["file"], fifo);
    assert_eq!(s["badEntries"][0]["kind"], "fifo");
    assert!(
        w.p("mailbox")
            .join("20261206T214142-4f4f4f")
            .join(fifo)
            .exists(),
        "a bad entry is left where it is"
    );
    c.cancel().await.unwrap();
}
