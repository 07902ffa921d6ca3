//! Bounded logging of what clients cause: a rate limit with a count of the lines it held back,
//! and client text escaped and cut before it reaches a log line or an answer.

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

/// Longest client-supplied value kept in a log line or an answer, in characters.
pub(crate) const MAX_CLIENT_TEXT: usize = 128;

/// A per-process limit on one kind of log line.
pub(crate) struct Throttle {
    limiter: DefaultDirectRateLimiter,
    suppressed: AtomicU64,
}

impl Throttle {
    /// Lets `lines` lines a second through (at least one).
    pub(crate) fn per_second(lines: u32) -> Throttle {
        let quota = Quota::per_second(NonZeroU32::new(lines).unwrap_or(NonZeroU32::MIN));
        Throttle { limiter: RateLimiter::direct(quota), suppressed: AtomicU64::new(0) }
    }

    /// `Some(lines held back since the last one let through)` when a line may be written now.
    pub(crate) fn admit(&self) -> Option<u64> {
        if self.limiter.check().is_ok() {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// `text` as it may be shown: control characters escaped (`\n`, `\u{1b}`), cut after
/// [`MAX_CLIENT_TEXT`] characters with a `…` marker.
pub(crate) fn client_text(text: &str) -> String {
    let mut shown = String::with_capacity(text.len().min(MAX_CLIENT_TEXT + 8));
    for (index, character) in text.chars().enumerate() {
        if index == MAX_CLIENT_TEXT {
            shown.push('…');
            break;
        }
        if character.is_control() {
            shown.extend(character.escape_default());
        } else {
            shown.push(character);
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::{Throttle, client_text};

    #[test]
    fn client_text_is_escaped_and_cut() {
        assert_eq!(client_text("text/plain"), "text/plain");
        assert_eq!(client_text("a\nb\r\u{1b}[31m\u{0}"), "a\\nb\\r\\u{1b}[31m\\u{0}");
        let long = "x".repeat(60_000);
        assert_eq!(client_text(&long), format!("{}…", "x".repeat(128)));
        assert_eq!(client_text(&"é".repeat(128)), "é".repeat(128));
    }

    #[test]
    fn the_throttle_counts_what_it_holds_back() {
        let throttle = Throttle::per_second(1);
        assert_eq!(throttle.admit(), Some(0));
        assert_eq!((throttle.admit(), throttle.admit()), (None, None));
        assert_eq!(throttle.suppressed.load(std::sync::atomic::Ordering::Relaxed), 2);
    }
}
