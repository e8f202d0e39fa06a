//! The encapsulated-token verifier for JavaScript: Node services and CDN
//! workers verify tokens offline, with the same core as a Rust instance.
//!
//! `new Verifier(ringJson, { audience, leewaySeconds, maxLength })` and
//! `verifier.verify(token, nowUnixSeconds)`; `wasm/README.md` documents the
//! API with its TypeScript types. The time is the caller's: WebAssembly has
//! no clock of its own, and a worker's clock is `Date.now()`.
//!
//! Only the JavaScript glue lives here; every rule is the core's.
#![forbid(unsafe_code)]

use std::time::Duration;

use encapsulated_token::{KeyRing, TokenBuffer, VerifiedToken, VerifyError};
use js_sys::{Array, Error, JSON, Object, Reflect};
use serde::Serialize;
use time::OffsetDateTime;
use wasm_bindgen::prelude::*;

/// The option names `new Verifier` understands; any other is refused, so a
/// misspelt option never silently falls back to a default.
const OPTIONS: [&str; 3] = ["audience", "leewaySeconds", "maxLength"];

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** Options of `new Verifier`; any other name is refused. */
export interface VerifierOptions {
  /** The audience tokens must carry; absent or null: tokens must carry none. */
  audience?: string | null;
  /** Clock skew allowed at both ends of a token's life, seconds (default 30). */
  leewaySeconds?: number;
  /** Longest token accepted, in bytes (default and maximum 1024). */
  maxLength?: number;
}

/** What a valid token says. Times are Unix seconds. */
export interface Claims {
  subject: string;
  audience: string | null;
  issuedAt: number;
  expiresAt: number;
  sessionStartedAt: number;
  /** 32 lowercase hex digits. */
  tokenId: string;
  /** The key that signed it: 8 lowercase hex digits. */
  keyId: string;
  attributes: Record<string, string>;
}

/** What `verify` and `new Verifier` throw. */
export interface VerifyError extends Error {
  reason:
    | "too_long" | "malformed" | "unsupported_version" | "unknown_key_id" | "bad_tag"
    | "expired" | "not_yet_valid" | "wrong_audience"
    | "invalid_time" | "invalid_ring" | "invalid_options";
  /** For `malformed`: the byte of the token where the problem starts; else null. */
  position?: number | null;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// The options object, typed `VerifierOptions` in TypeScript.
    #[wasm_bindgen(typescript_type = "VerifierOptions")]
    pub type Options;
}

/// A verifier holding a key ring (from `etoken key export`), an expected
/// audience, a clock-skew leeway and a length bound.
#[wasm_bindgen]
pub struct Verifier {
    inner: encapsulated_token::Verifier,
    /// Reused by every call: decoding needs no allocation.
    buffer: TokenBuffer,
}

#[wasm_bindgen]
impl Verifier {
    /// Reads the ring document and the options; throws an `Error` with
    /// `reason` `"invalid_ring"` or `"invalid_options"`.
    #[wasm_bindgen(constructor)]
    pub fn new(ring_json: &str, options: Option<Options>) -> Result<Verifier, JsValue> {
        let ring = KeyRing::from_ring_json(ring_json.as_bytes())
            .map_err(|e| refusal("invalid_ring", &e.to_string()))?;
        let mut inner = encapsulated_token::Verifier::new(ring);
        if let Some(options) = options {
            inner = configure(inner, options.unchecked_ref())?;
        }
        Ok(Verifier {
            inner,
            buffer: TokenBuffer::new(),
        })
    }

    /// Verifies `token` as of `now`, in Unix seconds (whole seconds; pass
    /// `Math.floor(Date.now() / 1000)`). Returns the claims, or throws an
    /// `Error` whose `reason` is the refusal kind (`bad_tag`, `expired`,
    /// `malformed`, ...), with `position` for `malformed`.
    #[wasm_bindgen(unchecked_return_type = "Claims")]
    pub fn verify(&mut self, token: &str, now: f64) -> Result<Object, JsValue> {
        let now = instant(now)?;
        match self.inner.verify_in_at(token, now, &mut self.buffer) {
            // One string across the boundary and one `JSON.parse`: setting
            // the fields one by one from Rust cost 4 µs more per verify.
            Ok(verified) => {
                let claims = ClaimsJson {
                    subject: verified.subject(),
                    audience: verified.audience(),
                    issued_at: verified.issued_at().unix_timestamp(),
                    expires_at: verified.expires_at().unix_timestamp(),
                    session_started_at: verified.session_started_at().unix_timestamp(),
                    token_id: verified.token_id().to_string(),
                    key_id: verified.key_id().to_string(),
                    attributes: Attributes(&verified),
                };
                let text = serde_json::to_string(&claims).unwrap_or_default();
                Ok(JSON::parse(&text)?.unchecked_into())
            }
            Err(e) => Err(verify_refusal(&e)),
        }
    }

    /// The ids of the ring's keys (8 hex digits each), active key first.
    #[wasm_bindgen(getter, js_name = keyIds, unchecked_return_type = "string[]")]
    pub fn key_ids(&self) -> Array {
        let ring = self.inner.ring();
        let active = ring.active().id();
        let ids = Array::new();
        ids.push(&active.to_string().into());
        for key in ring.keys().filter(|k| k.id() != active) {
            ids.push(&key.id().to_string().into());
        }
        ids
    }
}

/// The claims as `verify` returns them (the TypeScript `Claims`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ClaimsJson<'a> {
    subject: &'a str,
    audience: Option<&'a str>,
    issued_at: i64,
    expires_at: i64,
    session_started_at: i64,
    token_id: String,
    key_id: String,
    attributes: Attributes<'a>,
}

/// A token's attributes as a JSON object, straight from the token.
struct Attributes<'a>(&'a VerifiedToken<&'a TokenBuffer>);

impl Serialize for Attributes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.attributes())
    }
}

fn configure(
    mut verifier: encapsulated_token::Verifier,
    options: &Object,
) -> Result<encapsulated_token::Verifier, JsValue> {
    let invalid = |message: String| refusal("invalid_options", &message);
    for name in Object::keys(options).iter() {
        let name = name.as_string().unwrap_or_default();
        if !OPTIONS.contains(&name.as_str()) {
            return Err(invalid(format!(
                "unknown option {name:?}: the options are audience, leewaySeconds and maxLength"
            )));
        }
    }
    let audience = get(options, "audience");
    if !audience.is_undefined() && !audience.is_null() {
        let Some(audience) = audience.as_string() else {
            return Err(invalid("audience must be a string, null or absent".into()));
        };
        verifier = verifier.with_audience(audience);
    }
    if let Some(leeway) = whole_number(options, "leewaySeconds").map_err(invalid)? {
        verifier = verifier.with_leeway(Duration::from_secs(leeway));
    }
    if let Some(max) = whole_number(options, "maxLength").map_err(invalid)? {
        verifier = verifier.with_max_len(usize::try_from(max).unwrap_or(usize::MAX));
    }
    Ok(verifier)
}

/// A non-negative whole number option, or `None` when absent.
fn whole_number(options: &Object, name: &str) -> Result<Option<u64>, String> {
    let value = get(options, name);
    if value.is_undefined() {
        return Ok(None);
    }
    match value.as_f64() {
        // 2^53: every whole number below it is exact in a double.
        Some(n) if n.fract() == 0.0 && (0.0..9_007_199_254_740_992.0).contains(&n) => {
            Ok(Some(n as u64))
        }
        _ => Err(format!("{name} must be a whole number of 0 or more")),
    }
}

/// The instant a caller's Unix seconds name; throws `invalid_time` for a
/// fraction, a non-number or a time outside years -9999..=9999.
fn instant(unix_seconds: f64) -> Result<OffsetDateTime, JsValue> {
    let refused = || {
        refusal(
            "invalid_time",
            // No float in the text: formatting one would double the module's size
            // of number formatting for an error message.
            "the time must be whole Unix seconds between years -9999 and 9999, \
             such as Math.floor(Date.now() / 1000)",
        )
    };
    if !unix_seconds.is_finite() || unix_seconds.fract() != 0.0 || unix_seconds.abs() > 1e15 {
        return Err(refused());
    }
    OffsetDateTime::from_unix_timestamp(unix_seconds as i64).map_err(|_| refused())
}

fn verify_refusal(e: &VerifyError) -> JsValue {
    let error = refusal(e.kind(), &e.to_string());
    let position = match e {
        VerifyError::Malformed { position, .. } => JsValue::from(*position as f64),
        _ => JsValue::NULL,
    };
    set(error.unchecked_ref(), "position", &position);
    error
}

/// An `Error` with `message` and a machine-readable `reason`.
fn refusal(reason: &str, message: &str) -> JsValue {
    let error = Error::new(message);
    set(&error, "reason", &reason.into());
    error.into()
}

fn get(object: &Object, name: &str) -> JsValue {
    // Reading a property of a plain object does not throw.
    Reflect::get(object, &name.into()).unwrap_or(JsValue::UNDEFINED)
}

fn set(object: &Object, name: &str, value: &JsValue) {
    // Defining a property on an object we created does not fail.
    let _ = Reflect::set(object, &name.into(), value);
}
