//! `etoken mint`, `verify` and `inspect`: tokens on the command line, for
//! local development tokens and for operators chasing a refused cookie.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use encapsulated_token::{Claims, Issuer, KeyId, MAX_TOKEN_LEN, Verifier, decode_unverified};
use serde::Serialize;

use crate::keydir::open_ring;

/// `--keys DIR`, shared by `mint` and `verify`.
#[derive(Args)]
struct KeysArg {
    /// The key directory; `mint` signs with its active key.
    #[arg(
        long = "keys",
        visible_alias = "dir",
        value_name = "DIR",
        env = "ETOKEN_KEYS"
    )]
    keys: PathBuf,
}

/// `etoken mint`.
#[derive(Args)]
pub struct MintArgs {
    #[command(flatten)]
    keys: KeysArg,
    /// The subject: who the token authenticates.
    #[arg(long, value_name = "U")]
    user: String,
    /// How long the token is valid: 24h, 30m, 3600s, "1h 30m".
    #[arg(long, default_value = "24h", value_parser = parse_ttl)]
    ttl: Duration,
    /// The audience (the farm or tier the token is for).
    #[arg(long = "aud", visible_alias = "audience", value_name = "A")]
    audience: Option<String>,
    /// An attribute, name=value; repeat for more.
    #[arg(long = "attr", value_name = "K=V", value_parser = parse_attribute)]
    attributes: Vec<(String, String)>,
}

/// `etoken verify`.
#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    keys: KeysArg,
    /// The audience to expect; without it, a token minted for an audience is refused.
    #[arg(long = "aud", visible_alias = "audience", value_name = "A")]
    audience: Option<String>,
    /// The token, or `-` to read it from stdin.
    token: String,
}

/// `etoken inspect`.
#[derive(Args)]
pub struct InspectArgs {
    /// The token, or `-` to read it from stdin.
    token: String,
}

/// A lifetime of at least one second.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = humantime::parse_duration(text).map_err(|e| format!("{e} (try 24h, 30m, 3600s)"))?;
    if ttl < Duration::from_secs(1) {
        return Err("must be at least 1s".into());
    }
    Ok(ttl)
}

fn parse_attribute(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.into(), value.into())),
        _ => Err(format!("{text:?} is not name=value")),
    }
}

/// The claims as `verify` and `inspect` print them: times are Unix seconds.
#[derive(Serialize)]
struct Shown {
    verified: bool,
    key_id: String,
    #[serde(flatten)]
    claims: Claims,
}

fn print(shown: &Shown) {
    println!(
        "{}",
        serde_json::to_string_pretty(shown).unwrap_or_default()
    );
}

/// The token argument, or stdin's contents for `-`, without surrounding
/// whitespace.
fn read_token(arg: &str) -> Result<String, String> {
    if arg != "-" {
        return Ok(arg.trim().to_owned());
    }
    if std::io::stdin().is_terminal() {
        return Err("token `-` means stdin, but stdin is a terminal: pipe the token in".into());
    }
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_TOKEN_LEN as u64 * 2)
        .read_to_string(&mut text)
        .map_err(|e| format!("reading the token from stdin: {e}"))?;
    Ok(text.trim().to_owned())
}

/// `mint`: prints the token alone on stdout.
pub fn mint(args: &MintArgs) -> Result<(), String> {
    let ring = open_ring(&args.keys.keys)?;
    let mut claims = Claims::new(args.user.as_str(), args.ttl);
    if let Some(audience) = &args.audience {
        claims = claims.with_audience(audience.as_str());
    }
    for (name, value) in &args.attributes {
        claims = claims.with_attribute(name.as_str(), value.as_str());
    }
    let token = Issuer::new(ring).mint(&claims).map_err(|e| e.to_string())?;
    println!("{token}");
    Ok(())
}

/// `verify`: the claims as JSON, or the reason the token is refused.
pub fn verify(args: &VerifyArgs) -> Result<(), String> {
    let token = read_token(&args.token)?;
    let ring = open_ring(&args.keys.keys)?;
    let mut verifier = Verifier::new(ring);
    if let Some(audience) = &args.audience {
        verifier = verifier.with_audience(audience.as_str());
    }
    let verified = verifier
        .verify(&token)
        .map_err(|e| format!("refused ({}): {e}", e.kind()))?;
    print(&Shown {
        verified: true,
        key_id: verified.key_id().to_string(),
        claims: verified.to_claims(),
    });
    Ok(())
}

/// `inspect`: the claims as JSON, marked unverified, and a warning on stderr.
pub fn inspect(args: &InspectArgs) -> Result<(), String> {
    let token = read_token(&args.token)?;
    let decoded =
        decode_unverified(&token).map_err(|e| format!("cannot decode ({}): {e}", e.kind()))?;
    eprintln!(
        "etoken: NOT verified: decoded without a key; the tag, expiry and audience are unchecked"
    );
    let key_id: KeyId = decoded.key_id;
    print(&Shown {
        verified: false,
        key_id: key_id.to_string(),
        claims: decoded.claims,
    });
    Ok(())
}
