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
//!
//! **Architecture Invariant:** under the reference's switches ([`Options::reference`]) a tool
//! session replays the reference's recorded ones: the same tool list and input schemas, the
//! same texts for the same outcome (`fixtures/golden/mcp/`). Proved by
//! `crates/entwurf-cli/tests/cli_mcp.rs::the_reference_tool_list_has_the_golden_input_schemas`,
//! `::golden_identified_session_replays_under_reference_switches`,
//! `::golden_anonymous_session_replays_under_reference_switches` and
//! `::golden_require_sender_session_replays_under_reference_switches`.
//!
//! **Architecture Invariant:** a caller is who it proves to be: pi's environment, a live sender
//! marker of an ancestor process checked against its record, a `--sender-label`, else
//! anonymous, and an anonymous send is refused by default with nothing written. Proved by
//! `crates/entwurf-cli/tests/cli_mcp.rs::anonymous_sends_are_refused_by_default_and_nothing_is_written`,
//! `::a_meta_session_caller_is_found_by_its_sender_marker_and_reads_only_its_own_inbox`,
//! `::a_pi_caller_reads_its_own_identity_from_the_environment` and
//! `crates/entwurf-mcp/src/identity.rs::the_send_policy_orders_label_anonymous_and_strict`.
//!
//! **Architecture Invariant:** bad arguments and unknown tools are tool results with `isError`
//! naming the field, never a protocol error or a dispatch. Proved by
//! `crates/entwurf-cli/tests/cli_mcp.rs::bad_arguments_and_unknown_tools_are_error_results_naming_the_field`
//! and `crates/entwurf-mcp/src/args.rs::the_reference_wordings_name_the_field`.

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
