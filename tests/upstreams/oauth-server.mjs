// An OAuth-protected MCP server for the OAuth journey tests, built from the TypeScript SDK's auth router
// (mcpAuthRouter with a small in-memory OAuthServerProvider) and its streamable HTTP server transport.
//
// What a real hosted MCP server does: protected-resource and authorization-server metadata, dynamic client
// registration, an authorization page a person submits in a browser, PKCE S256, short access tokens, refresh tokens
// that rotate (a used one is refused with invalid_grant), a revocation endpoint (RFC 7009), and /mcp with two tools.
//
// usage: node oauth-server.mjs [--port N] [--access-ttl SECONDS] [--no-registration] [--exact-redirect]
//                              [--client ID --client-secret SECRET --client-redirect URI]
// Prints "LISTENING <port>" when it accepts connections. Admin endpoints (loopback only, like everything here):
//   POST /admin/revoke-all        every access and refresh token stops working
//   POST /admin/expire-access     every access token stops working (refresh tokens still do)
//   POST /admin/token-unavailable?on=1|0   the token endpoint answers 503
//   GET  /admin/stats             counters (registrations, logins, refreshes, refusals, revocations, …) as JSON
import { createServer } from "node:http";
import { randomBytes, randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import express from "express";
import * as z from "zod";
import { mcpAuthRouter, getOAuthProtectedResourceMetadataUrl } from "@modelcontextprotocol/sdk/server/auth/router.js";
import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
import { InvalidGrantError, InvalidTokenError } from "@modelcontextprotocol/sdk/server/auth/errors.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";

const { values: options } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    "access-ttl": { type: "string", default: "90" },
    "no-registration": { type: "boolean", default: false },
    "exact-redirect": { type: "boolean", default: false },
    client: { type: "string" },
    "client-secret": { type: "string" },
    "client-redirect": { type: "string" },
  },
});
const accessTtl = Number(options["access-ttl"]);

const stats = {
  registrations: 0, authorize_pages: 0, logins: 0, code_exchanges: 0, refreshes: 0, refresh_refusals: 0,
  revocations: 0, mcp_requests: 0, unauthorized: 0, token_unavailable: 0,
};
const clients = new Map();
const codes = new Map();          // code → { clientId, challenge, redirectUri }
const pending = new Map();        // id of an authorize page → its parameters
const accessTokens = new Map();   // token → { clientId, expiresAt, scopes }
const refreshTokens = new Map();  // token → { clientId, scopes }
let tokenUnavailable = false;

if (options.client) {
  clients.set(options.client, {
    client_id: options.client,
    client_secret: options["client-secret"],
    redirect_uris: [options["client-redirect"] ?? "http://127.0.0.1/callback"],
    token_endpoint_auth_method: options["client-secret"] ? "client_secret_post" : "none",
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
  });
}

const clientsStore = {
  getClient: (id) => clients.get(id),
  ...(options["no-registration"] ? {} : {
    registerClient: (client) => {
      stats.registrations++;
      clients.set(client.client_id, client);
      return client;
    },
  }),
};

const issue = (clientId, scopes) => {
  const access = `at_${randomBytes(18).toString("hex")}`;
  const refresh = `rt_${randomBytes(18).toString("hex")}`;
  accessTokens.set(access, { clientId, scopes, expiresAt: Date.now() + accessTtl * 1000 });
  refreshTokens.set(refresh, { clientId, scopes });
  return { access_token: access, token_type: "bearer", expires_in: accessTtl, refresh_token: refresh, scope: scopes.join(" ") };
};

const escape = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

const provider = {
  clientsStore,
  async authorize(client, params, res) {
    // A page the person submits (a real server shows its login and consent here).
    stats.authorize_pages++;
    const id = randomUUID();
    pending.set(id, { clientId: client.client_id, ...params });
    res.status(200).type("html").send(`<!doctype html><title>Sign in</title>
<h1>Sign in to the test MCP server</h1>
<p>${escape(client.client_name ?? client.client_id)} asks for access.</p>
<form method="post" action="/login"><input type="hidden" name="pending" value="${id}">
<label>User <input name="user" id="user"></label> <button type="submit" id="approve">Allow</button></form>`);
  },
  async challengeForAuthorizationCode(_client, code) {
    const entry = codes.get(code);
    if (!entry) throw new InvalidGrantError("unknown authorization code");
    return entry.challenge;
  },
  async exchangeAuthorizationCode(client, code, _verifier, redirectUri) {
    const entry = codes.get(code);
    codes.delete(code);
    if (!entry || entry.clientId !== client.client_id) throw new InvalidGrantError("unknown authorization code");
    if (redirectUri !== undefined && redirectUri !== entry.redirectUri) throw new InvalidGrantError("redirect_uri differs from the authorization request");
    stats.code_exchanges++;
    return issue(client.client_id, entry.scopes ?? []);
  },
  async exchangeRefreshToken(client, refreshToken) {
    const entry = refreshTokens.get(refreshToken);
    if (!entry || entry.clientId !== client.client_id) {
      stats.refresh_refusals++;
      throw new InvalidGrantError("refresh token is invalid, used or revoked");
    }
    refreshTokens.delete(refreshToken); // rotation: each refresh token works once
    stats.refreshes++;
    return issue(client.client_id, entry.scopes);
  },
  async verifyAccessToken(token) {
    const entry = accessTokens.get(token);
    if (!entry || entry.expiresAt <= Date.now()) throw new InvalidTokenError("access token is invalid or expired");
    return { token, clientId: entry.clientId, scopes: entry.scopes, expiresAt: Math.floor(entry.expiresAt / 1000) };
  },
  async revokeToken(client, request) {
    stats.revocations++;
    for (const map of [accessTokens, refreshTokens]) {
      if (map.get(request.token)?.clientId === client.client_id) map.delete(request.token);
    }
  },
};

const http = createServer();
await new Promise((resolve) => http.listen(Number(options.port), "127.0.0.1", resolve));
const port = http.address().port;
const base = new URL(`http://127.0.0.1:${port}/`);
const mcpUrl = new URL("/mcp", base);

const app = express();
app.use("/admin", express.urlencoded({ extended: false }));
app.post("/admin/revoke-all", (_req, res) => { accessTokens.clear(); refreshTokens.clear(); res.json({ ok: true }); });
app.post("/admin/expire-access", (_req, res) => { accessTokens.clear(); res.json({ ok: true }); });
app.post("/admin/token-unavailable", (req, res) => { tokenUnavailable = req.query.on === "1"; res.json({ ok: true }); });
app.get("/admin/stats", (_req, res) => res.json({ ...stats, clients: clients.size }));

app.use("/token", (_req, res, next) => {
  if (!tokenUnavailable) return next();
  stats.token_unavailable++;
  res.status(503).json({ error: "temporarily_unavailable", error_description: "the token service is down for maintenance" });
});

if (options["exact-redirect"]) {
  // The SDK accepts any port for a loopback redirect URI (RFC 8252); many servers compare the whole URI instead.
  app.get("/authorize", (req, res, next) => {
    const client = clients.get(String(req.query.client_id ?? ""));
    if (client && req.query.redirect_uri !== undefined && !client.redirect_uris.includes(String(req.query.redirect_uri))) {
      return res.status(400).json({ error: "invalid_request", error_description: "Unregistered redirect_uri (this server compares redirect URIs exactly)" });
    }
    next();
  });
}

app.post("/login", express.urlencoded({ extended: false }), (req, res) => {
  const params = pending.get(String(req.body.pending ?? ""));
  pending.delete(String(req.body.pending ?? ""));
  if (!params) return res.status(400).type("text").send("unknown or used login page");
  stats.logins++;
  const code = `code_${randomBytes(16).toString("hex")}`;
  codes.set(code, { clientId: params.clientId, challenge: params.codeChallenge, redirectUri: params.redirectUri, scopes: params.scopes });
  const target = new URL(params.redirectUri);
  target.searchParams.set("code", code);
  if (params.state !== undefined) target.searchParams.set("state", params.state);
  res.redirect(302, target.href);
});

app.use(mcpAuthRouter({
  provider,
  issuerUrl: base,
  resourceServerUrl: mcpUrl,
  scopesSupported: ["mcp"],
  resourceName: "OAuth test MCP server",
  authorizationOptions: { rateLimit: false },
  tokenOptions: { rateLimit: false },
  revocationOptions: { rateLimit: false },
  clientRegistrationOptions: { rateLimit: false },
}));

const bearer = requireBearerAuth({ verifier: provider, resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(mcpUrl) });
const sessions = new Map();
app.use("/mcp", (req, res, next) => {
  stats.mcp_requests++;
  res.on("finish", () => { if (res.statusCode === 401) stats.unauthorized++; });
  next();
}, bearer, express.json());
app.all("/mcp", async (req, res) => {
  const id = req.headers["mcp-session-id"];
  let transport = id ? sessions.get(id) : undefined;
  if (id && !transport) return res.status(404).json({ jsonrpc: "2.0", error: { code: -32001, message: "Session not found" }, id: null });
  if (!transport) {
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sid) => sessions.set(sid, transport),
    });
    transport.onclose = () => { if (transport.sessionId) sessions.delete(transport.sessionId); };
    const server = new McpServer({ name: "oauth-test-server", version: "1.0.0" });
    server.registerTool("echo", { description: "Returns the text", inputSchema: { text: z.string() }, annotations: { readOnlyHint: true } },
      async ({ text }) => ({ content: [{ type: "text", text }] }));
    server.registerTool("whoami", { description: "The OAuth client the token was issued to", inputSchema: {}, annotations: { readOnlyHint: true } },
      async (_args, extra) => ({ content: [{ type: "text", text: extra.authInfo?.clientId ?? "" }] }));
    await server.connect(transport);
  }
  await transport.handleRequest(req, res, req.body);
});

http.on("request", app);
console.log(`LISTENING ${port}`);
