//! The mailbox body format and message file names (pure: no IO, no clock, no environment).
//!
//! A body is the sender envelope rendered as a short header, a 40-character rule, then the
//! message, every line ending in `\n`. It mirrors the live `[entwurf received ⟵]` header so a
//! transcript reads the same whether the message came over a socket or through the mailbox.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use entwurf_meta_session::iso_millis;

/// The sender envelope a body renders: `entwurf-meta-session`'s type, the same one the control
/// socket's `send` line carries. Only `replyable: true` renders as replyable, and only origin
/// `meta-session` changes the session line.
pub use entwurf_meta_session::SenderEnvelope;

/// The `session:` line of the header (without the label).
pub fn session_line(sender: &SenderEnvelope) -> String {
    let id = &sender.session_id;
    match (sender.is_replyable(), sender.is_meta_session()) {
        (true, true) => format!(
            "{id} (meta-session, replyable — reply via entwurf_v2 to this sessionId, intent=fire-and-forget)"
        ),
        (true, false) => format!(
            "{id} (replyable — reply via entwurf_v2 to this sessionId, intent=fire-and-forget)"
        ),
        (false, true) => format!("{id} (meta-session, non-replyable)"),
        (false, false) => format!("{id} (external, non-replyable)"),
    }
}

/// The header/body separator: 40 × U+2500.
pub const SEPARATOR: &str = "────────────────────────────────────────";

/// Renders a mailbox body byte-compatible with the reference.
///
/// `home` is the value of `$HOME` the caller read at its edge (`None` or empty: no `~`
/// abbreviation). The message is copied verbatim (CR bytes included) and one `\n` is appended.
pub fn format_body(
    sender: &SenderEnvelope,
    message: &str,
    wants_reply: bool,
    home: Option<&str>,
) -> String {
    let mut out = String::with_capacity(400 + message.len());
    out.push_str("[entwurf received ⟵]\n");
    out.push_str("  from:        ");
    out.push_str(&sender.agent_id);
    out.push_str(" @ ");
    out.push_str(&abbreviate_home(&sender.cwd, home));
    out.push('\n');
    out.push_str("  session:     ");
    out.push_str(&session_line(sender));
    out.push('\n');
    out.push_str("  at:          ");
    out.push_str(&format_kst(&sender.timestamp));
    out.push('\n');
    out.push_str("  wants reply: ");
    out.push_str(if wants_reply { "yes" } else { "no" });
    out.push('\n');
    out.push_str(SEPARATOR);
    out.push('\n');
    out.push_str(message);
    out.push('\n');
    out
}

/// The body the v2 mailbox hand enqueues: the rendered envelope when there is a sender,
/// otherwise the raw message unchanged (no header, no added newline).
pub fn render_body(
    sender: Option<&SenderEnvelope>,
    message: &str,
    wants_reply: bool,
    home: Option<&str>,
) -> String {
    match sender {
        Some(s) => format_body(s, message, wants_reply, home),
        None => message.to_owned(),
    }
}

/// `~`-abbreviates `cwd` against `home`: equal → `~`; under `home/` → `~/…`; otherwise unchanged.
/// A `home` with a trailing slash therefore never matches (as in the reference).
pub fn abbreviate_home(cwd: &str, home: Option<&str>) -> String {
    let Some(home) = home.filter(|h| !h.is_empty()) else {
        return cwd.to_owned();
    };
    if cwd == home {
        return "~".to_owned();
    }
    match cwd.strip_prefix(home) {
        Some(rest) if rest.starts_with('/') => format!("~{rest}"),
        _ => cwd.to_owned(),
    }
}

/// Formats an ISO timestamp as `YYYY-MM-DD HH:MM:SS KST` (UTC+9, milliseconds dropped), or
/// returns it unchanged when it does not parse (see [`parse_js_iso`]).
pub fn format_kst(timestamp: &str) -> String {
    match parse_js_iso(timestamp) {
        Some(t) => {
            let k = t + Duration::hours(9);
            // The year is printed unpadded, as the reference's getUTCFullYear() does.
            format!("{} KST", k.format("%-Y-%m-%d %H:%M:%S"))
        }
        None => timestamp.to_owned(),
    }
}

/// Parses the ECMAScript date-time string forms: `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, each
/// optionally followed by `THH:mm`, `:ss`, `.sss` (1–9 fraction digits, truncated to
/// milliseconds) and `Z` or `±HH:mm`. Date-only forms are UTC midnight. `T24:00[:00[.000]]`
/// is the end of the day.
///
/// Deviation: a date-time **without** an offset is read as UTC here, while JavaScript reads it
/// in the process's local zone (identical under `TZ=UTC`, the reference corpus's setting). The
/// legacy non-ISO forms V8 also accepts (`June 12 2026`, …) are not parsed and print raw.
pub fn parse_js_iso(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let mut p = Cursor { b, i: 0 };
    let year = p.digits(4)? as i32;
    let mut month = 1;
    let mut day = 1;
    if p.eat(b'-') {
        month = p.digits(2)?;
        if p.eat(b'-') {
            day = p.digits(2)?;
        }
    }
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    if p.done() {
        return Some(Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?));
    }
    if !p.eat(b'T') {
        return None;
    }
    let hour = p.digits(2)?;
    if !p.eat(b':') {
        return None;
    }
    let minute = p.digits(2)?;
    let mut second = 0;
    let mut millis = 0;
    if p.eat(b':') {
        second = p.digits(2)?;
        if p.eat(b'.') {
            let start = p.i;
            while p.i < b.len() && b[p.i].is_ascii_digit() && p.i - start < 9 {
                p.i += 1;
            }
            let frac = &s[start..p.i];
            if frac.is_empty() {
                return None;
            }
            let padded = format!("{frac:0<3}");
            millis = padded[..3].parse::<u32>().ok()?;
        }
    }
    let offset_minutes: i64 = if p.eat(b'Z') {
        0
    } else if p.peek() == Some(b'+') || p.peek() == Some(b'-') {
        let sign = if p.eat(b'-') {
            -1
        } else {
            p.eat(b'+');
            1
        };
        let oh = p.digits(2)?;
        if !p.eat(b':') {
            return None;
        }
        let om = p.digits(2)?;
        if oh > 23 || om > 59 {
            return None;
        }
        sign * i64::from(oh * 60 + om)
    } else {
        0
    };
    if !p.done() || minute > 59 || second > 59 {
        return None;
    }
    let base = Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?);
    let (extra_day, hour) = match hour {
        24 if minute == 0 && second == 0 && millis == 0 => (1, 0),
        h if h < 24 => (0, h),
        _ => return None,
    };
    let t = base
        + Duration::days(extra_day)
        + Duration::hours(i64::from(hour))
        + Duration::minutes(i64::from(minute))
        + Duration::seconds(i64::from(second))
        + Duration::milliseconds(i64::from(millis))
        - Duration::minutes(offset_minutes);
    Some(t)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, n: usize) -> Option<u32> {
        let end = self.i.checked_add(n)?;
        let slice = self.b.get(self.i..end)?;
        if !slice.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i = end;
        slice.iter().try_fold(0u32, |acc, d| {
            acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
        })
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

/// The message file name for `now` and a 3-byte tag: the ISO stamp with every `:` and `.`
/// replaced by `-`, then `-`, 6 lowercase hex chars and `.msg`
/// (e.g. `2026-06-12T10-05-00-123Z-0217f1.msg`). Names sort in time order.
pub fn message_file_name(now: DateTime<Utc>, tag: [u8; 3]) -> String {
    let stamp = iso_millis(now).replace([':', '.'], "-");
    format!("{stamp}-{:02x}{:02x}{:02x}.msg", tag[0], tag[1], tag[2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::utc_z("2026-06-12T10:04:59.500Z", Some("2026-06-12 19:04:59 KST"))]
    #[case::offset("2026-06-12T19:04:59+09:00", Some("2026-06-12 19:04:59 KST"))]
    #[case::negative_offset("2026-06-12T05:04:59-05:00", Some("2026-06-12 19:04:59 KST"))]
    #[case::date_only("2026-06-12", Some("2026-06-12 09:00:00 KST"))]
    #[case::year_month("2026-06", Some("2026-06-01 09:00:00 KST"))]
    #[case::year_only("2026", Some("2026-01-01 09:00:00 KST"))]
    #[case::minutes_only("2026-06-12T10:04Z", Some("2026-06-12 19:04:00 KST"))]
    #[case::one_fraction_digit("2026-06-12T10:04:59.9Z", Some("2026-06-12 19:04:59 KST"))]
    #[case::end_of_day("2026-06-12T24:00:00Z", Some("2026-06-13 09:00:00 KST"))]
    #[case::rollover("2026-12-31T15:30:00.999Z", Some("2027-01-01 00:30:00 KST"))]
    #[case::no_offset_is_utc("2026-06-12T10:04:59", Some("2026-06-12 19:04:59 KST"))]
    #[case::garbage("not-a-date", None)]
    #[case::empty("", None)]
    #[case::bad_month("2026-13-01", None)]
    #[case::bad_day("2026-02-30", None)]
    #[case::hour_25("2026-06-12T25:00:00Z", None)]
    #[case::after_24("2026-06-12T24:00:01Z", None)]
    #[case::trailing_junk("2026-06-12T10:04:59Zx", None)]
    #[case::bare_fraction_dot("2026-06-12T10:04:59.Z", None)]
    #[case::space_separator("2026-06-12 10:04:59Z", None)]
    fn kst_formatting(#[case] input: &str, #[case] expected: Option<&str>) {
        let got = format_kst(input);
        assert_eq!(got, expected.unwrap_or(input));
    }

    #[rstest]
    #[case::equal("/home/u", Some("/home/u"), "~")]
    #[case::under("/home/u/x", Some("/home/u"), "~/x")]
    #[case::sibling("/home/u2/x", Some("/home/u"), "/home/u2/x")]
    #[case::trailing_slash_home("/home/u/x", Some("/home/u/"), "/home/u/x")]
    #[case::unset("/home/u/x", None, "/home/u/x")]
    #[case::empty_home("/x", Some(""), "/x")]
    fn home_abbreviation(#[case] cwd: &str, #[case] home: Option<&str>, #[case] want: &str) {
        assert_eq!(abbreviate_home(cwd, home), want);
    }

    #[test]
    fn raw_render_without_sender_is_the_message() {
        assert_eq!(render_body(None, "raw", true, Some("/h")), "raw");
    }

    #[test]
    fn an_unknown_origin_round_trips_and_renders_like_pi_session() {
        let text = r#"{"sessionId":"s","agentId":"a","cwd":"/w","timestamp":"t","origin":"somewhere","replyable":true}"#;
        let env: SenderEnvelope = serde_json::from_str(text).unwrap();
        assert_eq!(env.origin.as_deref(), Some("somewhere"));
        assert_eq!(serde_json::to_string(&env).unwrap(), text);
        let mut pi = env.clone();
        pi.origin = Some("pi-session".into());
        assert_eq!(session_line(&env), session_line(&pi));
    }
}
