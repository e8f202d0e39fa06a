//! A technical account's key pair: an RSA-2048 private key (PKCS#1 PEM,
//! as AEM credentials carry it) and a self-signed X.509 certificate for its
//! public key. The server keeps only the certificate and verifies
//! assertions with the key inside it.

use std::str::FromStr;
use std::time::{Duration, SystemTime};

use jsonwebtoken::DecodingKey;
use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::sha2::Sha256;
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Digest;
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::{DecodePem, Encode, EncodePem};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;
use zeroize::Zeroizing;

/// The size of generated keys.
pub const RSA_BITS: usize = 2048;
/// Smallest key a certificate may carry.
const MIN_RSA_BITS: usize = 2048;
/// Longest certificate PEM read (a 4096-bit key's is about 2 KiB).
const MAX_PEM_LEN: usize = 16 * 1024;

/// A new key pair: the private key for the credentials document (shown
/// once, zeroized on drop) and the certificate for the services file.
pub struct KeyPair {
    /// `-----BEGIN RSA PRIVATE KEY-----...`
    pub private_key: Zeroizing<String>,
    /// `-----BEGIN CERTIFICATE-----...`
    pub certificate: String,
}

impl KeyPair {
    /// Generates an RSA-2048 key and a certificate for it, self-signed,
    /// naming `common_name`, valid from now for `days`.
    pub fn generate(common_name: &str, days: u32) -> Result<Self, String> {
        let mut rng = rsa::rand_core::OsRng;
        let key = RsaPrivateKey::new(&mut rng, RSA_BITS)
            .map_err(|e| format!("generating an RSA key: {e}"))?;
        let private_key = key
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(|e| format!("encoding the RSA key: {e}"))?;
        let certificate = self_signed(&key, common_name, days)?;
        Ok(Self {
            private_key,
            certificate,
        })
    }
}

fn self_signed(key: &RsaPrivateKey, common_name: &str, days: u32) -> Result<String, String> {
    let failed = |e: &dyn std::fmt::Display| format!("making the certificate: {e}");
    // RFC 4514 string: escape what the DN syntax reserves.
    let escaped: String = common_name
        .chars()
        .flat_map(|c| {
            let reserved = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' | '#');
            reserved.then_some('\\').into_iter().chain([c])
        })
        .collect();
    let subject = Name::from_str(&format!("CN={escaped}")).map_err(|e| failed(&e))?;
    let serial: [u8; 16] = rand::random();
    // A positive serial: clear the top bit.
    let mut serial = serial;
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    let serial = SerialNumber::new(&serial).map_err(|e| failed(&e))?;
    let validity = Validity::from_now(Duration::from_secs(u64::from(days) * 86_400))
        .map_err(|e| failed(&e))?;
    let public =
        SubjectPublicKeyInfoOwned::from_key(key.to_public_key()).map_err(|e| failed(&e))?;
    let signer = SigningKey::<Sha256>::new(key.clone());
    let profile = Profile::Leaf {
        issuer: subject.clone(),
        enable_key_agreement: false,
        enable_key_encipherment: false,
    };
    let builder = CertificateBuilder::new(profile, serial, validity, subject, public, &signer)
        .map_err(|e| failed(&e))?;
    let certificate = builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(|e| failed(&e))?;
    certificate.to_pem(LineEnding::LF).map_err(|e| failed(&e))
}

/// A certificate as the server uses it: the key that verifies assertions,
/// when it is valid, and a fingerprint operators name it by.
#[derive(Clone)]
pub struct CertificateKey {
    /// The RSA public key, for `jsonwebtoken`.
    pub key: DecodingKey,
    /// Not valid before this Unix time.
    pub not_before: u64,
    /// Not valid after this Unix time.
    pub not_after: u64,
    /// SHA-256 of the certificate's DER, hex, first 16 bytes.
    pub fingerprint: String,
}

impl CertificateKey {
    /// Reads a PEM certificate holding an RSA key of at least 2048 bits.
    ///
    /// ```
    /// use etoken::certificate::{CertificateKey, KeyPair};
    /// let pair = KeyPair::generate("svc", 30)?;
    /// let read = CertificateKey::from_pem(&pair.certificate)?;
    /// assert_eq!(read.fingerprint.len(), 32);
    /// assert!(read.not_after > read.not_before);
    /// assert!(CertificateKey::from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").is_err());
    /// # Ok::<(), String>(())
    /// ```
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        if pem.len() > MAX_PEM_LEN {
            return Err(format!("a certificate is at most {MAX_PEM_LEN} bytes"));
        }
        let certificate = Certificate::from_pem(pem.as_bytes())
            .map_err(|e| format!("not a PEM X.509 certificate: {e}"))?;
        let tbs = &certificate.tbs_certificate;
        let spki_der = tbs
            .subject_public_key_info
            .to_der()
            .map_err(|e| format!("the certificate's public key: {e}"))?;
        let public = RsaPublicKey::from_public_key_der(&spki_der)
            .map_err(|e| format!("the certificate's public key is not RSA: {e}"))?;
        if public.size() * 8 < MIN_RSA_BITS {
            return Err(format!(
                "the certificate's RSA key has {} bits, at least {MIN_RSA_BITS} are required",
                public.size() * 8
            ));
        }
        let pkcs1 = rsa::pkcs1::EncodeRsaPublicKey::to_pkcs1_der(&public)
            .map_err(|e| format!("the certificate's public key: {e}"))?;
        let der = certificate
            .to_der()
            .map_err(|e| format!("the certificate: {e}"))?;
        let unix = |t: x509_cert::time::Time| t.to_unix_duration().as_secs();
        Ok(Self {
            key: DecodingKey::from_rsa_der(pkcs1.as_bytes()),
            not_before: unix(tbs.validity.not_before),
            not_after: unix(tbs.validity.not_after),
            fingerprint: hex::encode(&sha2::Sha256::digest(&der)[..16]),
        })
    }

    /// Whether the certificate is valid at Unix time `now`.
    pub fn valid_at(&self, now: u64) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

/// Now, as Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
