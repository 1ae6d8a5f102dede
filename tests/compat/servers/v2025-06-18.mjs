// Protocol 2025-06-18: a server built on @modelcontextprotocol/sdk 1.13.3 (its LATEST_PROTOCOL_VERSION). Tools with an
// outputSchema that answer structuredContent, titles, and a resource_link in a result.
import { McpServer } from "sdk-1-13/server/mcp.js";
import { StdioServerTransport } from "sdk-1-13/server/stdio.js";
import { z } from "zod";

const server = new McpServer({ name: "compat-2025-06-18", version: "1.0.0", title: "Compat 2025-06-18" });
server.registerTool("forecast", {
  title: "Forecast",
  description: "A fixed forecast, as structured content.",
  inputSchema: { city: z.string() },
  outputSchema: { city: z.string(), celsius: z.number(), conditions: z.enum(["sunny", "cloudy", "rain"]), hourly: z.array(z.object({ hour: z.number(), celsius: z.number() })) },
  annotations: { readOnlyHint: true },
}, async ({ city }) => {
  const structuredContent = { city, celsius: 21.5, conditions: "sunny", hourly: [{ hour: 9, celsius: 18 }, { hour: 15, celsius: 23 }] };
  return { content: [{ type: "text", text: JSON.stringify(structuredContent) }], structuredContent };
});
server.registerTool("find_report", {
  title: "Find report",
  description: "Links to a report resource.",
  inputSchema: {},
  annotations: { readOnlyHint: true },
}, async () => ({ content: [{ type: "resource_link", uri: "report://2025/q2", name: "q2", title: "Q2 report", mimeType: "text/markdown" }] }));
server.registerResource("q2", "report://2025/q2", { title: "Q2 report", mimeType: "text/markdown" },
  async (uri) => ({ contents: [{ uri: uri.href, text: "# Q2" }] }));
server.registerPrompt("brief", { title: "Brief", description: "Briefs on a city.", argsSchema: { city: z.string() } },
  ({ city }) => ({ messages: [{ role: "user", content: { type: "text", text: `Brief me on ${city}.` } }] }));
await server.connect(new StdioServerTransport());
