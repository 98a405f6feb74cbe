// The Node `auth0` package's AuthenticationClient (v7 ships it as `auth0/legacy`), exactly as
// its README shows: client_credentials for an API, with only the domain pointed at Tessera.
import { AuthenticationClient } from "auth0/legacy";

const auth = new AuthenticationClient({
  domain: process.env.TESSERA_DOMAIN,
  clientId: process.env.CLIENT_ID,
  clientSecret: process.env.CLIENT_SECRET,
});
const { data } = await auth.oauth.clientCredentialsGrant({ audience: process.env.AUDIENCE });
let refused = null;
try {
  await auth.oauth.clientCredentialsGrant({ audience: "https://not-registered.example" });
} catch (e) {
  refused = { status: e.statusCode, error: e.error, description: e.error_description };
}
console.log(JSON.stringify({ token: data, refused }));
