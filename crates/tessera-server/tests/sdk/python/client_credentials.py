"""auth0-python's GetToken, exactly as its README shows: client_credentials for an API, with
only the domain pointed at Tessera."""
import json
import os

from auth0.authentication import GetToken
from auth0.authentication.exceptions import Auth0Error

token = GetToken(os.environ["TESSERA_DOMAIN"], os.environ["CLIENT_ID"], client_secret=os.environ["CLIENT_SECRET"])
data = token.client_credentials(os.environ["AUDIENCE"])
refused = None
try:
    token.client_credentials("https://not-registered.example")
except Auth0Error as e:
    refused = {"status": e.status_code, "error": e.error_code, "description": e.message}
print(json.dumps({"token": data, "refused": refused}))
