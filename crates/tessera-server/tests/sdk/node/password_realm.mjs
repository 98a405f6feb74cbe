// The Node `auth0` package's AuthenticationClient, as its README shows: the password-realm
// grant (oauth.passwordGrant with a realm) for an API, then each refusal as the SDK parses it.
import { AuthenticationClient } from "auth0/legacy";

const domain = process.env.TESSERA_DOMAIN;
const auth = new AuthenticationClient({ domain, clientId: process.env.CLIENT_ID, clientSecret: process.env.CLIENT_SECRET });
const grant = (client, username, password) =>
  client.oauth.passwordGrant({
    username,
    password,
    realm: "Username-Password-Authentication",
    audience: process.env.AUDIENCE,
    scope: "openid profile email offline_access read:things",
  });
const refusal = async (f) => {
  try {
    await f();
    return null;
  } catch (e) {
    return { status: e.statusCode, error: e.error, description: e.error_description };
  }
};
const { data } = await grant(auth, process.env.EMAIL, process.env.PASSWORD);
const other = new AuthenticationClient({ domain, clientId: process.env.OTHER_ID, clientSecret: process.env.OTHER_SECRET });
const refused = {
  wrong_password: await refusal(() => grant(auth, process.env.EMAIL, "not the password")),
  blocked_user: await refusal(() => grant(auth, process.env.BLOCKED_EMAIL, process.env.PASSWORD)),
  client_without_grant: await refusal(() => grant(other, process.env.EMAIL, process.env.PASSWORD)),
};
console.log(JSON.stringify({ token: data, refused }));
