// Offers nothing to list: no tools, resources or prompts (only logging), on @modelcontextprotocol/sdk 1.32.2. A client
// that connects must cope with a server whose lists are all "not offered".
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";

const server = new Server({ name: "compat-no-tools", version: "1.0.0" }, { capabilities: { logging: {} }, instructions: "This server offers nothing but its logs." });
await server.connect(new StdioServerTransport());
