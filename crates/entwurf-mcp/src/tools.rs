//! The tools themselves, independent of the MCP transport: validate, resolve the caller, run,
//! render. [`Garden::call`] is what the stdio server (and any other surface) calls.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use entwurf_decider::{run, DispatchInput, Intent, Mode, Production, SenderProvider};
use entwurf_fs::Chain;
use entwurf_meta_session::{iso_millis, GardenId, SenderMarker};
use serde_json::{Map, Value};

use crate::args::validate;
use crate::identity::{
    authoritative, find_sender_marker, send_identity, wiring_incomplete, IdentityDirs, IdentityEnv,
    SelfEnvelope, SendAs,
};
use crate::render::{
    render_inbox, render_peek, render_peers, render_self, render_v2, render_wait, tool_error,
    ToolOutput,
};
use crate::schema::{self, tools, ToolDef};
use crate::{facts, Options};

/// Builds the production dispatch for one send, with that send's sender envelope (the same
/// wiring `entwurf send` uses; the CLI supplies it).
pub type ProductionFactory = Arc<dyn Fn(SenderProvider) -> Production + Send + Sync>;

/// `entwurf_register_native` is refused: there is no native-push adapter in this build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterNativeError {
    /// No adapter for the backend.
    #[error("entwurf_register_native: refusing to register {backend} conversation \"{native_session_id}\" — this build has no {backend} (native-push) adapter, so the conversation can be neither probed nor reached; nothing was written. Reach antigravity citizens through the reference's bridge until the adapter lands.")]
    NoAdapter {
        /// The backend asked for.
        backend: String,
        /// The conversation id given.
        native_session_id: String,
    },
}

/// Why a mailbox tool refused to act for this caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboxAccessError {
    /// No gardenId argument and no garden identity to default to.
    #[error("no gardenId given and this caller has no garden identity to default to (no PI_SESSION_ID/PI_AGENT_ID, no live sender marker); pass gardenId, run inside a garden session, or start the server with --any-inbox")]
    NoOwnIdentity,
    /// The mailbox belongs to someone else.
    #[error("refusing to open the mailbox of {asked}: it is not yours ({whose}). Only the owner reads its mail; start the server with --any-inbox for the reference's behaviour.")]
    NotYours {
        /// The gid asked for.
        asked: String,
        /// Who the caller is.
        whose: String,
    },
    /// The gid is malformed.
    #[error("invalid garden id — nothing was read")]
    InvalidGardenId(#[from] entwurf_meta_session::InvalidGardenId),
}

/// The process-chain walker (the parent of a pid).
pub type ParentOf = fn(u32) -> Option<u32>;

/// Everything a tool call needs: options, identity inputs, directories, dispatch wiring.
#[derive(Clone)]
pub struct Garden {
    opts: Options,
    env: IdentityEnv,
    dirs: IdentityDirs,
    home: Option<String>,
    production: ProductionFactory,
    start_pid: Option<u32>,
    parent_of: ParentOf,
    tools: Arc<Vec<ToolDef>>,
}

impl std::fmt::Debug for Garden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Garden")
            .field("opts", &self.opts)
            .field("env", &self.env)
            .field("dirs", &self.dirs)
            .finish_non_exhaustive()
    }
}

impl Garden {
    /// A garden over `dirs`. `start_pid` is where the sender-marker search starts (our parent
    /// process); `parent_of` walks upward from there.
    pub fn new(
        opts: Options,
        env: IdentityEnv,
        dirs: IdentityDirs,
        home: Option<String>,
        production: ProductionFactory,
        start_pid: Option<u32>,
        parent_of: ParentOf,
    ) -> Self {
        let tools = Arc::new(tools(&opts));
        Self {
            opts,
            env,
            dirs,
            home,
            production,
            start_pid,
            parent_of,
            tools,
        }
    }

    /// The advertised tools.
    pub fn tool_defs(&self) -> &[ToolDef] {
        &self.tools
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    fn marker(&self) -> Option<SenderMarker> {
        find_sender_marker(
            &self.env,
            &self.dirs.senders,
            self.start_pid,
            &self.parent_of,
        )
    }

    /// The caller's authoritative identity now (pi env, else a verified sender marker).
    pub fn caller(&self) -> Option<SelfEnvelope> {
        let now = iso_millis(chrono::Utc::now());
        // The pi identity needs no marker lookup.
        let marker = if self.env.pi_session_id.is_some() && self.env.pi_agent_id.is_some() {
            None
        } else {
            self.marker()
        };
        authoritative(&self.env, &self.dirs, marker.as_ref(), &now)
    }

    /// Runs one tool call. Never fails: every problem is an `isError` answer.
    pub async fn call(&self, name: &str, args: Option<&Map<String, Value>>) -> ToolOutput {
        let Some(def) = self.tools.iter().find(|t| t.name == name) else {
            return ToolOutput::err(format!("MCP error -32602: Tool {name} not found"));
        };
        let empty = Map::new();
        let args = args.unwrap_or(&empty);
        if let Err(e) = validate(&def.input_schema, args) {
            return ToolOutput::err(format!(
                "MCP error -32602: Input validation error: Invalid arguments for tool {name}: {e}"
            ));
        }
        let mut out = match name {
            schema::V2 => self.v2(args).await,
            schema::SELF => self.self_tool(),
            schema::PEERS => self.peers().await,
            schema::INBOX_READ => self.inbox_read(args),
            schema::INBOX_PEEK => self.inbox_peek(args),
            schema::INBOX_WAIT => self.inbox_wait(args).await,
            schema::REGISTER_NATIVE => tool_error(
                name,
                RegisterNativeError::NoAdapter {
                    backend: str_arg(args, "backend").unwrap_or_default(),
                    native_session_id: str_arg(args, "nativeSessionId").unwrap_or_default(),
                },
            ),
            other => ToolOutput::err(format!("MCP error -32602: Tool {other} not found")),
        };
        if !self.opts.structured {
            out.structured = None;
        }
        out
    }

    async fn v2(&self, args: &Map<String, Value>) -> ToolOutput {
        let now = iso_millis(chrono::Utc::now());
        let sender = match send_identity(&self.env, self.caller(), self.opts.allow_anonymous, &now)
        {
            SendAs::Envelope(e) => e.to_wire(),
            SendAs::Refused(text) => return tool_error(schema::V2, text),
        };
        let input = DispatchInput {
            target: str_arg(args, "target").unwrap_or_default(),
            intent: match args.get("intent").and_then(Value::as_str) {
                Some("owned-outcome") => Intent::OwnedOutcome,
                _ => Intent::FireAndForget,
            },
            mode: match args.get("mode").and_then(Value::as_str) {
                Some("steer") => Some(Mode::Steer),
                Some("follow_up") => Some(Mode::FollowUp),
                _ => None,
            },
            wants_reply: args.get("wants_reply").and_then(Value::as_bool),
            message: str_arg(args, "message").unwrap_or_default(),
        };
        let production = (self.production)(Arc::new(move || Some(sender.clone())));
        let hands = crate::receipt::NamingHands::new(&production);
        match run(&input, production.config(), &production, &hands).await {
            Ok(result) => {
                let file = hands.written().map(|p| p.display().to_string());
                render_v2(&result, file.as_deref())
            }
            Err(e) => tool_error(schema::V2, Chain(&e)),
        }
    }

    fn self_tool(&self) -> ToolOutput {
        match self.caller() {
            Some(env) => render_self(&env, self.home.as_deref()),
            None => tool_error(schema::SELF, wiring_incomplete(&self.env)),
        }
    }

    async fn peers(&self) -> ToolOutput {
        let facts = facts::collect(&self.dirs.sessions, &self.dirs.control).await;
        render_peers(&facts, &self.dirs.control.display().to_string())
    }

    /// Which mailbox a mailbox tool may open: the caller's own, or (with `--any-inbox`) any.
    pub fn inbox_target(&self, asked: Option<&str>) -> Result<GardenId, InboxAccessError> {
        if self.opts.any_inbox {
            if let Some(a) = asked {
                return Ok(GardenId::parse(a)?);
            }
        }
        let own = self.caller();
        let own_gid = own.as_ref().and_then(|o| o.own_garden_id());
        match (asked, own_gid) {
            (None, None) => Err(InboxAccessError::NoOwnIdentity),
            (None, Some(o)) => Ok(GardenId::parse(o)?),
            (Some(a), Some(o)) if a == o => Ok(GardenId::parse(a)?),
            (Some(a), o) => Err(InboxAccessError::NotYours {
                asked: a.to_owned(),
                whose: match o {
                    Some(o) => format!("you are {o}"),
                    None => "you have no garden identity".to_owned(),
                },
            }),
        }
    }

    fn inbox_read(&self, args: &Map<String, Value>) -> ToolOutput {
        let gid = match self.inbox_target(args.get("gardenId").and_then(Value::as_str)) {
            Ok(g) => g,
            Err(e) => return tool_error(schema::INBOX_READ, Chain(&e)),
        };
        match entwurf_mailbox::drain(
            &self.dirs.sessions,
            &self.dirs.mailbox,
            &gid,
            chrono::Utc::now(),
        ) {
            Ok(d) => render_inbox(&d),
            Err(e) => tool_error(schema::INBOX_READ, Chain(&e)),
        }
    }

    fn inbox_peek(&self, args: &Map<String, Value>) -> ToolOutput {
        let gid = match self.inbox_target(args.get("gardenId").and_then(Value::as_str)) {
            Ok(g) => g,
            Err(e) => return tool_error(schema::INBOX_PEEK, Chain(&e)),
        };
        match entwurf_mailbox::list(&self.dirs.mailbox, &gid) {
            Ok(l) => render_peek(&l),
            Err(e) => tool_error(schema::INBOX_PEEK, Chain(&e)),
        }
    }

    async fn inbox_wait(&self, args: &Map<String, Value>) -> ToolOutput {
        let gid = match self.inbox_target(args.get("gardenId").and_then(Value::as_str)) {
            Ok(g) => g,
            Err(e) => return tool_error(schema::INBOX_WAIT, Chain(&e)),
        };
        let timeout_ms = args
            .get("timeoutMs")
            .and_then(Value::as_f64)
            .map_or(0, |n| n.clamp(0.0, schema::WAIT_MAX_MS as f64) as u64);
        let mailbox = self.dirs.mailbox.clone();
        let g = gid.clone();
        let started = Instant::now();
        let waited = tokio::task::spawn_blocking(move || {
            crate::wait::wait_for_mail(&mailbox, &g, Duration::from_millis(timeout_ms))
        })
        .await;
        let elapsed = started.elapsed().as_millis() as u64;
        match waited {
            Ok(Ok(unread)) => render_wait(gid.as_str(), unread, elapsed, unread == 0),
            Ok(Err(e)) => tool_error(schema::INBOX_WAIT, Chain(&e)),
            Err(e) => tool_error(schema::INBOX_WAIT, format!("the wait task failed: {e}")),
        }
    }
}

fn str_arg(args: &Map<String, Value>, key: &str) -> Option<String> {
    args.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// The directories `entwurf mcp` reads and writes, gathered for [`Garden::new`].
pub fn identity_dirs(
    sessions: PathBuf,
    mailbox: PathBuf,
    receivers: PathBuf,
    senders: PathBuf,
    control: PathBuf,
) -> IdentityDirs {
    IdentityDirs {
        sessions,
        mailbox,
        receivers,
        senders,
        control,
    }
}
