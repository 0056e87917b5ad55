//! JSON files edited by value but written back in their own style: the indent unit of the
//! original (two spaces when it has none, as Claude Code writes), key order kept
//! (`serde_json` with `preserve_order`), the trailing newline kept or left out as it was.

use serde::Serialize;
use serde_json::Value;

/// How a JSON file is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Style {
    indent: String,
    trailing_newline: bool,
}

impl Style {
    /// Claude Code's own style: two spaces, a trailing newline.
    pub fn default_new() -> Self {
        Self {
            indent: "  ".into(),
            trailing_newline: true,
        }
    }

    /// The style of `text`: the leading whitespace of its first indented line.
    pub fn of(text: &str) -> Self {
        let indent = text
            .lines()
            .skip(1)
            .map(|l| {
                let n = l.len() - l.trim_start_matches([' ', '\t']).len();
                &l[..n]
            })
            .find(|ws| !ws.is_empty())
            .unwrap_or("  ")
            .to_owned();
        Self {
            indent,
            trailing_newline: text.ends_with('\n'),
        }
    }

    /// `value` written in this style.
    pub fn write(&self, value: &Value) -> String {
        let mut buf = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(self.indent.as_bytes());
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
        // Serialising a `Value` into a Vec cannot fail.
        let _ = value.serialize(&mut ser);
        let mut text = String::from_utf8(buf).unwrap_or_default();
        if self.trailing_newline {
            text.push('\n');
        }
        text
    }
}

/// Parses `text` and says whether writing it back unchanged reproduces it byte for byte (if not,
/// an edit would also reformat the file, which the plan says).
pub fn parse(text: &str) -> Result<(Value, Style, bool), serde_json::Error> {
    let value: Value = serde_json::from_str(text)?;
    let style = Style::of(text);
    let faithful = style.write(&value) == text;
    Ok((value, style, faithful))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_four_and_tab_indents_round_trip() {
        for text in [
            "{\n  \"a\": 1,\n  \"b\": [\n    true\n  ]\n}\n",
            "{\n    \"z\": {},\n    \"a\": []\n}",
            "{\n\t\"k\": \"v\"\n}\n",
        ] {
            let (_, _, faithful) = parse(text).unwrap();
            assert!(faithful, "{text:?}");
        }
    }

    #[test]
    fn compact_files_are_not_faithful() {
        let (_, _, faithful) = parse("{\"a\":1}").unwrap();
        assert!(!faithful);
    }
}
