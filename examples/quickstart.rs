//! Mint a token and verify it, as two instances of a farm would.
//!
//! Run with `cargo run --example quickstart`.

use std::sync::Arc;
use std::time::Duration;

use encapsulated_token::{Claims, Issuer, Key, KeyRing, Verifier};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One ring, shared by every instance (in production: `KeyRing::load(dir)`).
    let ring = Arc::new(KeyRing::new(Key::generate()?));
    println!(
        "active key {} fingerprint {}",
        ring.active().id(),
        ring.active().fingerprint()
    );

    let claims = Claims::new("alice", Duration::from_secs(24 * 3600))
        .with_audience("publish")
        .with_attribute("role", "editor");
    let token = Issuer::new(ring.clone()).mint(&claims)?;
    println!("token ({} characters): {token}", token.len());

    let verified = Verifier::new(ring)
        .with_audience("publish")
        .verify(&token)?;
    println!(
        "verified: subject={} expires_at={} role={:?}",
        verified.subject(),
        verified.expires_at(),
        verified.attribute("role")
    );
    Ok(())
}
