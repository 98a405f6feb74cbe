# The Management API's OpenAPI document against a live tessera serve (issue 18): first
# checked to be a valid OpenAPI 3.1 document (openapi-spec-validator), then schemathesis
# drives every operation with generated requests, valid and invalid, and checks each
# answer: never a 5xx, a documented status code and content type, and a body that
# matches the documented schema. Prints one JSON object: the validation result and
# schemathesis's exit code with the tail of its report.
import json
import os
import subprocess
import sys
import urllib.request

from openapi_spec_validator import validate
from openapi_spec_validator.versions import consts, get_spec_version

location = os.environ["TESSERA_ISSUER"] + "api/v2/openapi.json"
with urllib.request.urlopen(location) as resp:
    doc = json.load(resp)
validate(doc)  # raises on an invalid document
version = str(get_spec_version(doc))

cmd = [
    os.path.join(os.path.dirname(sys.executable), "schemathesis"),
    "run",
    location,
    "--checks",
    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
    "--max-examples",
    os.environ.get("MAX_EXAMPLES", "20"),
    "--phases",
    os.environ.get("PHASES", "examples,coverage,fuzzing"),
    "--seed",
    os.environ.get("SEED", "18"),
    "--header",
    "Authorization: Bearer " + os.environ["TOKEN"],
    "--workers",
    "2",
    "--request-timeout",
    "20",
    "--generation-database",
    "none",
    "--no-color",
    "--output-truncate",
    "false",
]
for op in filter(None, os.environ.get("EXCLUDE_OPERATION_IDS", "").split(",")):
    cmd += ["--exclude-operation-id", op]
for op in filter(None, os.environ.get("INCLUDE_OPERATION_IDS", "").split(",")):
    cmd += ["--include-operation-id", op]
run = subprocess.run(cmd, capture_output=True, text=True, timeout=int(os.environ.get("TIMEOUT", "240")))
sys.stderr.write(run.stdout + run.stderr)
print(json.dumps({"openapi": doc.get("openapi"), "validator": version, "exit": run.returncode, "report": (run.stdout + run.stderr)[-60000:]}))
