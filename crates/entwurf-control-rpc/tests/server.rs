//! The embeddable server over real sockets: lifecycle, robustness, refusal to steal a path.

use std::os::unix::fs::symlink;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use entwurf_control_rpc::test_support::{Script, ScriptedListener};
use entwurf_control_rpc::{
    get_info_within, inspect, probe, send_message_within, socket_path, ConflictReason, DeliveredAs,
    Handler, SendData, SendRequest, SenderEnvelope, ServeError, Server, SocketInspection,
    SocketLiveness,
};
use entwurf_meta_session::GardenId;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

const BUDGET: Duration = Duration::from_secs(5);

fn gid() -> GardenId {
    GardenId::parse("20260612T100000-aaaaaa").unwrap()
}

#[derive(Clone, Default)]
struct Recorder {
    contents: Arc<Mutex<Vec<String>>>,
}

#[async_trait::async_trait]
impl Handler for Recorder {
    async fn on_send(&self, request: SendRequest) -> Result<SendData, String> {
        self.contents.lock().unwrap().push(request.content());
        Ok(SendData {
            delivered: true,
            delivered_as: DeliveredAs::choose(true, request.mode),
            wants_reply: request.wants_reply,
        })
    }
}

#[tokio::test]
async fn send_round_trip_and_shutdown_removes_the_socket() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(".pi/entwurf-control");
    let recorder = Recorder::default();
    let server = Server::bind(&dir, &gid(), recorder.clone()).await.unwrap();
    let path = socket_path(&dir, &gid());
    assert_eq!(server.path(), path.as_path());
    assert_eq!(
        inspect(&path),
        SocketInspection::SocketFile {
            socket_path: path.clone()
        }
    );

    let mut request = SendRequest::new("hello");
    request.wants_reply = true;
    request.sender = Some(SenderEnvelope {
        session_id: "20260612T095959-abcdef".into(),
        agent_id: "openai-codex/gpt-5.4".into(),
        cwd: "/home/u/proj".into(),
        timestamp: "t".into(),
        origin: None,
        replyable: Some(false),
    });
    let ack = send_message_within(&path, request, BUDGET).await.unwrap();
    assert!(ack.success);
    assert_eq!(
        recorder.contents.lock().unwrap().as_slice(),
        ["hello\n\n<sender_info>{\"sessionId\":\"20260612T095959-abcdef\",\"agentId\":\"openai-codex/gpt-5.4\",\"cwd\":\"/home/u/proj\",\"timestamp\":\"t\",\"replyable\":false,\"wants_reply\":true}</sender_info>"]
    );
    let info = get_info_within(&path, BUDGET).await.unwrap();
    assert_eq!(info.session_id.as_deref(), Some(gid().as_str()));

    server.shutdown().await;
    assert_eq!(
        inspect(&path),
        SocketInspection::Absent {
            socket_path: path.clone()
        }
    );
}

#[tokio::test]
async fn drop_removes_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::bind(dir.path(), &gid(), Recorder::default())
        .await
        .unwrap();
    let path = server.path().to_path_buf();
    drop(server);
    assert!(!path.exists());
}

#[tokio::test]
async fn server_survives_a_client_that_vanishes_before_the_reply() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::bind(dir.path(), &gid(), Recorder::default())
        .await
        .unwrap();
    let path = server.path().to_path_buf();
    for _ in 0..20 {
        let mut s = UnixStream::connect(&path).await.unwrap();
        s.write_all(b"{\"type\":\"get_info\"}\n{\"type\":\"get_info\"}\n")
            .await
            .unwrap();
        drop(s);
    }
    // Probes connect and close without writing.
    assert_eq!(probe(&path).await, SocketLiveness::Alive);
    let ack = send_message_within(&path, SendRequest::new("still here"), BUDGET)
        .await
        .unwrap();
    assert!(ack.success);
    server.shutdown().await;
}

#[tokio::test]
async fn several_commands_on_one_connection_are_answered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::bind(dir.path(), &gid(), Recorder::default())
        .await
        .unwrap();
    let stream = UnixStream::connect(server.path()).await.unwrap();
    let (read, mut write) = stream.into_split();
    write
        .write_all(b"\r\n  \n{\"type\":\"abort\",\"id\":\"a\"}\r\n{\"type\":\"foo\",\"id\":7}\nnull\n{\"type\":\"get_info\"")
        .await
        .unwrap();
    let mut lines = BufReader::new(read).lines();
    assert_eq!(
        lines.next_line().await.unwrap().unwrap(),
        "{\"type\":\"response\",\"command\":\"abort\",\"success\":true,\"id\":\"a\"}"
    );
    assert_eq!(lines.next_line().await.unwrap().unwrap(), "{\"type\":\"response\",\"command\":\"foo\",\"success\":false,\"error\":\"Unsupported command: foo\"}");
    assert_eq!(lines.next_line().await.unwrap().unwrap(), "{\"type\":\"response\",\"command\":\"parse\",\"success\":false,\"error\":\"Failed to parse command: Invalid command\"}");
    // The unterminated get_info is never answered: half-close gives EOF.
    write.shutdown().await.unwrap();
    assert_eq!(lines.next_line().await.unwrap(), None);
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_open_connections() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::bind(dir.path(), &gid(), Recorder::default())
        .await
        .unwrap();
    let held = UnixStream::connect(server.path()).await.unwrap();
    server.shutdown().await;
    let mut lines = BufReader::new(held).lines();
    assert_eq!(lines.next_line().await.unwrap_or(None), None);
}

#[tokio::test]
async fn a_second_server_on_a_live_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::bind(dir.path(), &gid(), Recorder::default())
        .await
        .unwrap();
    let err = Server::bind(dir.path(), &gid(), Recorder::default())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, ServeError::AlreadyServed { .. }), "{err:?}");
    // The first keeps serving.
    assert!(
        send_message_within(first.path(), SendRequest::new("x"), BUDGET)
            .await
            .unwrap()
            .success
    );
    first.shutdown().await;
}

#[tokio::test]
async fn a_stale_socket_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = socket_path(dir.path(), &gid());
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert_eq!(probe(&path).await, SocketLiveness::Dead);
    let server = Server::bind(dir.path(), &gid(), Recorder::default())
        .await
        .unwrap();
    assert_eq!(probe(&path).await, SocketLiveness::Alive);
    server.shutdown().await;
}

#[rstest::rstest]
#[case::symlink(true)]
#[case::regular_file(false)]
#[tokio::test]
async fn a_symlink_or_non_socket_is_refused_and_kept(#[case] as_symlink: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = socket_path(dir.path(), &gid());
    let _target_listener;
    if as_symlink {
        let real = dir.path().join("elsewhere.sock");
        _target_listener = Some(ScriptedListener::start(&real, Script::silent()).unwrap());
        symlink(&real, &path).unwrap();
    } else {
        _target_listener = None;
        std::fs::write(&path, b"keep me").unwrap();
    }
    let err = Server::bind(dir.path(), &gid(), Recorder::default())
        .await
        .err()
        .unwrap();
    let want = if as_symlink {
        ConflictReason::Symlink
    } else {
        ConflictReason::NotSocket
    };
    assert!(
        matches!(err, ServeError::AddressConflict { reason, .. } if reason == want),
        "{err:?}"
    );
    assert!(std::fs::symlink_metadata(&path).is_ok());
}

#[tokio::test]
async fn shutdown_leaves_a_socket_that_replaced_ours() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::bind(dir.path(), &gid(), Recorder::default())
        .await
        .unwrap();
    let path = server.path().to_path_buf();
    // Someone else unlinks ours and binds the path (the reference's takeover).
    std::fs::remove_file(&path).unwrap();
    let other = ScriptedListener::start(&path, Script::silent()).unwrap();
    server.shutdown().await;
    assert_eq!(
        inspect(&path),
        SocketInspection::SocketFile {
            socket_path: path.clone()
        }
    );
    assert_eq!(probe(&path).await, SocketLiveness::Alive);
    drop(other);
}

#[derive(Default)]
struct Defaults;

impl Handler for Defaults {}

#[tokio::test]
async fn default_handler_answers_get_info_and_refuses_send() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::bind(dir.path(), &gid(), Arc::new(Defaults))
        .await
        .unwrap();
    let info = get_info_within(server.path(), BUDGET).await.unwrap();
    assert_eq!(info.session_id.as_deref(), Some(gid().as_str()));
    assert_eq!(info.idle, Some(true));
    let ack = send_message_within(server.path(), SendRequest::new("x"), BUDGET)
        .await
        .unwrap();
    assert!(!ack.success);
    assert_eq!(
        ack.error.as_deref(),
        Some("send is not supported by this citizen")
    );
    server.shutdown().await;
}

/// Answers `get_message` with a text far larger than a socket buffer.
struct Verbose(usize);

#[async_trait::async_trait]
impl Handler for Verbose {
    async fn on_get_message(
        &self,
    ) -> Result<Option<entwurf_control_rpc::AssistantMessage>, String> {
        Ok(Some(entwurf_control_rpc::AssistantMessage {
            role: "assistant".into(),
            content: "x".repeat(self.0),
            timestamp: 1,
        }))
    }
}

#[tokio::test]
async fn a_reply_larger_than_the_socket_buffer_arrives_whole() {
    let dir = tempfile::tempdir().unwrap();
    let size = 4 * 1024 * 1024;
    let server = Server::bind(dir.path(), &gid(), Verbose(size))
        .await
        .unwrap();
    for _ in 0..2 {
        // The second request on a fresh connection proves the server kept serving after the
        // long write (its connection switched to waiting for write space and back).
        let response = entwurf_control_rpc::send_command(
            server.path(),
            &entwurf_control_rpc::Request::GetMessage,
            BUDGET,
        )
        .await
        .unwrap();
        assert!(response.success);
        let content = response.data.unwrap()["message"]["content"]
            .as_str()
            .unwrap()
            .len();
        assert_eq!(content, size);
    }
    server.shutdown().await;
}
