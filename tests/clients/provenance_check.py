"""An independent check of recipe's supply-chain evidence: Python's `cryptography` (not the Rust
crates that signed) verifies a DSSE envelope's signature over its pre-authentication encoding,
and cyclonedx-python-lib validates an SBOM against the CycloneDX 1.5 JSON schema.

Usage: provenance_check.py ENVELOPE.json PUBLIC_KEY.der SBOM.json
Prints "verified" and the statement's predicate type, or fails.
"""

import base64
import json
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator


def pae(payload_type: bytes, payload: bytes) -> bytes:
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(payload), payload)


def main(envelope_path, key_path, sbom_path):
    envelope = json.load(open(envelope_path))
    key = serialization.load_der_public_key(open(key_path, "rb").read())
    payload = base64.b64decode(envelope["payload"])
    message = pae(envelope["payloadType"].encode(), payload)
    signature = base64.b64decode(envelope["signatures"][0]["sig"])
    key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    statement = json.loads(payload)
    errors = JsonStrictValidator(SchemaVersion.V1_5).validate_str(open(sbom_path).read())
    assert errors is None, errors
    print("verified", statement["predicateType"])


if __name__ == "__main__":
    main(*sys.argv[1:4])
