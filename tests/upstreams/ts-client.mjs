// A real third-party MCP client (the official TypeScript SDK) driving the broker through its shim.
// usage: node ts-client.mjs SHIM CONFIG PROFILE QUERY  → prints one JSON line: tool names and search matches.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [shim, config, profile, query] = process.argv.slice(2);
const transport = new StdioClientTransport({
  command: shim,
  args: ["--profile", profile, "--config", config, "--client", "ts-sdk"],
  env: process.env,
  stderr: "inherit",
});
const client = new Client({ name: "ts-sdk-journey", version: "1.0.0" });
await client.connect(transport);
const { tools } = await client.listTools();
const search = await client.callTool({ name: "broker.search_tools", arguments: { query } });
const status = await client.callTool({ name: "broker.status", arguments: {} });
console.log(JSON.stringify({
  server: client.getServerVersion(),
  tools: tools.map((t) => t.name),
  matches: JSON.parse(search.content[0].text).matches.map((m) => m.name),
  status: JSON.parse(status.content[0].text),
}));
await client.close();
