// Times the TypeScript reference's own v2 dispatch (runEntwurfV2 over its production deps) so
// its figures can be set beside `cargo xtask bench` on the same machine. Not part of CI.
//
//   node --experimental-strip-types bench/reference/bench-reference-dispatch.ts \
//        --ref <reference checkout> [--root /tmp] [--count 1000] [--warmup 100]
//
// Prints one JSON object on stdout. Every world lives in a fresh temp dir under --root that is
// removed at the end; HOME points into that temp dir while the reference is loaded and runs.
// Internal mode (the out-of-process listener): `--listen <socket path>`.

import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

type Json = Record<string, unknown>;

interface Args {
	ref: string;
	root: string;
	count: number;
	warmup: number;
	listen: string | null;
}

function parseArgs(argv: string[]): Args {
	const a: Args = {
		ref: process.env.ENTWURF_REF_CHECKOUT ?? "",
		root: os.tmpdir(),
		count: 1000,
		warmup: 100,
		listen: null,
	};
	const positional: string[] = [];
	for (let i = 0; i < argv.length; i++) {
		const flag = argv[i];
		const value = (): string => {
			const v = argv[++i];
			if (v === undefined) throw new Error(`${flag} needs a value`);
			return v;
		};
		switch (flag) {
			case "--ref":
				a.ref = value();
				break;
			case "--root":
				a.root = value();
				break;
			case "--count":
				a.count = Number.parseInt(value(), 10);
				break;
			case "--warmup":
				a.warmup = Number.parseInt(value(), 10);
				break;
			case "--listen":
				a.listen = value();
				break;
			default:
				if (flag.startsWith("--")) throw new Error(`unknown flag ${flag}`);
				positional.push(flag);
		}
	}
	// Positional shorthand: <root> [count].
	if (positional[0]) a.root = positional[0];
	if (positional[1]) a.count = Number.parseInt(positional[1], 10);
	if (!Number.isInteger(a.count) || a.count < 1) throw new Error("--count must be a positive integer");
	if (!Number.isInteger(a.warmup) || a.warmup < 0) throw new Error("--warmup must be a non-negative integer");
	return a;
}

// ── the instant-reply listener ──────────────────────────────────────────────────────────────

/** The line an idle pi answers a well-formed `send` with (anything else: unsupported). */
function replyTo(line: string): string {
	let req: Json | null = null;
	try {
		const parsed: unknown = JSON.parse(line);
		if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) req = parsed as Json;
	} catch {
		req = null;
	}
	if (req === null) {
		return `${JSON.stringify({ type: "response", command: "parse", success: false, error: "Failed to parse command: Invalid command" })}\n`;
	}
	const kind = String(req.type);
	if (kind === "send") {
		return `${JSON.stringify({
			type: "response",
			command: "send",
			success: true,
			data: { delivered: true, deliveredAs: "direct", wants_reply: req.wants_reply === true },
		})}\n`;
	}
	return `${JSON.stringify({ type: "response", command: kind, success: false, error: `Unsupported command: ${kind}` })}\n`;
}

/** Serves `socketPath`: one reply line per request line; probe connections (no bytes) are fine. */
function serve(socketPath: string): Promise<net.Server> {
	const server = net.createServer((conn) => {
		conn.setEncoding("utf8");
		let pending = "";
		conn.on("data", (chunk: string) => {
			pending += chunk;
			let nl = pending.indexOf("\n");
			while (nl !== -1) {
				const line = pending.slice(0, nl).trim();
				pending = pending.slice(nl + 1);
				if (line) conn.write(replyTo(line));
				nl = pending.indexOf("\n");
			}
		});
		conn.on("error", () => {});
	});
	return new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen(socketPath, () => resolve(server));
	});
}

async function listenerMain(socketPath: string): Promise<void> {
	const server = await serve(socketPath);
	const stop = (): void => {
		server.close();
		fs.rmSync(socketPath, { force: true });
		process.exit(0);
	};
	process.stdin.on("end", stop);
	process.stdin.on("close", stop);
	process.stdin.resume();
	process.stdout.write("ready\n");
}

/** Starts the listener in its own node process and waits until it is bound. */
function spawnListener(socketPath: string): Promise<ChildProcess> {
	const self = fileURLToPath(import.meta.url);
	const child = spawn(
		process.execPath,
		["--experimental-strip-types", "--disable-warning=ExperimentalWarning", self, "--listen", socketPath],
		{ stdio: ["pipe", "pipe", "inherit"] },
	);
	return new Promise((resolve, reject) => {
		let out = "";
		const timer = setTimeout(() => reject(new Error("listener did not come up within 10 s")), 10_000);
		child.once("exit", (code) => reject(new Error(`listener exited early (${code})`)));
		child.stdout?.on("data", (b: Buffer) => {
			out += b.toString();
			if (out.includes("ready\n")) {
				clearTimeout(timer);
				resolve(child);
			}
		});
	});
}

function stopListener(child: ChildProcess): Promise<void> {
	return new Promise((resolve) => {
		if (child.exitCode !== null) return resolve();
		const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
		child.once("exit", () => {
			clearTimeout(timer);
			resolve();
		});
		child.stdin?.end();
	});
}

// ── statistics (nearest rank, the same rule as our entwurf-bench) ────────────────────────────

function pct(sorted: Float64Array, p: number): number {
	const rank = Math.ceil((p / 100) * sorted.length);
	return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1];
}

const r4 = (x: number): number => Math.round(x * 10_000) / 10_000;

function summarize(samples: Float64Array): Json {
	const s = Float64Array.from(samples).sort();
	let total = 0;
	for (const x of s) total += x;
	return {
		n: s.length,
		p50_ms: r4(pct(s, 50)),
		p90_ms: r4(pct(s, 90)),
		p99_ms: r4(pct(s, 99)),
		mean_ms: r4(total / s.length),
		max_ms: r4(s[s.length - 1]),
	};
}

// ── the reference's surface we drive (loaded after HOME is pointed at the temp dir) ─────────

interface RefApi {
	makeProductionEntwurfV2Deps: (opts: Json) => unknown;
	runEntwurfV2: (input: Json, deps: unknown) => Promise<Json>;
	upsertMetaSession: (opts: Json) => { record: { gardenId: string; nativeSessionId: string } };
	writeMetaReceiverMarker: (opts: Json) => string;
	version: string;
}

async function loadReference(ref: string): Promise<RefApi> {
	const lib = (name: string): string => pathToFileURL(path.join(ref, "pi-extensions", "lib", name)).href;
	const production = await import(lib("entwurf-v2-production.ts"));
	const runner = await import(lib("entwurf-v2-runner.ts"));
	const meta = await import(lib("meta-session.ts"));
	const pkg = JSON.parse(fs.readFileSync(path.join(ref, "package.json"), "utf8")) as Json;
	return {
		makeProductionEntwurfV2Deps: production.makeProductionEntwurfV2Deps,
		runEntwurfV2: runner.runEntwurfV2,
		upsertMetaSession: meta.upsertMetaSession,
		writeMetaReceiverMarker: meta.writeMetaReceiverMarker,
		version: `${String(pkg.name)}@${String(pkg.version)}`,
	};
}

interface World {
	root: string;
	sessions: string;
	mailbox: string;
	receivers: string;
	locks: string;
	control: string;
}

function makeWorld(base: string, name: string): World {
	const root = path.join(base, name);
	const w: World = {
		root,
		sessions: path.join(root, "s"),
		mailbox: path.join(root, "m"),
		receivers: path.join(root, "r"),
		locks: path.join(root, "l"),
		control: path.join(root, "h", ".pi", "entwurf-control"),
	};
	for (const d of [w.sessions, w.mailbox, w.receivers, w.locks, w.control]) fs.mkdirSync(d, { recursive: true });
	return w;
}

/** The sender envelope the live matrix smoke hands its production deps. */
function senderFor(gardenId: string, cwd: string): Json {
	return {
		sessionId: gardenId,
		agentId: "smoke/matrix-live",
		cwd,
		timestamp: new Date(0).toISOString(),
		origin: "pi-session",
		replyable: false,
	};
}

function depsFor(api: RefApi, w: World, sender: Json | undefined): unknown {
	// The receiver marker is read through the reference's default receivers dir (env).
	process.env.ENTWURF_META_RECEIVERS_DIR = w.receivers;
	process.env.ENTWURF_META_SESSIONS_DIR = w.sessions;
	process.env.ENTWURF_META_MAILBOX_DIR = w.mailbox;
	return api.makeProductionEntwurfV2Deps({
		senderProvider: () => sender,
		sessionsDir: w.sessions,
		mailboxDir: w.mailbox,
		lockDir: w.locks,
		controlSocketDir: w.control,
	});
}

function isDelivered(r: Json, transport: string): boolean {
	if (r.kind !== "executed" || r.transport !== transport) return false;
	const outcome = r.outcome as Json;
	if (transport === "control-socket") return outcome.outcome === "sent";
	return outcome.success === true;
}

async function timeDispatches(
	api: RefApi,
	deps: unknown,
	input: Json,
	transport: string,
	warmup: number,
	count: number,
): Promise<Float64Array> {
	for (let i = 0; i < warmup; i++) {
		const r = await api.runEntwurfV2(input, deps);
		if (!isDelivered(r, transport)) throw new Error(`warm-up dispatch not delivered: ${JSON.stringify(r)}`);
	}
	const samples = new Float64Array(count);
	for (let i = 0; i < count; i++) {
		const t0 = process.hrtime.bigint();
		const r = await api.runEntwurfV2(input, deps);
		const t1 = process.hrtime.bigint();
		if (!isDelivered(r, transport)) throw new Error(`dispatch ${i} not delivered: ${JSON.stringify(r)}`);
		samples[i] = Number(t1 - t0) / 1e6;
	}
	return samples;
}

// The floor: a bare node client's round trip to the same listener (connect, one request line,
// wait for the reply's newline, destroy), with none of the reference's dispatch work.
async function bareRoundTrips(socketPath: string, warmup: number, count: number): Promise<Float64Array> {
	const line = `${JSON.stringify({ type: "send", message: "bench ping", mode: "follow_up", wants_reply: false })}\n`;
	const once = () =>
		new Promise<void>((resolve, reject) => {
			let got = "";
			const c = net.createConnection(socketPath, () => c.write(line));
			c.setEncoding("utf8");
			c.on("data", (chunk: string) => {
				got += chunk;
				if (got.includes("\n")) {
					c.destroy();
					resolve();
				}
			});
			c.on("error", reject);
			c.on("close", () => reject(new Error("closed before a reply line")));
		});
	for (let i = 0; i < warmup; i++) await once();
	const samples = new Float64Array(count);
	for (let i = 0; i < count; i++) {
		const t0 = process.hrtime.bigint();
		await once();
		samples[i] = Number(process.hrtime.bigint() - t0) / 1e6;
	}
	return samples;
}

async function benchMailbox(api: RefApi, base: string, name: string, a: Args, withSender: boolean): Promise<Json> {
	const w = makeWorld(base, name);
	const minted = api.upsertMetaSession({
		input: { backend: "claude-code", nativeSessionId: `bench-mb-${process.pid}-${name}`, cwd: w.root },
		dir: w.sessions,
	});
	const gid = minted.record.gardenId;
	// Armed: the marker's owner is this live process, so the start-key guard matches.
	api.writeMetaReceiverMarker({
		gardenId: gid,
		backend: "claude-code",
		nativeSessionId: minted.record.nativeSessionId,
		ownerPid: process.pid,
		armProvenance: "session-start",
		receiversDir: w.receivers,
	});
	const deps = depsFor(api, w, withSender ? senderFor(gid, w.root) : undefined);
	const input = { target: gid, intent: "fire-and-forget", message: "matrix-live C2 meta-mailbox probe" };
	const samples = await timeDispatches(api, deps, input, "meta-mailbox", a.warmup, a.count);
	const msgs = fs.readdirSync(path.join(w.mailbox, gid)).filter((f) => f.endsWith(".msg")).length;
	return { status: "ok", unit: "ms per dispatch", ...summarize(samples), warmup: a.warmup, sender: withSender, msg_files_written: msgs };
}

async function benchControl(
	api: RefApi,
	base: string,
	name: string,
	a: Args,
	where: "cross-process" | "same-process",
	withSender: boolean,
): Promise<Json> {
	const w = makeWorld(base, name);
	const minted = api.upsertMetaSession({
		input: { backend: "pi", nativeSessionId: `bench-cs-${process.pid}-${name}`, cwd: w.root, model: "gpt-5.4" },
		dir: w.sessions,
	});
	const gid = minted.record.gardenId;
	const socketPath = path.join(w.control, `${gid}.sock`);
	let child: ChildProcess | null = null;
	let server: net.Server | null = null;
	if (where === "cross-process") child = await spawnListener(socketPath);
	else server = await serve(socketPath);
	try {
		const deps = depsFor(api, w, withSender ? senderFor(gid, w.root) : undefined);
		const input = { target: gid, intent: "fire-and-forget", message: "matrix-live C1 control-socket probe" };
		const samples = await timeDispatches(api, deps, input, "control-socket", a.warmup, a.count);
		const leftover = fs.readdirSync(w.locks).length;
		const floor = await bareRoundTrips(socketPath, a.warmup, a.count);
		return {
			status: "ok",
			unit: "ms per dispatch",
			...summarize(samples),
			warmup: a.warmup,
			sender: withSender,
			listener: `${where} node net.Server, instant reply`,
			lock_files_left: leftover,
			floor: {
				what: "bare node client round trip to the same listener: connect, one request line, read to the reply's newline, destroy; no dispatch work",
				unit: "ms",
				...summarize(floor),
			},
		};
	} finally {
		if (child) await stopListener(child);
		if (server) await new Promise<void>((res) => server?.close(() => res()));
	}
}

async function section(run: () => Promise<Json>): Promise<Json> {
	try {
		return await run();
	} catch (err) {
		return { status: "failed", reason: err instanceof Error ? err.message : String(err) };
	}
}

async function main(): Promise<void> {
	const a = parseArgs(process.argv.slice(2));
	if (a.listen) return listenerMain(a.listen);
	if (!a.ref) throw new Error("pass --ref <reference checkout> (or set ENTWURF_REF_CHECKOUT)");
	const ref = path.resolve(a.ref);
	if (!fs.existsSync(path.join(ref, "pi-extensions", "lib", "entwurf-v2-production.ts"))) {
		throw new Error(`${ref} does not look like a reference checkout (no pi-extensions/lib/entwurf-v2-production.ts)`);
	}

	const realPiDir = path.join(os.userInfo().homedir, ".pi");
	const realPiBefore = fs.existsSync(realPiDir);
	const base = fs.mkdtempSync(path.join(path.resolve(a.root), "refbench-"));
	const home = path.join(base, "home");
	fs.mkdirSync(home, { recursive: true });
	// Before the reference loads: its default dirs are computed from HOME at import time.
	process.env.HOME = home;
	process.env.PI_CODING_AGENT_DIR = path.join(home, ".pi", "agent");

	const out: Json = {};
	try {
		const api = await loadReference(ref);
		out.reference = api.version;
		// Mailbox first: journal-less ext4 creates get slower after nearby deletes, and the
		// control-socket dispatches create and delete a lock file each.
		out.mailbox_dispatch = await section(() => benchMailbox(api, base, "mb", a, true));
		out.mailbox_dispatch_no_sender = await section(() => benchMailbox(api, base, "mbn", a, false));
		out.control_socket_dispatch_cross_process = await section(() =>
			benchControl(api, base, "csx", a, "cross-process", true),
		);
		out.control_socket_dispatch_same_process = await section(() =>
			benchControl(api, base, "css", a, "same-process", true),
		);
		out.control_socket_dispatch_cross_process_no_sender = await section(() =>
			benchControl(api, base, "csn", a, "cross-process", false),
		);
	} finally {
		fs.rmSync(base, { recursive: true, force: true });
	}
	const cpus = os.cpus();
	out.node = process.version;
	out.world_root = path.resolve(a.root);
	out.world_removed = !fs.existsSync(base);
	out.machine = { cores: cpus.length, model: cpus[0]?.model ?? "unknown", loadavg_1m: os.loadavg()[0] };
	out.count = a.count;
	out.warmup = a.warmup;
	out.real_home_pi_dir = { path: realPiDir, existed_before: realPiBefore, exists_after: fs.existsSync(realPiDir) };
	process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err) => {
	process.stderr.write(`bench-reference-dispatch: ${err instanceof Error ? err.stack : String(err)}\n`);
	process.exit(1);
});
