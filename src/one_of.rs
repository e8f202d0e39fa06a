//! One identity out of several tokens a request carries: browsers send
//! every cookie of the same name that matches (stale ones under another
//! `Domain` or `Path`, or one planted by a sibling subdomain), so each is
//! verified and the valid ones must agree. The rule of the handler, the
//! nginx module and anything else that reads login cookies.

use std::fmt;

use time::OffsetDateTime;

use crate::{TokenBuffer, VerifiedToken, Verifier, VerifyError};

/// Why none of a request's tokens was accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OneOfError {
    /// No token verified: the error of the first (a malformed one when
    /// there was none at all).
    Invalid(VerifyError),
    /// Valid tokens name different subjects: none is trusted.
    Ambiguous {
        /// The subject of the valid tokens before.
        first: String,
        /// The other subject.
        other: String,
    },
}

impl OneOfError {
    /// A short machine-readable reason: `VerifyError::kind`, or
    /// `ambiguous_cookies`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Invalid(error) => error.kind(),
            Self::Ambiguous { .. } => "ambiguous_cookies",
        }
    }
}

impl fmt::Display for OneOfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(error) => error.fmt(f),
            Self::Ambiguous { first, other } => write!(
                f,
                "valid tokens for two users ({first:?} and {other:?}): none is trusted; log in again"
            ),
        }
    }
}

impl std::error::Error for OneOfError {}

impl Verifier {
    /// The one token of `tokens` to trust as of `now`: those that do not
    /// verify are ignored (junk ahead of the user's own cookie locks
    /// nobody out); if the valid ones name different subjects, none is
    /// trusted; among valid ones of one subject the most recently issued
    /// wins (the first on a tie). `buffer` is reused for each.
    ///
    /// ```
    /// use encapsulated_token::{Claims, Issuer, Key, KeyRing, OneOfError, TokenBuffer, Verifier};
    /// use std::time::Duration;
    ///
    /// let ring = KeyRing::new(Key::generate().unwrap());
    /// let issuer = Issuer::new(ring.clone());
    /// let alice = Claims::new("alice", Duration::from_secs(60));
    /// let now = alice.issued_at;
    /// let (a, b) = (issuer.mint(&alice).unwrap(), issuer.mint(&Claims { subject: "bob".into(), ..alice.clone() }).unwrap());
    /// let verifier = Verifier::new(ring);
    /// let mut buffer = TokenBuffer::new();
    ///
    /// let one = verifier.verify_one_of_at(["junk", a.as_str()], now, &mut buffer).unwrap();
    /// assert_eq!(one.subject(), "alice");
    /// let two = verifier.verify_one_of_at([a.as_str(), "junk", b.as_str()], now, &mut buffer);
    /// assert!(matches!(two, Err(OneOfError::Ambiguous { .. })));
    /// assert_eq!(verifier.verify_one_of_at(["junk"], now, &mut buffer).unwrap_err().kind(), "malformed");
    /// ```
    pub fn verify_one_of_at<'t>(
        &self,
        tokens: impl IntoIterator<Item = &'t str>,
        now: OffsetDateTime,
        buffer: &mut TokenBuffer,
    ) -> Result<VerifiedToken, OneOfError> {
        let mut chosen: Option<VerifiedToken> = None;
        let mut first_error = None;
        for token in tokens {
            let verified = match self.verify_in_at(token, now, buffer) {
                Ok(verified) => verified,
                Err(error) => {
                    first_error.get_or_insert(error);
                    continue;
                }
            };
            match &chosen {
                Some(best) if best.subject() != verified.subject() => {
                    return Err(OneOfError::Ambiguous {
                        first: best.subject().to_owned(),
                        other: verified.subject().to_owned(),
                    });
                }
                Some(best) if verified.issued_at() <= best.issued_at() => {}
                _ => chosen = Some(verified.into_owned()),
            }
        }
        chosen.ok_or(OneOfError::Invalid(first_error.unwrap_or(
            VerifyError::Malformed {
                position: 0,
                part: "token",
                problem: "is empty",
            },
        )))
    }
}

#[cfg(all(test, feature = "os"))]
mod tests {
    use super::*;
    use crate::{Claims, Issuer, Key, KeyRing};
    use std::time::Duration;

    #[test]
    fn the_most_recent_of_one_subject_wins_and_invalid_ones_are_skipped() {
        let ring = KeyRing::new(Key::generate().unwrap());
        let issuer = Issuer::new(ring.clone());
        let old = Claims::new("alice", Duration::from_secs(600));
        let new = Claims {
            issued_at: old.issued_at + time::Duration::seconds(5),
            ..Claims::new("alice", Duration::from_secs(600))
        };
        let (old_token, new_token) = (issuer.mint(&old).unwrap(), issuer.mint(&new).unwrap());
        let verifier = Verifier::new(ring);
        let mut buffer = TokenBuffer::new();
        let now = new.issued_at;
        for tokens in [
            [old_token.as_str(), "junk", new_token.as_str()],
            [new_token.as_str(), old_token.as_str(), "et2.AAAA"],
        ] {
            let chosen = verifier.verify_one_of_at(tokens, now, &mut buffer).unwrap();
            assert_eq!(chosen.token_id(), new.token_id);
        }
        let none = verifier.verify_one_of_at([], now, &mut buffer).unwrap_err();
        assert_eq!(none.kind(), "malformed");
    }
}
