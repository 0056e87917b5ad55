//! `entwurf mcp`: the garden's tools for Claude Code, Codex and other MCP hosts, on the
//! official Rust SDK (`rmcp`), plus the pure rendering the pi extension shares.
//!
//! * [`schema`]: the tool list (reference names and input schemas, our descriptions, output
//!   schemas);
//! * [`args`]: argument validation naming the field;
//! * [`identity`]: who is calling (pi env, verified sender marker, sender label, anonymous);
//! * [`facts`]: the peers fact surface (IO + pure join);
//! * [`render`]: result texts equal to the reference's for the same outcome (pure);
//! * [`tools`]: [`Garden::call`], the transport-free tool runner over production dispatch;
//! * [`server`]: the stdio MCP server.

#![deny(missing_docs)]

pub mod args;
pub mod facts;
pub mod identity;
pub mod receipt;
pub mod render;
pub mod schema;
pub mod server;
pub mod tools;
pub mod wait;

pub use render::ToolOutput;
pub use server::{serve_stdio, McpServer, ServeError, SERVER_NAME};
pub use tools::{Garden, ProductionFactory};

/// Behaviour switches. [`Options::default`] is ours; [`Options::reference`] restores the
/// reference bridge's behaviour everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Let a caller with no identity and no sender label send (`--allow-anonymous`).
    pub allow_anonymous: bool,
    /// Any caller may drain any mailbox; `gardenId` is required (`--any-inbox`).
    pub any_inbox: bool,
    /// `outputSchema` + `structuredContent` (off with `--no-structured`).
    pub structured: bool,
    /// `entwurf_inbox_peek` and `entwurf_inbox_wait` (off with `--reference-tools`).
    pub extra_tools: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            allow_anonymous: false,
            any_inbox: false,
            structured: true,
            extra_tools: true,
        }
    }
}

impl Options {
    /// Every switch on the reference's side.
    pub fn reference() -> Self {
        Self {
            allow_anonymous: true,
            any_inbox: true,
            structured: false,
            extra_tools: false,
        }
    }
}
