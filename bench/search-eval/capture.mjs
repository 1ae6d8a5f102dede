// Captures the tool lists of MCP servers, as the servers list them.
// Run from the repository root:
//   node bench/search-eval/capture.mjs [NAME...]            servers.json → catalog/<name>.json
//     (after `npm ci` in tests/upstreams and in bench/search-eval/servers)
//   node bench/search-eval/capture.mjs --corpus [NAME...]   the real servers of tests/compat/corpus.json → corpus/<name>.json
//     (after `npm ci --ignore-scripts` in tests/compat; started as the compatibility corpus starts them, offline,
//     with its dummy credentials; each gets the purpose and tags a user would write for it, from corpus-servers.json)
// Each server runs with a 60 s limit; every process it starts is closed before the next.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

const root = resolve(new URL("../..", import.meta.url).pathname);
const here = join(root, "bench", "search-eval");
const corpusMode = process.argv[2] === "--corpus";
const only = process.argv.slice(corpusMode ? 3 : 2);
const sdk = corpusMode ? join(root, "tests", "compat", "node_modules", "@modelcontextprotocol", "sdk") : join(here, "servers", "node_modules", "@modelcontextprotocol", "sdk");
const { Client } = await import(join(sdk, "dist/esm/client/index.js"));
const { StdioClientTransport } = await import(join(sdk, "dist/esm/client/stdio.js"));

const servers = (corpusMode ? corpusServers() : JSON.parse(readFileSync(join(here, "servers.json"), "utf8")))
  .filter(s => only.length === 0 || only.includes(s.name));
const out = join(here, corpusMode ? "corpus" : "catalog");
mkdirSync(out, { recursive: true });

let failed = 0;
for (const server of servers) {
  const tmp = mkdtempSync(join(tmpdir(), "capture-"));
  mkdirSync(join(tmp, "home"), { recursive: true });
  for (const [file, content] of Object.entries(server.files ?? {})) {
    mkdirSync(dirname(join(tmp, file)), { recursive: true });
    writeFileSync(join(tmp, file), content);
  }
  const fill = v => v.replaceAll("{tmp}", tmp).replaceAll("{work}", tmp);
  const transport = new StdioClientTransport({
    command: server.command.startsWith("/") || server.command === "node" ? server.command : join(root, server.command),
    args: server.args.map(fill),
    env: { PATH: process.env.PATH, HOME: corpusMode ? join(tmp, "home") : tmp, ...Object.fromEntries(Object.entries(server.env).map(([k, v]) => [k, fill(v)])) },
    cwd: tmp,
    stderr: "ignore",
  });
  const client = new Client({ name: "mcp-broker-capture", version: "1" });
  try {
    const tools = await Promise.race([
      (async () => {
        await client.connect(transport);
        const all = [];
        let cursor;
        do {
          const page = await client.listTools(cursor ? { cursor } : {});
          all.push(...page.tools);
          cursor = page.nextCursor;
        } while (cursor);
        return all;
      })(),
      new Promise((_, reject) => setTimeout(() => reject(new Error("no tool list within 60 s")), 60_000)),
    ]);
    const entry = { server: server.name, package: server.package, purpose: server.purpose };
    if (server.tags) entry.tags = server.tags;
    writeFileSync(join(out, `${server.name}.json`), JSON.stringify({ ...entry, tools }, null, 2) + "\n");
    console.log(`${server.name}: ${tools.length} tools`);
  } catch (error) {
    failed++;
    console.error(`${server.name}: FAILED ${error.message}`);
  } finally {
    await client.close().catch(() => {});
    await transport.close().catch(() => {});
    rmSync(tmp, { recursive: true, force: true });
  }
}
process.exit(failed === 0 ? 0 : 1);

/** The real (npm) servers of the compatibility corpus, launched as tests/compat/differential.mjs launches them. */
function corpusServers() {
  const compat = join(root, "tests", "compat");
  const corpus = JSON.parse(readFileSync(join(compat, "corpus.json"), "utf8"));
  const pins = JSON.parse(readFileSync(join(compat, "package.json"), "utf8")).dependencies;
  const about = JSON.parse(readFileSync(join(here, "corpus-servers.json"), "utf8"));
  return corpus.servers.filter(s => s.package).map(s => ({
    name: s.name,
    package: `${s.package}@${pins[s.package]}`,
    command: join(compat, "node_modules", ".bin", s.bin),
    args: s.args ?? [],
    env: s.env ?? {},
    files: s.files,
    purpose: about[s.name]?.purpose,
    tags: about[s.name]?.tags,
  }));
}
