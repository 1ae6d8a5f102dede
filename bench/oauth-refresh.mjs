// OAuth refreshes under load: N per_session client sessions call an OAuth-protected upstream (tests/upstreams/
// oauth-server.mjs: rotating refresh tokens, access tokens of TTL seconds) for SECONDS, every 2 s each, through the shim.
// Prints calls ok/failed and the server's counters: refreshes, refresh tokens refused, 401 answers. Loopback only.
// usage: node bench/oauth-refresh.mjs [SESSIONS=8] [TTL=4] [SECONDS=120] [BIN_DIR=src/McpBroker.Cli/bin/Debug/net10.0]
// (needs `npm ci` in tests/upstreams)
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const [sessions = "8", ttl = "4", seconds = "120", bins = join(repo, "src/McpBroker.Cli/bin/Debug/net10.0")] = process.argv.slice(2);
const sdk = (p) => import(pathToFileURL(join(repo, "tests/upstreams/node_modules/@modelcontextprotocol/sdk/dist/esm", p)).href);
const { Client } = await sdk("client/index.js");
const { StdioClientTransport } = await sdk("client/stdio.js");

const lines = (child) => createInterface({ input: child.stdout })[Symbol.asyncIterator]();
const server = spawn("node", [join(repo, "tests/upstreams/oauth-server.mjs"), "--access-ttl", ttl], { stdio: ["ignore", "pipe", "inherit"] });
const port = (await lines(server).next()).value.split(" ")[1];
const root = mkdtempSync(join(tmpdir(), "mb-oauth-bench-"));
const config = join(root, "broker.yaml");
writeFileSync(config, `schema_version: 1
runtime: { root: "${root}/r" }
profiles: { default: { compact_tools_enabled: false } }
upstreams:
  web: { transport: http, url: "http://127.0.0.1:${port}/mcp", oauth: {}, mode: per_session }
`);
const cli = (...args) => spawn(join(bins, "mcp-broker"), [...args, "--config", config], { stdio: ["ignore", "pipe", "inherit"] });
try {
  // Log in as a browser would: the sign-in form, then the redirect to the CLI's listener.
  const login = cli("auth", "login", "web", "--no-browser", "--timeout", "60s");
  for await (const line of createInterface({ input: login.stdout })) {
    if (!line.startsWith("  http")) continue;
    const page = await (await fetch(line.trim())).text();
    const pending = /name="pending" value="([^"]+)"/.exec(page)[1];
    const signedIn = await fetch(`http://127.0.0.1:${port}/login`, { method: "POST", body: new URLSearchParams({ pending, user: "bench" }), redirect: "manual" });
    await (await fetch(signedIn.headers.get("location"))).text();
  }

  const clients = [];
  for (let i = 0; i < Number(sessions); i++) {
    const client = new Client({ name: "oauth-bench", version: "1" });
    await client.connect(new StdioClientTransport({ command: join(bins, "mcp-broker-client"), args: ["--config", config], env: { ...process.env, MCP_BROKER_CLI: join(bins, "mcp-broker") }, stderr: "ignore" }));
    clients.push(client);
  }

  let ok = 0, failed = 0;
  const errors = new Set();
  const end = Date.now() + Number(seconds) * 1000;
  while (Date.now() < end) {
    await Promise.all(clients.map(async (c, i) => {
      const r = await c.callTool({ name: "web.echo", arguments: { text: `s${i}` } });
      if (r.isError) { failed++; errors.add(r.content[0].text.slice(0, 200)); } else ok++;
    }));
    await new Promise((r) => setTimeout(r, 2000));
  }
  const stats = await (await fetch(`http://127.0.0.1:${port}/admin/stats`)).json();
  console.log(JSON.stringify({ sessions: Number(sessions), ttl_s: Number(ttl), seconds: Number(seconds), calls_ok: ok, calls_failed: failed,
    refreshes: stats.refreshes, refresh_tokens_refused: stats.refresh_refusals, unauthorized: stats.unauthorized, errors: [...errors] }));
  for (const c of clients) await c.close();
} finally {
  await new Promise((r) => cli("daemon", "stop").on("exit", r));
  server.kill();
  rmSync(root, { recursive: true, force: true });
}
