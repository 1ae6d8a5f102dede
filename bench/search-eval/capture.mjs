// Captures the tool lists of the servers in servers.json into catalog/<name>.json, as the servers list them.
// Run from the repository root after `npm ci` in tests/upstreams and in bench/search-eval/servers:
//   node bench/search-eval/capture.mjs [NAME...]
// Each server runs with dummy credentials and a 60 s limit; every process it starts is closed before the next.
import { Client } from "./servers/node_modules/@modelcontextprotocol/sdk/dist/esm/client/index.js";
import { StdioClientTransport } from "./servers/node_modules/@modelcontextprotocol/sdk/dist/esm/client/stdio.js";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(new URL("../..", import.meta.url).pathname);
const here = join(root, "bench", "search-eval");
const only = process.argv.slice(2);
const servers = JSON.parse(readFileSync(join(here, "servers.json"), "utf8")).filter(s => only.length === 0 || only.includes(s.name));
mkdirSync(join(here, "catalog"), { recursive: true });

let failed = 0;
for (const server of servers) {
  const tmp = mkdtempSync(join(tmpdir(), "capture-"));
  const fill = v => v.replaceAll("{tmp}", tmp);
  const transport = new StdioClientTransport({
    command: join(root, server.command),
    args: server.args.map(fill),
    env: { PATH: process.env.PATH, HOME: tmp, ...Object.fromEntries(Object.entries(server.env).map(([k, v]) => [k, fill(v)])) },
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
    writeFileSync(join(here, "catalog", `${server.name}.json`),
      JSON.stringify({ server: server.name, package: server.package, purpose: server.purpose, tools }, null, 2) + "\n");
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
