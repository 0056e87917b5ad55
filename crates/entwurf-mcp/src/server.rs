//! The stdio MCP server (`rmcp`): server name `entwurf`, tools from [`Garden`].

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};

use crate::render::ToolOutput;
use crate::tools::Garden;

/// The MCP server name.
pub const SERVER_NAME: &str = "entwurf";

/// The MCP face of a [`Garden`].
#[derive(Debug, Clone)]
pub struct McpServer {
    garden: Arc<Garden>,
    tools: Arc<Vec<Tool>>,
}

impl McpServer {
    /// Wraps `garden`; the tool list is built once.
    pub fn new(garden: Garden) -> Self {
        let structured = garden.options().structured;
        let tools = garden
            .tool_defs()
            .iter()
            .map(|d| {
                let mut t = Tool::new(d.name, d.description, Arc::new(d.input_schema.clone()));
                if structured {
                    t.output_schema = Some(Arc::new(d.output_schema.clone()));
                }
                t
            })
            .collect();
        Self {
            garden: Arc::new(garden),
            tools: Arc::new(tools),
        }
    }
}

/// An MCP result from a tool answer.
pub fn to_result(out: ToolOutput) -> CallToolResult {
    let mut r = if out.is_error {
        CallToolResult::error(vec![ContentBlock::text(out.text)])
    } else {
        CallToolResult::success(vec![ContentBlock::text(out.text)])
    };
    r.structured_content = out.structured;
    r
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION")))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items((*self.tools).clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let out = self
            .garden
            .call(&request.name, request.arguments.as_ref())
            .await;
        Ok(CallToolResponse::Complete(to_result(out)))
    }
}

/// Why the server stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The MCP handshake failed (the client closed stdin or sent garbage first).
    #[error("MCP initialize failed: {0}")]
    Initialize(String),
    /// The service task failed.
    #[error("the MCP service task failed: {0}")]
    Task(String),
}

/// Serves `garden` on stdin/stdout until the client closes the stream.
pub async fn serve_stdio(garden: Garden) -> Result<(), ServeError> {
    let running = McpServer::new(garden)
        .serve(rmcp::transport::io::stdio())
        .await
        .map_err(|e| ServeError::Initialize(e.to_string()))?;
    running
        .waiting()
        .await
        .map_err(|e| ServeError::Task(e.to_string()))?;
    Ok(())
}
