//! Login throttling: failed password guesses are limited per account and
//! per client address, before any password is hashed, so a guessing client
//! gets `429 Too Many Requests` in microseconds instead of an argon2 check.
//!
//! Each attempt takes a cell from two [`governor`] rate limiters (GCRA): the
//! client address's, then the account's. A successful login starts the
//! account afresh (its key moves to a new generation), so a user who finally
//! types the right password is not slowed down afterwards; the address's
//! limit is not reset, so one client cannot unlock itself by knowing one
//! password.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// How many attempts a key may make at once, and how fast it earns more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Attempts allowed in a burst.
    pub burst: NonZeroU32,
    /// One more attempt is earned every this long.
    pub refill: Duration,
}

/// Parses `N/PERIOD` (`5/1m`: five attempts, then one more a minute).
pub fn parse_limit(text: &str) -> Result<Limit, String> {
    let (burst, refill) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not N/PERIOD, such as 5/1m"))?;
    let burst = burst
        .trim()
        .parse::<NonZeroU32>()
        .map_err(|_| format!("{burst:?} is not a number of attempts from 1"))?;
    let refill = crate::commands::tokens::parse_ttl(refill.trim())?;
    Ok(Limit { burst, refill })
}

impl Limit {
    fn quota(self) -> Quota {
        // `with_period` refuses only a zero period; flags are at least 1 s.
        Quota::with_period(self.refill.max(Duration::from_millis(1)))
            .unwrap_or(Quota::per_second(NonZeroU32::MIN))
            .allow_burst(self.burst)
    }
}

/// A refused attempt: try again after this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

impl RetryAfter {
    /// Whole seconds for a `Retry-After` header, at least 1.
    pub fn seconds(self) -> u64 {
        let whole = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        whole.max(1)
    }
}

/// The limits of one server.
pub struct Throttle {
    addresses: DefaultKeyedRateLimiter<IpAddr>,
    accounts: DefaultKeyedRateLimiter<(String, u64)>,
    /// The generation of each account that ever logged in: a success moves
    /// the account to a fresh key.
    generations: Mutex<HashMap<String, u64>>,
    /// Attempts so far, to forget idle keys every [`FORGET_EVERY`].
    attempts: AtomicU64,
    clock: DefaultClock,
}

/// Every this many attempts, keys back at full capacity are dropped, so
/// guesses at many names cannot grow memory without bound.
const FORGET_EVERY: u64 = 1024;

impl Throttle {
    /// Limits per client address and per account.
    pub fn new(address: Limit, account: Limit) -> Self {
        Self {
            addresses: DefaultKeyedRateLimiter::keyed(address.quota()),
            accounts: DefaultKeyedRateLimiter::keyed(account.quota()),
            generations: Mutex::default(),
            attempts: AtomicU64::new(0),
            clock: DefaultClock::default(),
        }
    }

    /// Takes an attempt for `account` from `address`, or says how long to
    /// wait. Costs no hashing.
    pub fn attempt(&self, account: &str, address: IpAddr) -> Result<(), RetryAfter> {
        if self.attempts.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.addresses.retain_recent();
            self.accounts.retain_recent();
        }
        let wait = |not_until: governor::NotUntil<_>| {
            RetryAfter(not_until.wait_time_from(self.clock.now()))
        };
        self.addresses.check_key(&address).map_err(wait)?;
        let key = (account.to_owned(), self.generation(account));
        self.accounts.check_key(&key).map_err(wait)
    }

    /// `account` logged in: its failures are forgotten.
    pub fn succeeded(&self, account: &str) {
        let mut generations = self
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *generations.entry(account.to_owned()).or_default() += 1;
    }

    fn generation(&self, account: &str) -> u64 {
        let generations = self
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        generations.get(account).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(burst: u32, refill_secs: u64) -> Limit {
        Limit {
            burst: NonZeroU32::new(burst).unwrap(),
            refill: Duration::from_secs(refill_secs),
        }
    }

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const ELSEWHERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn an_account_is_refused_after_its_burst_and_reset_by_a_success() {
        let throttle = Throttle::new(limit(100, 1), limit(3, 60));
        for _ in 0..3 {
            throttle.attempt("alice", HOME).unwrap();
        }
        let RetryAfter(wait) = throttle.attempt("alice", HOME).unwrap_err();
        assert!(
            wait > Duration::from_secs(50) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        // Per account, from any address; other accounts are not affected.
        assert!(throttle.attempt("alice", ELSEWHERE).is_err());
        throttle.attempt("bob", HOME).unwrap();
        // A success (with the right password, in a later attempt) resets it.
        throttle.succeeded("alice");
        for _ in 0..3 {
            throttle.attempt("alice", HOME).unwrap();
        }
        assert!(throttle.attempt("alice", HOME).is_err());
    }

    #[test]
    fn an_address_is_refused_after_its_burst_whatever_the_account() {
        let throttle = Throttle::new(limit(4, 10), limit(100, 1));
        for name in ["a", "b", "c", "d"] {
            throttle.attempt(name, HOME).unwrap();
        }
        let refused = throttle.attempt("e", HOME).unwrap_err();
        assert!(
            refused.seconds() >= 1 && refused.seconds() <= 10,
            "{refused:?}"
        );
        throttle.attempt("e", ELSEWHERE).unwrap();
        throttle.succeeded("a");
        assert!(
            throttle.attempt("a", HOME).is_err(),
            "a success does not reset the address"
        );
    }

    #[test]
    fn limits_parse_from_flags() {
        assert_eq!(parse_limit("5/1m").unwrap(), limit(5, 60));
        assert_eq!(parse_limit("30 / 10s").unwrap(), limit(30, 10));
        for bad in ["5", "0/1m", "x/1m", "5/0s", "5/soon"] {
            assert!(parse_limit(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(RetryAfter(Duration::from_millis(1)).seconds(), 1);
        assert_eq!(RetryAfter(Duration::from_secs(3)).seconds(), 3);
        assert_eq!(RetryAfter(Duration::from_millis(3001)).seconds(), 4);
        assert_eq!(RetryAfter(Duration::ZERO).seconds(), 1);
    }
}
