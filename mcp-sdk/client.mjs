// The live gate's independent MCP client: the official TypeScript SDK drives `entwurf mcp`.
// Input: one JSON argument {entwurf, dirArgs, cwd, env, armed, markerPath}. Output: one JSON
// line with every call's result. The SDK validates structuredContent against each tool's
// outputSchema, so a schema our results break fails here.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const cfg = JSON.parse(process.argv[2]);

async function connect(extraArgs, extraEnv) {
	const transport = new StdioClientTransport({
		command: cfg.entwurf,
		args: [...cfg.dirArgs, "mcp", ...extraArgs],
		env: { ...cfg.env, ...extraEnv },
		cwd: cfg.cwd,
		stderr: "inherit",
	});
	const client = new Client({ name: "entwurf-live-gate", version: "0.0.0" });
	await client.connect(transport);
	return client;
}

function summarise(name, r) {
	return {
		name,
		text: r.content?.[0]?.text ?? null,
		isError: r.isError === true,
		structured: r.structuredContent ?? null,
	};
}

const out = { calls: [] };
// A sender: an identified external caller (how Codex is wired).
const sender = await connect(["--sender-label", "external-mcp/ts-sdk"], {});
out.server = sender.getServerVersion();
out.tools = (await sender.listTools()).tools.map((t) => t.name);
out.calls.push(summarise("entwurf_peers", await sender.callTool({ name: "entwurf_peers", arguments: {} })));
out.calls.push(
	summarise(
		"entwurf_v2",
		await sender.callTool({
			name: "entwurf_v2",
			arguments: { target: cfg.armed, intent: "fire-and-forget", message: "hello from the ts sdk", wants_reply: true },
		}),
	),
);
out.calls.push(
	summarise("entwurf_v2", await sender.callTool({ name: "entwurf_v2", arguments: { target: cfg.armed, intent: "bogus", message: "x" } })),
);
await sender.close();
// The receiver: the armed citizen itself (its sender marker), reading its own inbox.
const receiver = await connect([], { ENTWURF_META_SENDER_MARKER: cfg.markerPath });
out.calls.push(summarise("entwurf_self", await receiver.callTool({ name: "entwurf_self", arguments: {} })));
out.calls.push(summarise("entwurf_inbox_peek", await receiver.callTool({ name: "entwurf_inbox_peek", arguments: {} })));
out.calls.push(summarise("entwurf_inbox_read", await receiver.callTool({ name: "entwurf_inbox_read", arguments: {} })));
out.calls.push(summarise("entwurf_inbox_wait", await receiver.callTool({ name: "entwurf_inbox_wait", arguments: { timeoutMs: 0 } })));
await receiver.close();
process.stdout.write(`${JSON.stringify(out)}\n`);
