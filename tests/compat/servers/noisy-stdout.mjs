// Writes lines that are not JSON-RPC to stdout before its first message and between messages (as servers that log with
// console.log do), on @modelcontextprotocol/sdk 1.32.2. A client (and the broker) must skip them and go on.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

process.stdout.write("noisy-server 1.0.0 starting...\n");
process.stdout.write("[info] loaded 2 tools\n\n");
const server = new McpServer({ name: "compat-noisy-stdout", version: "1.0.0" });
server.registerTool("echo", { description: "Returns its message.", inputSchema: { message: z.string() }, annotations: { readOnlyHint: true } },
  async ({ message }) => {
    process.stdout.write(`[debug] echo called with ${message.length} characters\n`);
    return { content: [{ type: "text", text: `echo: ${message}` }] };
  });
server.registerTool("status", { description: "Reports a fixed status.", inputSchema: {}, annotations: { readOnlyHint: true } },
  async () => ({ content: [{ type: "text", text: "ok" }] }));
const transport = new StdioServerTransport();
const send = transport.send.bind(transport);
transport.send = async (message) => {
  await send(message);
  process.stdout.write(`[trace] sent ${message.id !== undefined ? `response ${message.id}` : message.method}\n`);
};
await server.connect(transport);
