// The Node `auth0` package's ManagementClient, exactly as its README shows (client
// credentials; the SDK fetches a token for https://{domain}/api/v2/ itself), with only the
// domain pointed at Tessera: a scripted session of the things an operator does.
import { ManagementClient } from "auth0";

const m = new ManagementClient({
  domain: process.env.TESSERA_DOMAIN,
  clientId: process.env.CLIENT_ID,
  clientSecret: process.env.CLIENT_SECRET,
});
const api = await m.resourceServers.create({
  identifier: "https://api.node-mgmt.test",
  name: "Node API",
  scopes: [{ value: "read:things", description: "Read things" }],
});
const client = await m.clients.create({ name: "Node worker", app_type: "non_interactive", grant_types: ["client_credentials"] });
const grant = await m.clientGrants.create({ client_id: client.client_id, audience: api.identifier, scope: ["read:things"] });
const user = await m.users.create({ connection: "Username-Password-Authentication", email: "node@example.com", password: "a long passphrase 1" });
const emails = [];
for await (const u of await m.users.list({ include_totals: true, per_page: 10 })) emails.push(u.email);
const grants = [];
for await (const g of await m.clientGrants.list({ audience: api.identifier })) grants.push(g.audience);
const clients = [];
for await (const c of await m.clients.list()) clients.push(c.name);
const rotated = await m.clients.rotateSecret(client.client_id);
const before = (await m.keys.signing.list()).filter((k) => k.current).map((k) => k.kid);
const rotation = await m.keys.signing.rotate();
const after = (await m.keys.signing.list()).filter((k) => k.current).map((k) => k.kid);
let refused = null;
try {
  await m.clients.get("no-such-client");
} catch (e) {
  refused = { status: e.statusCode, body: e.body };
}
console.log(JSON.stringify({
  api: api.identifier,
  client_id: client.client_id,
  first_secret: client.client_secret,
  rotated_secret: rotated.client_secret,
  grant_scope: grant.scope,
  user_id: user.user_id,
  emails,
  grants,
  clients,
  current_before: before,
  rotated_kid: rotation.kid,
  current_after: after,
  refused,
}));
