// express-openid-connect, as its README shows, in a real express app on a loopback port:
// with its defaults (response_type id_token, response_mode form_post) or, with MODE=code,
// the code flow (authorizationParams.response_type 'code' and a clientSecret). A login
// through Tessera's hosted page, then req.oidc.isAuthenticated() / req.oidc.user, then
// logout.
import express from "express";
import { auth } from "express-openid-connect";
import { Browser, form, location } from "./browser_jar.mjs";

const port = Number(process.env.APP_PORT);
const baseURL = `http://127.0.0.1:${port}`;
const code = process.env.MODE === "code";
const config = {
  issuerBaseURL: process.env.TESSERA_ISSUER,
  baseURL,
  clientID: process.env.CLIENT_ID,
  secret: "a long, randomly-generated string stored in env",
  authRequired: false,
};
if (code) {
  config.clientSecret = process.env.CLIENT_SECRET;
  config.authorizationParams = { response_type: "code" };
}
const app = express();
app.use(auth(config));
app.get("/me", (req, res) => res.json({ authenticated: req.oidc.isAuthenticated(), user: req.oidc.user ?? null }));
const server = await new Promise((resolve) => {
  const s = app.listen(port, "127.0.0.1", () => resolve(s));
});

const b = new Browser();
const me = async () => (await b.get(`${baseURL}/me`)).json();
const before = await me();
// /login → Tessera /authorize → the hosted login page.
const login = await b.get(`${baseURL}/login`);
const authorizeUrl = location(login, baseURL);
const authorize = await b.get(authorizeUrl);
const loginPage = location(authorize, authorizeUrl);
const page = form(await (await b.get(loginPage)).text());
const submitted = await b.post(new URL(page.action ?? loginPage, loginPage).toString(), {
  ...page.fields,
  username: process.env.EMAIL,
  password: process.env.PASSWORD,
});
// The authorization response: an auto-submitted form (form_post) or a redirect (query).
let callback;
let delivered;
if (submitted.status === 200) {
  const posted = form(await submitted.text());
  delivered = Object.keys(posted.fields).sort();
  callback = await b.post(posted.action, posted.fields);
} else {
  const to = location(submitted, loginPage);
  delivered = [...new URL(to).searchParams.keys()].sort();
  callback = await b.get(to);
}
const callbackStatus = callback.status;
const after = await me();
const logout = await b.get(`${baseURL}/logout`);
const loggedOut = await me();
server.close();
console.log(
  JSON.stringify({
    authorize: Object.fromEntries(new URL(authorizeUrl).searchParams),
    delivered,
    callback_status: callbackStatus,
    before,
    after,
    logout_status: logout.status,
    logged_out: loggedOut,
  }),
);
