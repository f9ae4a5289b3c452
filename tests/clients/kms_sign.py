"""boto3 drives aws-sim's KMS signing keys as AWS answers them (API_CreateKey, API_Sign,
API_Verify, API_GetPublicKey), and Python's `cryptography` (not the library aws-sim signs with)
verifies the signature with the public key GetPublicKey gives.

Usage: kms_sign.py ENDPOINT_URL
"""

import hashlib
import sys

import boto3
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


def refused(call, code):
    try:
        call()
    except ClientError as e:
        got = e.response["Error"]["Code"]
        assert got == code, f"{got} instead of {code}"
        return
    raise AssertionError(f"no {code}")


def main(url):
    kms = boto3.client(
        "kms",
        endpoint_url=url,
        region_name="eu-west-2",
        aws_access_key_id="123456789012",
        aws_secret_access_key="x",
    )
    key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert key["KeySpec"] == "ECC_NIST_P256", key
    assert key["SigningAlgorithms"] == ["ECDSA_SHA_256"], key
    kms.create_alias(AliasName="alias/provenance", TargetKeyId=key["KeyId"])

    message = b'{"_type":"https://in-toto.io/Statement/v1"}'
    sign = dict(KeyId="alias/provenance", SigningAlgorithm="ECDSA_SHA_256")
    signature = kms.sign(Message=message, MessageType="RAW", **sign)["Signature"]
    der = kms.get_public_key(KeyId=key["Arn"])["PublicKey"]
    public = serialization.load_der_public_key(der)
    assert isinstance(public.curve, ec.SECP256R1), public.curve
    public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    try:
        public.verify(signature, message + b" ", ec.ECDSA(hashes.SHA256()))
        raise AssertionError("a changed message verified")
    except InvalidSignature:
        pass

    digest = hashlib.sha256(message).digest()
    by_digest = kms.sign(Message=digest, MessageType="DIGEST", **sign)["Signature"]
    public.verify(by_digest, message, ec.ECDSA(hashes.SHA256()))

    ok = kms.verify(Message=message, Signature=signature, **sign)
    assert ok["SignatureValid"] is True, ok
    refused(lambda: kms.verify(Message=message + b" ", Signature=signature, **sign),
            "KMSInvalidSignatureException")
    refused(lambda: kms.sign(Message=b"x" * 4097, **sign), "ValidationException")
    refused(lambda: kms.sign(Message=digest[:20], MessageType="DIGEST", **sign),
            "ValidationException")
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    refused(lambda: kms.sign(KeyId=symmetric, Message=message, SigningAlgorithm="ECDSA_SHA_256"),
            "InvalidKeyUsageException")
    refused(lambda: kms.get_public_key(KeyId=symmetric), "UnsupportedOperationException")
    print("every KMS call as AWS answers it")


if __name__ == "__main__":
    main(sys.argv[1])
