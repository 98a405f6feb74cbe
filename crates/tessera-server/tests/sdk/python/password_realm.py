"""auth0-python's GetToken.login, as its README shows: the password-realm grant for an API,
then each refusal as the SDK raises it."""
import json
import os

from auth0.authentication import GetToken
from auth0.authentication.exceptions import Auth0Error

domain = os.environ["TESSERA_DOMAIN"]
token = GetToken(domain, os.environ["CLIENT_ID"], client_secret=os.environ["CLIENT_SECRET"])
other = GetToken(domain, os.environ["OTHER_ID"], client_secret=os.environ["OTHER_SECRET"])


def login(client, username, password):
    return client.login(
        username=username,
        password=password,
        realm="Username-Password-Authentication",
        audience=os.environ["AUDIENCE"],
        scope="openid profile email offline_access read:things",
    )


def refusal(f):
    try:
        f()
        return None
    except Auth0Error as e:
        return {"status": e.status_code, "error": e.error_code, "description": e.message}


data = login(token, os.environ["EMAIL"], os.environ["PASSWORD"])
refused = {
    "wrong_password": refusal(lambda: login(token, os.environ["EMAIL"], "not the password")),
    "blocked_user": refusal(lambda: login(token, os.environ["BLOCKED_EMAIL"], os.environ["PASSWORD"])),
    "client_without_grant": refusal(lambda: login(other, os.environ["EMAIL"], os.environ["PASSWORD"])),
}
print(json.dumps({"token": data, "refused": refused}))
