//! Stateless cookie authentication for load-balanced farms.
//!
//! An *encapsulated token* carries who the user is and until when, signed with
//! HMAC-SHA256 under a key that every instance of a farm shares. Any instance
//! verifies any token offline: no session store, no sticky sessions, no
//! session lost when an instance dies.
//!
//! The token proves *authentication* only: the user must still exist on the
//! instance that serves the request (see the README).
//!
//! ```
//! use encapsulated_token::{Claims, Issuer, Key, KeyRing, Verifier};
//! use std::{sync::Arc, time::Duration};
//!
//! // Every instance loads the same ring (`KeyRing::load(dir)`).
//! let ring = Arc::new(KeyRing::new(Key::generate()?));
//!
//! // At login:
//! let claims = Claims::new("alice", Duration::from_secs(24 * 3600))
//!     .with_audience("publish")
//!     .with_attribute("role", "editor");
//! let token = Issuer::new(ring.clone()).mint(&claims)?;
//!
//! // On every request, on any instance:
//! let verifier = Verifier::new(ring).with_audience("publish");
//! let verified = verifier.verify(&token)?;
//! assert_eq!(verified.subject(), "alice");
//! assert_eq!(verified.attribute("role"), Some("editor"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The wire format is specified in `docs/FORMAT.md`; [`format`](mod@format) holds its
//! constants and bounds.
//!
//! Feature `os` (default): the operating system's random generator
//! (`Key::generate`, `TokenId::random`, `Claims::new`), its clock
//! (`Verifier::verify`, `Verifier::verify_in`) and its files (`KeyRing::load`,
//! `KeyRing::store`). Without it the crate still mints and verifies with keys,
//! ids and times the caller supplies (`Verifier::verify_in_at`,
//! `KeyRing::from_ring_json`), which is what `wasm32-unknown-unknown` can do.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod claims;
#[cfg(feature = "os")]
mod clock;
#[cfg(feature = "cookies")]
pub mod cookies;
#[cfg(feature = "redis")]
pub mod directory;
pub mod format;
#[cfg(feature = "tower")]
pub mod handler;
mod inspect;
#[cfg(all(unix, feature = "os"))]
mod key_dir;
mod keys;
mod mac;
mod mint;
mod one_of;
mod ring_json;
#[cfg(unix)]
mod trusted_file;
mod verify;

pub use claims::{Claims, ParseHexError, TokenId};
pub use format::MAX_TOKEN_LEN;
pub use inspect::{UnverifiedToken, decode_unverified};
#[cfg(all(unix, feature = "os"))]
pub use key_dir::{RING_FILE, write_file_atomically};
pub use keys::{Fingerprint, KEY_LEN, Key, KeyError, KeyId, KeyRing};
pub use mint::{Issuer, MintError};
pub use one_of::OneOfError;
pub use ring_json::{MAX_RING_JSON_LEN, RingJsonError};
#[cfg(unix)]
pub use trusted_file::{Access, open_trusted_dir, read_trusted_file};
pub use verify::{DEFAULT_LEEWAY, TokenBuffer, VerifiedToken, Verifier, VerifyError};

/// The README's examples compile and run as doctests, so the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
