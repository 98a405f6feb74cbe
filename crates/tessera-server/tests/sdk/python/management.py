# auth0-python's Management API client, exactly as its README shows (client credentials;
# the SDK fetches a token for https://{domain}/api/v2/ itself), with only the domain pointed
# at Tessera: a scripted session of the things an operator does.
import json
import os

from auth0.management import ManagementClient
from auth0.management.core.api_error import ApiError

m = ManagementClient(
    domain=os.environ["TESSERA_DOMAIN"],
    client_id=os.environ["CLIENT_ID"],
    client_secret=os.environ["CLIENT_SECRET"],
)
api = m.resource_servers.create(
    identifier="https://api.py-mgmt.test",
    name="Python API",
    scopes=[{"value": "read:things", "description": "Read things"}],
)
client = m.clients.create(name="Python worker", app_type="non_interactive", grant_types=["client_credentials"])
grant = m.client_grants.create(client_id=client.client_id, audience=api.identifier, scope=["read:things"])
user = m.users.create(connection="Username-Password-Authentication", email="py@example.com", password="a long passphrase 1")
pager = m.users.list(include_totals=True, per_page=10)
emails = [u.email for u in pager]
grants = [g.audience for g in m.client_grants.list(audience=api.identifier)]
rotated = m.clients.rotate_secret(client.client_id)
before = [k.kid for k in m.keys.signing.list() if k.current]
rotation = m.keys.signing.rotate()
after = [k.kid for k in m.keys.signing.list() if k.current]
refused = None
try:
    m.clients.get("no-such-client")
except ApiError as e:
    refused = {"status": e.status_code, "body": e.body}
print(json.dumps({
    "api": api.identifier,
    "client_id": client.client_id,
    "first_secret": client.client_secret,
    "rotated_secret": rotated.client_secret,
    "grant_scope": grant.scope,
    "user_id": user.user_id,
    "emails": emails,
    "grants": grants,
    "current_before": before,
    "rotated_kid": rotation.kid,
    "current_after": after,
    "refused": refused,
}))
