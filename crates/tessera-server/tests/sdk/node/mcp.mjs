// An MCP client end to end (issue 21): the official TypeScript MCP SDK's client, with its
// OAuth provider interface implemented as its README shows, against a small MCP server made
// with the same SDK that checks bearer tokens against Tessera's JWKS and publishes RFC 9728
// protected-resource metadata. The SDK discovers Tessera from that metadata and identifies
// itself: with CLIENT_METADATA_URL set (and Tessera advertising client ID metadata
// documents) by that URL as its client_id, else by registering (RFC 7591); it sends the user through
// the hosted login and consent pages (followed here with a cookie-keeping HTTP client, as a
// browser would), calls a tool, and refreshes its token when the server refuses the old one.
import express from 'express';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const issuer = process.env.TESSERA_ISSUER;
const port = Number(process.env.MCP_PORT);
const resource = `http://127.0.0.1:${port}/mcp`;
const metadataUrl = `http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp`;
const scope = 'tools:call offline_access';
const jwks = createRemoteJWKSet(new URL('.well-known/jwks.json', issuer));

// ---- The MCP server (resource server) ----
const app = express();
app.use(express.json());
const prm = { resource, authorization_servers: [issuer], scopes_supported: scope.split(' '), bearer_methods_supported: ['header'] };
app.get('/.well-known/oauth-protected-resource/mcp', (_req, res) => res.json(prm));
app.get('/.well-known/oauth-protected-resource', (_req, res) => res.json(prm));
const seenTokens = [];
async function requireToken(req, res, next) {
  const challenge = `Bearer resource_metadata="${metadataUrl}", scope="${scope}"`;
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  if (!m) return res.status(401).set('WWW-Authenticate', challenge).json({ error: 'invalid_token' });
  try {
    const { payload, protectedHeader } = await jwtVerify(m[1], jwks, { issuer, audience: resource });
    if (protectedHeader.typ !== 'at+jwt') throw new Error('not an access token');
    const scopes = String(payload.scope ?? '').split(' ');
    if (!scopes.includes('tools:call')) {
      // RFC 6750 §3.1: the client may step up with the scope named here.
      return res.status(403).set('WWW-Authenticate', `Bearer error="insufficient_scope", scope="${scope}", resource_metadata="${metadataUrl}"`).end();
    }
    req.claims = payload;
    seenTokens.push(m[1]);
    next();
  } catch (e) {
    res.status(401).set('WWW-Authenticate', `Bearer error="invalid_token", resource_metadata="${metadataUrl}"`).json({ error: 'invalid_token' });
  }
}
app.post('/mcp', requireToken, async (req, res) => {
  const server = new McpServer({ name: 'tessera-test-mcp', version: '1.0.0' });
  server.registerTool('whoami', { description: 'The subject and scope of the caller' }, async () => ({
    content: [{ type: 'text', text: JSON.stringify({ sub: req.claims.sub, scope: req.claims.scope, client_id: req.claims.client_id }) }],
  }));
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on('close', () => { transport.close(); server.close(); });
  await server.connect(transport);
  await transport.handleRequest(req, res, req.body);
});
const listener = await new Promise((resolve) => { const l = app.listen(port, '127.0.0.1', () => resolve(l)); });

// ---- The user: follows redirects and forms, keeping cookies ----
const redirectUrl = 'http://127.0.0.1:9/mcp-callback';
async function signIn(authorizationUrl) {
  const jar = new Map();
  const send = async (url, init = {}) => {
    const headers = { ...(init.headers ?? {}), cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') };
    const r = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of r.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      jar.set(pair.slice(0, i), pair.slice(i + 1));
    }
    return r;
  };
  const field = (html, name) => {
    const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
    if (!m) throw new Error(`no ${name} field in ${html}`);
    return m[1].replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#39;/g, "'");
  };
  const post = (url, form) => send(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
  let r = await send(authorizationUrl);
  let to = new URL(r.headers.get('location'), authorizationUrl);
  let html = await (await send(to)).text();
  r = await post(new URL('u/login', issuer), { txn: field(html, 'txn'), csrf: field(html, 'csrf'), username: process.env.USER_EMAIL, password: process.env.USER_PASSWORD });
  to = new URL(r.headers.get('location'), issuer);
  if (!to.pathname.endsWith('/u/consent')) throw new Error(`a dynamic client must be asked consent for, got ${to}`);
  html = await (await send(to)).text();
  const consentShown = html;
  r = await post(new URL('u/consent', issuer), { txn: field(html, 'txn'), csrf: field(html, 'csrf'), decision: 'allow' });
  const back = new URL(r.headers.get('location'));
  if (back.origin + back.pathname !== redirectUrl) throw new Error(`unexpected redirect ${back}`);
  return { code: back.searchParams.get('code'), iss: back.searchParams.get('iss'), consentShown };
}

// ---- The MCP client's OAuth provider (the SDK's OAuthClientProvider interface) ----
class Provider {
  constructor() { this.info = undefined; this.saved = undefined; this.verifier = undefined; this.authUrl = undefined; }
  get redirectUrl() { return redirectUrl; }
  // The SDK uses this URL as the client_id when the server advertises
  // client_id_metadata_document_supported (draft-ietf-oauth-client-id-metadata-document).
  get clientMetadataUrl() { return process.env.CLIENT_METADATA_URL || undefined; }
  get clientMetadata() {
    return {
      client_name: 'MCP SDK test client',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
    };
  }
  clientInformation() { return this.info; }
  saveClientInformation(info) { this.info = info; }
  tokens() { return this.saved; }
  saveTokens(t) { this.saved = t; }
  redirectToAuthorization(url) { this.authUrl = url; }
  saveCodeVerifier(v) { this.verifier = v; }
  codeVerifier() { return this.verifier; }
}

const out = {};
try {
  const provider = new Provider();
  const mcpUrl = new URL(resource);
  let transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
  let client = new Client({ name: 'tessera-mcp-test', version: '1.0.0' });
  try {
    await client.connect(transport);
    throw new Error('connected without a token');
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  out.registered = provider.info;
  out.authorize = Object.fromEntries(new URL(provider.authUrl).searchParams);
  const login = await signIn(provider.authUrl);
  out.iss = login.iss;
  out.consent_names_client = login.consentShown.includes('MCP SDK test client');
  await transport.finishAuth(login.code);
  out.first_tokens = { ...provider.saved };
  transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
  client = new Client({ name: 'tessera-mcp-test', version: '1.0.0' });
  await client.connect(transport);
  const tools = await client.listTools();
  out.tools = tools.tools.map((t) => t.name);
  const called = await client.callTool({ name: 'whoami', arguments: {} });
  out.whoami = JSON.parse(called.content[0].text);
  await client.close();
  // The server refuses a token it cannot verify: the SDK refreshes and retries.
  provider.saveTokens({ ...provider.saved, access_token: 'not-a-valid-token' });
  transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
  client = new Client({ name: 'tessera-mcp-test', version: '1.0.0' });
  await client.connect(transport);
  const again = await client.callTool({ name: 'whoami', arguments: {} });
  out.whoami_after_refresh = JSON.parse(again.content[0].text);
  out.refreshed = provider.saved.access_token !== out.first_tokens.access_token && provider.saved.access_token !== 'not-a-valid-token';
  out.refresh_rotated = provider.saved.refresh_token !== out.first_tokens.refresh_token;
  await client.close();
  out.tokens_seen = seenTokens.length;
} catch (e) {
  out.error = String(e?.stack ?? e);
} finally {
  listener.close();
}
console.log(JSON.stringify(out));
process.exit(0);
