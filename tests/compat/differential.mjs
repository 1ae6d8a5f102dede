// Differential check of one MCP server of the compatibility corpus: the official TypeScript SDK client talks to it
// (a) directly over stdio and (b) through the broker's shim with a transparent profile on that one upstream, and
// compares what each answered, as raw JSON (so fields the SDKs' types do not model are compared too).
//
// usage: node differential.mjs --server NAME --work DIR [--shim SHIM --config BROKER_YAML --profile PROFILE] [--dump FILE]
//   Without --shim only the direct side runs (a probe: does the server start offline?). --dump writes everything
//   both sides answered to FILE. DIR is the server's scratch folder: {work} in corpus.json, its "files", and HOME.
//   Prints one JSON line: the server, its package version, the protocol each side negotiated, what each side listed
//   (counts), and result "same" | "differs" | "fails" with the first differing field (path, direct and broker values).
//
// "Equal, names aside" (docs/compatibility.md says the same):
//   - initialize: instructions must be equal. serverInfo is not compared (the broker presents its own name and
//     version), nor protocolVersion (reported for both sides: the broker negotiates with the client itself and speaks
//     to each upstream in the upstream's own revision; what matters is what is said in it). Of the capabilities, what a client decides on must be equal: whether tools,
//     resources, prompts and completions are offered, and whether resources can be subscribed to. listChanged flags,
//     logging and experimental are the broker's own to declare (it re-reads lists and notifies sessions itself, and
//     filters logs per session), so they are not compared.
//   - tools/list, resources/list, resources/templates/list, prompts/list: every page (nextCursor followed), deeply
//     equal, in order; a list the server does not offer is "not offered" (null) and must be not offered through the
//     broker either; an error must be the same error (code and message).
//   - the harmless call (corpus.json "call"), and where configured one resources/read ("read": a URI) and one
//     prompts/get ("prompt": name and arguments): the raw results deeply equal.
//   A difference listed under "known" in corpus.json (a path with indexes written [], e.g. "tools[].execution", and why)
//   is reported under "known" and does not count; only such differences make the result "known".
import { readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport, getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js";

const here = dirname(fileURLToPath(import.meta.url));
const args = parseArgs(process.argv.slice(2));
const corpus = JSON.parse(readFileSync(join(here, "corpus.json"), "utf8"));
const entry = corpus.servers.find((s) => s.name === args.server);
const START_TIMEOUT_MS = Number(args["start-timeout"] ?? 60_000);
const REQUEST_TIMEOUT_MS = Number(args["request-timeout"] ?? 30_000);

async function main() {
  if (!entry) {
    console.error(`no server named ${args.server} in corpus.json`);
    process.exit(2);
  }

  const work = args.work;
  mkdirSync(join(work, "home"), { recursive: true });
  for (const [file, content] of Object.entries(entry.files ?? {})) {
    mkdirSync(dirname(join(work, file)), { recursive: true });
    writeFileSync(join(work, file), content);
  }
  const launch = launchOf(entry, work);
  const started = Date.now();
  const direct = await exercise(() => new StdioClientTransport({
    command: launch.command,
    args: launch.args,
    env: { ...getDefaultEnvironment(), ...launch.env },
    cwd: work,
    stderr: "pipe",
  }));
  let brokered = null;
  if (args.shim) {
    brokered = await exercise(() => new StdioClientTransport({
      command: args.shim,
      args: ["--profile", args.profile, "--config", args.config, "--client", "compat-corpus"],
      env: process.env,
      stderr: "pipe",
    }));
  }

  if (args.dump) writeFileSync(args.dump, JSON.stringify({ direct, brokered }, null, 2));
  console.log(JSON.stringify(report(entry, direct, brokered, Date.now() - started)));
  process.exit(0);
}

/** The command, arguments and environment that start a corpus server (the C# test builds broker.yaml the same way). */
function launchOf(server, workDir) {
  const expand = (s) => s.replaceAll("{work}", workDir);
  const env = { HOME: join(workDir, "home") };
  for (const [k, v] of Object.entries(server.env ?? {})) env[k] = expand(v);
  const rest = (server.args ?? []).map(expand);
  return server.main
    ? { command: "node", args: [join(here, server.main), ...rest], env }
    : { command: join(here, "node_modules", ".bin", server.bin), args: rest, env };
}

/** Connects, lists every offered feature, runs the harmless call; every answer kept as the raw JSON-RPC result or error. */
async function exercise(makeTransport) {
  const side = { initialize: null, lists: {}, call: undefined, error: null, ms: 0 };
  const t0 = Date.now();
  const inner = makeTransport();
  let stderrTail = "";
  inner.stderr?.on("data", (chunk) => { stderrTail = (stderrTail + chunk).slice(-400); });
  const transport = new RawTransport(inner);
  // The client offers what the broker offers every upstream (sampling, elicitation in both modes: see
  // UpstreamSupervisor.OfferedCapabilities), since servers shape their lists by it (server-everything adds tools that
  // ask for them). No harmless call here asks, so no handler is needed.
  const client = new Client({ name: "mcp-broker-compat", version: "1.0.0" }, { capabilities: { sampling: {}, elicitation: { form: {}, url: {} } } });
  try {
    await withTimeout(client.connect(transport, { timeout: START_TIMEOUT_MS }), START_TIMEOUT_MS + 1000, "initialize");
    side.initialize = transport.resultOf("initialize");
    const caps = side.initialize?.capabilities ?? {};
    const ask = (feature) => caps[feature] && !(entry.skip ?? []).includes(feature);
    side.lists.tools = ask("tools") ? await listAll(client, transport, "tools/list", "tools") : null;
    side.lists.resources = ask("resources") ? await listAll(client, transport, "resources/list", "resources") : null;
    side.lists.resourceTemplates = ask("resources") ? await listAll(client, transport, "resources/templates/list", "resourceTemplates") : null;
    side.lists.prompts = ask("prompts") ? await listAll(client, transport, "prompts/list", "prompts") : null;
    if (entry.call && caps.tools) {
      side.call = await raw(client, transport, "tools/call", { name: entry.call.tool, arguments: entry.call.arguments ?? {} });
    }
    if (entry.read && caps.resources) side.read = await raw(client, transport, "resources/read", { uri: entry.read });
    if (entry.prompt && caps.prompts) {
      side.prompt = await raw(client, transport, "prompts/get", { name: entry.prompt.name, arguments: entry.prompt.arguments ?? {} });
    }
  } catch (e) {
    const last = stderrTail.trim().split("\n").slice(-2).join(" / ");
    side.error = String(e?.message ?? e).split("\n")[0].slice(0, 300) + (last ? ` (stderr: ${last})` : "");
  } finally {
    side.stdoutErrors = transport.errors;
    side.ms = Date.now() - t0;
    await withTimeout(client.close(), 10_000, "close").catch(() => {});
  }

  return side;
}

/** Every page of a list, as raw items; an error answer is kept as { error: { code, message } }. */
async function listAll(client, transport, method, key) {
  const items = [];
  let cursor;
  for (let page = 0; page < 100; page++) {
    const answer = await raw(client, transport, method, cursor === undefined ? {} : { cursor });
    if (answer.error) return answer;
    items.push(...(answer.result[key] ?? []));
    cursor = answer.result.nextCursor;
    if (cursor === undefined || cursor === null) return items;
  }

  throw new Error(`${method}: more than 100 pages`);
}

/** Sends a request through the SDK client (so it is correlated and timed out) and returns the raw response. */
async function raw(client, transport, method, params) {
  let failure;
  try {
    await client.request({ method, params }, PassThrough, { timeout: REQUEST_TIMEOUT_MS });
  } catch (e) {
    failure = e;
  }

  // Requests of one side go out one at a time, so the last one sent is this one.
  const response = transport.responses.get(transport.lastSent.get(method));
  if (response?.error) return { error: { code: response.error.code, message: response.error.message } };
  if (failure || !response) throw new Error(`${method}: ${failure?.message ?? failure ?? "no response"}`);
  return { result: response.result };
}

/** A result schema that accepts anything (the raw response is read from the transport, not from the parsed result). */
const PassThrough = { parse: (v) => v, safeParse: (v) => ({ success: true, data: v }) };

/** Wraps a transport and keeps each response as it came off the wire, by the id of the request it answers. */
class RawTransport {
  constructor(inner) {
    this.inner = inner;
    this.responses = new Map();
    this.lastSent = new Map();
    inner.onmessage = (message, extra) => {
      if (message.id !== undefined && ("result" in message || "error" in message)) this.responses.set(message.id, message);
      this.onmessage?.(message, extra);
    };
    // A line on stdout that is not JSON-RPC reaches here as an error (the SDK skips it and reads on): count them.
    this.errors = 0;
    inner.onerror = (e) => { this.errors++; this.onerror?.(e); };
    inner.onclose = () => this.onclose?.();
  }

  start() { return this.inner.start(); }

  close() { return this.inner.close(); }

  send(message, options) {
    if (message.method && message.id !== undefined) this.lastSent.set(message.method, message.id);
    return this.inner.send(message, options);
  }

  setProtocolVersion(version) { this.inner.setProtocolVersion?.(version); }

  get sessionId() { return this.inner.sessionId; }

  resultOf(method) { return this.responses.get(this.lastSent.get(method))?.result ?? null; }
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms); }),
  ]);
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, "")] = argv[i + 1];
  return out;
}

/** The one JSON line for this server. */
function report(server, direct, broker, ms) {
  const out = {
    server: server.name,
    package: server.package ?? server.main,
    version: versionOf(server),
    protocol: { direct: direct.initialize?.protocolVersion ?? null, broker: broker?.initialize?.protocolVersion ?? null },
    counts: counts(direct),
    result: "same",
  };
  if (broker) out.brokerCounts = counts(broker);
  if (direct.stdoutErrors > 0) out.stdoutErrors = direct.stdoutErrors;
  out.ms = { direct: direct.ms, broker: broker?.ms ?? null, total: ms };
  if (direct.error) return { ...out, result: "fails", why: `directly: ${direct.error}` };
  if (!broker) return out;
  if (broker.error) return { ...out, result: "fails", why: `through the broker: ${broker.error}` };

  const sections = [
    ["initialize.instructions", direct.initialize.instructions, broker.initialize.instructions],
    ["initialize.capabilities", offered(direct.initialize.capabilities), offered(broker.initialize.capabilities)],
    ["tools", direct.lists.tools, broker.lists.tools],
    ["resources", direct.lists.resources, broker.lists.resources],
    ["resourceTemplates", direct.lists.resourceTemplates, broker.lists.resourceTemplates],
    ["prompts", direct.lists.prompts, broker.lists.prompts],
    ["call", direct.call, broker.call],
    ["read", direct.read, broker.read],
    ["prompt", direct.prompt, broker.prompt],
  ];
  const known = new Set();
  const differences = sections.map(([path, a, b]) => firstDifference(a, b, path, known)).filter((d) => d);
  if (known.size > 0) out.known = [...known].map((k) => `${k.path}: ${k.why}`);
  if (differences.length === 0) return known.size > 0 ? { ...out, result: "known" } : out;
  return { ...out, result: "differs", path: differences[0].path, direct: differences[0].direct, broker: differences[0].broker, differences };
}

/** What a client decides on in a server's capabilities (see the comment at the top). */
function offered(capabilities) {
  const c = capabilities ?? {};
  return { tools: !!c.tools, resources: !!c.resources, resourcesSubscribe: !!c.resources?.subscribe, prompts: !!c.prompts, completions: !!c.completions };
}

function counts(side) {
  const count = (list) => (list === null || list === undefined ? null : Array.isArray(list) ? list.length : "error");
  return {
    tools: count(side.lists.tools),
    resources: count(side.lists.resources),
    resourceTemplates: count(side.lists.resourceTemplates),
    prompts: count(side.lists.prompts),
    call: outcome(side.call),
    read: outcome(side.read),
    prompt: outcome(side.prompt),
  };
}

function outcome(answer) {
  return answer === undefined ? null : answer.error ? "error" : answer.result?.isError ? "isError" : "ok";
}

function versionOf(server) {
  const name = server.package ?? server.sdk ?? "@modelcontextprotocol/sdk";
  try {
    return JSON.parse(readFileSync(join(here, "node_modules", name, "package.json"), "utf8")).version;
  } catch {
    return null;
  }
}

/**
 * The first place two JSON values differ (depth first, in document order), or null when they are deeply equal. A
 * place listed under "known" in corpus.json (its path with indexes written [], for every server or those it names)
 * counts as equal and is added to the known set instead.
 */
function firstDifference(a, b, path, known) {
  if (a === b) return null;
  const general = path.replace(/\[\d+( "[^"]*")?\]/g, "[]");
  const expected = (corpus.known ?? []).find((k) => k.path === general && (!k.servers || k.servers.includes(entry.name)));
  if (expected) {
    known.add(expected);
    return null;
  }

  const kind = (v) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);
  if (kind(a) !== kind(b) || (kind(a) !== "array" && kind(a) !== "object")) {
    return { path, direct: show(a), broker: show(b) };
  }

  if (Array.isArray(a)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const label = a[i]?.name ?? a[i]?.uri ?? a[i]?.uriTemplate;
      const d = firstDifference(a[i], b[i], label === undefined ? `${path}[${i}]` : `${path}[${i} ${JSON.stringify(label)}]`, known);
      if (d) return d;
    }

    return a.length === b.length ? null : { path: `${path}.length`, direct: a.length, broker: b.length };
  }

  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const d = firstDifference(a[key], b[key], `${path}.${key}`, known);
    if (d) return d;
  }

  return null;
}

function show(value) {
  if (value === undefined) return "(absent)";
  const text = JSON.stringify(value);
  return text.length > 200 ? text.slice(0, 200) + "…" : value;
}

await main();
