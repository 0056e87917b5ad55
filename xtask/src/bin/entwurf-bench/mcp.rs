//! `entwurf mcp` as an MCP host sees it: process start → `tools/list` answered (a fresh server
//! per sample), and one `entwurf_v2` tool call round trip to an armed claude-code citizen (one
//! server, calls back to back). Spoken as raw newline JSON-RPC over the child's stdio, so the
//! same driver times the reference's Node bridge (`--mcp-reference-cmd`) side by side.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use entwurf_meta_session::{iso_millis, write_record, Backend, GardenId, MetaRecord};
use serde_json::{json, Value};

use xtask::report::{Mcp, McpSide, Section};

use crate::stats::Samples;
use crate::Opts;

/// How many fresh servers the ready figure is taken over.
const READY_RUNS: usize = 30;

/// A server command: program and arguments (the world's dirs come through the environment, and
/// for ours also as flags).
#[derive(Debug, Clone)]
pub struct ServerCmd {
    pub program: String,
    pub args: Vec<String>,
    /// Ours takes the `--*-dir` flags; the reference reads only the environment.
    pub ours: bool,
}

struct Session {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(cmd: &ServerCmd, root: &Path) -> Result<Session, String> {
    let mut c = Command::new(&cmd.program);
    c.env_clear()
        .env("HOME", root.join("h"))
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("ENTWURF_META_SESSIONS_DIR", root.join("s"))
        .env("ENTWURF_META_MAILBOX_DIR", root.join("m"))
        .env("ENTWURF_META_RECEIVERS_DIR", root.join("r"))
        .env("ENTWURF_META_SENDERS_DIR", root.join("snd"))
        .env("ENTWURF_V2_LOCK_DIR", root.join("l"))
        .env("ENTWURF_DIR", root.join("c"))
        .env("ENTWURF_BRIDGE_EXTERNAL_AGENT_ID", "bench/mcp")
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    c.args(&cmd.args);
    if cmd.ours {
        c.arg("mcp").args(["--sender-label", "bench/mcp"]);
    }
    let mut child = c
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", cmd.program))?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    Ok(Session {
        child,
        stdin,
        stdout,
        next_id: 1,
    })
}

impl Session {
    fn send(&mut self, v: &Value) -> Result<(), String> {
        let mut line = v.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("write to the server: {e}"))
    }

    /// Sends a request and reads lines until its response.
    fn request(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        let mut line = String::new();
        loop {
            line.clear();
            let n = self
                .stdout
                .read_line(&mut line)
                .map_err(|e| format!("read from the server: {e}"))?;
            if n == 0 {
                return Err(format!(
                    "the server closed stdout before answering {method}"
                ));
            }
            let Ok(v) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            if v.get("id").and_then(Value::as_u64) == Some(id) {
                return Ok(v);
            }
        }
    }

    fn initialize(&mut self) -> Result<(), String> {
        self.request(
            "initialize",
            json!({"protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "entwurf-bench", "version": "0"}}),
        )?;
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
    }
}

fn world(o: &Opts) -> Result<(tempfile::TempDir, GardenId), String> {
    let tmp = tempfile::Builder::new()
        .prefix("ewb-mcp-")
        .tempdir_in(&o.tmp)
        .map_err(|e| format!("temp dir: {e}"))?;
    let r = tmp.path();
    for d in ["s", "m", "r", "snd", "l", "c", "h"] {
        std::fs::create_dir_all(r.join(d)).map_err(|e| format!("mkdir {d}: {e}"))?;
    }
    let gid = GardenId::mint();
    let native = "bench-mcp-native";
    let record = MetaRecord::new(
        gid.clone(),
        Backend::ClaudeCode,
        native,
        "/tmp",
        iso_millis(chrono::Utc::now()),
    );
    write_record(&r.join("s"), &record).map_err(|e| e.to_string())?;
    // Owned by this process, so the start-key guard sees a live receiver.
    crate::dispatch::arm_own_receiver(&r.join("r"), &gid, native)?;
    Ok((tmp, gid))
}

fn measure(o: &Opts, cmd: &ServerCmd) -> Result<McpSide, String> {
    let (tmp, gid) = world(o)?;
    let root = tmp.path();
    let mut ready = Samples::default();
    for _ in 0..READY_RUNS {
        let t = Instant::now();
        let mut s = spawn(cmd, root)?;
        s.initialize()?;
        let list = s.request("tools/list", json!({}))?;
        ready.push(t.elapsed());
        if list["result"]["tools"].as_array().is_none_or(Vec::is_empty) {
            return Err(format!("tools/list answered no tools: {list}"));
        }
    }
    let mut s = spawn(cmd, root)?;
    s.initialize()?;
    let args = json!({"name": "entwurf_v2", "arguments": {"target": gid.as_str(), "intent": "fire-and-forget", "message": "bench"}});
    let mut calls = Samples::default();
    for i in 0..(o.warmup + o.dispatches) {
        let t = Instant::now();
        let r = s.request("tools/call", args.clone())?;
        let d = t.elapsed();
        let text = r["result"]["content"][0]["text"].as_str().unwrap_or("");
        if text != "entwurf_v2 meta-mailbox → enqueued" {
            return Err(format!("entwurf_v2 answered {r}"));
        }
        if i >= o.warmup {
            calls.push(d);
        }
    }
    Ok(McpSide {
        ready_to_tools_list: ready.summary(),
        v2_call_mailbox: calls.summary(),
        warmup: o.warmup,
    })
}

/// The `mcp` section: ours, and the reference's bridge when a command for it is given.
pub fn run(o: &Opts) -> Mcp {
    let ours = match &o.entwurf_bin {
        Some(bin) => Section::from_result(measure(
            o,
            &ServerCmd {
                program: bin.display().to_string(),
                args: Vec::new(),
                ours: true,
            },
        )),
        None => Section::skipped("no --entwurf-bin"),
    };
    let reference = match &o.mcp_reference_cmd {
        Some(cmd) => {
            let mut parts = cmd.split_whitespace().map(str::to_owned);
            match parts.next() {
                Some(program) => Section::from_result(measure(
                    o,
                    &ServerCmd {
                        program,
                        args: parts.collect(),
                        ours: false,
                    },
                )),
                None => Section::skipped("empty --mcp-reference-cmd"),
            }
        }
        None => Section::skipped("no --mcp-reference-cmd (see bench/reference/README.md)"),
    };
    Mcp { ours, reference }
}
