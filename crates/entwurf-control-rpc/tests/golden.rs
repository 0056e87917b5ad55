//! Byte-level compatibility with the reference (fixtures/golden/rpc/).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use entwurf_control_rpc::test_support::{Script, ScriptedListener};
use entwurf_control_rpc::{
    get_info_within, respond_to_line, send_command, send_message_within, AssistantMessage,
    ClearData, DeliveredAs, Handler, InfoData, ModelRef, Request, RuntimeInfo, SendData, SendMode,
    SendRequest, SenderEnvelope,
};
use entwurf_meta_session::GardenId;
use serde_json::Value;

fn golden(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/golden/rpc")
        .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(golden(rel)).unwrap()
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap()
}

fn golden_sender() -> SenderEnvelope {
    SenderEnvelope {
        session_id: "20260612T095959-abcdef".into(),
        agent_id: "openai-codex/gpt-5.4".into(),
        cwd: "/home/u/proj".into(),
        timestamp: "2026-06-12T10:04:59.500Z".into(),
        origin: Some("pi-session".into()),
        replyable: Some(true),
    }
}

/// Runs `request` through the real client against a listener that replies `reply_line`, and
/// returns the bytes the client wrote.
async fn bytes_written(request: Request, reply_command: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("20260612T100000-aaaaaa.sock");
    let reply =
        format!("{{\"type\":\"response\",\"command\":\"{reply_command}\",\"success\":true}}");
    let listener = ScriptedListener::start(&path, Script::reply_lines(&[&reply])).unwrap();
    send_command(&path, &request, Duration::from_secs(5))
        .await
        .unwrap();
    listener.received().remove(0)
}

#[tokio::test]
async fn client_writes_req_send_full() {
    let request = Request::Send(SendRequest {
        message: "hello over the control socket\nline two — ünïcode ✓".into(),
        mode: SendMode::Steer,
        wants_reply: true,
        sender: Some(golden_sender()),
    });
    assert_eq!(
        bytes_written(request, "send").await,
        read("req-send-full.jsonl").into_bytes()
    );
}

#[tokio::test]
async fn client_writes_req_send_nosender() {
    let request = Request::Send(SendRequest::new("no envelope"));
    assert_eq!(
        bytes_written(request, "send").await,
        read("req-send-nosender.jsonl").into_bytes()
    );
}

#[tokio::test]
async fn client_writes_req_get_info() {
    assert_eq!(
        bytes_written(Request::GetInfo, "get_info").await,
        read("req-get-info.jsonl").into_bytes()
    );
}

#[test]
fn other_request_lines_match_client_json() {
    let client = json("client.json");
    let lines: Vec<&str> = client["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["line"].as_str())
        .collect();
    assert_eq!(
        lines,
        vec![
            Request::GetMessage.to_line(),
            Request::Abort.to_line(),
            Request::Clear {
                summarize: Some(false)
            }
            .to_line(),
        ]
    );
}

#[test]
fn client_parses_get_info_data_like_the_reference() {
    let client = json("client.json");
    for case in client["parseGetInfoResponseData"].as_array().unwrap() {
        let info = RuntimeInfo::from_data(Some(&case["data"]));
        let parsed = &case["parsed"];
        assert_eq!(info.cwd.as_deref(), parsed["cwd"].as_str());
        assert_eq!(info.model_id.as_deref(), parsed["modelId"].as_str());
        assert_eq!(
            info.model_provider.as_deref(),
            parsed["modelProvider"].as_str()
        );
        assert_eq!(info.idle, parsed["idle"].as_bool());
    }
}

#[tokio::test]
async fn client_reads_golden_get_info_response() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("20260612T100000-aaaaaa.sock");
    let reply = read("resp/get_info-id.jsonl");
    let _l = ScriptedListener::start(&path, Script::reply_lines(&[reply.trim_end()])).unwrap();
    let info = get_info_within(&path, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(info.session_id.as_deref(), Some("20260612T100000-aaaaaa"));
    assert_eq!(
        info.display_model().as_deref(),
        Some("openai-codex/gpt-5.4")
    );
    assert_eq!(info.idle, Some(true));
}

#[tokio::test]
async fn client_reads_golden_send_responses() {
    for (file, success) in [
        ("resp/send-idle-full.jsonl", true),
        ("resp/send-sender-partial.jsonl", false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("20260612T100000-aaaaaa.sock");
        let reply = read(file);
        let _l = ScriptedListener::start(&path, Script::reply_lines(&[reply.trim_end()])).unwrap();
        let ack = send_message_within(&path, SendRequest::new("x"), Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(ack.success, success, "{file}");
    }
}

/// A handler that behaves like pi 0.80.3 for the two golden residents.
struct FakePi {
    gid: &'static str,
    model: ModelRef,
    idle: AtomicBool,
    last: Option<AssistantMessage>,
}

#[async_trait::async_trait]
impl Handler for FakePi {
    async fn on_send(&self, request: SendRequest) -> Result<SendData, String> {
        Ok(SendData {
            delivered: true,
            delivered_as: DeliveredAs::choose(self.idle.load(Ordering::SeqCst), request.mode),
            wants_reply: request.wants_reply,
        })
    }
    async fn on_get_info(&self, _gid: &GardenId) -> Result<InfoData, String> {
        Ok(InfoData {
            session_id: self.gid.into(),
            cwd: "<tmp>/cwd".into(),
            model: Some(self.model.clone()),
            idle: self.idle.load(Ordering::SeqCst),
        })
    }
    async fn on_get_message(&self) -> Result<Option<AssistantMessage>, String> {
        Ok(self.last.clone())
    }
    async fn on_clear(&self, summarize: bool) -> Result<ClearData, String> {
        if !self.idle.load(Ordering::SeqCst) {
            Err("Session is busy - wait for turn to complete".into())
        } else if summarize {
            Err("Clear with summarization not supported via RPC - use summarize=false".into())
        } else {
            Err("sessionManager.rewindTo is not a function".into())
        }
    }
}

fn fake_pi(run: &str, name: &str) -> FakePi {
    let busy = name.contains("busy");
    match run {
        "codex" => FakePi {
            gid: "20260612T100000-aaaaaa",
            model: ModelRef {
                id: "gpt-5.4".into(),
                provider: "openai-codex".into(),
            },
            idle: AtomicBool::new(!busy),
            last: None,
        },
        _ => FakePi {
            gid: "20260612T100500-cccccc",
            model: ModelRef {
                id: "slow".into(),
                provider: "fakeloop".into(),
            },
            idle: AtomicBool::new(!busy),
            last: Some(AssistantMessage {
                role: "assistant".into(),
                content: "ACK from fake model".into(),
                timestamp: 1795501132125,
            }),
        },
    }
}

/// V8's JSON.parse text cannot be reproduced; only the prefix is compared for these.
const ENGINE_SPECIFIC: [&str; 2] = ["parse-not-json", "parse-truncated"];

#[tokio::test]
async fn server_answers_every_golden_exchange() {
    let server = json("server.json");
    let gid = GardenId::parse("20260612T100000-aaaaaa").unwrap();
    let mut checked = 0;
    for ex in server["exchanges"].as_array().unwrap() {
        let name = ex["name"].as_str().unwrap();
        let run = ex["run"].as_str().unwrap();
        let request = ex["request"].as_str().unwrap();
        let expected = ex["response"].as_str().unwrap();
        // Feed the request exactly as a connection would: complete lines only.
        let mut buf = request.as_bytes().to_vec();
        let mut got = String::new();
        for line in entwurf_control_rpc::wire::drain_lines(&mut buf) {
            let handler = fake_pi(run, name);
            if let Some(resp) = respond_to_line(&line, &gid, handler).await {
                got.push_str(&resp);
            }
        }
        if ENGINE_SPECIFIC.contains(&name) {
            let prefix = "{\"type\":\"response\",\"command\":\"parse\",\"success\":false,\"error\":\"Failed to parse command: ";
            assert!(
                expected.starts_with(prefix) && got.starts_with(prefix),
                "{name}: {got}"
            );
            assert!(got.ends_with("\"}\n"), "{name}: {got}");
        } else {
            assert_eq!(got, expected, "exchange {name}");
        }
        if let Some(file) = ex["file"].as_str() {
            assert_eq!(read(file), expected, "server.json and {file} agree");
        }
        checked += 1;
    }
    assert_eq!(checked, server["exchanges"].as_array().unwrap().len());
    assert!(checked >= 40);
}

#[test]
fn sender_info_content_matches_the_golden_transcript() {
    let server = json("server.json");
    let transcript = read("transcript.jsonl");
    let mut matched = 0;
    for entry in transcript.lines() {
        let entry: Value = serde_json::from_str(entry).unwrap();
        let content = entry["content"].as_str().unwrap();
        let exchange = server["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|ex| {
                let req: Value = match serde_json::from_str(ex["request"].as_str().unwrap().trim())
                {
                    Ok(v) => v,
                    Err(_) => return false,
                };
                req["type"] == "send"
                    && req["message"]
                        .as_str()
                        .is_some_and(|m| content.starts_with(m))
                    && ex["run"] == "fakeloop"
            })
            .unwrap();
        let req: Value =
            serde_json::from_str(exchange["request"].as_str().unwrap().trim()).unwrap();
        let send = entwurf_control_rpc::wire::validate_send(req.as_object().unwrap()).unwrap();
        assert_eq!(send.content(), content);
        matched += 1;
    }
    assert_eq!(matched, 5);
}
