//! KMS over awsJson1_1 (`TrentService.*`, https://docs.aws.amazon.com/kms/latest/APIReference/),
//! with real cryptography for signing keys (ECDSA on NIST P-256, the `p256` crate). Blobs travel as
//! base64 in JSON. `KeyId` is a key id, key ARN, alias name or alias ARN; an unknown one is
//! `NotFoundException`. Keys are per account and region.
//!
//! - CreateKey (API_CreateKey.html): `KeySpec` defaults to `SYMMETRIC_DEFAULT` and `KeyUsage` to
//!   `ENCRYPT_DECRYPT`. An ECC key is for `SIGN_VERIFY` (or `KEY_AGREEMENT`), a symmetric one for
//!   `ENCRYPT_DECRYPT`: another pairing is `ValidationException`. `ECC_NIST_P256` with
//!   `SIGN_VERIFY` gets a new key pair, its signing algorithm `ECDSA_SHA_256`.
//! - CreateAlias (API_CreateAlias.html): `AliasName` starts with `alias/` and not `alias/aws/`
//!   (`ValidationException`), is unique per account and region (`AlreadyExistsException`), and
//!   `TargetKeyId` must exist (`NotFoundException`).
//! - DescribeKey (API_DescribeKey.html): `KeyMetadata`, with `KeySpec`, `KeyUsage` and, for a
//!   signing key, `SigningAlgorithms`.
//! - GetPublicKey (API_GetPublicKey.html): the public key as a DER-encoded X.509
//!   SubjectPublicKeyInfo, with its spec, usage and signing algorithms. A symmetric key has none:
//!   `UnsupportedOperationException`.
//! - Sign (API_Sign.html): the key's `KeyUsage` must be `SIGN_VERIFY` and `SigningAlgorithm` one of
//!   the key's (`InvalidKeyUsageException`). `Message` is 0 to 4096 bytes (`ValidationException`);
//!   with `MessageType: DIGEST` it is the digest, whose length must be the algorithm's (32 bytes for
//!   `ECDSA_SHA_256`), and KMS skips the hashing step. The signature is DER-encoded (ECDSA).
//! - Verify (API_Verify.html): the same rules; a signature that does not verify is
//!   `KMSInvalidSignatureException`, never `SignatureValid: false`.
//!
//! What aws-sim cannot do: RSA, P-384, P-521, secp256k1, SM2, ML-DSA and HMAC key material
//! (CreateKey answers that aws-sim does not implement them, where AWS would make the key); key
//! policies, grants and key states other than `Enabled`. The exact text of AWS's validation
//! messages is not documented; the codes are.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::EncodePublicKey;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ApiError;
use crate::protocol::{Call, Output};
use crate::world::World;

/// The one signing algorithm of an `ECC_NIST_P256` key.
const ECDSA_SHA_256: &str = "ECDSA_SHA_256";

/// An asymmetric key's spec, usage and private key (the sandbox's world file keeps it).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyMaterial {
    /// `ECC_NIST_P256`.
    pub key_spec: String,
    /// `SIGN_VERIFY`.
    pub key_usage: String,
    /// The private scalar, base64.
    pub private: String,
}

/// A key of `account` in `region` found by each of `names` (id, ARN, alias, alias ARN).
pub(crate) fn add_key(w: &mut World, account: &str, region: &str, names: &[String], arn: &str) {
    for n in names {
        w.setup
            .kms_keys
            .insert(format!("{account}/{region}/{n}"), arn.into());
    }
}

fn text<'c>(c: &'c Call, key: &str) -> &'c str {
    c.body.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::client("ValidationException", message)
}

/// The ARN of the key `KeyId` names.
fn key_arn(w: &World, c: &Call) -> Result<String, ApiError> {
    let key = text(c, "KeyId");
    let scope = format!("{}/{}/{key}", c.account, c.region);
    let found = w.setup.kms_keys.get(&scope).cloned();
    found
        .ok_or_else(|| ApiError::client("NotFoundException", format!("Key '{key}' does not exist")))
}

/// A key's metadata as DescribeKey, CreateKey and GetPublicKey answer it.
fn metadata(arn: &str, account: &str, material: Option<&KeyMaterial>) -> Value {
    let id = arn.rsplit('/').next().unwrap_or(arn);
    let (spec, usage) = material.map_or(("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"), |m| {
        (m.key_spec.as_str(), m.key_usage.as_str())
    });
    let mut meta = json!({
        "KeyId": id, "Arn": arn, "Enabled": true, "KeyState": "Enabled", "KeyUsage": usage,
        "KeySpec": spec, "CustomerMasterKeySpec": spec, "KeyManager": "CUSTOMER",
        "Origin": "AWS_KMS", "AWSAccountId": account, "CreationDate": { "$ts": 1_767_225_600 }
    });
    if material.is_some() {
        meta["SigningAlgorithms"] = json!([ECDSA_SHA_256]);
    } else {
        meta["EncryptionAlgorithms"] = json!(["SYMMETRIC_DEFAULT"]);
    }
    meta
}

/// The key material CreateKey makes for `KeySpec` and `KeyUsage` (`None`: a symmetric key).
fn new_material(c: &Call) -> Result<Option<KeyMaterial>, ApiError> {
    let spec = Some(text(c, "KeySpec")).filter(|s| !s.is_empty());
    let usage = Some(text(c, "KeyUsage")).filter(|s| !s.is_empty());
    let (spec, usage) = (
        spec.unwrap_or("SYMMETRIC_DEFAULT"),
        usage.unwrap_or("ENCRYPT_DECRYPT"),
    );
    let ecc = spec.starts_with("ECC_");
    let fits = match usage {
        "ENCRYPT_DECRYPT" => spec == "SYMMETRIC_DEFAULT" || spec.starts_with("RSA_"),
        "SIGN_VERIFY" => ecc || spec.starts_with("RSA_") || spec.starts_with("ML_DSA"),
        "KEY_AGREEMENT" => ecc,
        _ => spec.starts_with("HMAC_"),
    };
    if !fits {
        return Err(invalid(format!(
            "KeyUsage {usage} is not compatible with KeySpec {spec}"
        )));
    }
    match (spec, usage) {
        ("SYMMETRIC_DEFAULT", _) => Ok(None),
        ("ECC_NIST_P256", "SIGN_VERIFY") => {
            let key = SigningKey::random(&mut rand_core::OsRng);
            Ok(Some(KeyMaterial {
                key_spec: spec.into(),
                key_usage: usage.into(),
                private: B64.encode(key.to_bytes()),
            }))
        }
        _ => Err(ApiError::client(
            "UnsupportedOperationException",
            format!("aws-sim does not implement {spec} keys for {usage} (see docs/aws-sim.md)"),
        )),
    }
}

fn create_key(w: &mut World, c: &Call) -> Result<Value, ApiError> {
    let material = new_material(c)?;
    let raw = w.id("", 32);
    let id = format!(
        "{}-{}-{}-{}-{}",
        &raw[..8],
        &raw[8..12],
        &raw[12..16],
        &raw[16..20],
        &raw[20..]
    );
    let arn = format!("arn:aws:kms:{}:{}:key/{id}", c.region, c.account);
    add_key(w, &c.account, &c.region, &[id, arn.clone()], &arn);
    let meta = metadata(&arn, &c.account, material.as_ref());
    if let Some(m) = material {
        w.setup.kms_material.insert(arn, m);
    }
    Ok(json!({ "KeyMetadata": meta }))
}

fn create_alias(w: &mut World, c: &Call) -> Result<Value, ApiError> {
    let (alias, target) = (text(c, "AliasName"), text(c, "TargetKeyId"));
    if !alias.starts_with("alias/") || alias.starts_with("alias/aws/") {
        return Err(invalid(format!(
            "Alias {alias} must begin with alias/ and not with alias/aws/."
        )));
    }
    let scope = format!("{}/{}/", c.account, c.region);
    if w.setup.kms_keys.contains_key(&format!("{scope}{alias}")) {
        return Err(ApiError::client(
            "AlreadyExistsException",
            format!("An alias with the name {alias} already exists"),
        ));
    }
    let found = w.setup.kms_keys.get(&format!("{scope}{target}")).cloned();
    let arn = found.ok_or_else(|| {
        ApiError::client(
            "NotFoundException",
            format!("Key '{target}' does not exist"),
        )
    })?;
    let alias_arn = format!("arn:aws:kms:{}:{}:{alias}", c.region, c.account);
    add_key(
        w,
        &c.account,
        &c.region,
        &[alias.to_string(), alias_arn],
        &arn,
    );
    Ok(json!({}))
}

/// The signing key `KeyId` names, for `op`: it must be a `SIGN_VERIFY` key, and `SigningAlgorithm`
/// one of its algorithms.
fn signing_key<'w>(
    w: &'w World,
    c: &Call,
    op: &str,
) -> Result<(String, &'w KeyMaterial), ApiError> {
    let arn = key_arn(w, c)?;
    let usage_error = |why: String| ApiError::client("InvalidKeyUsageException", why);
    let Some(m) = w
        .setup
        .kms_material
        .get(&arn)
        .filter(|m| m.key_usage == "SIGN_VERIFY")
    else {
        return Err(usage_error(format!(
            "{arn} key usage is not SIGN_VERIFY, so it cannot be used for {op}"
        )));
    };
    let algorithm = text(c, "SigningAlgorithm");
    if algorithm != ECDSA_SHA_256 {
        return Err(usage_error(format!(
            "Signing algorithm {algorithm} is not supported by {arn} ({}): it supports {ECDSA_SHA_256}",
            m.key_spec
        )));
    }
    Ok((arn, m))
}

/// `Message` decoded, checked against its `MessageType`: whether it is a digest, and its bytes.
fn message(c: &Call) -> Result<(bool, Vec<u8>), ApiError> {
    let bytes = B64
        .decode(text(c, "Message"))
        .map_err(|_| invalid("Message is not valid base64"))?;
    if bytes.len() > 4096 {
        return Err(invalid(
            "1 validation error detected: Value at 'message' failed to satisfy constraint: Member must have length less than or equal to 4096",
        ));
    }
    let digest = match text(c, "MessageType") {
        "" | "RAW" => false,
        "DIGEST" if bytes.len() == 32 => true,
        "DIGEST" => {
            return Err(invalid(format!(
                "Digest is invalid length for algorithm {ECDSA_SHA_256}: {} bytes, not 32",
                bytes.len()
            )));
        }
        other => return Err(invalid(format!("MessageType {other} is not RAW or DIGEST"))),
    };
    Ok((digest, bytes))
}

fn private_key(m: &KeyMaterial) -> Result<SigningKey, ApiError> {
    let bytes = B64.decode(&m.private).unwrap_or_default();
    SigningKey::from_slice(&bytes)
        .map_err(|_| ApiError::client("KMSInternalException", "the key material is damaged"))
}

fn sign(w: &World, c: &Call) -> Result<Value, ApiError> {
    let (arn, m) = signing_key(w, c, "Sign")?;
    let (digest, bytes) = message(c)?;
    let key = private_key(m)?;
    let signature: Signature = if digest {
        key.sign_prehash(&bytes)
            .map_err(|_| invalid("the digest cannot be signed"))?
    } else {
        key.sign(&bytes)
    };
    Ok(json!({
        "KeyId": arn,
        "Signature": B64.encode(signature.to_der().as_bytes()),
        "SigningAlgorithm": ECDSA_SHA_256,
    }))
}

fn verify(w: &World, c: &Call) -> Result<Value, ApiError> {
    let (arn, m) = signing_key(w, c, "Verify")?;
    let (digest, bytes) = message(c)?;
    let public = VerifyingKey::from(&private_key(m)?);
    let failed = || {
        ApiError::client(
            "KMSInvalidSignatureException",
            "The signature verification failed",
        )
    };
    let raw = B64.decode(text(c, "Signature")).map_err(|_| failed())?;
    let signature = Signature::from_der(&raw).map_err(|_| failed())?;
    let checked = if digest {
        public.verify_prehash(&bytes, &signature)
    } else {
        public.verify(&bytes, &signature)
    };
    checked.map_err(|_| failed())?;
    Ok(json!({ "KeyId": arn, "SignatureValid": true, "SigningAlgorithm": ECDSA_SHA_256 }))
}

fn get_public_key(w: &World, c: &Call) -> Result<Value, ApiError> {
    let arn = key_arn(w, c)?;
    let Some(m) = w.setup.kms_material.get(&arn) else {
        return Err(ApiError::client(
            "UnsupportedOperationException",
            format!("{arn} is a symmetric key: it has no public key"),
        ));
    };
    let public = VerifyingKey::from(&private_key(m)?);
    let der = public.to_public_key_der().map_err(|_| {
        ApiError::client("KMSInternalException", "the public key cannot be encoded")
    })?;
    Ok(json!({
        "KeyId": arn, "PublicKey": B64.encode(der.as_bytes()), "KeySpec": m.key_spec,
        "CustomerMasterKeySpec": m.key_spec, "KeyUsage": m.key_usage,
        "SigningAlgorithms": [ECDSA_SHA_256],
    }))
}

/// Handle a KMS call.
pub fn kms(w: &mut World, r: &crate::protocol::Req<'_>) -> Result<Output, ApiError> {
    let c = r.call;
    let answer = match c.op.as_str() {
        "CreateKey" => create_key(w, c)?,
        "CreateAlias" => create_alias(w, c)?,
        "DescribeKey" => {
            let arn = key_arn(w, c)?;
            let material = w.setup.kms_material.get(&arn);
            json!({ "KeyMetadata": metadata(&arn, &c.account, material) })
        }
        "GetPublicKey" => get_public_key(w, c)?,
        "Sign" => sign(w, c)?,
        "Verify" => verify(w, c)?,
        op => return Err(ApiError::unsupported("kms", op)),
    };
    Ok(Output::Value(answer))
}
