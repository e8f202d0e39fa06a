//! 256-bit keys with ids and fingerprints, and the key ring: one active key
//! that mints, others that still verify, so keys rotate without a flag day.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

#[cfg(feature = "os")]
use rand::TryRng;
#[cfg(feature = "os")]
use rand::rngs::SysRng;
use time::OffsetDateTime;
use zeroize::Zeroize;

use crate::claims::{ParseHexError, parse_hex};
use crate::format::{KEY_ID_LEN, PREFIX, TAG_LEN};
use crate::mac::MacKey;

/// Length of a key's secret in bytes (256 bits).
///
/// ```
/// assert_eq!(encapsulated_token::KEY_LEN, 32);
/// ```
pub const KEY_LEN: usize = 32;

/// Names a key inside tokens and key directories: 4 bytes, shown as 8
/// lowercase hex digits. Random, so two instances that generate keys
/// independently do not collide in practice; a ring refuses duplicates.
///
/// ```
/// use encapsulated_token::KeyId;
/// let id: KeyId = "0a1b2c3d".parse().unwrap();
/// assert_eq!(id.to_string(), "0a1b2c3d");
/// assert!("0A1B2C3D".parse::<KeyId>().is_err()); // one spelling only
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; KEY_ID_LEN]);

impl KeyId {
    /// A key id with the given bytes.
    ///
    /// ```
    /// use encapsulated_token::KeyId;
    /// assert_eq!(KeyId::from_bytes([0, 0, 0, 1]).to_string(), "00000001");
    /// ```
    pub const fn from_bytes(bytes: [u8; KEY_ID_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes, as they stand in a token.
    ///
    /// ```
    /// use encapsulated_token::KeyId;
    /// assert_eq!(KeyId::from_bytes([1, 2, 3, 4]).as_bytes(), &[1, 2, 3, 4]);
    /// ```
    pub const fn as_bytes(&self) -> &[u8; KEY_ID_LEN] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl FromStr for KeyId {
    type Err = ParseHexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex(s).map(Self)
    }
}

/// A short, non-secret digest of a key for operators to compare instances:
/// the first 8 bytes of HMAC-SHA256(key, "encapsulated-token fingerprint v1"),
/// a one-way function of the key, shown as `xxxx:xxxx:xxxx:xxxx`. The label
/// differs from every token's MAC input (those start with `et2.`), so a
/// fingerprint is never a valid tag.
///
/// ```
/// use encapsulated_token::{Key, KeyId};
/// let key = Key::from_secret(KeyId::from_bytes([0; 4]), [7; 32], time::OffsetDateTime::UNIX_EPOCH);
/// assert_eq!(key.fingerprint().to_string().len(), 19);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 8]);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pair) in self.0.chunks_exact(2).enumerate() {
            let sep = if i == 0 { "" } else { ":" };
            write!(f, "{sep}{:02x}{:02x}", pair[0], pair[1])?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

const FINGERPRINT_LABEL: &[u8] = b"encapsulated-token fingerprint v1";

/// A 256-bit HMAC-SHA256 key with its id and creation time.
///
/// The HMAC key schedule (the inner and outer padded states) is computed once,
/// when the key is made: no per-request key setup.
/// The secret and the schedule live in one heap block of their own that
/// never moves: moving a key, cloning it or growing a vector of keys
/// copies a pointer, never the secret, so no copy is left behind in freed
/// memory (`tests/freed_secrets.rs` scans for them). The block is zeroized
/// before it is freed, and `Debug` shows only the id and the fingerprint.
///
/// ```
/// use encapsulated_token::Key;
/// let key = Key::generate().unwrap();
/// let shown = format!("{key:?}");
/// assert!(shown.contains(&key.id().to_string()));
/// assert!(shown.contains("redacted"));
/// ```
pub struct Key {
    id: KeyId,
    created: OffsetDateTime,
    secret: Box<Secret>,
}

/// A key's secret bytes and their HMAC schedule: one heap block per key,
/// filled in place and zeroized on drop.
struct Secret {
    bytes: [u8; KEY_LEN],
    schedule: MacKey,
}

impl Secret {
    /// A block holding `bytes` and their schedule. The block is allocated
    /// empty, then written: the secret goes straight into the heap, and
    /// the schedule is computed where it stays.
    fn boxed(bytes: &[u8; KEY_LEN]) -> Box<Self> {
        let mut block = Box::new(Self {
            bytes: [0; KEY_LEN],
            schedule: MacKey::ZEROED,
        });
        let Self {
            bytes: stored,
            schedule,
        } = &mut *block;
        stored.copy_from_slice(bytes);
        schedule.set(stored);
        block
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.bytes.zeroize(); // the schedule zeroizes itself next
    }
}

/// A clone has its own block (the schedule is computed again, two
/// compressions): the two keys never share or move one.
impl Clone for Key {
    fn clone(&self) -> Self {
        Self {
            id: self.id,
            created: self.created,
            secret: Secret::boxed(&self.secret.bytes),
        }
    }
}

impl Key {
    /// A new key with a random secret and a random id, both from the
    /// operating system's RNG, created now.
    ///
    /// ```
    /// use encapsulated_token::Key;
    /// let (a, b) = (Key::generate().unwrap(), Key::generate().unwrap());
    /// assert_ne!(a.fingerprint(), b.fingerprint());
    /// ```
    #[cfg(feature = "os")]
    pub fn generate() -> Result<Self, KeyError> {
        let mut id = [0u8; KEY_ID_LEN];
        let rng_failed = |e: rand::rngs::SysError| KeyError::Random {
            reason: e.to_string(),
        };
        SysRng.try_fill_bytes(&mut id).map_err(rng_failed)?;
        let now = OffsetDateTime::now_utc();
        let created = now.replace_nanosecond(0).unwrap_or(now);
        // Drawn straight into the key's block, then scheduled there.
        let mut key = Self::with_secret(KeyId(id), &[0; KEY_LEN], created);
        let Secret { bytes, schedule } = &mut *key.secret;
        SysRng.try_fill_bytes(bytes).map_err(rng_failed)?;
        schedule.set(bytes);
        Ok(key)
    }

    /// A key from known secret bytes: for test vectors and for key files.
    /// The caller's copy of `secret` is its own to zeroize.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyId};
    /// let key = Key::from_secret(KeyId::from_bytes([1, 2, 3, 4]), [0x42; 32], time::OffsetDateTime::UNIX_EPOCH);
    /// assert_eq!(key.id().to_string(), "01020304");
    /// ```
    pub fn from_secret(id: KeyId, secret: [u8; KEY_LEN], created: OffsetDateTime) -> Self {
        Self::with_secret(id, &secret, created)
    }

    /// [`Key::from_secret`] without taking a copy of the secret.
    pub(crate) fn with_secret(id: KeyId, secret: &[u8; KEY_LEN], created: OffsetDateTime) -> Self {
        Self {
            id,
            created,
            secret: Secret::boxed(secret),
        }
    }

    /// The key's id.
    ///
    /// ```
    /// # let key = encapsulated_token::Key::generate().unwrap();
    /// println!("key {}", key.id());
    /// ```
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// When the key was generated (whole seconds, UTC).
    ///
    /// ```
    /// # let key = encapsulated_token::Key::generate().unwrap();
    /// assert!(key.created() <= time::OffsetDateTime::now_utc());
    /// ```
    pub fn created(&self) -> OffsetDateTime {
        self.created
    }

    /// The key's fingerprint, safe to print and compare across instances.
    ///
    /// ```
    /// # let key = encapsulated_token::Key::generate().unwrap();
    /// assert_eq!(key.fingerprint(), key.clone().fingerprint());
    /// ```
    pub fn fingerprint(&self) -> Fingerprint {
        let digest = self.secret.schedule.mac(FINGERPRINT_LABEL);
        let mut out = [0u8; 8];
        out.copy_from_slice(&digest[..8]);
        Fingerprint(out)
    }

    /// The tag of a token: HMAC-SHA256 over `covered`, the version prefix
    /// followed by the key id and the payload. The prefix binds the tag to
    /// the format version, so a tag never carries over to another version.
    pub(crate) fn tag(&self, covered: &[u8]) -> [u8; TAG_LEN] {
        debug_assert!(covered.starts_with(PREFIX.as_bytes()));
        self.secret.schedule.mac(covered)
    }

    /// The secret bytes, for writing key files only.
    pub(crate) fn secret(&self) -> &[u8; KEY_LEN] {
        &self.secret.bytes
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .field("fingerprint", &self.fingerprint())
            .field("created", &self.created)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Two keys are the same key when id, creation time and secret agree; the
/// secret is compared in constant time.
impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.id == other.id
            && self.created == other.created
            && bool::from(self.secret.bytes.ct_eq(&other.secret.bytes))
    }
}

impl Eq for Key {}

/// The keys an instance trusts: exactly one active key, which mints, and any
/// number of verify-only keys, which still verify tokens they minted.
///
/// Rotation is two-phase so that no instance ever sees a token signed with a
/// key it does not hold: add the new key verify-only everywhere, then promote
/// it everywhere, then retire the old key once its tokens have expired.
///
/// ```
/// use encapsulated_token::{Key, KeyRing};
/// let old = Key::generate().unwrap();
/// let new = Key::generate().unwrap();
/// let (old_id, new_id) = (old.id(), new.id());
///
/// let mut ring = KeyRing::new(old);
/// ring.insert(new).unwrap();          // phase 1: verify-only everywhere
/// ring.promote(new_id).unwrap();      // phase 2: mint with it
/// assert_eq!(ring.active().id(), new_id);
/// ring.retire(old_id).unwrap();       // later: old tokens have expired
/// assert_eq!(ring.len(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRing {
    /// Sorted by id, so two rings with the same keys compare equal.
    keys: Vec<Key>,
    /// Index of the active key in `keys`.
    active: usize,
}

impl KeyRing {
    /// A ring holding one key, the active one.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyRing};
    /// let ring = KeyRing::new(Key::generate().unwrap());
    /// assert_eq!(ring.len(), 1);
    /// ```
    pub fn new(active: Key) -> Self {
        Self {
            keys: vec![active],
            active: 0,
        }
    }

    /// Adds a verify-only key. Refuses a second key with the same id.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyRing};
    /// let key = Key::generate().unwrap();
    /// let mut ring = KeyRing::new(key.clone());
    /// assert!(ring.insert(key).is_err());
    /// ```
    pub fn insert(&mut self, key: Key) -> Result<(), KeyError> {
        match self.keys.binary_search_by_key(&key.id, |k| k.id) {
            Ok(_) => Err(KeyError::DuplicateKeyId {
                id: key.id,
                path: None,
            }),
            Err(at) => {
                self.keys.insert(at, key);
                if at <= self.active {
                    self.active += 1;
                }
                Ok(())
            }
        }
    }

    /// Makes the key `id` the one that mints. The previous active key stays,
    /// verify-only.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyRing};
    /// let mut ring = KeyRing::new(Key::generate().unwrap());
    /// let next = Key::generate().unwrap();
    /// let id = next.id();
    /// ring.insert(next).unwrap();
    /// ring.promote(id).unwrap();
    /// assert!(ring.is_active(id));
    /// ```
    pub fn promote(&mut self, id: KeyId) -> Result<(), KeyError> {
        self.active = self.position(id)?;
        Ok(())
    }

    /// Removes the verify-only key `id` and returns it. The active key cannot
    /// be retired: promote another first.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyRing};
    /// let key = Key::generate().unwrap();
    /// let id = key.id();
    /// let mut ring = KeyRing::new(key);
    /// assert!(ring.retire(id).is_err());
    /// ```
    pub fn retire(&mut self, id: KeyId) -> Result<Key, KeyError> {
        let at = self.position(id)?;
        if at == self.active {
            return Err(KeyError::RetireActive { id });
        }
        let key = self.keys.remove(at);
        if at < self.active {
            self.active -= 1;
        }
        Ok(key)
    }

    /// The key that mints.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyRing};
    /// let key = Key::generate().unwrap();
    /// let id = key.id();
    /// assert_eq!(KeyRing::new(key).active().id(), id);
    /// ```
    pub fn active(&self) -> &Key {
        &self.keys[self.active]
    }

    /// Whether `id` is the active key.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyRing};
    /// let key = Key::generate().unwrap();
    /// let id = key.id();
    /// assert!(KeyRing::new(key).is_active(id));
    /// ```
    pub fn is_active(&self, id: KeyId) -> bool {
        self.active().id == id
    }

    /// The key with this id, if the ring holds it. Rings are small, so a
    /// linear scan over 4-byte ids beats hashing.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyId, KeyRing};
    /// let ring = KeyRing::new(Key::generate().unwrap());
    /// assert!(ring.get(ring.active().id()).is_some());
    /// ```
    pub fn get(&self, id: KeyId) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// Every key, the active one among them, in ascending order of id.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyRing};
    /// let ring = KeyRing::new(Key::generate().unwrap());
    /// for key in ring.keys() {
    ///     println!("{} {}", key.id(), key.fingerprint());
    /// }
    /// ```
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &Key> {
        self.keys.iter()
    }

    /// How many keys the ring holds (never zero).
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyRing};
    /// assert_eq!(KeyRing::new(Key::generate().unwrap()).len(), 1);
    /// ```
    #[allow(clippy::len_without_is_empty)] // a ring is never empty
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// A ring from loaded keys: `keys` is not empty, has no duplicate id,
    /// and `active` indexes it.
    pub(crate) fn from_parts(mut keys: Vec<Key>, active: usize) -> Self {
        let active_id = keys[active].id;
        keys.sort_by_key(|k| k.id);
        let active = keys.iter().position(|k| k.id == active_id).unwrap_or(0);
        Self { keys, active }
    }

    fn position(&self, id: KeyId) -> Result<usize, KeyError> {
        self.keys
            .iter()
            .position(|k| k.id == id)
            .ok_or(KeyError::UnknownKeyId { id })
    }
}

/// Why a key, a key file or a key ring was refused. Each message names the
/// file and says what to do.
///
/// ```
/// use encapsulated_token::{Key, KeyError, KeyRing};
/// let key = Key::generate().unwrap();
/// let id = key.id();
/// let err = KeyRing::new(key).retire(id).unwrap_err();
/// assert!(matches!(err, KeyError::RetireActive { .. }));
/// assert!(err.to_string().contains("promote"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum KeyError {
    /// The key directory does not exist.
    MissingDirectory {
        /// The directory looked for.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A file that holds secrets (a key file), or a directory of them that
    /// must be private, can be read or written by group or others.
    Permissions {
        /// The file or directory.
        path: PathBuf,
        /// Its mode (`st_mode`: the type bits, then the permission bits).
        mode: u32,
    },
    /// The key directory or its `ring.json` can be written by group or
    /// others, who could have planted a key or switched the active one.
    WritableByOthers {
        /// The directory or the file.
        path: PathBuf,
        /// Its mode (`st_mode`).
        mode: u32,
    },
    /// A file or directory that is trusted is owned by a user who is
    /// neither the one this process runs as nor root: that user could have
    /// planted a key (or a user) in it, or read its secrets.
    WrongOwner {
        /// The file or directory (as given, before symlinks are followed).
        path: PathBuf,
        /// The uid that owns what `path` leads to.
        owner: u32,
        /// The uid this process accesses files as.
        expected: u32,
    },
    /// A file in the key directory is not what the format says.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A file in the key directory that the format does not name.
    UnexpectedFile {
        /// The file.
        path: PathBuf,
    },
    /// The directory holds no key file.
    EmptyRing {
        /// The directory.
        path: PathBuf,
    },
    /// Two keys share one id.
    DuplicateKeyId {
        /// The id.
        id: KeyId,
        /// The second file with that id, when loading.
        path: Option<PathBuf>,
    },
    /// The ring does not hold a key with this id.
    UnknownKeyId {
        /// The id asked for.
        id: KeyId,
    },
    /// The active key was asked to be retired.
    RetireActive {
        /// Its id.
        id: KeyId,
    },
    /// The operating system's random generator failed.
    Random {
        /// What it said.
        reason: String,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingDirectory { path } => write!(
                f,
                "key directory {} does not exist: create one with `etoken key init --dir {0}`, \
                 or copy it from another instance",
                path.display()
            ),
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Permissions { path, mode } if mode & 0o170000 == 0o040000 => write!(
                f,
                "directory {} can be accessed by group or others (mode {:04o}): \
                 run `chmod 700 {0}`, and treat the secrets in it as exposed if others could log in",
                path.display(),
                mode & 0o7777
            ),
            Self::Permissions { path, mode } => write!(
                f,
                "{} can be read or written by group or others (mode {:04o}): \
                 run `chmod 600 {0}`, and treat the secrets in it as exposed if others could log in",
                path.display(),
                mode & 0o7777
            ),
            Self::WritableByOthers { path, mode } => write!(
                f,
                "{} can be written by group or others (mode {:04o}), who could have planted \
                 a key: run `chmod go-w {0}`, check its files against another instance's \
                 (`etoken key list`), and treat the ring as exposed if they differ",
                path.display(),
                mode & 0o7777
            ),
            Self::WrongOwner {
                path,
                owner,
                expected,
            } => {
                let whom = match expected {
                    0 => "root, the user this process runs as".to_string(),
                    uid => format!("this process's user (uid {uid}) or root"),
                };
                write!(
                    f,
                    "{} is owned by uid {owner}, not by {whom}: that user could have changed it \
                     or read its secrets. If it is the right file, run `chown {expected} {0}`; \
                     if you do not know who put it there, restore it from another instance",
                    path.display()
                )
            }
            Self::Corrupt { path, reason } => write!(
                f,
                "{} is not a valid key directory file ({reason}): restore it from another instance",
                path.display()
            ),
            Self::UnexpectedFile { path } => write!(
                f,
                "{} does not belong in a key directory: key directories hold only \
                 ring.json and <id>.key files; move it elsewhere",
                path.display()
            ),
            Self::EmptyRing { path } => write!(
                f,
                "key directory {} holds no key: create one with `etoken key init --dir {0}`, \
                 or copy the directory from another instance",
                path.display()
            ),
            Self::DuplicateKeyId {
                id,
                path: Some(path),
            } => write!(
                f,
                "{} holds key {id}, which the ring already has: remove one copy",
                path.display()
            ),
            Self::DuplicateKeyId { id, path: None } => {
                write!(f, "the ring already holds a key with id {id}")
            }
            Self::UnknownKeyId { id } => write!(
                f,
                "no key with id {id} in the ring: `etoken key list` shows the ids"
            ),
            Self::RetireActive { id } => write!(
                f,
                "key {id} is the active key and cannot be retired: promote another key first"
            ),
            Self::Random { reason } => {
                write!(
                    f,
                    "the operating system's random generator failed: {reason}"
                )
            }
        }
    }
}

impl std::error::Error for KeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
