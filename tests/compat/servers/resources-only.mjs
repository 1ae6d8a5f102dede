// Only resources (static ones, templates, subscriptions; no tools, no prompts), on @modelcontextprotocol/sdk 1.11.5.
import { Server } from "sdk-1-11/server/index.js";
import { StdioServerTransport } from "sdk-1-11/server/stdio.js";
import {
  ListResourcesRequestSchema, ListResourceTemplatesRequestSchema, ReadResourceRequestSchema, SubscribeRequestSchema,
  UnsubscribeRequestSchema,
} from "sdk-1-11/types.js";

const resources = Array.from({ length: 25 }, (_, i) => ({
  uri: `file:///compat/doc-${String(i).padStart(2, "0")}.md`, name: `doc-${i}`, mimeType: "text/markdown", description: `Document ${i}`,
}));
const server = new Server({ name: "compat-resources-only", version: "1.0.0" }, { capabilities: { resources: { subscribe: true, listChanged: true } } });
// Pages of 10: the client must follow nextCursor.
server.setRequestHandler(ListResourcesRequestSchema, async (request) => {
  const start = Number(request.params?.cursor ?? 0);
  const next = start + 10;
  return { resources: resources.slice(start, next), ...(next < resources.length ? { nextCursor: String(next) } : {}) };
});
server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
  resourceTemplates: [{ uriTemplate: "file:///compat/{name}.md", name: "doc", mimeType: "text/markdown" }],
}));
server.setRequestHandler(ReadResourceRequestSchema, async (request) => ({ contents: [{ uri: request.params.uri, mimeType: "text/markdown", text: `# ${request.params.uri}` }] }));
server.setRequestHandler(SubscribeRequestSchema, async () => ({}));
server.setRequestHandler(UnsubscribeRequestSchema, async () => ({}));
await server.connect(new StdioServerTransport());
