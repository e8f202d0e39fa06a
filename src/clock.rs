//! The system clock as whole Unix seconds, which is all the time checks
//! need. Reading the clock is cheap (the vDSO); turning a `SystemTime` into
//! seconds is not (`duration_since` is an out-of-line call, about 10 ns, a
//! third of the read). So each thread remembers the second its last reading
//! fell in, and a reading inside that second costs two inline comparisons.

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The second a thread's last reading fell in: `[start, end)` and its Unix
/// seconds. Starts empty (`end == start`), so the first reading converts.
#[derive(Clone, Copy)]
struct Second {
    start: SystemTime,
    end: SystemTime,
    unix: i64,
}

thread_local! {
    static LAST_SECOND: Cell<Second> = const {
        Cell::new(Second { start: UNIX_EPOCH, end: UNIX_EPOCH, unix: 0 })
    };
}

/// Whole seconds since the Unix epoch at `now`, rounded down as
/// [`time::OffsetDateTime::unix_timestamp`] does. Exact for any `now`: the
/// memo only answers for instants inside the second it holds, so a clock
/// that steps back or forward simply converts again.
pub(crate) fn unix_seconds(now: SystemTime) -> i64 {
    // `try_with`: a thread being torn down answers without the memo.
    let memoized = LAST_SECOND.try_with(|last| {
        let second = last.get();
        if second.start <= now && now < second.end {
            return second.unix;
        }
        let unix = convert(now);
        // Remember only seconds that are representable both ways (always,
        // in practice); otherwise answer without a memo.
        if let Ok(whole) = u64::try_from(unix)
            && let Some(start) = UNIX_EPOCH.checked_add(Duration::from_secs(whole))
            && let Some(end) = start.checked_add(Duration::from_secs(1))
        {
            last.set(Second { start, end, unix });
        }
        unix
    });
    memoized.unwrap_or_else(|_| convert(now))
}

/// The conversion itself, also before 1970.
fn convert(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let before = e.duration();
            let whole = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            -whole - i64::from(before.subsec_nanos() > 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    /// Both sides of the epoch, whole and fractional seconds, in an order
    /// that makes the memo hit, miss, step back and step forward.
    #[test]
    fn agrees_with_time_on_both_sides_of_the_epoch() {
        let offsets = [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_millis(999),
            Duration::from_millis(1000),
            Duration::from_millis(1500),
            Duration::from_secs(1_700_000_000),
            Duration::from_secs(1_700_000_000) + Duration::from_nanos(999_999_999),
            Duration::from_secs(1_700_000_001),
            Duration::from_secs(1_700_000_000) + Duration::from_nanos(1),
        ];
        for _ in 0..2 {
            for offset in offsets {
                for t in [UNIX_EPOCH + offset, UNIX_EPOCH - offset] {
                    let expected = OffsetDateTime::from(t).unix_timestamp();
                    assert_eq!(unix_seconds(t), expected, "{t:?}");
                    assert_eq!(unix_seconds(t), expected, "{t:?}, memoized");
                }
            }
        }
    }

    #[test]
    fn follows_the_system_clock() {
        let before = OffsetDateTime::now_utc().unix_timestamp();
        let read = unix_seconds(SystemTime::now());
        let after = OffsetDateTime::now_utc().unix_timestamp();
        assert!(before <= read && read <= after);
    }
}
