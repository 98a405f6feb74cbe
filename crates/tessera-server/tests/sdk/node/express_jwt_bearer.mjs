// express-oauth2-jwt-bearer, as its README shows, protecting an express API with
// issuerBaseURL + audience: a Tessera access token for the API is accepted; one for another
// API, a token with a broken signature and garbage get the SDK's 401.
import express from "express";
import { auth } from "express-oauth2-jwt-bearer";

const issuer = process.env.TESSERA_ISSUER;
const app = express();
app.get("/api/things", auth({ issuerBaseURL: issuer, audience: process.env.AUDIENCE }), (req, res) =>
  res.json({ sub: req.auth.payload.sub, scope: req.auth.payload.scope }),
);
app.use((err, req, res, next) =>
  res.status(err.status ?? 500).json({ status: err.status, code: err.code ?? null, challenge: err.headers?.["WWW-Authenticate"] ?? null }),
);
const server = await new Promise((resolve) => {
  const s = app.listen(0, "127.0.0.1", () => resolve(s));
});
const api = `http://127.0.0.1:${server.address().port}/api/things`;

const token = async (audience) => {
  const res = await fetch(new URL("oauth/token", issuer), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: process.env.CLIENT_ID,
      client_secret: process.env.CLIENT_SECRET,
      audience,
    }),
  });
  if (res.status !== 200) throw new Error(`token for ${audience}: ${res.status} ${await res.text()}`);
  return (await res.json()).access_token;
};
const call = async (bearer) => {
  const res = await fetch(api, { headers: bearer === null ? {} : { authorization: `Bearer ${bearer}` } });
  return { status: res.status, body: await res.json() };
};
const good = await token(process.env.AUDIENCE);
const [h, p, s] = good.split(".");
const broken = `${h}.${p}.${s.slice(0, -4)}${s.slice(-4) === "AAAA" ? "BBBB" : "AAAA"}`;
const out = {
  accepted: await call(good),
  wrong_audience: await call(await token(process.env.OTHER_AUDIENCE)),
  bad_signature: await call(broken),
  garbage: await call("not-a-jwt"),
  missing: await call(null),
};
server.close();
console.log(JSON.stringify(out));
