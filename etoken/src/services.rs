//! The services file: the technical accounts that may exchange credentials
//! for access tokens on this instance, replicated to every instance like
//! the users file. It holds each account's client id, technical account id,
//! organisation, scopes, certificates, and hashes of its client secrets:
//! never a private key, never a secret.
//!
//! ```text
//! {"format":"etoken-services/1","services":{"backend":{"client_id":"..",
//!  "technical_account_id":"..@techacct.host","org":"..","scopes":["read"],
//!  "secrets":[{"id":"..","sha256":"..","created_at":1700000000}],
//!  "certificates":[{"pem":"-----BEGIN CERTIFICATE-----..","created_at":1700000000}],
//!  "created_at":1700000000,"revoked_at":null}}}
//! ```
//!
//! Client secrets are 256 random bits, so they are hashed with one
//! SHA-256 (domain-separated), not argon2: a slow hash protects guessable
//! passwords, and nobody guesses 2^256; a fast one keeps the token endpoint
//! cheap, so it is no lever for a denial of service. Hashes are compared
//! in constant time, and an unknown client costs the same as a wrong secret.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use encapsulated_token::handler::{Session, Standing};
use etoken::certificate::CertificateKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::users::check_name;

const FORMAT: &str = "etoken-services/1";
/// A services file larger than this is not ours.
const MAX_FILE_LEN: u64 = 8 << 20;
/// Client secrets valid at once: the one in use and its replacement.
pub const MAX_SECRETS: usize = 2;
/// Certificates valid at once: the one in use and its replacement.
pub const MAX_CERTIFICATES: usize = 2;
/// The `scope` attribute of an access token holds the scopes joined by
/// commas, and a token attribute is at most 128 bytes.
const MAX_SCOPES_LEN: usize = encapsulated_token::format::MAX_ATTRIBUTE_VALUE_LEN;
/// Longest client secret read from a request.
pub const MAX_SECRET_LEN: usize = 256;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServicesFile {
    format: String,
    services: BTreeMap<String, Service>,
}

/// One technical account, as the file stores it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// Public; names the client in requests.
    pub client_id: String,
    /// The subject of its access tokens: `<id>@techacct.<host>`.
    pub technical_account_id: String,
    /// The `iss` of its assertions.
    pub org: String,
    /// The scopes it may ask for.
    pub scopes: Vec<String>,
    /// Hashes of its client secrets.
    pub secrets: Vec<Secret>,
    /// The certificates whose keys sign its assertions.
    pub certificates: Vec<Certificate>,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds; a revoked account exchanges nothing and exists nowhere.
    pub revoked_at: Option<u64>,
    /// Unix seconds: access tokens issued before it are refused, while the
    /// account keeps exchanging (`etoken service revoke-tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_revoked_before: Option<u64>,
}

/// A client secret's hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// Names it for `remove-secret`.
    pub id: String,
    /// Hex SHA-256 of the domain-separated secret.
    pub sha256: String,
    /// Unix seconds.
    pub created_at: u64,
}

/// A certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// PEM.
    pub pem: String,
    /// Unix seconds.
    pub created_at: u64,
}

/// An account the server can check, with its certificates read.
#[derive(Clone)]
pub struct Account {
    /// Its name in the file.
    pub name: String,
    /// The record.
    pub service: Service,
    /// Its certificates' keys, in file order.
    pub keys: Vec<CertificateKey>,
    hashes: Vec<[u8; 32]>,
}

impl Account {
    /// Whether it has been revoked.
    pub fn revoked(&self) -> bool {
        self.service.revoked_at.is_some()
    }
}

/// Why client authentication failed (for the log: the client is told
/// `invalid_client` for all of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientRefusal {
    /// No account has this client id.
    UnknownClient,
    /// The secret matches none of the account's.
    WrongSecret,
    /// The account is revoked.
    Revoked,
}

impl ClientRefusal {
    /// For the log.
    pub fn reason(self) -> &'static str {
        match self {
            Self::UnknownClient => "unknown client id",
            Self::WrongSecret => "wrong client secret",
            Self::Revoked => "the account is revoked",
        }
    }
}

/// The services of one instance.
#[derive(Clone, Default)]
pub struct Services {
    accounts: BTreeMap<String, Account>,
    by_client: HashMap<String, String>,
    by_subject: HashMap<String, String>,
}

impl PartialEq for Services {
    fn eq(&self, other: &Self) -> bool {
        self.accounts.len() == other.accounts.len()
            && self
                .accounts
                .iter()
                .zip(&other.accounts)
                .all(|((a, x), (b, y))| a == b && x.service == y.service)
    }
}

impl Services {
    /// Loads a services file, refusing a missing, corrupt or group/other
    /// readable one, and any entry that does not check out.
    pub fn load(path: &Path) -> Result<Services, String> {
        let kind = "services file";
        let create = format!("etoken service create --services {} NAME", path.display());
        let text = crate::private_file::read(path, kind, &create, MAX_FILE_LEN)?;
        let corrupt = |reason: String| crate::private_file::corrupt(kind, path, &reason);
        let file: ServicesFile =
            serde_json::from_slice(&text).map_err(|e| corrupt(e.to_string()))?;
        if file.format != FORMAT {
            return Err(corrupt(format!(
                "format is {:?}, expected {FORMAT:?}",
                file.format
            )));
        }
        let mut services = Services::default();
        for (name, service) in file.services {
            services
                .insert(name.clone(), service)
                .map_err(|e| corrupt(format!("service {name:?}: {e}")))?;
        }
        Ok(services)
    }

    /// Writes the file atomically with mode 0600.
    pub fn store(&self, path: &Path) -> Result<(), String> {
        let file = ServicesFile {
            format: FORMAT.into(),
            services: self
                .accounts
                .iter()
                .map(|(name, account)| (name.clone(), account.service.clone()))
                .collect(),
        };
        let mut text = serde_json::to_vec_pretty(&file).map_err(|e| e.to_string())?;
        text.push(b'\n');
        encapsulated_token::write_file_atomically(path, &text)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Adds or replaces `name`, checking it whole first: nothing changes
    /// when it does not check out.
    pub fn insert(&mut self, name: String, service: Service) -> Result<(), String> {
        check_name(&name)?;
        let account = check(name.clone(), service)?;
        for (index, key, what) in [
            (&self.by_client, &account.service.client_id, "client id"),
            (
                &self.by_subject,
                &account.service.technical_account_id,
                "technical account id",
            ),
        ] {
            if let Some(other) = index.get(key).filter(|other| **other != name) {
                return Err(format!("its {what} is also service {other:?}'s"));
            }
        }
        if let Some(old) = self.accounts.remove(&name) {
            self.by_client.remove(&old.service.client_id);
            self.by_subject.remove(&old.service.technical_account_id);
        }
        self.by_client
            .insert(account.service.client_id.clone(), name.clone());
        self.by_subject
            .insert(account.service.technical_account_id.clone(), name.clone());
        self.accounts.insert(name, account);
        Ok(())
    }

    /// Removes `name`; false when there was no such account.
    pub fn remove(&mut self, name: &str) -> bool {
        let Some(old) = self.accounts.remove(name) else {
            return false;
        };
        self.by_client.remove(&old.service.client_id);
        self.by_subject.remove(&old.service.technical_account_id);
        true
    }

    /// Adds or replaces `name` from its stored JSON record (a services
    /// file's entry, or a record in Redis), checked whole first.
    pub fn insert_json(&mut self, name: &str, record: &[u8]) -> Result<(), String> {
        let service: Service = serde_json::from_slice(record).map_err(|e| e.to_string())?;
        self.insert(name.to_owned(), service)
    }

    /// The account called `name`.
    pub fn get(&self, name: &str) -> Option<&Account> {
        self.accounts.get(name)
    }

    /// Every account, by name.
    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }

    /// The account with technical account id `subject`, revoked or not.
    pub fn by_subject(&self, subject: &str) -> Option<&Account> {
        self.by_subject.get(subject).and_then(|n| self.get(n))
    }

    /// The account with client id `client_id`, revoked or not.
    pub fn by_client(&self, client_id: &str) -> Option<&Account> {
        self.by_client.get(client_id).and_then(|n| self.get(n))
    }

    /// The standing of an access token's session (`session.subject` a
    /// technical account id): unknown when no such account exists or it is
    /// revoked; revoked when issued before the account's
    /// `tokens_revoked_before`.
    pub fn standing(&self, session: &Session<'_>) -> Standing {
        match self.by_subject(session.subject) {
            Some(account) if !account.revoked() => {
                let before = account
                    .service
                    .tokens_revoked_before
                    .and_then(|s| OffsetDateTime::from_unix_timestamp(s as i64).ok());
                Standing::of(session, before)
            }
            _ => Standing::Unknown,
        }
    }

    /// Client authentication: the account of `client_id` if `secret` is
    /// one of its secrets and it is not revoked. Always hashes once and
    /// compares against [`MAX_SECRETS`] hashes in constant time, so an
    /// unknown client costs what a wrong secret does.
    pub fn authenticate(&self, client_id: &str, secret: &str) -> Result<&Account, ClientRefusal> {
        let presented = hash_secret(secret);
        let account = self.by_client(client_id);
        let dummy = [0u8; 32];
        let hashes = account.map_or(&[][..], |a| &a.hashes[..]);
        let mut matched = Choice::from(0);
        for slot in 0..MAX_SECRETS {
            let (stored, real) = match hashes.get(slot) {
                Some(hash) => (hash, Choice::from(1)),
                None => (&dummy, Choice::from(0)),
            };
            matched |= presented.ct_eq(stored) & real;
        }
        let too_long = secret.len() > MAX_SECRET_LEN;
        match account {
            None => Err(ClientRefusal::UnknownClient),
            Some(_) if too_long || !bool::from(matched) => Err(ClientRefusal::WrongSecret),
            Some(account) if account.revoked() => Err(ClientRefusal::Revoked),
            Some(account) => Ok(account),
        }
    }
}

/// Checks a record and reads its certificates.
fn check(name: String, service: Service) -> Result<Account, String> {
    check_client_id(&service.client_id)?;
    check_name(&service.technical_account_id).map_err(|e| format!("technical account id: {e}"))?;
    check_name(&service.org).map_err(|e| format!("org: {e}"))?;
    check_scopes(&service.scopes)?;
    if service.secrets.len() > MAX_SECRETS {
        return Err(format!("more than {MAX_SECRETS} client secrets"));
    }
    if service.certificates.is_empty() || service.certificates.len() > MAX_CERTIFICATES {
        return Err(format!("1 to {MAX_CERTIFICATES} certificates are required"));
    }
    let mut hashes = Vec::new();
    for secret in &service.secrets {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(&secret.sha256, &mut hash)
            .map_err(|e| format!("secret {:?}: sha256: {e}", secret.id))?;
        if service.secrets.iter().filter(|s| s.id == secret.id).count() > 1 {
            return Err(format!("two secrets have id {:?}", secret.id));
        }
        hashes.push(hash);
    }
    let keys = service
        .certificates
        .iter()
        .map(|c| CertificateKey::from_pem(&c.pem))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate: {e}"))?;
    Ok(Account {
        name,
        service,
        keys,
        hashes,
    })
}

/// A client id: 1 to 128 printable ASCII characters, no space, no `:`
/// (HTTP Basic separates the id from the secret with one).
pub fn check_client_id(id: &str) -> Result<(), String> {
    let printable = id.bytes().all(|b| b.is_ascii_graphic() && b != b':');
    if id.is_empty() || id.len() > 128 || !printable {
        return Err("a client id is 1 to 128 printable ASCII characters, without ':'".into());
    }
    Ok(())
}

/// Scopes: at least one; each letters, digits and `_.-`; joined with
/// commas at most 128 bytes (a token attribute's limit).
pub fn check_scopes(scopes: &[String]) -> Result<(), String> {
    if scopes.is_empty() {
        return Err("at least one scope is required".into());
    }
    for scope in scopes {
        let valid = scope
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if scope.is_empty() || !valid {
            return Err(format!(
                "scope {:?}: letters, digits, '_', '.' and '-' only",
                etoken::truncated(scope)
            ));
        }
        if scopes.iter().filter(|s| *s == scope).count() > 1 {
            return Err(format!("scope {scope:?} is listed twice"));
        }
    }
    if scopes.join(",").len() > MAX_SCOPES_LEN {
        return Err(format!(
            "the scopes joined by commas are over {MAX_SCOPES_LEN} bytes"
        ));
    }
    Ok(())
}

/// A new client secret (256 random bits, hex) and its record.
pub fn new_secret(now: u64) -> (Zeroizing<String>, Secret) {
    let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(rand::random());
    let secret = Zeroizing::new(hex::encode(*bytes));
    let id: [u8; 4] = rand::random();
    let record = Secret {
        id: hex::encode(id),
        sha256: hex::encode(hash_secret(&secret)),
        created_at: now,
    };
    (secret, record)
}

fn hash_secret(secret: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(b"etoken client secret v1\0");
    hash.update(secret.as_bytes());
    hash.finalize().into()
}

/// `bytes` random bytes as hex: client ids, account ids.
pub fn random_hex(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}
