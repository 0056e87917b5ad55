//! Scripted listeners for negative-path tests: peers that stay silent, hang up, send garbage or
//! answer the wrong command. Each listener records the bytes every connection sent it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::{JoinHandle, JoinSet};

/// What the scripted peer does after it has read the request line (or at once when
/// `read_request` is false).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    /// Close the connection.
    Close,
    /// Keep the connection open and stay silent until the listener is dropped.
    Hang,
}

/// A scripted peer behaviour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Wait for one `\n`-terminated request line (or EOF) before writing anything.
    pub read_request: bool,
    /// Raw bytes to write, in order.
    pub writes: Vec<String>,
    /// What the peer does once everything is written.
    pub then: After,
}

impl Script {
    /// Accepts and never answers.
    pub fn silent() -> Self {
        Self {
            read_request: true,
            writes: vec![],
            then: After::Hang,
        }
    }
    /// Accepts, then closes without reading or answering.
    pub fn accept_then_close() -> Self {
        Self {
            read_request: false,
            writes: vec![],
            then: After::Close,
        }
    }
    /// Answers with a garbage line, then closes.
    pub fn garbage_then_close() -> Self {
        Self {
            read_request: true,
            writes: vec!["this is not json\n".into()],
            then: After::Close,
        }
    }
    /// Answers with a garbage line, then hangs.
    pub fn garbage_then_hang() -> Self {
        Self {
            read_request: true,
            writes: vec!["this is not json\n".into()],
            then: After::Hang,
        }
    }
    /// Answers as if another command had been sent, then hangs.
    pub fn reply_for_other_command() -> Self {
        Self {
            read_request: true,
            writes: vec![
                "{\"type\":\"response\",\"command\":\"get_info\",\"success\":true}\n".into(),
            ],
            then: After::Hang,
        }
    }
    /// Writes `lines` (each given without its `\n`) after the request, then hangs.
    pub fn reply_lines(lines: &[&str]) -> Self {
        Self {
            read_request: true,
            writes: lines.iter().map(|l| format!("{l}\n")).collect(),
            then: After::Hang,
        }
    }
    /// `{"type":"response","command":<command>,"success":false,"error":<error>}`, then hangs.
    pub fn refuse(command: &str, error: &str) -> Self {
        Self::reply_lines(&[&serde_json::json!({
            "type": "response", "command": command, "success": false, "error": error
        })
        .to_string()])
    }
}

/// A listener bound at a path that plays one [`Script`] for every connection. Dropping it closes
/// the listener and every held connection, and removes the socket file.
pub struct ScriptedListener {
    path: PathBuf,
    received: Arc<Mutex<Vec<Vec<u8>>>>,
    task: JoinHandle<()>,
}

impl ScriptedListener {
    /// Binds `path` (which must not exist) and starts playing `script`.
    pub fn start(path: &Path, script: Script) -> std::io::Result<Self> {
        let listener = UnixListener::bind(path)?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let rec = received.clone();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let index = {
                            let mut guard = rec.lock().unwrap_or_else(|p| p.into_inner());
                            guard.push(Vec::new());
                            guard.len() - 1
                        };
                        conns.spawn(play(stream, script.clone(), rec.clone(), index));
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Self {
            path: path.to_path_buf(),
            received,
            task,
        })
    }

    /// The bytes each accepted connection sent so far, in accept order.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The bound path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScriptedListener {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn play(mut stream: UnixStream, script: Script, rec: Arc<Mutex<Vec<Vec<u8>>>>, index: usize) {
    let mut chunk = [0u8; 4096];
    let record = |bytes: &[u8]| {
        let mut guard = rec.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = guard.get_mut(index) {
            slot.extend_from_slice(bytes);
        }
    };
    if script.read_request {
        let mut seen = Vec::new();
        while !seen.contains(&b'\n') {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    record(&chunk[..n]);
                    seen.extend_from_slice(&chunk[..n]);
                }
            }
        }
    }
    for write in &script.writes {
        if stream.write_all(write.as_bytes()).await.is_err() {
            return;
        }
    }
    match script.then {
        After::Close => drop(stream),
        After::Hang => loop {
            // Keep reading (and recording) until the client goes away.
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => record(&chunk[..n]),
            }
        },
    }
}
