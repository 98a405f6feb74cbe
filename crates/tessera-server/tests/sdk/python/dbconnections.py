"""auth0-python's Database and Passwordless authentication classes and GetToken, exactly as
its README shows: signup and change_password, then a passwordless email code (STEP=start);
and a magic link (send="link" with auth_params) for the test to follow;
passwordless_login with the code the test read from its SMTP sink (STEP=login)."""
import json
import os

from auth0.authentication import Database, GetToken, Passwordless
from auth0.authentication.exceptions import Auth0Error

domain, client_id, secret = os.environ["TESSERA_DOMAIN"], os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"]
connection = "Username-Password-Authentication"
email, otp_email = os.environ["EMAIL"], os.environ["OTP_EMAIL"]


def refusal(call):
    try:
        call()
    except Auth0Error as e:
        return {"status": e.status_code, "error": e.error_code, "description": e.message}
    return None


if os.environ["STEP"] == "start":
    db = Database(domain, client_id)
    user = db.signup(email=email, password=os.environ["PASSWORD"], connection=connection, given_name="Py")
    weak = refusal(lambda: db.signup(email="weak-" + email, password="short", connection=connection))
    duplicate = refusal(lambda: db.signup(email=email, password=os.environ["PASSWORD"], connection=connection))
    changed = db.change_password(email=email, connection=connection)
    Passwordless(domain, client_id, client_secret=secret).email(email=otp_email, send="code")
    link_params = {"redirect_uri": os.environ["CALLBACK"], "response_type": "code", "scope": "openid email", "state": "m1"}
    Passwordless(domain, client_id, client_secret=secret).email(email=os.environ["LINK_EMAIL"], send="link", auth_params=link_params)
    print(json.dumps({"user": user, "weak": weak, "duplicate": duplicate, "changed": changed}))
else:
    token = GetToken(domain, client_id, client_secret=secret)
    wrong = refusal(lambda: token.passwordless_login(username=otp_email, otp="not-it", realm="email", scope="openid email", audience=None))
    data = token.passwordless_login(username=otp_email, otp=os.environ["OTP"], realm="email", scope="openid email", audience=None)
    print(json.dumps({"token": data, "wrong": wrong}))
