//! KMS signing keys with real cryptography, driven by the Rust SDK: a P-256 key signs raw messages
//! and digests, its public key (GetPublicKey) verifies the signature in `ring` (not the library
//! that signed), Verify refuses a changed message with `KMSInvalidSignatureException`, and the
//! rules of API_CreateKey and API_Sign are kept.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MessageType, SigningAlgorithmSpec as Alg};
use sha2::Digest;

const REGION: &str = "eu-west-2";

async fn kms(s: &aws_sim::Sim) -> aws_sdk_kms::Client {
    use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(s.url())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("123456789012", "x", None, None, "t"))
        .build();
    aws_sdk_kms::Client::from_conf(conf)
}

/// A new P-256 signing key's id.
async fn signing_key(kms: &aws_sdk_kms::Client) -> String {
    let made = kms
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap();
    let meta = made.key_metadata().unwrap();
    assert_eq!(meta.signing_algorithms(), [Alg::EcdsaSha256]);
    meta.key_id().to_string()
}

/// KMS's signature of a SHA-256 `digest` (`MessageType: DIGEST`).
async fn sign_digest(
    kms: &aws_sdk_kms::Client,
    key: &str,
    digest: Vec<u8>,
) -> aws_sdk_kms::operation::sign::SignOutput {
    let call = kms.sign().key_id(key).message(Blob::new(digest));
    let call = call.message_type(MessageType::Digest);
    call.signing_algorithm(Alg::EcdsaSha256)
        .send()
        .await
        .unwrap()
}

fn code<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

#[tokio::test]
async fn a_p256_signature_verifies_outside_kms_with_the_public_key() {
    let s = crate::common::sim().await;
    let kms = kms(&s).await;
    let key = signing_key(&kms).await;
    let message = b"in-toto statement bytes".to_vec();
    let signed = kms
        .sign()
        .key_id(&key)
        .message(Blob::new(message.clone()))
        .message_type(MessageType::Raw)
        .signing_algorithm(Alg::EcdsaSha256)
        .send()
        .await
        .unwrap();
    let signature = signed.signature().unwrap().as_ref().to_vec();
    let public = kms.get_public_key().key_id(&key).send().await.unwrap();
    assert_eq!(public.key_spec(), Some(&KeySpec::EccNistP256));
    let spki = public.public_key().unwrap().as_ref();
    // A P-256 SubjectPublicKeyInfo ends with the 65-byte uncompressed point (0x04, x, y).
    let point = &spki[spki.len() - 65..];
    assert_eq!(point[0], 4, "an uncompressed point");
    let ring_key =
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, point);
    ring_key
        .verify(&message, &signature)
        .expect("ring verifies what KMS signed");
    assert!(ring_key.verify(b"another message", &signature).is_err());

    // A digest signed with MessageType DIGEST verifies as the raw message it is the digest of.
    let digest = sha2::Sha256::digest(&message).to_vec();
    let by_digest = sign_digest(&kms, &key, digest).await;
    let sig2 = by_digest.signature().unwrap().as_ref();
    ring_key
        .verify(&message, sig2)
        .expect("the digest's signature");
    s.stop().await;
}

#[tokio::test]
async fn verify_refuses_a_changed_message_and_sign_keeps_the_api_rules() {
    let s = crate::common::sim().await;
    let kms = kms(&s).await;
    let key = signing_key(&kms).await;
    let sign = |message: Vec<u8>, kind: MessageType| {
        kms.sign()
            .key_id(&key)
            .message(Blob::new(message))
            .message_type(kind)
            .signing_algorithm(Alg::EcdsaSha256)
            .send()
    };
    let signed = sign(b"payload".to_vec(), MessageType::Raw).await.unwrap();
    let signature = signed.signature().unwrap().clone();
    let verify = |message: &[u8]| {
        kms.verify()
            .key_id(&key)
            .message(Blob::new(message.to_vec()))
            .signature(signature.clone())
            .signing_algorithm(Alg::EcdsaSha256)
            .send()
    };
    assert!(verify(b"payload").await.unwrap().signature_valid());
    let changed = verify(b"payload!").await;
    assert!(
        code(&changed).contains("KMSInvalidSignatureException"),
        "{changed:?}"
    );

    let too_long = sign(vec![0; 4097], MessageType::Raw).await;
    assert!(
        code(&too_long).contains("ValidationException"),
        "{too_long:?}"
    );
    let short_digest = sign(vec![0; 20], MessageType::Digest).await;
    assert!(
        code(&short_digest).contains("ValidationException"),
        "{short_digest:?}"
    );

    let symmetric = kms.create_key().send().await.unwrap();
    let symmetric = symmetric.key_metadata().unwrap().key_id();
    let by_symmetric = kms
        .sign()
        .key_id(symmetric)
        .message(Blob::new(b"x".to_vec()))
        .signing_algorithm(Alg::EcdsaSha256)
        .send()
        .await;
    assert!(code(&by_symmetric).contains("InvalidKeyUsageException"));
    let no_public = kms.get_public_key().key_id(symmetric).send().await;
    assert!(code(&no_public).contains("UnsupportedOperationException"));
    let ecc_encrypt = kms
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .send()
        .await;
    assert!(code(&ecc_encrypt).contains("ValidationException"));
    s.stop().await;
}

/// A DSSE envelope signed by KMS (a digest of its pre-authentication encoding, as a large statement
/// needs) verifies with recipe's own verifier and the key's public key; a changed payload does not.
#[tokio::test]
async fn a_kms_signed_envelope_verifies_with_the_public_key() {
    use recipe_provenance::dsse::{Envelope, IN_TOTO, pae};
    let s = crate::common::sim().await;
    let kms = kms(&s).await;
    let key = signing_key(&kms).await;
    let payload = vec![b'x'; 10_000];
    let digest = sha2::Sha256::digest(pae(IN_TOTO, &payload)).to_vec();
    let signed = sign_digest(&kms, &key, digest).await;
    let arn = signed.key_id().unwrap();
    let envelope = Envelope::signed(IN_TOTO, &payload, arn, signed.signature().unwrap().as_ref());
    let public = kms.get_public_key().key_id(&key).send().await.unwrap();
    let der = public.public_key().unwrap().as_ref();
    assert_eq!(envelope.verify(der).unwrap(), payload);
    let mut changed = envelope.clone();
    changed.payload = Envelope::signed(IN_TOTO, b"y", arn, b"").payload;
    assert!(changed.verify(der).is_err());
    s.stop().await;
}
