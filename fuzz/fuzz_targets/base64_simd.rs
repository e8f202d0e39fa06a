//! The SIMD base64url decoder that verification runs on every token
//! (`base64`'s `Simd` engine, built with `simd-unsafe`: AVX2 or NEON,
//! detected at run time) against the same crate's scalar engine, same
//! alphabet and configuration. This is where attacker input meets `unsafe`
//! code, so the vector kernels are held to the scalar answer on every input:
//! the same decoded bytes or the same error, for any output buffer size
//! (ample, exact, one short, or arbitrarily short), and the same encoding.
//!
//! Input: one byte choosing the output buffer's size, then the text.
#![no_main]

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::Simd;
use base64::engine::general_purpose::{NO_PAD, URL_SAFE_NO_PAD};
use libfuzzer_sys::fuzz_target;

/// Built as `src/verify.rs` builds it.
static SIMD: LazyLock<Simd> = LazyLock::new(|| {
    #[cfg(target_arch = "x86_64")]
    if !std::is_x86_feature_detected!("avx2") {
        eprintln!(
            "base64_simd: no AVX2 on this CPU, so the engine is the scalar one: nothing is compared"
        );
    }
    Simd::url_safe(NO_PAD)
});

fuzz_target!(|data: &[u8]| {
    let Some((&choice, text)) = data.split_first() else {
        return;
    };
    let room = text.len() / 4 * 3 + 3;
    let exact = URL_SAFE_NO_PAD.decode(text).map(|bytes| bytes.len());
    let size = match (choice % 4, &exact) {
        (0, _) => room,
        (1, Ok(n)) => *n,
        (2, Ok(n)) => n.saturating_sub(1),
        _ => room.saturating_sub(usize::from(choice / 4)),
    };
    let mut vector_out = vec![0xa5u8; size];
    let mut scalar_out = vec![0xa5u8; size];
    let vector = SIMD.decode_slice(text, &mut vector_out);
    let scalar = URL_SAFE_NO_PAD.decode_slice(text, &mut scalar_out);
    assert_eq!(vector, scalar, "decoding {text:?} into {size} bytes");
    if let Ok(n) = vector {
        assert_eq!(vector_out[..n], scalar_out[..n], "decoding {text:?}");
        assert_eq!(exact, Ok(n), "decoding {text:?}");
    }
    assert_eq!(
        SIMD.encode(text),
        URL_SAFE_NO_PAD.encode(text),
        "encoding {text:?}"
    );
});
