/**
 * entwurf-tools: the garden's `entwurf_v2` and `entwurf_peers` tools for the pi model, with the
 * reference's parameter schemas and result texts. Each call runs `entwurf mcp-call <tool>` (the
 * same Rust tools `entwurf mcp` serves; one renderer) as this pi session: PI_SESSION_ID is the
 * session's garden id, PI_AGENT_ID its `<provider>/<model>`, the cwd the session's.
 *
 * The binary is `$ENTWURF_BIN`, else `entwurf` on PATH.
 */

import type { ExtensionAPI, ExtensionContext } from "@earendil-works/pi-coding-agent";
import { StringEnum } from "@earendil-works/pi-ai";
import { execFile } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";
import { Type } from "typebox";

interface CallResult {
	text: string;
	isError: boolean;
	structured?: unknown;
}

function entwurfBin(): string {
	const bin = process.env.ENTWURF_BIN?.trim();
	return bin && bin.length > 0 ? bin : "entwurf";
}

/** One `entwurf mcp-call` as this session; never throws (a failure is an error result). */
function callTool(tool: string, args: unknown, ctx: ExtensionContext): Promise<CallResult> {
	const env: NodeJS.ProcessEnv = { ...process.env };
	const sid = ctx.sessionManager.getSessionId();
	if (sid) env.PI_SESSION_ID = sid;
	if (!env.PI_AGENT_ID && ctx.model) env.PI_AGENT_ID = `${ctx.model.provider}/${ctx.model.id}`;
	const control = path.join(os.homedir(), ".pi", "entwurf-control");
	const argv = ["--control-dir", control, "mcp-call", tool, "--args", JSON.stringify(args ?? {})];
	return new Promise((resolve) => {
		execFile(entwurfBin(), argv, { cwd: ctx.cwd, env, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
			try {
				const parsed = JSON.parse(String(stdout).trim()) as CallResult;
				if (typeof parsed.text === "string") return resolve(parsed);
			} catch {
				// fall through to the error below
			}
			const why = err ? err.message : `no result (stderr: ${String(stderr).trim()})`;
			resolve({ text: `${tool} error: ${why}`, isError: true });
		});
	});
}

function toToolResult(r: CallResult) {
	return {
		content: [{ type: "text" as const, text: r.text }],
		isError: r.isError,
		details: r.structured ?? { isError: r.isError },
	};
}

export function registerEntwurfTools(pi: ExtensionAPI): void {
	const registerTool = pi.registerTool as (def: unknown) => void;
	registerTool({
		name: "entwurf_v2",
		label: "Dispatch (v2)",
		description:
			"Deliver a message to an existing garden citizen by garden id. The route follows the target's liveness: live pi → control socket, dormant pi → background resume, armed Claude Code session → mailbox. Use intent fire-and-forget to message or reply (wants_reply asks for an answer); owned-outcome only wakes a dormant pi. A wrong intent is refused, never converted. Messages are capped at 16000 characters: send a file path and a digest for more.",
		parameters: Type.Object({
			target: Type.String({ description: "Target garden id (see entwurf_peers)" }),
			intent: StringEnum(["fire-and-forget", "owned-outcome"] as const, {
				description: "fire-and-forget: message a live or mailbox citizen; owned-outcome: resume a dormant pi",
			}),
			message: Type.String({ description: "The message (max 16000 characters)", maxLength: 16000 }),
			mode: Type.Optional(StringEnum(["steer", "follow_up"] as const, { description: "Delivery mode for a live pi" })),
			wants_reply: Type.Optional(Type.Boolean({ description: "Ask for a reply (default false)" })),
		}),
		async execute(_id: string, params: Record<string, unknown>, _signal: unknown, _onUpdate: unknown, ctx: ExtensionContext) {
			return toToolResult(await callTool("entwurf_v2", params, ctx));
		},
	});
	registerTool({
		name: "entwurf_peers",
		label: "List Garden Citizens",
		description:
			"List garden citizens (from their records) and record-less control sockets, each with its liveness fact, plus diagnostics. Address one with entwurf_v2.",
		parameters: Type.Object({}),
		async execute(_id: string, _params: unknown, _signal: unknown, _onUpdate: unknown, ctx: ExtensionContext) {
			return toToolResult(await callTool("entwurf_peers", {}, ctx));
		},
	});
}
