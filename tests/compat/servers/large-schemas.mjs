// Very large tool definitions: 240 tools whose input schemas are big (many properties, enums, nested objects and
// long descriptions; about 3.7 MB of tools/list in all, over 1 MB a page), listed in pages of 80 (nextCursor). No random
// content. On @modelcontextprotocol/sdk 1.13.3 (protocol 2025-06-18).
import { Server } from "sdk-1-13/server/index.js";
import { StdioServerTransport } from "sdk-1-13/server/stdio.js";
import { CallToolRequestSchema, ListToolsRequestSchema } from "sdk-1-13/types.js";

const words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima"];
const text = (n, seed) => Array.from({ length: n }, (_, i) => words[(i * 7 + seed) % words.length]).join(" ");
function nested(depth, seed) {
  if (depth === 0) return { type: "string", description: text(12, seed), enum: Array.from({ length: 20 }, (_, i) => `${words[(i + seed) % 12]}-${i}`) };
  return {
    type: "object",
    description: text(20, seed + depth),
    properties: Object.fromEntries(Array.from({ length: 3 }, (_, i) => [`${words[(i + depth) % 12]}_${depth}_${i}`, nested(depth - 1, seed + i)])),
    required: [`${words[depth % 12]}_${depth}_0`],
  };
}

const tools = Array.from({ length: 240 }, (_, t) => ({
  name: `tool_${String(t).padStart(3, "0")}`,
  description: text(150, t),
  inputSchema: {
    type: "object",
    properties: {
      ...Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`field_${i}`, { type: i % 2 ? "integer" : "string", description: text(25, t + i), ...(i % 2 ? { minimum: 0, maximum: 1000 + i } : { maxLength: 64 }) }])),
      options: nested(3, t),
    },
    required: ["field_0"],
    additionalProperties: false,
  },
  annotations: { readOnlyHint: t % 3 === 0 },
}));
const server = new Server({ name: "compat-large-schemas", version: "1.0.0" }, { capabilities: { tools: {} } });
server.setRequestHandler(ListToolsRequestSchema, async (request) => {
  const start = Number(request.params?.cursor ?? 0);
  const next = start + 80;
  return { tools: tools.slice(start, next), ...(next < tools.length ? { nextCursor: String(next) } : {}) };
});
server.setRequestHandler(CallToolRequestSchema, async (request) => ({
  content: [{ type: "text", text: `${request.params.name} got ${Object.keys(request.params.arguments ?? {}).length} arguments` }],
}));
await server.connect(new StdioServerTransport());
