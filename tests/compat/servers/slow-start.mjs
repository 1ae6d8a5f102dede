// Takes seconds to start: it reads nothing from stdin for 4 s (as a server that loads a big index would), then
// answers normally. On @modelcontextprotocol/sdk 1.13.3 (protocol 2025-06-18).
import { setTimeout as sleep } from "node:timers/promises";
import { McpServer } from "sdk-1-13/server/mcp.js";
import { StdioServerTransport } from "sdk-1-13/server/stdio.js";
import { z } from "zod";

await sleep(4000);
const server = new McpServer({ name: "compat-slow-start", version: "1.0.0" });
server.registerTool("ready", { description: "Says it is ready.", inputSchema: { who: z.string().optional() }, annotations: { readOnlyHint: true } },
  async ({ who }) => ({ content: [{ type: "text", text: `ready${who ? ` for ${who}` : ""}` }] }));
await server.connect(new StdioServerTransport());
