//! The verify hot path, side by side with its floor and its peers.
//!
//! Ids are fixed (tooling reads `target/criterion/<group>/<id>/new/estimates.json`):
//! - `verify/*`: one token checked per iteration, by us, by a bare HMAC (the
//!   floor of the format), by `jsonwebtoken`, `jwt-simple` and `cookie`.
//! - `mint/*`: one token made per iteration, by us and by `jsonwebtoken`.
//! - `scaling/threads_{1,2}`: each thread verifies its own batch; throughput
//!   is in tokens, so the two figures compare directly.
//!
//! Every setup asserts that what the loop measures succeeds (or, for the
//! forged tag, fails for the right reason), so a figure never times an error
//! path by mistake. Run: `cargo bench -p encapsulated-token --bench verify`.

use std::collections::HashSet;
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use encapsulated_token::{
    Claims, Issuer, Key, KeyId, KeyRing, TokenBuffer, Verifier, VerifyError, format,
};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

const SECRET: [u8; 32] = [0x5a; 32];
const AUDIENCE: &str = "publish";
/// Exactly 20 characters, the typical subject of the brief.
const SUBJECT: &str = "alice@example.org.uk";
const LIFETIME: Duration = Duration::from_secs(3600);

/// The typical token's claims: subject, audience, two attributes and a
/// fresh 128-bit token id.
fn typical_claims(subject: &str) -> Claims {
    Claims::new(subject, LIFETIME)
        .with_audience(AUDIENCE)
        .with_attribute("role", "editor")
        .with_attribute("tenant", "acme")
}

/// The key ring, loaded once: one key with a known secret, so the floor and
/// the peers can be keyed with the same bytes.
fn ring() -> Arc<KeyRing> {
    let key = Key::from_secret(
        KeyId::from_bytes([1, 2, 3, 4]),
        SECRET,
        time::OffsetDateTime::now_utc(),
    );
    Arc::new(KeyRing::new(key))
}

/// The same claims as a JWT (or a JSON cookie) carries them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct JwtClaims {
    sub: String,
    iat: u64,
    exp: u64,
    jti: String,
    aud: String,
    role: String,
    tenant: String,
}

impl JwtClaims {
    fn from_claims(c: &Claims) -> Self {
        Self {
            sub: c.subject.clone(),
            iat: c.issued_at.unix_timestamp() as u64,
            exp: c.expires_at.unix_timestamp() as u64,
            jti: c.token_id.to_string(),
            aud: c.audience.clone().unwrap_or_default(),
            role: c.attributes["role"].clone(),
            tenant: c.attributes["tenant"].clone(),
        }
    }
}

/// The two custom claims, for `jwt-simple`, which holds the registered ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Custom {
    role: String,
    tenant: String,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Re-encodes `token` with the last byte of its tag flipped: canonical, so
/// only the tag check can refuse it.
fn forge_tag(token: &str) -> String {
    let mut body = URL_SAFE_NO_PAD
        .decode(&token[format::PREFIX.len()..])
        .expect("a minted token decodes");
    *body.last_mut().expect("a body is never empty") ^= 1;
    format!("{}{}", format::PREFIX, URL_SAFE_NO_PAD.encode(body))
}

/// What a token's tag covers ("et2." || key id || payload), and the tag.
fn covered_and_tag(token: &str) -> (Vec<u8>, Vec<u8>) {
    let body = URL_SAFE_NO_PAD
        .decode(&token[format::PREFIX.len()..])
        .expect("decode");
    let (signed, tag) = body.split_at(body.len() - format::TAG_LEN);
    ([format::PREFIX.as_bytes(), signed].concat(), tag.to_vec())
}

/// The floor of the format: HMAC-SHA256 of `covered` from a key schedule
/// computed once (`keyed`, cloned), then a constant-time compare with `tag`.
fn floor(keyed: &Hmac<Sha256>, covered: &[u8], tag: &[u8]) -> bool {
    let mut mac = keyed.clone();
    mac.update(covered);
    mac.finalize().into_bytes().as_slice().ct_eq(tag).into()
}

fn verify_group(c: &mut Criterion) {
    let ring = ring();
    let claims = typical_claims(SUBJECT);
    let token = Issuer::new(ring.clone()).mint(&claims).expect("mint");
    let verifier = Verifier::new(ring.clone()).with_audience(AUDIENCE);
    assert_eq!(verifier.verify(&token).expect("verify").to_claims(), claims);

    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(1));

    // `verify_in`: the per-request form (the tower layer's), decoding into a
    // buffer the caller keeps, so the result is a small view. The result
    // borrows the buffer, so it is consumed by `black_box` inside the loop.
    let mut buffer = TokenBuffer::new();
    group.bench_function("encapsulated", |b| {
        b.iter(|| {
            let _ = black_box(verifier.verify_in(black_box(&token), &mut buffer));
        })
    });

    // The floor: HMAC-SHA256 over exactly the bytes our tag covers
    // ("et2." || key id || payload), keyed once, then a constant-time compare.
    let (covered, tag) = covered_and_tag(&token);
    let tag = tag.as_slice();
    let keyed = Hmac::<Sha256>::new_from_slice(&SECRET).expect("any key length");
    assert!(floor(&keyed, &covered, tag));
    group.bench_function("hmac_floor", |b| {
        b.iter(|| floor(&keyed, black_box(&covered), black_box(tag)))
    });

    // jsonwebtoken: decode and validate (signature, exp, aud) into owned claims.
    let jwt_claims = JwtClaims::from_claims(&claims);
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let jwt = jsonwebtoken::encode(
        &header,
        &jwt_claims,
        &jsonwebtoken::EncodingKey::from_secret(&SECRET),
    )
    .expect("jwt encode");
    let decoding_key = jsonwebtoken::DecodingKey::from_secret(&SECRET);
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "aud", "sub"]);
    let decoded = jsonwebtoken::decode::<JwtClaims>(&jwt, &decoding_key, &validation);
    assert_eq!(decoded.expect("jwt decode").claims, jwt_claims);
    group.bench_function("jsonwebtoken_hs256", |b| {
        b.iter(|| jsonwebtoken::decode::<JwtClaims>(black_box(&jwt), &decoding_key, &validation))
    });

    // jwt-simple: the same claims, the registered ones in its own struct.
    {
        use jwt_simple::prelude::{HS256Key, MACLike, VerificationOptions};
        let key = HS256Key::from_bytes(&SECRET);
        let custom = Custom {
            role: jwt_claims.role.clone(),
            tenant: jwt_claims.tenant.clone(),
        };
        let simple_claims = jwt_simple::prelude::Claims::with_custom_claims(
            custom.clone(),
            jwt_simple::prelude::Duration::from_secs(LIFETIME.as_secs()),
        )
        .with_subject(&jwt_claims.sub)
        .with_audience(AUDIENCE)
        .with_jwt_id(&jwt_claims.jti);
        let jwt = key.authenticate(simple_claims).expect("jwt-simple sign");
        let options = VerificationOptions {
            allowed_audiences: Some(HashSet::from([AUDIENCE.to_owned()])),
            ..VerificationOptions::default()
        };
        let verified = key.verify_token::<Custom>(&jwt, Some(options.clone()));
        assert_eq!(verified.expect("jwt-simple verify").custom, custom);
        group.bench_function("jwt_simple_hs256", |b| {
            b.iter(|| key.verify_token::<Custom>(black_box(&jwt), Some(options.clone())))
        });
    }

    // cookie: a SignedJar cookie whose value is the claims as JSON; verify the
    // signature, parse, then check expiry and audience as the others do.
    {
        use cookie::{Cookie, CookieJar};
        let key = cookie::Key::derive_from(&SECRET);
        let mut jar = CookieJar::new();
        let json = serde_json::to_string(&jwt_claims).expect("json");
        jar.signed_mut(&key).add(Cookie::new("login-token", json));
        let raw = jar.get("login-token").expect("added").clone().into_owned();
        let signed = jar.signed(&key);
        let check = |raw: &Cookie<'static>| -> Option<JwtClaims> {
            let cookie = signed.verify(raw.clone())?;
            let parsed: JwtClaims = serde_json::from_str(cookie.value()).ok()?;
            (parsed.exp > unix_now() && parsed.aud == AUDIENCE).then_some(parsed)
        };
        assert_eq!(check(&raw), Some(jwt_claims.clone()));
        group.bench_function("cookie_signed", |b| b.iter(|| check(black_box(&raw))));
    }

    // A forged tag: refused by the tag check, before the payload is parsed.
    let forged = forge_tag(&token);
    assert!(matches!(
        verifier.verify_in(&forged, &mut buffer),
        Err(VerifyError::BadTag { .. })
    ));
    group.bench_function("encapsulated_reject_bad_tag", |b| {
        b.iter(|| {
            let _ = black_box(verifier.verify_in(black_box(&forged), &mut buffer));
        })
    });
    group.finish();

    // Not a target: `verify`, whose result owns its ~800 decoded bytes and
    // is moved out by value, for the price of that convenience.
    let mut group = c.benchmark_group("verify_owned");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encapsulated", |b| {
        b.iter(|| verifier.verify(black_box(&token)))
    });
    group.finish();
}

fn mint_group(c: &mut Criterion) {
    let ring = ring();
    let claims = typical_claims(SUBJECT);
    let issuer = Issuer::new(ring.clone());
    let verifier = Verifier::new(ring).with_audience(AUDIENCE);
    let token = issuer.mint(&claims).expect("mint");
    assert_eq!(verifier.verify(&token).expect("verify").to_claims(), claims);

    let jwt_claims = JwtClaims::from_claims(&claims);
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let encoding_key = jsonwebtoken::EncodingKey::from_secret(&SECRET);
    assert!(jsonwebtoken::encode(&header, &jwt_claims, &encoding_key).is_ok());

    let mut group = c.benchmark_group("mint");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encapsulated", |b| {
        b.iter(|| issuer.mint(black_box(&claims)))
    });
    group.bench_function("jsonwebtoken_hs256", |b| {
        b.iter(|| jsonwebtoken::encode(&header, black_box(&jwt_claims), &encoding_key))
    });
    group.finish();
}

/// Tokens each thread verifies per iteration: about a third of a millisecond
/// of work, so one spawn per sample is noise.
const BATCH: usize = 1024;

fn scaling_group(c: &mut Criterion) {
    let ring = ring();
    let issuer = Issuer::new(ring.clone());
    let verifier = Arc::new(Verifier::new(ring).with_audience(AUDIENCE));
    // Each thread gets its own batch of distinct tokens: no shared writes,
    // only the read-only key schedule is common to both.
    let batches: Vec<Vec<String>> = (0..2)
        .map(|t| {
            (0..BATCH)
                .map(|i| {
                    let subject = format!("user{t}-{i:05}@example.org");
                    issuer.mint(&typical_claims(&subject)).expect("mint")
                })
                .collect()
        })
        .collect();

    scaling(c, "scaling", &batches, |batch| {
        let mut buffer = TokenBuffer::new();
        let mut accepted = 0;
        for token in batch {
            let verified = verifier.verify_in(black_box(token), &mut buffer);
            accepted += usize::from(verified.is_ok());
        }
        assert_eq!(accepted, batch.len());
    });

    // Not a target, a control: the HMAC floor over the same batches, run
    // the same way. How far *it* scales is what the machine allows.
    let signed: Vec<Vec<(Vec<u8>, Vec<u8>)>> = batches
        .iter()
        .map(|batch| batch.iter().map(|token| covered_and_tag(token)).collect())
        .collect();
    let keyed = Hmac::<Sha256>::new_from_slice(&SECRET).expect("any key length");
    scaling(c, "scaling_floor", &signed, |batch| {
        let mut matched = 0;
        for (covered, tag) in batch {
            matched += usize::from(floor(&keyed, black_box(covered), tag));
        }
        assert_eq!(matched, batch.len());
    });
}

/// Group `name`: `threads_1` runs `pass` over the first of `batches` (each
/// of `BATCH` items), `threads_2` over the first two at once, one thread
/// each. Throughput is in items, so the two compare directly.
fn scaling<T: Sync>(c: &mut Criterion, name: &str, batches: &[T], pass: impl Fn(&T) + Sync) {
    let mut group = c.benchmark_group(name);
    // A sample is a thousand items per thread or more: fewer samples fit
    // the measurement time.
    group.sample_size(30);
    for threads in [1usize, 2] {
        group.throughput(Throughput::Elements((threads * BATCH) as u64));
        group.bench_function(format!("threads_{threads}"), |b| {
            b.iter_custom(|iters| in_threads(&batches[..threads], iters, &pass))
        });
    }
    group.finish();
}

/// Runs `pass` over each of `batches` in a thread of its own, `iters` times.
/// The clock runs from the first thread's start to the last thread's end,
/// after all have been spawned and have met at a barrier: thread creation
/// is not what is measured.
fn in_threads<T: Sync>(batches: &[T], iters: u64, pass: impl Fn(&T) + Sync) -> Duration {
    let ready = Barrier::new(batches.len());
    let runs: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let workers: Vec<_> = batches
            .iter()
            .map(|batch| {
                let (ready, pass) = (&ready, &pass);
                s.spawn(move || {
                    ready.wait();
                    let start = Instant::now();
                    for _ in 0..iters {
                        pass(batch);
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .collect()
    });
    let start = runs.iter().map(|run| run.0).min().expect("a worker");
    let end = runs.iter().map(|run| run.1).max().expect("a worker");
    end - start
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = verify_group, mint_group, scaling_group
}
criterion_main!(benches);
