// Protocol 2025-11-25: a server built on @modelcontextprotocol/sdk 1.32.2 (its LATEST_PROTOCOL_VERSION). Instructions,
// icons and websiteUrl on the implementation, icons and _meta on tools, resources and prompts.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

const icon = [{ src: "data:image/svg+xml;base64,PHN2Zy8+", mimeType: "image/svg+xml", sizes: ["any"] }];
const server = new McpServer(
  { name: "compat-2025-11-25", version: "1.0.0", title: "Compat 2025-11-25", icons: icon, websiteUrl: "https://example.com/compat" },
  { instructions: "Use echo to test the connection; read the guide before anything else." });
server.registerTool("echo", {
  title: "Echo", description: "Returns its message.", inputSchema: { message: z.string() },
  annotations: { readOnlyHint: true }, icons: icon, _meta: { "example.com/category": "diagnostics" },
}, async ({ message }) => ({ content: [{ type: "text", text: `echo: ${message}` }] }));
server.registerResource("guide", "compat://guide", { title: "Guide", mimeType: "text/plain", icons: icon },
  async (uri) => ({ contents: [{ uri: uri.href, text: "read me first" }] }));
server.registerPrompt("start", { title: "Start", description: "How to begin.", icons: icon },
  () => ({ messages: [{ role: "user", content: { type: "text", text: "Begin." } }] }));
await server.connect(new StdioServerTransport());
