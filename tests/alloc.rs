//! Verification allocates nothing: neither for a token it accepts nor for
//! one it refuses, whatever the reason. A counting global allocator proves
//! it, counting only on the thread under test and only while a flag is up,
//! so the harness' own allocations never show.
//!
//! The library is `#![forbid(unsafe_code)]`; this test crate is not the
//! library, and a `GlobalAlloc` cannot be written without `unsafe impl`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use encapsulated_token::{
    Claims, Issuer, Key, KeyId, KeyRing, TokenBuffer, VerifiedToken, Verifier, VerifyError, format,
};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

thread_local! {
    // `const` initialisers with no destructor: reading them never allocates,
    // so the allocator may touch them.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, counting each allocation (and reallocation) made
/// on a thread while its `COUNTING` flag is up.
struct Counting;

impl Counting {
    fn note() {
        // `try_with`: a thread being torn down may still allocate.
        let counting = COUNTING.try_with(Cell::get).unwrap_or(false);
        if counting {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; counting touches only
// thread-local `Cell`s, which neither allocate nor unwind.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::note();
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::note();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::note();
        // SAFETY: as above; `ptr` came from this allocator, that is `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result with the number of heap allocations it
/// made on this thread (reallocations included).
fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (out, ALLOCATIONS.with(Cell::get))
}

/// A typical token: a 20-character subject, an audience, two attributes.
fn typical(ring: &KeyRing) -> (Claims, String) {
    let claims = Claims::new("alice@example.org.uk", Duration::from_secs(3600))
        .with_audience("publish")
        .with_attribute("role", "editor")
        .with_attribute("tenant", "acme");
    let token = Issuer::new(ring.clone()).mint(&claims).unwrap();
    (claims, token)
}

/// Verifies `token` with the system clock while counting, and asserts that
/// nothing was allocated, whatever the outcome.
/// Verifies `token` both ways, the owned result and the view into a
/// buffer, asserting that neither allocates and that they agree.
fn verify_without_allocating(
    verifier: &Verifier,
    token: &str,
) -> Result<VerifiedToken, VerifyError> {
    let (result, count) = allocations(|| verifier.verify(token));
    assert_eq!(
        count, 0,
        "{count} allocations verifying {token:?}: {result:?}"
    );
    let mut buffer = TokenBuffer::new();
    let (in_buffer, count) =
        allocations(|| verifier.verify_in(token, &mut buffer).map(|v| v.key_id()));
    assert_eq!(
        count, 0,
        "{count} allocations verifying {token:?} into a buffer: {in_buffer:?}"
    );
    assert_eq!(
        in_buffer,
        result.as_ref().map(|v| v.key_id()).map_err(|e| *e)
    );
    result
}

#[test]
fn the_counter_sees_allocations() {
    // Without this, a broken counter would let every other test pass.
    let (v, count) = allocations(|| vec![1u8; 16]);
    assert_eq!(v.len(), 16);
    assert_eq!(count, 1);
}

#[test]
fn a_valid_token_verifies_without_allocating() {
    let ring = KeyRing::new(Key::generate().unwrap());
    let (claims, token) = typical(&ring);
    let verifier = Verifier::new(ring).with_audience("publish");

    let verified = verify_without_allocating(&verifier, &token).unwrap();
    assert_eq!(verified.to_claims(), claims);

    // The accessors borrow from the result: reading them allocates nothing.
    let (role, count) = allocations(|| {
        let _ = (verified.subject(), verified.audience(), verified.token_id());
        verified.attribute("role")
    });
    assert_eq!((role, count), (Some("editor"), 0));

    // And a pinned clock (verify_at) allocates nothing either.
    let (result, count) = allocations(|| verifier.verify_at(&token, claims.issued_at));
    assert!(result.is_ok());
    assert_eq!(count, 0);

    // Nor does a view into a buffer, or reading its claims.
    let mut buffer = TokenBuffer::new();
    let (role, count) = allocations(|| {
        let view = verifier
            .verify_in_at(&token, claims.issued_at, &mut buffer)
            .unwrap();
        let _ = (view.subject(), view.audience(), view.token_id());
        view.attribute("role").map(|role| role.len())
    });
    assert_eq!((role, count), (Some("editor".len()), 0));
}

#[test]
fn refusals_do_not_allocate() {
    let secret = [7u8; 32];
    let key_id = KeyId::from_bytes([1, 2, 3, 4]);
    let ring = KeyRing::new(Key::from_secret(key_id, secret, OffsetDateTime::now_utc()));
    let (claims, token) = typical(&ring);
    let verifier = Verifier::new(ring).with_audience("publish");
    let body = URL_SAFE_NO_PAD
        .decode(&token[format::PREFIX.len()..])
        .unwrap();
    let encode = |body: &[u8]| format!("{}{}", format::PREFIX, URL_SAFE_NO_PAD.encode(body));

    // A forged tag: one tag bit flipped, the encoding still canonical.
    let mut forged = body.clone();
    *forged.last_mut().unwrap() ^= 0x80;
    let forged = encode(&forged);

    // A correct tag over a payload the parser refuses (a byte after the
    // last claim): the payload check runs, and allocates nothing either.
    let mut signed = body[..body.len() - format::TAG_LEN].to_vec();
    signed.push(0);
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
    mac.update(format::PREFIX.as_bytes());
    mac.update(&signed);
    signed.extend_from_slice(&mac.finalize().into_bytes());
    let trailing_byte = encode(&signed);

    let unknown_key = typical(&KeyRing::new(Key::generate().unwrap())).1;
    let no_audience = Issuer::new(verifier.ring().clone())
        .mint(&Claims::new("alice", Duration::from_secs(60)))
        .unwrap();
    let too_long = format!("{}{}", format::PREFIX, "A".repeat(2000));
    let trailing_space = format!("{token} ");

    let cases: [(&str, &str); 9] = [
        (&forged, "bad_tag"),
        (&trailing_byte, "malformed"),
        (&unknown_key, "unknown_key_id"),
        (&no_audience, "wrong_audience"),
        (&too_long, "too_long"),
        ("et3.AAAA", "unsupported_version"),
        ("hello", "malformed"),
        ("et2.AAAA=", "malformed"),
        (&trailing_space, "malformed"),
    ];
    for (token, kind) in cases {
        let err = verify_without_allocating(&verifier, token).unwrap_err();
        assert_eq!(err.kind(), kind, "{token:?}: {err}");
    }

    // Time-based refusals, with a pinned clock.
    let after = claims.expires_at + time::Duration::hours(1);
    let before = claims.issued_at - time::Duration::hours(1);
    for (now, kind) in [(after, "expired"), (before, "not_yet_valid")] {
        let (result, count) = allocations(|| verifier.verify_at(&token, now));
        assert_eq!(result.unwrap_err().kind(), kind);
        assert_eq!(count, 0, "{kind}");
        let mut buffer = TokenBuffer::new();
        let (result, count) =
            allocations(|| verifier.verify_in_at(&token, now, &mut buffer).map(|_| ()));
        assert_eq!(result.unwrap_err().kind(), kind);
        assert_eq!(count, 0, "{kind}, into a buffer");
    }
}
