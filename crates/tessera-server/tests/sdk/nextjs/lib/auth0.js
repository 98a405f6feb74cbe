// The nextjs-auth0 README's `lib/auth0.ts`: the client reads AUTH0_DOMAIN, AUTH0_CLIENT_ID,
// AUTH0_CLIENT_SECRET, AUTH0_SECRET and APP_BASE_URL from the environment; the test sets
// AUTH0_DOMAIN to Tessera's https://localhost:PORT.
//
// `allowInsecureRequests` is the README's option for testing against a local provider: this
// SDK (unlike Auth0's others) refuses a domain that is localhost or an IP address and drops
// its port unless it is set. It relaxes nothing else that matters here: every request still
// goes over https and verifies Tessera's certificate against the test CA
// (NODE_EXTRA_CA_CERTS).
//
// With API_AUDIENCE set the app also asks for an access token for that API, as the README's
// "Passing authorization parameters" shows.
import { Auth0Client } from "@auth0/nextjs-auth0/server";

export const auth0 = new Auth0Client({
  allowInsecureRequests: true,
  ...(process.env.API_AUDIENCE && {
    authorizationParameters: {
      audience: process.env.API_AUDIENCE,
      scope: "openid profile email offline_access read:things",
    },
  }),
});
