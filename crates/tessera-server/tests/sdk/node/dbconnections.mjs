// The Node `auth0` package's AuthenticationClient (`auth0/legacy` in v7), exactly as its README
// shows: database.signUp and database.changePassword, then passwordless.sendEmail with a code
// and with a magic link (send: "link", authParams) for the test to follow (STEP=start); passwordless.loginWithEmail with the code the test read from its SMTP sink
// (STEP=login). Only the domain is pointed at Tessera.
import { AuthenticationClient } from "auth0/legacy";

const connection = "Username-Password-Authentication";
const auth = new AuthenticationClient({
  domain: process.env.TESSERA_DOMAIN,
  clientId: process.env.CLIENT_ID,
  clientSecret: process.env.CLIENT_SECRET,
});
const refusal = async (call) => {
  try {
    await call();
    return null;
  } catch (e) {
    return { status: e.statusCode, error: e.error, body: JSON.parse(e.body) };
  }
};

if (process.env.STEP === "start") {
  const { data: user } = await auth.database.signUp({ email: process.env.EMAIL, password: process.env.PASSWORD, connection });
  const weak = await refusal(() => auth.database.signUp({ email: `weak-${process.env.EMAIL}`, password: "short", connection }));
  const duplicate = await refusal(() => auth.database.signUp({ email: process.env.EMAIL, password: process.env.PASSWORD, connection }));
  const { data: changed } = await auth.database.changePassword({ email: process.env.EMAIL, connection });
  await auth.passwordless.sendEmail({ email: process.env.OTP_EMAIL, send: "code" });
  const authParams = { redirect_uri: process.env.CALLBACK, response_type: "code", scope: "openid email", state: "m1" };
  await auth.passwordless.sendEmail({ email: process.env.LINK_EMAIL, send: "link", authParams });
  console.log(JSON.stringify({ user, weak, duplicate, changed }));
} else {
  const wrong = await refusal(() => auth.passwordless.loginWithEmail({ email: process.env.OTP_EMAIL, code: "not-it" }));
  const { data } = await auth.passwordless.loginWithEmail({ email: process.env.OTP_EMAIL, code: process.env.OTP, scope: "openid email" });
  console.log(JSON.stringify({ token: data, wrong }));
}
