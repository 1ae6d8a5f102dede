// Protocol 2024-11-05: a server built on @modelcontextprotocol/sdk 1.0.4 (its LATEST_PROTOCOL_VERSION), the era of the
// archived reference servers. Tools, one resource, one prompt.
import { Server } from "sdk-1-0/server/index.js";
import { StdioServerTransport } from "sdk-1-0/server/stdio.js";
import {
  CallToolRequestSchema, GetPromptRequestSchema, ListPromptsRequestSchema, ListResourcesRequestSchema,
  ListToolsRequestSchema, ReadResourceRequestSchema,
} from "sdk-1-0/types.js";

const server = new Server({ name: "compat-2024-11-05", version: "1.0.0" }, { capabilities: { tools: {}, resources: {}, prompts: {} } });
server.setRequestHandler(ListToolsRequestSchema, async () => ({
  tools: [
    { name: "echo", description: "Returns its message.", inputSchema: { type: "object", properties: { message: { type: "string" } }, required: ["message"] } },
    { name: "add", description: "Adds two numbers.", inputSchema: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } }, required: ["a", "b"] } },
  ],
}));
server.setRequestHandler(CallToolRequestSchema, async (request) => {
  const args = request.params.arguments ?? {};
  if (request.params.name === "echo") return { content: [{ type: "text", text: `echo: ${args.message}` }] };
  if (request.params.name === "add") return { content: [{ type: "text", text: String(Number(args.a) + Number(args.b)) }] };
  return { content: [{ type: "text", text: `unknown tool ${request.params.name}` }], isError: true };
});
server.setRequestHandler(ListResourcesRequestSchema, async () => ({
  resources: [{ uri: "compat://readme", name: "readme", mimeType: "text/plain", description: "A static text resource." }],
}));
server.setRequestHandler(ReadResourceRequestSchema, async (request) => ({
  contents: [{ uri: request.params.uri, mimeType: "text/plain", text: "compatibility corpus" }],
}));
server.setRequestHandler(ListPromptsRequestSchema, async () => ({
  prompts: [{ name: "greet", description: "Greets someone.", arguments: [{ name: "who", description: "Whom to greet", required: true }] }],
}));
server.setRequestHandler(GetPromptRequestSchema, async (request) => ({
  messages: [{ role: "user", content: { type: "text", text: `Say hello to ${request.params.arguments?.who}.` } }],
}));
await server.connect(new StdioServerTransport());
