// Protocol 2025-03-26: a server built on @modelcontextprotocol/sdk 1.11.5 (its LATEST_PROTOCOL_VERSION). Tool
// annotations (new in 2025-03-26), resource templates with completion, prompts, and audio content in a result.
import { McpServer, ResourceTemplate } from "sdk-1-11/server/mcp.js";
import { StdioServerTransport } from "sdk-1-11/server/stdio.js";
import { z } from "zod";

const server = new McpServer({ name: "compat-2025-03-26", version: "1.0.0" });
server.tool("echo", "Returns its message.", { message: z.string() },
  { title: "Echo", readOnlyHint: true, openWorldHint: false },
  async ({ message }) => ({ content: [{ type: "text", text: `echo: ${message}` }] }));
server.tool("delete_note", "Deletes a note (destructive).", { id: z.string() },
  { destructiveHint: true, idempotentHint: true },
  async ({ id }) => ({ content: [{ type: "text", text: `deleted ${id}` }] }));
server.tool("beep", "Returns a short audio clip.", {}, { readOnlyHint: true },
  async () => ({ content: [{ type: "audio", data: Buffer.from("RIFF....WAVEfmt ").toString("base64"), mimeType: "audio/wav" }] }));
server.resource("note", new ResourceTemplate("note://{id}", {
  list: async () => ({ resources: [{ uri: "note://1", name: "first note" }, { uri: "note://2", name: "second note" }] }),
  complete: { id: (value) => ["1", "2", "10"].filter((id) => id.startsWith(value)) },
}), async (uri, { id }) => ({ contents: [{ uri: uri.href, text: `note ${id}` }] }));
server.prompt("draft", "Drafts a note.", { topic: z.string() }, ({ topic }) => ({
  messages: [{ role: "user", content: { type: "text", text: `Draft a note about ${topic}.` } }],
}));
await server.connect(new StdioServerTransport());
