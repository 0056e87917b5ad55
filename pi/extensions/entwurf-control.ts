/**
 * entwurf-control: a per-session control socket for pi (entwurf-rs implementation).
 *
 * With `--entwurf-control`, a pi session whose id is a garden id (YYYYMMDDTHHMMSS-xxxxxx)
 * listens on `<os.homedir()>/.pi/entwurf-control/<gid>.sock` and answers newline-delimited JSON
 * commands: send, get_info, get_message, abort, clear. The wire format is the reference's, pinned
 * byte for byte by `fixtures/golden/rpc/` (see `fixtures/golden/README.md`); the Rust client and
 * server in `crates/entwurf-control-rpc` speak it too.
 *
 * Differences from the reference extension, on purpose (each as the Rust server does it):
 * - every accepted connection has an error listener (a client that vanishes mid-reply cannot
 *   crash pi with EPIPE);
 * - on shutdown, open connections are destroyed (so they do not hold pi's exit) and the socket
 *   file is unlinked only if it is still the one this process bound (same inode);
 * - a request line over 1 MiB is refused with a `parse` error naming the limit, then closed;
 * - a `handler failed` error keeps the request's string `id`, like every other answer to a
 *   command (the reference drops it there); `parse` errors still carry none;
 * - the sender's `origin` goes into `<sender_info>` only when it is a non-empty string (the
 *   reference copies any truthy value).
 */

import type { ExtensionAPI, ExtensionContext } from "@earendil-works/pi-coding-agent";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { registerEntwurfTools } from "./entwurf-tools.ts";

const FLAG = "entwurf-control";
const STATUS_KEY = "entwurf-control";
const MESSAGE_TYPE = "entwurf-message";
const GARDEN_ID = /^\d{8}T\d{6}-[0-9a-f]{6}$/;
const PROBE_TIMEOUT_MS = 300;
const SENDER_FIELDS = ["sessionId", "agentId", "cwd", "timestamp"] as const;
/** Longest request line in bytes before its "\n" (the Rust server's `MAX_REQUEST_LINE`). */
const MAX_REQUEST_LINE = 1024 * 1024;

type Liveness = "alive" | "dead" | "indeterminate";
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface Outcome {
	ok: boolean;
	data?: Json;
	error?: string;
}

interface Listening {
	gid: string;
	socketPath: string;
	server: net.Server;
	connections: Set<net.Socket>;
	inode: number | null;
	ctx: ExtensionContext;
}

function socketDirectory(): string {
	return path.join(os.homedir(), ".pi", "entwurf-control");
}

function grey(text: string): string {
	return `\u001b[38;5;241m${text}\u001b[39m`;
}

/** A response line: keys in the order type, command, success, data, error, id. */
function responseLine(command: string, outcome: Outcome, id?: string): string {
	const out: JsonObject = { type: "response", command, success: outcome.ok };
	if (outcome.ok && outcome.data !== undefined) out.data = outcome.data;
	if (!outcome.ok && outcome.error !== undefined) out.error = outcome.error;
	if (typeof id === "string") out.id = id;
	return `${JSON.stringify(out)}\n`;
}

function errorText(err: unknown): string {
	return err instanceof Error ? err.message : String(err);
}

function isObjectLike(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null;
}

function nonBlankString(value: unknown): value is string {
	return typeof value === "string" && value.trim().length > 0;
}

/** Connect, write nothing, close. ECONNREFUSED/ENOENT mean dead; anything else is unknown. */
function probe(socketPath: string): Promise<Liveness> {
	return new Promise((resolve) => {
		let settled = false;
		const sock = net.createConnection({ path: socketPath });
		const settle = (answer: Liveness) => {
			if (settled) return;
			settled = true;
			clearTimeout(timer);
			sock.destroy();
			resolve(answer);
		};
		const timer = setTimeout(() => settle("indeterminate"), PROBE_TIMEOUT_MS);
		sock.once("connect", () => settle("alive"));
		sock.once("error", (err: NodeJS.ErrnoException) => {
			settle(err.code === "ECONNREFUSED" || err.code === "ENOENT" ? "dead" : "indeterminate");
		});
	});
}

/** Remove symlinks and dead `*.sock` entries; keep everything else. */
async function sweepStale(dir: string): Promise<void> {
	let entries: fs.Dirent[];
	try {
		entries = await fs.promises.readdir(dir, { withFileTypes: true });
	} catch (err) {
		if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
		throw err;
	}
	for (const entry of entries) {
		const full = path.join(dir, entry.name);
		if (entry.isSymbolicLink()) {
			await fs.promises.unlink(full).catch(() => undefined);
			continue;
		}
		if (!entry.name.endsWith(".sock")) continue;
		if ((await probe(full)) === "dead") {
			await fs.promises.unlink(full).catch(() => undefined);
		}
	}
}

/** `message` + the `<sender_info>` block (keys in fixed order, values untrimmed). */
function composeContent(message: string, sender: Record<string, unknown> | undefined, wantsReply: boolean): string {
	if (sender === undefined) return message;
	const info: JsonObject = {
		sessionId: sender.sessionId as string,
		agentId: sender.agentId as string,
		cwd: sender.cwd as string,
		timestamp: sender.timestamp as string,
	};
	if (typeof sender.origin === "string" && sender.origin.length > 0) info.origin = sender.origin;
	if (typeof sender.replyable === "boolean") info.replyable = sender.replyable;
	if (wantsReply) info.wants_reply = true;
	return `${message}\n\n<sender_info>${JSON.stringify(info)}</sender_info>`;
}

function lastAssistantText(ctx: ExtensionContext): Json {
	const branch = ctx.sessionManager.getBranch();
	for (let i = branch.length - 1; i >= 0; i--) {
		const entry = branch[i] as { type?: string; message?: unknown };
		if (entry.type !== "message" || !isObjectLike(entry.message)) continue;
		const msg = entry.message as { role?: string; content?: unknown; timestamp?: number };
		if (msg.role !== "assistant" || !Array.isArray(msg.content)) continue;
		const texts = msg.content
			.filter((part): part is { type: "text"; text: string } => isObjectLike(part) && part.type === "text" && typeof part.text === "string")
			.map((part) => part.text);
		if (texts.length === 0) continue;
		return { role: "assistant", content: texts.join("\n"), timestamp: msg.timestamp ?? null };
	}
	return null;
}

export default function entwurfControl(pi: ExtensionAPI): void {
	let listening: Listening | null = null;
	let sessionNamed = false;

	registerEntwurfTools(pi);

	pi.registerFlag(FLAG, {
		description: "Enable per-session control socket under ~/.pi/entwurf-control",
		type: "boolean",
	});

	const flagOn = () => pi.getFlag(FLAG) === true;

	function exportEnv(ctx: ExtensionContext, gid: string): void {
		process.env.PI_SESSION_ID = gid;
		if (ctx.model) process.env.PI_AGENT_ID = `${ctx.model.provider}/${ctx.model.id}`;
		else delete process.env.PI_AGENT_ID;
	}

	function clearEnv(): void {
		delete process.env.PI_SESSION_ID;
		delete process.env.PI_AGENT_ID;
	}

	function setStatus(ctx: ExtensionContext, text: string | undefined): void {
		if (!ctx.hasUI) return;
		try {
			ctx.ui.setStatus(STATUS_KEY, text === undefined ? undefined : grey(text));
		} catch {
			// status is cosmetic
		}
	}

	function handleSend(cmd: JsonObject, ctx: ExtensionContext): Outcome {
		const message = cmd.message;
		if (!nonBlankString(message)) return { ok: false, error: "Missing message" };
		let sender: Record<string, unknown> | undefined;
		if ("sender" in cmd && cmd.sender !== undefined) {
			if (!isObjectLike(cmd.sender)) return { ok: false, error: "sender must be an object" };
			sender = cmd.sender as Record<string, unknown>;
			const missing = SENDER_FIELDS.filter((field) => !nonBlankString(sender?.[field]));
			if (missing.length > 0) {
				return { ok: false, error: `sender envelope missing required field(s): ${missing.join(", ")}` };
			}
		}
		const wantsReply = cmd.wants_reply === true;
		const content = composeContent(message, sender, wantsReply);
		const idle = ctx.isIdle();
		const deliveredAs = idle ? "direct" : cmd.mode === "follow_up" ? "followUp" : "steer";
		try {
			if (idle) {
				pi.sendMessage({ customType: MESSAGE_TYPE, content, display: true }, { triggerTurn: true });
			} else {
				pi.sendMessage(
					{ customType: MESSAGE_TYPE, content, display: true },
					{ triggerTurn: true, deliverAs: deliveredAs as "steer" | "followUp" },
				);
			}
		} catch (err) {
			return { ok: false, error: `pi.sendMessage failed: ${errorText(err)}` };
		}
		return { ok: true, data: { delivered: true, deliveredAs, wants_reply: wantsReply } };
	}

	function handleClear(cmd: JsonObject, ctx: ExtensionContext): Outcome {
		if (!ctx.isIdle()) return { ok: false, error: "Session is busy - wait for turn to complete" };
		const entries = ctx.sessionManager.getEntries();
		if (entries.length === 0) return { ok: false, error: "No entries in session" };
		const root = entries[0] as { id: string };
		if (ctx.sessionManager.getLeafId() === root.id) {
			return { ok: true, data: { cleared: true, alreadyAtRoot: true } };
		}
		if (cmd.summarize) {
			return { ok: false, error: "Clear with summarization not supported via RPC - use summarize=false" };
		}
		const manager = ctx.sessionManager as unknown as { rewindTo?: (id: string) => void };
		if (typeof manager.rewindTo !== "function") {
			return { ok: false, error: "sessionManager.rewindTo is not a function" };
		}
		try {
			manager.rewindTo(root.id);
		} catch (err) {
			return { ok: false, error: errorText(err) };
		}
		return { ok: true, data: { cleared: true, targetId: root.id } };
	}

	function dispatch(cmd: JsonObject, ctx: ExtensionContext): Outcome {
		switch (cmd.type) {
			case "send":
				return handleSend(cmd, ctx);
			case "get_info": {
				const model = ctx.model ? { id: ctx.model.id, provider: ctx.model.provider } : null;
				return {
					ok: true,
					data: { sessionId: ctx.sessionManager.getSessionId(), cwd: ctx.cwd, model, idle: ctx.isIdle() },
				};
			}
			case "get_message":
				return { ok: true, data: { message: lastAssistantText(ctx) } };
			case "abort":
				ctx.abort();
				return { ok: true };
			case "clear":
				return handleClear(cmd, ctx);
			default:
				return { ok: false, error: `Unsupported command: ${String(cmd.type)}` };
		}
	}

	/** One trimmed, non-empty line → one response line. */
	function answer(line: string): string {
		let parsed: unknown;
		try {
			parsed = JSON.parse(line);
		} catch (err) {
			return responseLine("parse", { ok: false, error: `Failed to parse command: ${errorText(err)}` });
		}
		if (!parsed || typeof parsed !== "object") {
			return responseLine("parse", { ok: false, error: "Failed to parse command: Invalid command" });
		}
		const cmd = parsed as JsonObject;
		if (typeof cmd.type !== "string") {
			return responseLine("parse", { ok: false, error: "Failed to parse command: Missing command type" });
		}
		const id = typeof cmd.id === "string" ? cmd.id : undefined;
		const state = listening;
		if (!state) return responseLine(cmd.type, { ok: false, error: "Session not ready" }, id);
		try {
			return responseLine(cmd.type, dispatch(cmd, state.ctx), id);
		} catch (err) {
			return responseLine(cmd.type, { ok: false, error: `handler failed: ${errorText(err)}` }, id);
		}
	}

	function serveConnection(sock: net.Socket, connections: Set<net.Socket>): void {
		connections.add(sock);
		sock.setEncoding("utf8");
		// A peer that disappears (EPIPE, ECONNRESET) only ends its own connection.
		sock.on("error", () => sock.destroy());
		sock.on("close", () => connections.delete(sock));
		// The line in progress; only the new chunk is searched for "\n", and a line longer than
		// MAX_REQUEST_LINE bytes is refused as it arrives (never buffered past the limit).
		let pending = "";
		let pendingBytes = 0;
		let refused = false;
		sock.on("data", (chunk: string) => {
			if (refused) return;
			let start = 0;
			let newline = chunk.indexOf("\n");
			while (newline !== -1) {
				const piece = chunk.slice(start, newline);
				if (pendingBytes + Buffer.byteLength(piece) > MAX_REQUEST_LINE) return refuseLongLine();
				const line = (pending + piece).trim();
				pending = "";
				pendingBytes = 0;
				if (line.length > 0 && !sock.destroyed && sock.writable) {
					sock.write(answer(line));
				}
				start = newline + 1;
				newline = chunk.indexOf("\n", start);
			}
			const rest = chunk.slice(start);
			pendingBytes += Buffer.byteLength(rest);
			if (pendingBytes > MAX_REQUEST_LINE) return refuseLongLine();
			pending += rest;
		});
		function refuseLongLine(): void {
			refused = true;
			pending = "";
			sock.pause();
			const error = `Failed to parse command: request line longer than ${MAX_REQUEST_LINE} bytes (the limit); closing the connection`;
			sock.end(responseLine("parse", { ok: false, error }), () => sock.destroy());
		}
	}

	async function stopListening(): Promise<void> {
		const state = listening;
		listening = null;
		if (!state) return;
		const closed = new Promise<void>((resolve) => state.server.close(() => resolve()));
		for (const sock of state.connections) sock.destroy();
		await closed;
		try {
			const stat = fs.lstatSync(state.socketPath);
			if (state.inode === null || stat.ino === state.inode) fs.unlinkSync(state.socketPath);
		} catch {
			// already gone
		}
	}

	async function startListening(ctx: ExtensionContext, gid: string): Promise<void> {
		const dir = socketDirectory();
		await fs.promises.mkdir(dir, { recursive: true });
		await sweepStale(dir);
		const socketPath = path.join(dir, `${gid}.sock`);
		if (listening && listening.socketPath === socketPath) {
			listening.ctx = ctx;
			return;
		}
		await stopListening();
		try {
			fs.unlinkSync(socketPath);
		} catch (err) {
			if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
		}
		const connections = new Set<net.Socket>();
		const server = net.createServer((sock) => serveConnection(sock, connections));
		await new Promise<void>((resolve, reject) => {
			server.once("error", reject);
			server.listen(socketPath, () => {
				server.off("error", reject);
				resolve();
			});
		});
		server.on("error", () => undefined);
		let inode: number | null = null;
		try {
			inode = fs.lstatSync(socketPath).ino;
		} catch {
			inode = null;
		}
		listening = { gid, socketPath, server, connections, inode, ctx };
	}

	pi.on("session_start", async (_event, ctx) => {
		if (!flagOn()) {
			await stopListening();
			setStatus(ctx, undefined);
			clearEnv();
			return;
		}
		const gid = ctx.sessionManager.getSessionId();
		if (!GARDEN_ID.test(gid)) {
			process.stderr.write(
				`[entwurf-control] Non-garden session id "${gid}" under --entwurf-control. ` +
					`Expected YYYYMMDDTHHMMSS-[0-9a-f]{6}. Start pi with --session-id <garden id>.\n`,
			);
			process.exit(1);
		}
		sessionNamed = false;
		await startListening(ctx, gid);
		setStatus(ctx, "🪛 ready");
		exportEnv(ctx, gid);
	});

	pi.on("session_shutdown", async (_event, ctx) => {
		setStatus(ctx, undefined);
		clearEnv();
		await stopListening();
	});

	pi.on("session_before_switch", async (event, ctx) => {
		if (!flagOn()) return;
		let why: string | undefined;
		if (event.reason === "new") {
			why = "a new session would have no garden id";
		} else if (event.reason === "resume" && event.targetSessionFile) {
			let targetId = "";
			try {
				const first = fs.readFileSync(event.targetSessionFile, "utf8").split("\n", 1)[0];
				targetId = String((JSON.parse(first) as { id?: unknown }).id ?? "");
			} catch {
				targetId = "";
			}
			if (!GARDEN_ID.test(targetId)) why = `session "${targetId}" has no garden id`;
		}
		if (why === undefined) return;
		const text = `[entwurf-control] switch cancelled under --entwurf-control: ${why}.`;
		process.stderr.write(`${text}\n`);
		if (ctx.hasUI) ctx.ui.notify(text, "warning");
		return { cancel: true };
	});

	pi.on("session_before_fork", async (_event, ctx) => {
		if (!flagOn()) return;
		const text = "[entwurf-control] fork cancelled under --entwurf-control: a fork would have no garden id.";
		process.stderr.write(`${text}\n`);
		if (ctx.hasUI) ctx.ui.notify(text, "warning");
		return { cancel: true };
	});

	pi.on("turn_end", async (_event, ctx) => {
		const state = listening;
		if (!flagOn() || !state) return;
		state.ctx = ctx;
		if (!sessionNamed && ctx.model) {
			sessionNamed = true;
			try {
				pi.setSessionName(`${state.gid}==${ctx.model.provider}/${ctx.model.id}--${path.basename(ctx.cwd)}__control`);
			} catch {
				// naming is cosmetic
			}
		}
		setStatus(ctx, `🪛 ${state.gid}`);
	});
}
