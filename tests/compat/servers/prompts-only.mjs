// Only prompts (no tools, no resources), on @modelcontextprotocol/sdk 1.0.4 (protocol 2024-11-05).
import { Server } from "sdk-1-0/server/index.js";
import { StdioServerTransport } from "sdk-1-0/server/stdio.js";
import { GetPromptRequestSchema, ListPromptsRequestSchema } from "sdk-1-0/types.js";

const prompts = [
  { name: "summarize", description: "Summarize a text.", arguments: [{ name: "text", required: true }] },
  { name: "review", description: "Review a change.", arguments: [{ name: "diff", required: true }, { name: "focus", required: false }] },
  { name: "plain", description: "A prompt without arguments." },
];
const server = new Server({ name: "compat-prompts-only", version: "1.0.0" }, { capabilities: { prompts: {} } });
server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts }));
server.setRequestHandler(GetPromptRequestSchema, async (request) => ({
  description: prompts.find((p) => p.name === request.params.name)?.description,
  messages: [{ role: "user", content: { type: "text", text: `${request.params.name}: ${JSON.stringify(request.params.arguments ?? {})}` } }],
}));
await server.connect(new StdioServerTransport());
