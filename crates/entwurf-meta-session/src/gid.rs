//! Garden ids: `YYYYMMDDTHHMMSS-xxxxxx` (local-time stamp, 3 random bytes as lowercase hex).
//!
//! A [`GardenId`] can only be built through validation, so every path built from one is safe:
//! no separators, no `..`, no upper case, nothing but the grammar.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The garden id grammar, `^\d{8}T\d{6}-[0-9a-f]{6}$`, as a human-readable hint.
pub const GARDEN_ID_GRAMMAR: &str = "YYYYMMDDTHHMMSS-[0-9a-f]{6}";

/// A validated garden id.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GardenId(String);

/// The value offered as a garden id does not match the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid garden id {value:?}: expected {GARDEN_ID_GRAMMAR} (for example 20260614T120000-57a4c2)")]
pub struct InvalidGardenId {
    /// The rejected input, verbatim.
    pub value: String,
}

/// True when `s` matches `^\d{8}T\d{6}-[0-9a-f]{6}$` exactly (no trailing newline, ASCII only).
pub fn is_valid_garden_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 22
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'-'
        && b[16..]
            .iter()
            .all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

impl GardenId {
    /// Validates `s` against the grammar.
    pub fn parse(s: &str) -> Result<Self, InvalidGardenId> {
        if is_valid_garden_id(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidGardenId {
                value: s.to_owned(),
            })
        }
    }

    /// Mints a fresh id from the local wall clock and 3 random bytes.
    pub fn mint() -> Self {
        Self::mint_at(&chrono::Local::now().naive_local(), rand::random())
    }

    /// Mints an id from an explicit local time and suffix bytes (deterministic; for tests and replays).
    pub fn mint_at(local: &chrono::NaiveDateTime, suffix: [u8; 3]) -> Self {
        let stamp = local.format("%Y%m%dT%H%M%S");
        Self(format!(
            "{stamp}-{:02x}{:02x}{:02x}",
            suffix[0], suffix[1], suffix[2]
        ))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GardenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for GardenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GardenId({})", self.0)
    }
}

impl AsRef<str> for GardenId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for GardenId {
    type Err = InvalidGardenId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for GardenId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for GardenId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::typical("20260614T120000-57a4c2")]
    #[case::impossible_date_is_still_grammatical("20261399T999999-000000")]
    fn accepts(#[case] s: &str) {
        assert_eq!(GardenId::parse(s).unwrap().as_str(), s);
    }

    #[rstest]
    #[case::empty("")]
    #[case::traversal("../x")]
    #[case::traversal_suffix("20260614T120000-57a4c2/../x")]
    #[case::upper_hex("20260614T120000-57A4C2")]
    #[case::trailing_newline("20260614T120000-57a4c2\n")]
    #[case::extra_char("20260614T120000-57a4c2a")]
    #[case::short_suffix("20260614T120000-57a4c")]
    #[case::no_t("20260614 120000-57a4c2")]
    #[case::unicode_digit("2026061４T120000-57a4c2")]
    #[case::uuid("0b6c1f2e-1111-4111-8111-111111111111")]
    fn rejects(#[case] s: &str) {
        let err = GardenId::parse(s).unwrap_err();
        assert_eq!(err.value, s);
        assert!(err.to_string().contains(GARDEN_ID_GRAMMAR));
    }

    #[test]
    fn mint_uses_the_given_local_time_and_suffix() {
        let t = chrono::NaiveDate::from_ymd_opt(2026, 6, 14)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        let id = GardenId::mint_at(&t, [0x57, 0xa4, 0xc2]);
        assert_eq!(id.as_str(), "20260614T120000-57a4c2");
    }

    #[test]
    fn minted_ids_are_valid_and_distinct() {
        let a = GardenId::mint();
        let b = GardenId::mint();
        assert!(is_valid_garden_id(a.as_str()));
        assert_ne!(a, b, "3 random bytes should differ between two mints");
    }

    #[test]
    fn serde_round_trip_validates() {
        let id: GardenId = serde_json::from_str("\"20260614T120000-57a4c2\"").unwrap();
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"20260614T120000-57a4c2\""
        );
        assert!(serde_json::from_str::<GardenId>("\"../etc\"").is_err());
    }
}
