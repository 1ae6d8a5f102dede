// A real third-party MCP client (the official TypeScript SDK, single-threaded: it sees notifications in arrival order)
// calling one tool through the broker's shim with a progress token.
// usage: node progress-client.mjs SHIM CONFIG PROFILE TOOL ARGS_JSON  → one JSON line: {progress: [[progress, total, message]…], text}
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ProgressNotificationSchema } from "@modelcontextprotocol/sdk/types.js";

const [shim, config, profile, tool, args] = process.argv.slice(2);
const transport = new StdioClientTransport({
  command: shim,
  args: ["--profile", profile, "--config", config, "--client", "ts-progress"],
  env: process.env,
  stderr: "inherit",
});
const client = new Client({ name: "ts-progress-journey", version: "1.0.0" });
await client.connect(transport);
// Every progress notification, recorded as it arrives. The SDK's own onprogress route is not used for counting: it
// hands notifications to a later microtask but resolves the response at once, so progress that shares a read with the
// response would be dropped by the client itself (directly against an upstream as much as through the broker).
const progress = [];
client.setNotificationHandler(ProgressNotificationSchema, (n) => { progress.push([n.params.progress, n.params.total ?? null, n.params.message ?? null]); });
const result = await client.callTool({ name: tool, arguments: JSON.parse(args) }, undefined, { onprogress: () => {} });
console.log(JSON.stringify({ progress, text: result.content[0].text, isError: result.isError ?? false }));
await client.close();
