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

/// A clipping norm, for `--max-clipping-norm`: a positive finite number, as
/// Flower's DP wrappers require of theirs.
pub fn clipping_norm(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(format!(
            "`{text}` is not a positive finite number; a clipping norm is above 0"
        ));
    }
    Ok(value)
}

/// Which of Flower's client clipping mods the node acts as, for `--clipping-mod`:
/// `adaptive` (reports `norm_bit`) or `fixed` (does not).
pub fn clipping_mod(text: &str) -> Result<feddx_flower::ClippingMod, String> {
    match text.trim() {
        "adaptive" => Ok(feddx_flower::ClippingMod::Adaptive),
        "fixed" => Ok(feddx_flower::ClippingMod::Fixed),
        other => Err(format!(
            "`{other}` is not a clipping mod: say `adaptive` or `fixed`"
        )),
    }
}
