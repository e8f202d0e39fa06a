//! The format decoder alone (`decode_unverified`), with a structure-aware
//! input.
//!
//! The input is a token *body* (key id, payload, tag), not its text: the
//! target spells it `et2.` + canonical base64url, so the fuzzer works on the
//! binary payload rather than scrambling base64 (the `verify` target covers
//! the text). A custom mutator splits the payload at its length bytes and
//! mutates it field by field (times at their boundaries, text with control
//! characters or broken UTF-8, attributes added, dropped, swapped or
//! duplicated, a lying count, trailing bytes), keeping the framing intact so
//! inputs reach the deep rules; a quarter of the time, or when the input does
//! not frame, it falls back to libFuzzer's byte-level mutations.
//!
//! Checks: the decoder agrees with the independent model of FORMAT.md in
//! `fuzz_support` on every outcome (claims, or refusal kind and position),
//! and an accepted token is canonical: re-minting its claims under its key id
//! gives back the same key id and payload bytes.
#![no_main]

use encapsulated_token::{Issuer, Key, KeyRing, decode_unverified};
use fuzz_support::{
    KEYS, MAX_TOKEN_LEN, MIN_BODY_LEN, Payload, Refusal, claims_of, decode_text, parse_payload,
    token_of,
};
use libfuzzer_sys::{fuzz_mutator, fuzz_target, fuzzer_mutate};
use time::OffsetDateTime;

fuzz_target!(|body: &[u8]| {
    let token = token_of(body);
    let expected = if token.len() > MAX_TOKEN_LEN {
        Err(Refusal {
            kind: "too_long",
            position: None,
        })
    } else if body.len() < MIN_BODY_LEN {
        Err(Refusal {
            kind: "malformed",
            position: Some(token.len()),
        })
    } else {
        assert_eq!(decode_text(&token).as_deref(), Ok(body), "model base64");
        parse_payload(&body[4..body.len() - 32])
    };
    let decoded = decode_unverified(&token);
    let decoded = match (decoded, expected) {
        (Err(e), Err(refusal)) => {
            assert_eq!(Refusal::of(&e), refusal, "{e}");
            return;
        }
        (Ok(decoded), Ok(payload)) => {
            assert_eq!(decoded.claims, claims_of(&payload));
            decoded
        }
        (got, expected) => panic!("decoder gave {got:?}, FORMAT.md says {expected:?}"),
    };
    assert_eq!(decoded.key_id.as_bytes()[..], body[..4]);
    assert_eq!(decoded.tag[..], body[body.len() - 32..]);

    // Canonical: the claims have exactly one payload, and it is this one.
    let key = Key::from_secret(decoded.key_id, [7; 32], OffsetDateTime::UNIX_EPOCH);
    let minted = Issuer::new(KeyRing::new(key))
        .mint(&decoded.claims)
        .expect("whatever decodes can be minted");
    let minted = decode_text(&minted).expect("minted tokens decode");
    assert_eq!(minted.len(), body.len());
    assert_eq!(minted[..body.len() - 32], body[..body.len() - 32]);
});

/// xorshift64*: the mutator must be a function of its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

const MAX_UNIX_TIME: u64 = fuzz_support::MAX_UNIX_TIME;

fn time_near(rng: &mut Rng, other: u64) -> u64 {
    match rng.below(10) {
        0 => 0,
        1 => MAX_UNIX_TIME,
        2 => MAX_UNIX_TIME + 1,
        3 => u64::MAX,
        4 => other,
        5 => other.wrapping_sub(1),
        6 => other.wrapping_add(1),
        7 => 1_800_000_000,
        8 => rng.next() % (MAX_UNIX_TIME + 1),
        _ => rng.next(),
    }
}

const NAME_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";

fn name(rng: &mut Rng) -> Vec<u8> {
    match rng.below(6) {
        0 => vec![rng.pick(NAME_CHARS); 32],
        1 => vec![rng.pick(NAME_CHARS); 33],
        2 => rng
            .pick(&[&b"role"[..], b"tenant", b"a", b"z", b"A", b"_", b"-", b"."])
            .to_vec(),
        _ => (0..1 + rng.below(6))
            .map(|_| rng.pick(NAME_CHARS))
            .collect(),
    }
}

/// Text edits that land on the rules: bounds, control characters, UTF-8.
fn edit_text(rng: &mut Rng, text: &mut Vec<u8>) {
    let at = rng.below(text.len() + 1);
    match rng.below(12) {
        0 => text.clear(),
        1 => *text = vec![b'a'; rng.pick(&[1, 32, 33, 64, 65, 128, 129, 255])],
        2 => text.insert(at, rng.pick(&[0x00, 0x09, 0x0a, 0x1f, 0x20, 0x7e, 0x7f])),
        3 => text.insert(
            at,
            rng.pick(&[0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xed, 0xf0, 0xf4, 0xf5, 0xff]),
        ),
        4 => {
            let piece: &[u8] = rng
                .pick(&["é", "€", "😀", "\u{85}", "\u{2028}", "\u{feff}"])
                .as_bytes();
            text.splice(at..at, piece.iter().copied());
        }
        5 => {
            // Half a multi-byte character.
            let piece = rng.pick(&["é", "€", "😀"]).as_bytes();
            let cut = 1 + rng.below(piece.len() - 1);
            text.splice(at..at, piece[..cut].iter().copied());
        }
        6 if !text.is_empty() => {
            text.remove(at.min(text.len() - 1));
        }
        7 => text.insert(at, rng.pick(NAME_CHARS)),
        _ => {
            // libFuzzer's own mutations, confined to this field.
            let len = text.len();
            text.resize(len.max(1) * 2 + 8, 0);
            let max = text.len();
            let new_len = fuzzer_mutate(text, len, max);
            text.truncate(new_len);
        }
    }
    text.truncate(255);
}

fn mutate(rng: &mut Rng, key_id: &mut [u8; 4], p: &mut Payload) {
    let n = p.attributes.len();
    match rng.below(16) {
        0 => p.issued_at = time_near(rng, p.expires_at),
        1 if rng.below(2) == 0 => p.session_started_at = time_near(rng, p.issued_at),
        1 => p.expires_at = time_near(rng, p.issued_at),
        2 => p.token_id[rng.below(16)] = rng.next() as u8,
        3 => edit_text(rng, &mut p.subject),
        4 => edit_text(rng, &mut p.audience),
        5 => {
            let mut value = Vec::new();
            if rng.below(2) == 0 {
                edit_text(rng, &mut value);
            }
            p.attributes.insert(rng.below(n + 1), (name(rng), value));
        }
        6 if n > 0 => {
            p.attributes.remove(rng.below(n));
        }
        7 if n > 1 => p.attributes.swap(rng.below(n), rng.below(n)),
        8 if n > 0 => {
            let i = rng.below(n);
            p.attributes.insert(i, p.attributes[i].clone());
        }
        9 if n > 0 => {
            let i = rng.below(n);
            edit_text(rng, &mut p.attributes[i].0);
        }
        10 if n > 0 => {
            let i = rng.below(n);
            edit_text(rng, &mut p.attributes[i].1);
        }
        11 => p.count_override = Some(rng.pick(&[0, 1, 7, 8, 9, 255]) as u8),
        12 => p.trailing = (0..rng.below(3)).map(|_| rng.next() as u8).collect(),
        13 => {
            *key_id = if rng.below(2) == 0 {
                KEYS[rng.below(2)].0
            } else {
                (rng.next() as u32).to_be_bytes()
            }
        }
        14 => p.attributes.sort(),
        _ => {
            // Several edits at once.
            for _ in 0..2 + rng.below(3) {
                mutate(rng, key_id, p);
            }
        }
    }
}

fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
    let mut rng = Rng(u64::from(seed) << 1 | 1);
    if rng.below(4) == 0 || size < 4 + 32 {
        return fuzzer_mutate(data, size, max_size);
    }
    let (head, rest) = data[..size].split_at(4);
    let (payload, tag) = rest.split_at(rest.len() - 32);
    let Some(mut p) = Payload::frame(payload) else {
        return fuzzer_mutate(data, size, max_size);
    };
    let mut key_id: [u8; 4] = head.try_into().unwrap();
    let tag: [u8; 32] = tag.try_into().unwrap();
    mutate(&mut rng, &mut key_id, &mut p);

    let mut body = key_id.to_vec();
    p.encode(&mut body);
    body.extend_from_slice(&tag);
    if body.len() > max_size.min(data.len()) {
        return fuzzer_mutate(data, size, max_size);
    }
    data[..body.len()].copy_from_slice(&body);
    body.len()
});
