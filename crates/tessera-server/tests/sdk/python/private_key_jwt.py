"""Authlib's OAuth2Session with PrivateKeyJWT client authentication, as Authlib's docs show
("Using JWTs for client authentication"): client_credentials for an API. Authlib signs
assertions that live 3600 s. MODE=keygen makes the client's RSA key (PEM to KEY_FILE) and
prints its public JWK Set for registration; MODE=token gets a token or prints the refusal."""
import base64
import json
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


key_file = os.environ["KEY_FILE"]
if os.environ["MODE"] == "keygen":
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with open(key_file, "wb") as f:
        f.write(pem)
    pub = key.public_key().public_numbers()
    print(json.dumps({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": "authlib-1", "n": b64(pub.n), "e": b64(pub.e)}]}))
else:
    from authlib.integrations.requests_client import OAuth2Session
    from authlib.oauth2.rfc7523 import PrivateKeyJWT

    token_url = os.environ["TESSERA_ISSUER"] + "oauth/token"
    with open(key_file) as f:
        private_key = f.read()
    session = OAuth2Session(os.environ["CLIENT_ID"], private_key, token_endpoint_auth_method=PrivateKeyJWT(token_url))
    try:
        token = session.fetch_token(token_url, grant_type="client_credentials", audience=os.environ["AUDIENCE"])
        print(json.dumps({"token": dict(token)}))
    except Exception as e:  # Authlib's OAuthError carries the RFC 6749 error and description
        print(json.dumps({"error": getattr(e, "error", str(e)), "description": getattr(e, "description", None)}))
