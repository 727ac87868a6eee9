//! Parsers of `flower_node`'s flags that clap cannot check by type alone.

use std::time::Duration;

/// The longest duration a flag takes: a year, far beyond any sensible interval,
/// and far below what `Duration` can hold.
pub const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// A duration in seconds, for `--poll-interval`, `--heartbeat-interval` and
/// `--give-up-after`: a finite number from 0 to a year ([`MAX_SECONDS`]), so that
/// clap rejects what `Duration::from_secs_f64` would panic on.
pub fn seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !value.is_finite() {
        return Err(format!("`{text}` is not a finite number of seconds"));
    }
    if value < 0.0 {
        return Err(format!("`{text}` is negative; give seconds from 0 up"));
    }
    if value > MAX_SECONDS {
        return Err(format!(
            "`{text}` seconds is over a year ({MAX_SECONDS} s), the longest this flag takes"
        ));
    }
    Ok(Duration::from_secs_f64(value))
}
