//! Millisecond values as the reference handles them: JS numbers (`1.5` is a valid timeout),
//! parsed from env text with JS `Number()` semantics, serialised like `JSON.stringify`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The env var carrying the spawn-bg observe timeout (read once, at the edge).
pub const OBSERVE_TIMEOUT_ENV: &str = "ENTWURF_V2_OBSERVE_TIMEOUT_MS";

/// The observe timeout when the env var is unset, empty, not a number, not finite or ≤ 0.
pub const DEFAULT_OBSERVE_TIMEOUT_MS: Millis = Millis(30_000.0);

/// The grace after SIGTERM before a spawn-bg watcher gives up and retains the lock.
pub const DEFAULT_KILL_GRACE_MS: Millis = Millis(5_000.0);

/// Longest timer we arm (Node's timer ceiling, 2^31 − 1 ms ≈ 24.8 days). Node fires larger
/// delays after 1 ms; we clamp instead, so a huge configured timeout stays huge.
const MAX_TIMER_MS: f64 = 2_147_483_647.0;

/// A positive, finite number of milliseconds (fractions allowed, like a JS number).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Millis(f64);

/// Every constructor refuses NaN, so equality is total.
impl Eq for Millis {}

impl Millis {
    /// `Some` for a finite value > 0.
    pub fn new(ms: f64) -> Option<Self> {
        (ms.is_finite() && ms > 0.0).then_some(Self(ms))
    }

    /// Whole milliseconds (a `const` constructor for defaults and tests).
    pub const fn from_whole(ms: u32) -> Self {
        Self(ms as f64)
    }

    /// The value in milliseconds.
    pub fn get(self) -> f64 {
        self.0
    }

    /// The timer length (clamped to Node's timer ceiling).
    pub fn to_duration(self) -> Duration {
        Duration::from_secs_f64(self.0.min(MAX_TIMER_MS) / 1000.0)
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_integral(self.0) {
            write!(f, "{}", self.0 as i64)
        } else {
            write!(f, "{}", self.0)
        }
    }
}

fn is_integral(v: f64) -> bool {
    v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0
}

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // JSON.stringify(30000) is `30000`, never `30000.0`.
        if is_integral(self.0) {
            s.serialize_i64(self.0 as i64)
        } else {
            s.serialize_f64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        Millis::new(v).ok_or_else(|| {
            serde::de::Error::custom(format!("milliseconds must be finite and > 0, got {v}"))
        })
    }
}

/// `ENTWURF_V2_OBSERVE_TIMEOUT_MS` → the observe timeout: JS `Number(raw)`, and the default
/// (30000) for an unset or empty variable, a non-number, a non-finite value or one ≤ 0.
///
/// ```
/// use entwurf_spawn::millis::parse_observe_timeout_ms;
/// assert_eq!(parse_observe_timeout_ms(Some(" 45000 ")).get(), 45000.0);
/// assert_eq!(parse_observe_timeout_ms(Some("0x10")).get(), 16.0);
/// assert_eq!(parse_observe_timeout_ms(Some("abc")).get(), 30000.0);
/// ```
pub fn parse_observe_timeout_ms(raw: Option<&str>) -> Millis {
    raw.and_then(|raw| Millis::new(js_number(raw)))
        .unwrap_or(DEFAULT_OBSERVE_TIMEOUT_MS)
}

/// JS `Number(string)`: trims JS white space; empty → 0; `0x`/`0o`/`0b` integer literals
/// (unsigned); `Infinity` with an optional sign; a decimal literal with optional sign, fraction
/// and exponent. Anything else is NaN.
pub fn js_number(raw: &str) -> f64 {
    let s = crate::preflight::js_trim(raw);
    if s.is_empty() {
        return 0.0;
    }
    let radix = match s.get(..2) {
        Some("0x" | "0X") => Some(16),
        Some("0o" | "0O") => Some(8),
        Some("0b" | "0B") => Some(2),
        _ => None,
    };
    if let Some(radix) = radix {
        let digits = &s[2..];
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return f64::NAN;
        }
        return digits.chars().fold(0.0, |acc, c| {
            acc * f64::from(radix) + f64::from(c.to_digit(radix).unwrap_or(0))
        });
    }
    let (sign, unsigned) = match s.as_bytes()[0] {
        b'+' => (1.0, &s[1..]),
        b'-' => (-1.0, &s[1..]),
        _ => (1.0, s),
    };
    if unsigned == "Infinity" {
        return sign * f64::INFINITY;
    }
    if !is_decimal_literal(unsigned) {
        return f64::NAN;
    }
    unsigned
        .parse::<f64>()
        .map(|v| sign * v)
        .unwrap_or(f64::NAN)
}

/// `StrUnsignedDecimalLiteral`: `digits [. digits?] | . digits`, then `[eE] [+-]? digits`.
fn is_decimal_literal(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let int_digits = count_digits(&b[i..]);
    i += int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = count_digits(&b[i..]);
        i += frac_digits;
    }
    if int_digits == 0 && frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_digits = count_digits(&b[i..]);
        if exp_digits == 0 {
            return false;
        }
        i += exp_digits;
    }
    i == b.len()
}

fn count_digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    // The observed examples of spec §1.3, then the JS `Number()` grammar edges.
    #[rstest]
    #[case::padded(Some(" 45000 "), 45000.0)]
    #[case::exponent(Some("1e3"), 1000.0)]
    #[case::hex(Some("0x10"), 16.0)]
    #[case::fraction(Some("1.5"), 1.5)]
    #[case::zero(Some("0"), 30000.0)]
    #[case::negative(Some("-5"), 30000.0)]
    #[case::word(Some("abc"), 30000.0)]
    #[case::infinity(Some("Infinity"), 30000.0)]
    #[case::unset(None, 30000.0)]
    #[case::empty(Some(""), 30000.0)]
    #[case::blank(Some(" \t\n"), 30000.0)]
    #[case::plus_sign(Some("+250"), 250.0)]
    #[case::trailing_dot(Some("5."), 5.0)]
    #[case::leading_dot(Some(".5"), 0.5)]
    #[case::upper_exponent(Some("2E2"), 200.0)]
    #[case::octal(Some("0o17"), 15.0)]
    #[case::binary(Some("0b101"), 5.0)]
    #[case::signed_hex_is_nan(Some("-0x10"), 30000.0)]
    #[case::rust_inf_is_nan(Some("inf"), 30000.0)]
    #[case::nan_word(Some("NaN"), 30000.0)]
    #[case::trailing_garbage(Some("100ms"), 30000.0)]
    #[case::underscore(Some("1_000"), 30000.0)]
    #[case::lone_exponent(Some("1e"), 30000.0)]
    #[case::negative_zero(Some("-0"), 30000.0)]
    #[case::leading_zeros(Some("0100"), 100.0)]
    fn observe_timeout_parses_like_js_number(#[case] raw: Option<&str>, #[case] expected: f64) {
        assert_eq!(parse_observe_timeout_ms(raw).get(), expected);
    }

    #[test]
    fn empty_string_is_zero_for_number() {
        assert_eq!(js_number("  "), 0.0);
        assert!(js_number("0x").is_nan());
    }

    #[rstest]
    #[case::integral(30000.0, "30000")]
    #[case::fractional(1.5, "1.5")]
    fn serialises_like_json_stringify(#[case] ms: f64, #[case] json: &str) {
        let m = Millis::new(ms).unwrap_or(DEFAULT_OBSERVE_TIMEOUT_MS);
        assert_eq!(serde_json::to_string(&m).unwrap_or_default(), json);
        let back: Millis = serde_json::from_str(json).unwrap_or(DEFAULT_KILL_GRACE_MS);
        assert_eq!(back, m);
    }

    #[test]
    fn huge_timeouts_are_clamped_not_overflowed() {
        let m = parse_observe_timeout_ms(Some("1e300"));
        assert_eq!(m.to_duration(), Duration::from_millis(2_147_483_647));
    }
}
