//! HMAC-SHA256 (RFC 2104) with each key's padded blocks absorbed once, when
//! the key is made. A tag then costs the SHA-256 compressions of the message
//! and nothing else: the per-call work is copying two 32-byte states.
//!
//! Why not the `hmac` crate per call: its keyed state is a full buffered
//! hasher pair, and cloning, buffering and finalizing it cost about 60 ns
//! above its three compressions for a typical token (188 ns against 129 ns
//! here, benches/README.md) — a third of a whole verify on a machine with
//! SHA instructions. The compression function is still RustCrypto's
//! (`sha2::block_api::compress256`, which picks SHA-NI or ARMv8 SHA at run
//! time); only the padding is written here. The tests below check it against
//! the `hmac` crate for every message length up to a whole token, and
//! against RFC 4231.

use sha2::block_api::compress256;
use zeroize::Zeroize;

/// SHA-256's block length in bytes.
const BLOCK_LEN: usize = 64;

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const INITIAL_STATE: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// A key's HMAC schedule: the SHA-256 states after absorbing `key ^ ipad`
/// and `key ^ opad`. Each is as secret as the key (it forges tags), so both
/// are zeroized on drop. Not `Clone` or `Copy`: it lives in its key's heap
/// block (`keys::Secret`) and is never copied out of it.
pub(crate) struct MacKey {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl Drop for MacKey {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

impl MacKey {
    /// The schedule of `secret` (see [`MacKey::set`]).
    #[cfg(test)]
    pub(crate) fn new(secret: &[u8; 32]) -> Self {
        let mut key = Self::ZEROED;
        key.set(secret);
        key
    }

    /// No schedule yet: a place for [`MacKey::set`] to fill.
    pub(crate) const ZEROED: Self = Self {
        inner: [0; 8],
        outer: [0; 8],
    };

    /// Makes this the schedule of `secret`, in place, so the states are
    /// computed where they will stay (a key's heap block) rather than
    /// copied there. The secret is shorter than a block, so used as is
    /// (zero-padded), as RFC 2104 says.
    pub(crate) fn set(&mut self, secret: &[u8; 32]) {
        let mut inner_pad = [0x36u8; BLOCK_LEN];
        let mut outer_pad = [0x5cu8; BLOCK_LEN];
        for ((i, o), k) in inner_pad.iter_mut().zip(&mut outer_pad).zip(secret) {
            *i ^= k;
            *o ^= k;
        }
        self.inner = INITIAL_STATE;
        self.outer = INITIAL_STATE;
        compress256(&mut self.inner, &[inner_pad]);
        compress256(&mut self.outer, &[outer_pad]);
        inner_pad.zeroize();
        outer_pad.zeroize();
    }

    /// HMAC-SHA256 of `message`.
    pub(crate) fn mac(&self, message: &[u8]) -> [u8; 32] {
        let inner = finish(self.inner, message);
        finish(self.outer, &inner)
    }
}

/// SHA-256 that has absorbed one block (a pad) into `state`, over the rest of
/// its input, `message`: whole blocks straight from `message`, then its tail
/// and the padding (a 1 bit, zeros, the length in bits) in one or two stack
/// blocks.
fn finish(mut state: [u32; 8], message: &[u8]) -> [u8; 32] {
    let (blocks, tail) = message.as_chunks::<BLOCK_LEN>();
    if !blocks.is_empty() {
        compress256(&mut state, blocks);
    }
    let mut last = [[0u8; BLOCK_LEN]; 2];
    let used = if tail.len() < BLOCK_LEN - 8 { 1 } else { 2 };
    let padded = &mut last.as_flattened_mut()[..used * BLOCK_LEN];
    padded[..tail.len()].copy_from_slice(tail);
    padded[tail.len()] = 0x80;
    let bits = (BLOCK_LEN as u64 + message.len() as u64).wrapping_mul(8);
    padded[used * BLOCK_LEN - 8..].copy_from_slice(&bits.to_be_bytes());
    compress256(&mut state, &last[..used]);
    let mut digest = [0u8; 32];
    for (out, word) in digest.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&word.to_be_bytes());
    }
    digest
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, KeyInit, Mac};
    use proptest::prelude::*;
    use sha2::Sha256;

    fn reference(secret: &[u8; 32], message: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// Every length from empty to past the longest token (the prefix and a
    /// 765-byte body), so every block and padding boundary is crossed.
    #[test]
    fn agrees_with_the_hmac_crate_at_every_length() {
        let secret: [u8; 32] = std::array::from_fn(|i| (i * 7 + 1) as u8);
        let key = MacKey::new(&secret);
        let message: Vec<u8> = (0..900u32).map(|i| (i * 31 % 251) as u8).collect();
        for len in 0..=message.len() {
            let message = &message[..len];
            assert_eq!(
                key.mac(message),
                reference(&secret, message),
                "length {len}"
            );
        }
    }

    proptest! {
        #[test]
        fn agrees_with_the_hmac_crate_for_any_key_and_message(
            secret in any::<[u8; 32]>(),
            message in prop::collection::vec(any::<u8>(), 0..800),
        ) {
            let key = MacKey::new(&secret);
            prop_assert_eq!(key.mac(&message), reference(&secret, &message));
        }
    }

    /// RFC 4231 test case 2 ("Jefe", zero-padded to 32 bytes is the same
    /// HMAC key) and case 1 (twenty 0x0b bytes).
    #[test]
    fn rfc_4231_vectors() {
        let mut jefe = [0u8; 32];
        jefe[..4].copy_from_slice(b"Jefe");
        assert_eq!(
            MacKey::new(&jefe)
                .mac(b"what do ya want for nothing?")
                .to_vec(),
            hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        let mut twenty = [0u8; 32];
        twenty[..20].fill(0x0b);
        assert_eq!(
            MacKey::new(&twenty).mac(b"Hi There").to_vec(),
            hex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        );
    }
}
