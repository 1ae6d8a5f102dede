// The corpus's control: the broker's config starts it with COMPAT_VARIANT=b (corpus.json "brokerEnv"), so its echo
// tool's description differs through the broker by construction. The test requires the comparison to find exactly that
// difference: a comparison that finds nothing here is broken. On @modelcontextprotocol/sdk 1.32.2.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

const variant = process.env.COMPAT_VARIANT ?? "a";
const server = new McpServer({ name: "compat-control", version: "1.0.0" });
server.registerTool("echo", { description: `Returns its message (variant ${variant}).`, inputSchema: { message: z.string() }, annotations: { readOnlyHint: true } },
  async ({ message }) => ({ content: [{ type: "text", text: `echo: ${message}` }] }));
await server.connect(new StdioServerTransport());
