//! DSSE envelopes (https://github.com/secure-systems-lab/dsse, "envelope.md" and "protocol.md"):
//! the signature is over the pre-authentication encoding of the payload type and the payload,
//! `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, so a signature can never
//! be taken for one over another type. Signatures here are ECDSA P-256 with SHA-256, DER-encoded,
//! as AWS KMS makes them (`ECDSA_SHA_256`); the key id is the SHA-256 of the public key's DER.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// The payload type of an in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// A signed envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Envelope {
    /// What the payload is.
    pub payload_type: String,
    /// The payload, base64.
    pub payload: String,
    /// Its signatures.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeSignature {
    /// Which key signed (the SHA-256 of its public key's DER, hex; or a KMS key ARN).
    pub keyid: String,
    /// The signature, base64.
    pub sig: String,
}

/// The bytes a signer signs: DSSE's pre-authentication encoding of `payload_type` and `payload`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// An envelope of `payload`, signed: `signature` is over [`pae`] of it.
    pub fn signed(payload_type: &str, payload: &[u8], keyid: &str, signature: &[u8]) -> Envelope {
        Envelope {
            payload_type: payload_type.into(),
            payload: B64.encode(payload),
            signatures: vec![EnvelopeSignature {
                keyid: keyid.into(),
                sig: B64.encode(signature),
            }],
        }
    }

    /// The payload, once a signature by `key` (DER SubjectPublicKeyInfo) verifies over it.
    pub fn verify(&self, key: &[u8]) -> Result<Vec<u8>, Error> {
        let public = VerifyingKey::from_public_key_der(key)
            .map_err(|e| Error::Key(format!("not a P-256 public key: {e}")))?;
        let payload = B64
            .decode(&self.payload)
            .map_err(|_| Error::Envelope("the payload is not base64".into()))?;
        let message = pae(&self.payload_type, &payload);
        let verified = self.signatures.iter().any(|s| {
            let raw = B64.decode(&s.sig).unwrap_or_default();
            Signature::from_der(&raw).is_ok_and(|sig| public.verify(&message, &sig).is_ok())
        });
        if verified {
            Ok(payload)
        } else {
            Err(Error::Signature(format!(
                "no signature of the {} envelope verifies with the key {}",
                self.payload_type,
                key_id(key)
            )))
        }
    }
}

/// The public key (DER SubjectPublicKeyInfo) in a PEM text: a `PUBLIC KEY`, or the public half of
/// a `PRIVATE KEY` (PKCS#8, P-256).
pub fn public_der_from_pem(pem: &str) -> Result<Vec<u8>, Error> {
    if pem.contains("PRIVATE KEY") {
        return LocalKey::from_pem(pem).map(|k| k.public_der());
    }
    let key = VerifyingKey::from_public_key_pem(pem)
        .map_err(|e| Error::Key(format!("not a P-256 public key: {e}")))?;
    key.to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .map_err(|e| Error::Key(e.to_string()))
}

/// A key's id: the SHA-256 of its public key's DER, hex.
pub fn key_id(public_der: &[u8]) -> String {
    let digest = Sha256::digest(public_der);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A local signing key (ECDSA P-256), read from a PKCS#8 PEM file's text.
pub struct LocalKey {
    key: SigningKey,
}

impl LocalKey {
    /// The key in `pem` (`-----BEGIN PRIVATE KEY-----`, P-256).
    pub fn from_pem(pem: &str) -> Result<LocalKey, Error> {
        let key = SigningKey::from_pkcs8_pem(pem)
            .map_err(|e| Error::Key(format!("not a PKCS#8 P-256 private key: {e}")))?;
        Ok(LocalKey { key })
    }

    /// A new random key (the sandbox's own signing key).
    pub fn generate() -> LocalKey {
        LocalKey {
            key: SigningKey::random(&mut rand_core::OsRng),
        }
    }

    /// The key as PKCS#8 PEM text, to keep in a file only its owner reads.
    pub fn to_pkcs8_pem(&self) -> String {
        use p256::pkcs8::EncodePrivateKey;
        let pem = self.key.to_pkcs8_pem(Default::default());
        pem.map(|p| p.to_string()).unwrap_or_default()
    }

    /// A key made from 32 secret bytes (tests, and keys kept elsewhere).
    pub fn from_bytes(secret: &[u8]) -> Result<LocalKey, Error> {
        let key = SigningKey::from_slice(secret).map_err(|e| Error::Key(e.to_string()))?;
        Ok(LocalKey { key })
    }

    /// Its public key, DER SubjectPublicKeyInfo.
    pub fn public_der(&self) -> Vec<u8> {
        let public = VerifyingKey::from(&self.key);
        public
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default()
    }

    /// `payload` in an envelope signed with this key.
    pub fn sign(&self, payload_type: &str, payload: &[u8]) -> Envelope {
        let signature: Signature = self.key.sign(&pae(payload_type, payload));
        let der = signature.to_der();
        Envelope::signed(
            payload_type,
            payload,
            &key_id(&self.public_der()),
            der.as_bytes(),
        )
    }
}
