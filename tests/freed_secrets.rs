//! No copy of a key is left behind in freed heap memory. A global allocator
//! scans every block as it is freed (or handed to `realloc`, which may copy
//! it and free the original) for a set of known secrets, each in every form
//! that is as good as the key: the raw 32 bytes, their base64url spelling
//! (as in key files), and the two SHA-256 states of the HMAC key schedule
//! (either one forges tags). The library keeps each key's secret and
//! schedule in one boxed allocation that never moves and is zeroized before
//! it is freed, so the scanner must find nothing; before that, every move
//! of a `Key` and every growth of a vector of keys left a copy.
//!
//! The library is `#![forbid(unsafe_code)]`; this test crate is not the
//! library, and a `GlobalAlloc` cannot be written without `unsafe impl`,
//! nor can a block be read through a raw pointer without `unsafe` (as in
//! `tests/alloc.rs`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use encapsulated_token::{Claims, Issuer, Key, KeyId, KeyRing, Verifier};
use time::OffsetDateTime;

/// How many distinct secrets the tests draw from; each test takes its own
/// range, so tests running in parallel never see each other's hits.
const SECRETS: usize = 96;
/// The forms of each secret that are scanned for (raw, base64url, inner
/// state, outer state).
const FORMS: usize = 4;
const FORM_NAMES: [&str; FORMS] = [
    "raw secret",
    "base64url secret",
    "inner state",
    "outer state",
];

/// Every needle, by `secret * FORMS + form`, and an index of their first
/// eight bytes. Set once, before any key exists, and never freed; until it
/// is set, the allocator scans nothing.
static NEEDLES: OnceLock<Needles> = OnceLock::new();

struct Needles {
    all: Vec<Vec<u8>>,
    /// (first eight bytes, index in `all`), sorted: a block is searched
    /// once, not once per needle.
    by_prefix: Vec<(u64, usize)>,
}
/// Hits per needle.
static HITS: [AtomicUsize; SECRETS * FORMS] = [const { AtomicUsize::new(0) }; SECRETS * FORMS];

/// The secret numbered `n`: 32 bytes of a splitmix64 stream, distinct from
/// each other and from anything else in memory.
fn secret(n: usize) -> [u8; 32] {
    let mut state = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(n as u64 + 1);
    let mut out = [0u8; 32];
    for chunk in out.chunks_exact_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

/// SHA-256's state after absorbing `secret ^ pad` (zero-padded to a
/// block), as the words lie in memory: RustCrypto's block-level hasher,
/// not the library's `src/mac.rs`, so the needle is computed independently.
fn padded_state(secret: &[u8; 32], pad: u8) -> Vec<u8> {
    use sha2::block_api::Sha256VarCore;
    use sha2::digest::block_api::{UpdateCore, VariableOutputCore};
    use sha2::digest::common::hazmat::SerializableState;
    let mut block = [pad; 64];
    for (b, s) in block.iter_mut().zip(secret) {
        *b ^= s;
    }
    let mut core = Sha256VarCore::new(32).expect("SHA-256");
    core.update_blocks(&[block.into()]);
    // The serialized state: the eight words little-endian, then a count.
    let state = core.serialize();
    state[..32]
        .chunks_exact(4)
        .flat_map(|w| u32::from_le_bytes(w.try_into().expect("a word")).to_ne_bytes())
        .collect()
}

/// The first eight bytes of `bytes` (at least eight long) as one word.
fn prefix(bytes: &[u8]) -> u64 {
    u64::from_ne_bytes(bytes[..8].try_into().expect("eight bytes"))
}

/// Sets up the needles (once); the scanner is live from then on.
fn needles() -> &'static Needles {
    NEEDLES.get_or_init(|| {
        let all: Vec<Vec<u8>> = (0..SECRETS)
            .flat_map(|n| {
                let s = secret(n);
                [
                    s.to_vec(),
                    URL_SAFE_NO_PAD.encode(s).into_bytes(),
                    padded_state(&s, 0x36),
                    padded_state(&s, 0x5c),
                ]
            })
            .collect();
        let mut by_prefix: Vec<(u64, usize)> = all
            .iter()
            .enumerate()
            .map(|(i, n)| (prefix(n), i))
            .collect();
        by_prefix.sort_unstable();
        Needles { all, by_prefix }
    })
}

/// The system allocator, zeroing every block it hands out and scanning
/// every block it takes back.
struct Scanning;

impl Scanning {
    /// Counts each needle found in the `len` bytes at `ptr`.
    ///
    /// # Safety
    /// `ptr` is a live block of this allocator of at least `len` bytes.
    unsafe fn scan(ptr: *const u8, len: usize) {
        let Some(needles) = NEEDLES.get() else {
            return;
        };
        // SAFETY: the block is live and `len` long (the caller's promise),
        // and every byte of it is initialized: this allocator zeroes what
        // it allocates and what `realloc` adds. Nothing else writes it now:
        // its owner is freeing it.
        let block = unsafe { std::slice::from_raw_parts(ptr, len) };
        for at in 0..block.len().saturating_sub(7) {
            let word = prefix(&block[at..]);
            let first = needles.by_prefix.partition_point(|&(p, _)| p < word);
            for &(p, i) in &needles.by_prefix[first..] {
                if p != word {
                    break;
                }
                if block[at..].starts_with(&needles.all[i]) {
                    HITS[i].fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments;
// the block `alloc` returns is zeroed (`alloc_zeroed`), the tail `realloc`
// adds is zeroed before the block is returned, and scanning only reads a
// block its caller still owns. Scanning neither allocates nor unwinds (the
// needles are read through a `OnceLock` that is already set, hits are
// atomics).
unsafe impl GlobalAlloc for Scanning {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds `alloc`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` is a live block of `layout.size()` bytes.
        unsafe { Self::scan(ptr, layout.size()) };
        // SAFETY: forwarded; `ptr` came from this allocator, that is `System`.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() && new_size > layout.size() {
            // SAFETY: `new` holds `new_size` bytes; the tail is ours to zero.
            unsafe {
                new.add(layout.size())
                    .write_bytes(0, new_size - layout.size())
            };
        }
        new
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` is a live block of `layout.size()` bytes until freed.
        unsafe { Self::scan(ptr, layout.size()) };
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Scanning = Scanning;

/// The key made from secret `n`, its id derived from `n`.
fn key(n: usize) -> Key {
    let id = KeyId::from_bytes((n as u32 + 0x1000).to_be_bytes());
    Key::from_secret(id, secret(n), OffsetDateTime::UNIX_EPOCH)
}

/// Every hit on the secrets in `range`, as "secret N: FORM xCOUNT".
fn hits(range: std::ops::Range<usize>) -> Vec<String> {
    range
        .flat_map(|n| (0..FORMS).map(move |form| (n, form)))
        .filter_map(|(n, form)| {
            let count = HITS[n * FORMS + form].load(Ordering::Relaxed);
            (count > 0).then(|| format!("secret {n}: {} x{count}", FORM_NAMES[form]))
        })
        .collect()
}

#[test]
fn the_scanner_finds_a_secret_in_freed_memory() {
    // Without this, a scanner that sees nothing would pass every test.
    let n = SECRETS - 1;
    let outer_state = &needles().all[n * FORMS + 3];
    let mut copy = vec![0u8; 100];
    copy[3..35].copy_from_slice(&secret(n));
    copy[50..82].copy_from_slice(outer_state);
    drop(std::hint::black_box(copy));
    assert_eq!(
        hits(n..n + 1),
        ["secret 95: raw secret x1", "secret 95: outer state x1"]
    );
}

#[test]
fn storing_and_loading_a_key_directory_leaves_no_copy() {
    let _ = needles();
    let dir = tempfile::tempdir().unwrap();
    let mut ring = KeyRing::new(key(0));
    for n in 1..6 {
        ring.insert(key(n)).unwrap();
    }
    ring.store(dir.path()).unwrap();
    drop(ring);
    for _ in 0..3 {
        let loaded = KeyRing::load(dir.path()).unwrap();
        assert_eq!(loaded.len(), 6);
        let ring = std::sync::Arc::new(loaded);
        let token = Issuer::new(ring.clone())
            .mint(&Claims::new("alice", Duration::from_secs(60)))
            .unwrap();
        let verifier = Verifier::new(ring.clone());
        assert_eq!(verifier.verify(&token).unwrap().subject(), "alice");
        // Stored again unchanged (reads each file to compare), then dropped.
        ring.store(dir.path()).unwrap();
    }
    assert_eq!(hits(0..6), Vec::<String>::new());
}

#[test]
fn a_ring_that_grows_shrinks_and_is_cloned_leaves_no_copy() {
    let _ = needles();
    let (first, last) = (10, 60);
    let mut ring = KeyRing::new(key(first));
    // Ids ascend with n: odd ones downwards, then even ones upwards, so
    // keys go in at the front, the middle and the end while the vector
    // grows many times.
    for n in (first + 1..last)
        .rev()
        .step_by(2)
        .chain((first + 2..last).step_by(2))
    {
        ring.insert(key(n)).unwrap();
    }
    assert_eq!(ring.len(), last - first);
    let copy = ring.clone();
    let next = key(last - 1).id();
    ring.promote(next).unwrap();
    for n in first..last - 1 {
        drop(ring.retire(key(n).id()).unwrap());
    }
    assert_eq!(ring.len(), 1);
    let fingerprints: Vec<String> = copy.keys().map(|k| k.fingerprint().to_string()).collect();
    assert_eq!(fingerprints.len(), last - first);
    drop((ring, copy));
    assert_eq!(hits(first..last), Vec::<String>::new());
}
