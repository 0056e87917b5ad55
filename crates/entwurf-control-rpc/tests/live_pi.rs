//! Live tests against a real pi running our extension (`pi/extensions/entwurf-control.ts`).
//!
//! Ignored by default: `cargo xtask pi` first, then
//! `cargo test -p entwurf-control-rpc -- --ignored`. `PI_BIN` picks another pi launcher,
//! `ENTWURF_PI_EXTENSION` another extension. Each test starts its own resident with a fresh garden
//! id, `HOME`, `PI_CODING_AGENT_DIR` and cwd in temp dirs, `PI_OFFLINE=1`, proxies pointed at a
//! dead loopback port, and stdin held open; the child is killed and reaped on drop.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use entwurf_control_rpc::{
    default_control_dir, get_info, inspect, probe, send_command, socket_path, Request, SendMode,
    SendRequest, SenderEnvelope, SocketInspection, SocketLiveness,
};
use entwurf_meta_session::GardenId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const POLL: Duration = Duration::from_millis(100);
const BOOT_BUDGET: Duration = Duration::from_secs(30);
const RPC_BUDGET: Duration = Duration::from_secs(5);

fn workspace() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Resolve `..` physically, as the OS does, so pi gets a path that exists.
    root.canonicalize().unwrap_or(root)
}

fn pi_bin() -> PathBuf {
    let bin = match std::env::var_os("PI_BIN").filter(|v| !v.is_empty()) {
        Some(b) => PathBuf::from(b),
        // The pinned line ENTWURF_PI_LINE names (default 1.x), as `cargo xtask pi` installs it.
        None => workspace()
            .join("target/pi")
            .join(
                std::env::var("ENTWURF_PI_LINE")
                    .ok()
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| "1.x".to_owned()),
            )
            .join("bin/pi"),
    };
    if !bin.is_file() {
        eprintln!("no pi at {}: run `cargo xtask pi` first", bin.display());
        panic!("no pi at {}: run `cargo xtask pi` first", bin.display());
    }
    bin
}

fn extension() -> PathBuf {
    let ext = match std::env::var_os("ENTWURF_PI_EXTENSION").filter(|v| !v.is_empty()) {
        Some(e) => PathBuf::from(e),
        None => workspace().join("pi/extensions/entwurf-control.ts"),
    };
    assert!(
        ext.is_file(),
        "no extension at {} (ENTWURF_PI_EXTENSION)",
        ext.display()
    );
    ext
}

/// A pi resident; killed and reaped on drop.
struct Resident {
    child: Option<Child>,
    gid: String,
    home: tempfile::TempDir,
    cwd: PathBuf,
    agent: tempfile::TempDir,
    _cwd_dir: tempfile::TempDir,
    logs: tempfile::TempDir,
}

impl Resident {
    fn spawn(gid: &str) -> Self {
        Self::spawn_with_home(gid, tempfile::tempdir().unwrap())
    }

    fn spawn_with_home(gid: &str, home: tempfile::TempDir) -> Self {
        let agent = tempfile::tempdir().unwrap();
        let cwd_dir = tempfile::tempdir().unwrap();
        let logs = tempfile::tempdir().unwrap();
        let cwd = cwd_dir.path().canonicalize().unwrap();
        let child = Command::new(pi_bin())
            .args(["-ne", "-e"])
            .arg(extension())
            .args(["--session-id", gid, "--entwurf-control", "--mode", "rpc"])
            .args(["--provider", "openai-codex", "--model", "gpt-5.4"])
            .current_dir(&cwd)
            .env("HOME", home.path())
            .env("PI_CODING_AGENT_DIR", agent.path())
            .env("PI_OFFLINE", "1")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("http_proxy", "http://127.0.0.1:9")
            .env("https_proxy", "http://127.0.0.1:9")
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .stdin(Stdio::piped())
            .stdout(File::create(logs.path().join("stdout")).unwrap())
            .stderr(File::create(logs.path().join("stderr")).unwrap())
            .spawn()
            .unwrap();
        Self {
            child: Some(child),
            gid: gid.to_owned(),
            home,
            cwd,
            agent,
            _cwd_dir: cwd_dir,
            logs,
        }
    }

    fn control_dir(&self) -> PathBuf {
        default_control_dir(self.home.path())
    }

    fn socket(&self) -> PathBuf {
        self.control_dir().join(format!("{}.sock", self.gid))
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.logs.path().join("stderr")).unwrap_or_default()
    }

    /// The `entwurf-message` contents in pi's session transcripts (`*.jsonl` under the agent
    /// dir), in file order.
    fn entwurf_messages(&self) -> Vec<String> {
        let mut dirs = vec![self.agent.path().to_path_buf()];
        let mut contents = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if path.extension().is_none_or(|x| x != "jsonl") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                contents.extend(
                    text.lines()
                        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                        .filter(|v| v["customType"] == "entwurf-message")
                        .filter_map(|v| v["content"].as_str().map(str::to_owned)),
                );
            }
        }
        contents
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().unwrap())
    }

    /// Polls every 100 ms until the socket accepts connections (30 s budget).
    async fn wait_for_socket(&mut self) {
        let deadline = Instant::now() + BOOT_BUDGET;
        loop {
            if probe(&self.socket()).await == SocketLiveness::Alive {
                return;
            }
            if let Some(status) = self.exited() {
                panic!(
                    "pi exited ({status}) before its socket appeared; stderr:\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "socket {} not connectable within {BOOT_BUDGET:?}; stderr:\n{}",
                self.socket().display(),
                self.stderr()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls every 100 ms until pi exits (30 s budget).
    async fn wait_for_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + BOOT_BUDGET;
        loop {
            if let Some(status) = self.exited() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "pi did not exit within {BOOT_BUDGET:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    fn signal(&self, signal: rustix::process::Signal) {
        let child = self.child.as_ref().unwrap();
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        rustix::process::kill_process(pid, signal).unwrap();
    }
}

impl Drop for Resident {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn booted() -> Resident {
    let gid = GardenId::mint();
    let mut resident = Resident::spawn(gid.as_str());
    resident.wait_for_socket().await;
    resident
}

/// Writes raw bytes on a fresh connection and reads `lines` response lines (or to EOF after a
/// half-close when `lines` is 0).
async fn raw_exchange(path: &Path, request: &[u8], lines: usize) -> String {
    let mut stream = UnixStream::connect(path).await.unwrap();
    stream.write_all(request).await.unwrap();
    if lines == 0 {
        stream.shutdown().await.unwrap();
    }
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    tokio::time::timeout(RPC_BUDGET, async {
        while lines == 0 || got.iter().filter(|b| **b == b'\n').count() < lines {
            let n = stream.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
        }
    })
    .await
    .unwrap();
    String::from_utf8(got).unwrap()
}

#[tokio::test]
#[ignore = "needs a real pi: run `cargo xtask pi` first"]
async fn socket_appears_under_the_gid_and_get_info_reports_the_session() {
    let mut pi = booted().await;
    let gid = GardenId::parse(&pi.gid).unwrap();
    assert_eq!(pi.socket(), socket_path(&pi.control_dir(), &gid));
    assert_eq!(
        inspect(&pi.socket()),
        SocketInspection::SocketFile {
            socket_path: pi.socket()
        }
    );
    let info = get_info(&pi.socket()).await.unwrap();
    assert_eq!(info.session_id.as_deref(), Some(pi.gid.as_str()));
    assert_eq!(info.cwd.as_deref().map(PathBuf::from), Some(pi.cwd.clone()));
    assert_eq!(info.model_id.as_deref(), Some("gpt-5.4"));
    assert_eq!(info.model_provider.as_deref(), Some("openai-codex"));
    assert_eq!(info.idle, Some(true));
    assert!(pi.exited().is_none());
}

#[tokio::test]
#[ignore = "needs a real pi: run `cargo xtask pi` first"]
async fn send_to_an_idle_pi_is_delivered_direct() {
    let mut pi = booted().await;
    let request = Request::Send(SendRequest {
        message: "hello from the entwurf-rs live test".into(),
        mode: SendMode::Steer,
        wants_reply: true,
        sender: Some(SenderEnvelope {
            session_id: "20260612T095959-abcdef".into(),
            agent_id: "openai-codex/gpt-5.4".into(),
            cwd: "/home/u/proj".into(),
            timestamp: "2026-06-12T10:04:59.500Z".into(),
            origin: Some("pi-session".into()),
            replyable: Some(true),
        }),
    });
    let response = send_command(&pi.socket(), &request, RPC_BUDGET)
        .await
        .unwrap();
    assert!(response.success, "{response:?}");
    assert_eq!(
        response.data,
        Some(serde_json::json!({"delivered": true, "deliveredAs": "direct", "wants_reply": true}))
    );
    // The model turn fails offline; the resident stays up and keeps answering.
    assert!(get_info(&pi.socket()).await.is_ok());
    assert!(pi.exited().is_none());
}

/// A handler with every default (the refusals above come before any handler method).
struct Defaults;

impl entwurf_control_rpc::Handler for Defaults {}

#[tokio::test]
#[ignore = "needs a real pi: run `cargo xtask pi` first"]
async fn blank_sender_field_and_unknown_command_are_refused() {
    let mut pi = booted().await;
    let mut send = SendRequest::new("hi");
    send.sender = Some(SenderEnvelope {
        session_id: "a".into(),
        agent_id: " ".into(),
        cwd: "/x".into(),
        timestamp: "t".into(),
        origin: None,
        replyable: None,
    });
    let response = send_command(&pi.socket(), &Request::Send(send), RPC_BUDGET)
        .await
        .unwrap();
    assert!(!response.success);
    assert_eq!(
        response.error.as_deref(),
        Some("sender envelope missing required field(s): agentId")
    );
    let golden = raw_exchange(
        &pi.socket(),
        b"{\"type\":\"send\",\"message\":\"hi\",\"id\":\"p\",\"sender\":{\"sessionId\":\"a\",\"agentId\":\" \",\"cwd\":\"/x\"}}\n",
        1,
    )
    .await;
    assert_eq!(
        golden,
        "{\"type\":\"response\",\"command\":\"send\",\"success\":false,\"error\":\"sender envelope missing required field(s): agentId, timestamp\",\"id\":\"p\"}\n"
    );
    let unknown = send_command(&pi.socket(), &Request::Unknown("foo".into()), RPC_BUDGET)
        .await
        .unwrap();
    assert!(!unknown.success);
    assert_eq!(unknown.error.as_deref(), Some("Unsupported command: foo"));
    // Every refusal of a command keeps the request's string id, as the Rust server's does; a
    // `parse` refusal (no command read) carries none.
    for (request, response) in [
        (
            "{\"type\":\"foo\",\"id\":\"u1\"}\n",
            "{\"type\":\"response\",\"command\":\"foo\",\"success\":false,\"error\":\"Unsupported command: foo\",\"id\":\"u1\"}\n",
        ),
        (
            "{\"type\":\"send\",\"message\":\" \",\"id\":\"m1\"}\n",
            "{\"type\":\"response\",\"command\":\"send\",\"success\":false,\"error\":\"Missing message\",\"id\":\"m1\"}\n",
        ),
        (
            "{\"type\":\"send\",\"message\":\"hi\",\"sender\":7,\"id\":\"s1\"}\n",
            "{\"type\":\"response\",\"command\":\"send\",\"success\":false,\"error\":\"sender must be an object\",\"id\":\"s1\"}\n",
        ),
        (
            "{\"id\":\"t1\"}\n",
            "{\"type\":\"response\",\"command\":\"parse\",\"success\":false,\"error\":\"Failed to parse command: Missing command type\"}\n",
        ),
    ] {
        let got = raw_exchange(&pi.socket(), request.as_bytes(), 1).await;
        assert_eq!(got, response, "answer to {request}");
        let ours = entwurf_control_rpc::respond_to_line(
            request.trim_end(),
            &GardenId::parse(&pi.gid).unwrap(),
            Defaults,
        )
        .await;
        assert_eq!(ours.as_deref(), Some(response), "the Rust server's answer to {request}");
    }
    assert!(pi.exited().is_none());
}

/// The sender's `origin` reaches `<sender_info>` only as a non-empty string, as the Rust server's
/// `validate_send` accepts it (the reference copied any truthy value).
#[tokio::test]
#[ignore = "needs a real pi: run `cargo xtask pi` first"]
async fn origin_reaches_sender_info_only_as_a_non_empty_string() {
    let mut pi = booted().await;
    let cases = [
        ("7", "o-number", None),
        ("\"\"", "o-empty", None),
        ("[\"pi-session\"]", "o-array", None),
        (
            "\"pi-session\"",
            "o-string",
            Some("\"origin\":\"pi-session\""),
        ),
    ];
    for (origin, message, _) in &cases {
        let request = format!(
            "{{\"type\":\"send\",\"message\":\"{message}\",\"mode\":\"follow_up\",\"sender\":{{\"sessionId\":\"20260612T095959-abcdef\",\"agentId\":\"a/b\",\"cwd\":\"/w\",\"timestamp\":\"2026-06-12T10:04:59.500Z\",\"origin\":{origin}}}}}\n"
        );
        let got = raw_exchange(&pi.socket(), request.as_bytes(), 1).await;
        assert!(got.contains("\"success\":true"), "{request} → {got}");
    }
    let deadline = Instant::now() + BOOT_BUDGET;
    let contents = loop {
        let contents = pi.entwurf_messages();
        let all_in = cases
            .iter()
            .all(|(_, m, _)| contents.iter().any(|c| c.starts_with(&format!("{m}\n"))));
        if all_in {
            break contents;
        }
        assert!(
            Instant::now() < deadline,
            "not every message reached the transcript within {BOOT_BUDGET:?}: {contents:?}"
        );
        tokio::time::sleep(POLL).await;
    };
    for (origin, message, want) in &cases {
        let content = contents
            .iter()
            .find(|c| c.starts_with(&format!("{message}\n")))
            .unwrap();
        let info = content.split("<sender_info>").nth(1).unwrap_or("");
        assert!(info.contains("\"sessionId\""), "{content}");
        match want {
            Some(field) => assert!(info.contains(field), "origin {origin}: {content}"),
            None => assert!(!info.contains("\"origin\""), "origin {origin}: {content}"),
        }
    }
    assert!(pi.exited().is_none());
}

#[tokio::test]
#[ignore = "needs a real pi: run `cargo xtask pi` first"]
async fn a_client_that_disconnects_before_the_reply_does_not_kill_pi() {
    let mut pi = booted().await;
    for _ in 0..20 {
        let mut stream = UnixStream::connect(pi.socket()).await.unwrap();
        stream
            .write_all(b"{\"type\":\"get_info\"}\n{\"type\":\"get_message\"}\n{\"type\":\"foo\"}\n")
            .await
            .unwrap();
        drop(stream);
    }
    // pi answers in order on one connection; a full round trip afterwards proves the earlier
    // writes to vanished peers were handled (the reference dies here with EPIPE).
    let info = get_info(&pi.socket()).await.unwrap();
    assert_eq!(info.session_id.as_deref(), Some(pi.gid.as_str()));
    assert!(pi.exited().is_none(), "pi died; stderr:\n{}", pi.stderr());
    assert_eq!(probe(&pi.socket()).await, SocketLiveness::Alive);
}

#[tokio::test]
#[ignore = "needs a real pi: run `cargo xtask pi` first"]
async fn a_request_line_over_the_limit_is_refused_naming_it_and_pi_keeps_serving() {
    let mut pi = booted().await;
    // A line exactly at the limit is an ordinary request.
    let mut at_limit = b"{\"type\":\"get_info\",\"pad\":\"".to_vec();
    at_limit.resize(entwurf_control_rpc::MAX_REQUEST_LINE - 2, b'a');
    at_limit.extend_from_slice(b"\"}\n");
    let reply = raw_exchange(&pi.socket(), &at_limit, 1).await;
    assert!(
        reply.contains("\"command\":\"get_info\",\"success\":true"),
        "{reply}"
    );

    // One byte more: the refusal, then pi closes the connection (EOF after a half-close).
    let mut over = at_limit[..at_limit.len() - 1].to_vec();
    over.insert(over.len() - 2, b'a');
    let reply = raw_exchange(&pi.socket(), &over, 0).await;
    assert_eq!(
        reply,
        "{\"type\":\"response\",\"command\":\"parse\",\"success\":false,\"error\":\"Failed to parse command: request line longer than 1048576 bytes (the limit); closing the connection\"}\n"
    );
    assert!(get_info(&pi.socket()).await.is_ok());
    assert!(pi.exited().is_none(), "pi died; stderr:\n{}", pi.stderr());
}

#[tokio::test]
#[ignore = "needs a real pi: run `cargo xtask pi` first"]
async fn sigterm_removes_the_socket() {
    let mut pi = booted().await;
    // An idle open connection must not hold the exit.
    let _held = UnixStream::connect(pi.socket()).await.unwrap();
    pi.signal(rustix::process::Signal::TERM);
    let status = pi.wait_for_exit().await;
    use std::os::unix::process::ExitStatusExt;
    assert!(
        status.code() == Some(143) || status.signal() == Some(15),
        "{status}"
    );
    assert_eq!(
        inspect(&pi.socket()),
        SocketInspection::Absent {
            socket_path: pi.socket()
        }
    );
}

#[tokio::test]
#[ignore = "needs a real pi: run `cargo xtask pi` first"]
async fn stdin_eof_removes_the_socket() {
    let mut pi = booted().await;
    drop(pi.child.as_mut().unwrap().stdin.take());
    let status = pi.wait_for_exit().await;
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        inspect(&pi.socket()),
        SocketInspection::Absent {
            socket_path: pi.socket()
        }
    );
}

#[tokio::test]
#[ignore = "needs a real pi: run `cargo xtask pi` first"]
async fn a_non_garden_session_id_exits_before_any_socket() {
    let mut pi = Resident::spawn("not-a-garden-id");
    let status = pi.wait_for_exit().await;
    assert_eq!(status.code(), Some(1));
    assert!(
        pi.stderr()
            .contains("[entwurf-control] Non-garden session id \"not-a-garden-id\""),
        "{}",
        pi.stderr()
    );
    let socks = std::fs::read_dir(pi.control_dir())
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "sock"))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(socks, 0);
}

#[tokio::test]
#[ignore = "needs a real pi: run `cargo xtask pi` first"]
async fn stale_entries_are_swept_at_start() {
    let gid = GardenId::mint();
    let home = tempfile::tempdir().unwrap();
    let dir = default_control_dir(home.path());
    std::fs::create_dir_all(&dir).unwrap();
    let stale = dir.join("20000101T000000-000000.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let link = dir.join("20000101T000000-111111.sock");
    std::os::unix::fs::symlink(&stale, &link).unwrap();
    let keep = dir.join("notes.txt");
    std::fs::write(&keep, b"keep").unwrap();
    let mut pi = Resident::spawn_with_home(gid.as_str(), home);
    pi.wait_for_socket().await;
    assert!(!stale.exists(), "stale socket not swept");
    assert!(
        std::fs::symlink_metadata(&link).is_err(),
        "symlink not swept"
    );
    assert!(keep.exists(), "a non-.sock entry was removed");
}

/// The reference's `codex` run, replayed against our extension: byte-identical answers (the
/// cwd placeholder and the garden id substituted). Engine-specific JSON.parse texts match too,
/// since this is V8.
#[tokio::test]
#[ignore = "needs a real pi: run `cargo xtask pi` first"]
async fn extension_answers_the_codex_golden_exchanges_byte_for_byte() {
    let mut pi = booted().await;
    let server: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("fixtures/golden/rpc/server.json")).unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    for ex in server["exchanges"].as_array().unwrap() {
        if ex["run"] != "codex" {
            continue;
        }
        let name = ex["name"].as_str().unwrap();
        let request = ex["request"].as_str().unwrap();
        let expected = ex["response"]
            .as_str()
            .unwrap()
            .replace("20260612T100000-aaaaaa", &pi.gid);
        let lines = expected.matches('\n').count();
        let got = raw_exchange(&pi.socket(), request.as_bytes(), lines).await;
        let got = got.replace(
            &format!("\"cwd\":\"{}\"", pi.cwd.display()),
            "\"cwd\":\"<tmp>/cwd\"",
        );
        assert_eq!(got, expected, "exchange {name}");
        checked += 1;
    }
    assert!(checked >= 25, "only {checked} codex exchanges");
    assert!(pi.exited().is_none());
}
