//! Tidy: no `thiserror` message repeats the cause it already exposes as its `source`.
//!
//! Every `#[error("…")]` in `crates/*/src`, `src` and `xtask/src` is read with the fields of the
//! variant (or struct) it sits on. Its source is the field marked `#[source]` or `#[from]`, or
//! the field named `source`. A message that formats that field (`{source}`, `{0}`, or the field
//! as a trailing argument) fails this test: the cause belongs in the chain, which the CLI, the
//! MCP tools and the receipts print (`entwurf_fs::Chain`). A hint derived from the source (a
//! function of it, like the mailbox's `io_hint(source)`) is fine.
//!
//! [`ALLOWED`] lists the texts the reference fixes with their cause inside, each with why.

use std::path::{Path, PathBuf};

/// `(file, variant or struct name, why the cause stays in the text)`.
const ALLOWED: &[(&str, &str, &str)] = &[
    (
        "crates/entwurf-lock/src/error.rs",
        "Open",
        "the reference fixes `entwurf-v2-lock: failed to acquire <path>: <code>`",
    ),
    (
        "crates/entwurf-lock/src/error.rs",
        "WriteClaim",
        "the reference fixes `entwurf-v2-lock: failed to write claim to <path>: <code>`",
    ),
    ("crates/entwurf-lock/src/error.rs", "DirCreate", LOCK_FAMILY),
    (
        "crates/entwurf-lock/src/error.rs",
        "EncodeClaim",
        LOCK_FAMILY,
    ),
    ("crates/entwurf-lock/src/error.rs", "Read", LOCK_FAMILY),
    ("crates/entwurf-lock/src/error.rs", "Stat", LOCK_FAMILY),
    (
        "crates/entwurf-lock/src/error.rs",
        "ReclaimMarker",
        LOCK_FAMILY,
    ),
    ("crates/entwurf-lock/src/error.rs", "Unlink", LOCK_FAMILY),
];

/// Why the rest of the lock's texts keep their cause.
const LOCK_FAMILY: &str = "the lock's `entwurf-v2-lock: <what> <path>: <cause>` family the \
    reference fixes; a release error's text travels as the `releaseError message` inside the \
    reference-fixed `delivered but releaseLock failed (…): <releaseError message>` receipt text";

/// One `#[error(…)]` that formats its own source.
#[derive(Debug, PartialEq)]
struct Finding {
    name: String,
    line: usize,
    attr: String,
}

/// The index just past the bracket matching the one at `open` (strings and chars skipped).
fn matching(s: &[u8], open: usize) -> Option<usize> {
    let (o, c) = (s[open], if s[open] == b'(' { b')' } else { b'}' });
    let mut depth = 0usize;
    let mut i = open;
    let mut in_str = false;
    while i < s.len() {
        let b = s[i];
        if in_str {
            match b {
                b'\\' => i += 1,
                b'"' => in_str = false,
                _ => {}
            }
        } else if b == b'"' {
            in_str = true;
        } else if b == o {
            depth += 1;
        } else if b == c {
            depth -= 1;
            if depth == 0 {
                return Some(i + 1);
            }
        }
        i += 1;
    }
    None
}

/// Skips whitespace, doc comments, line comments and attributes.
fn skip_trivia(s: &[u8], mut i: usize) -> usize {
    loop {
        while i < s.len() && s[i].is_ascii_whitespace() {
            i += 1;
        }
        if s[i..].starts_with(b"//") {
            while i < s.len() && s[i] != b'\n' {
                i += 1;
            }
        } else if s[i..].starts_with(b"#[") {
            match matching(s, i + 1) {
                Some(end) => i = end + 1,
                None => return s.len(),
            }
        } else {
            return i;
        }
    }
}

fn ident_at(s: &str, i: usize) -> &str {
    let rest = &s[i..];
    let n = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    &rest[..n]
}

/// The source field names of the item starting at `i` (after its attributes): a variant
/// `Name { … }` / `Name(…)` or a `pub struct Name …`. Returns the item's name too.
fn item_sources(src: &str, i: usize) -> (String, Vec<String>) {
    let s = src.as_bytes();
    let mut i = skip_trivia(s, i);
    for kw in ["pub(crate) ", "pub ", "struct "] {
        if src[i..].starts_with(kw) {
            i += kw.len();
        }
    }
    if src[i..].starts_with("struct ") {
        i += "struct ".len();
    }
    let name = ident_at(src, i).to_owned();
    i += name.len();
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    let mut sources = Vec::new();
    if i >= s.len() || (s[i] != b'{' && s[i] != b'(') {
        return (name, sources);
    }
    let tuple = s[i] == b'(';
    let end = matching(s, i).unwrap_or(s.len());
    let body = &src[i + 1..end - 1];
    // Split the fields at top-level commas.
    let mut fields = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (k, c) in body.char_indices() {
        match c {
            '(' | '{' | '[' | '<' => depth += 1,
            ')' | '}' | ']' | '>' => depth -= 1,
            ',' if depth == 0 => {
                fields.push(&body[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    fields.push(&body[start..]);
    for (n, field) in fields.iter().enumerate() {
        let marked = field.contains("#[source]") || field.contains("#[from]");
        let code: String = field
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let code = code.trim();
        if code.is_empty() {
            continue;
        }
        if tuple {
            if marked {
                sources.push(n.to_string());
            }
        } else {
            let after = code.rsplit(']').next().unwrap_or(code).trim();
            let fname = ident_at(after, 0);
            if marked || fname == "source" {
                sources.push(fname.to_owned());
            }
        }
    }
    (name, sources)
}

/// Does this attribute text format one of `sources`?
fn formats_a_source(attr: &str, sources: &[String]) -> bool {
    let Some(q) = attr.find('"') else {
        return false;
    };
    let bytes = attr.as_bytes();
    let mut e = q + 1;
    while e < bytes.len() && !(bytes[e] == b'"' && bytes[e - 1] != b'\\') {
        e += 1;
    }
    let literal = &attr[q + 1..e.min(attr.len())];
    let args: Vec<&str> = attr[(e + 1).min(attr.len())..]
        .trim_end_matches(']')
        .trim_end_matches(')')
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    sources.iter().any(|src| {
        literal.contains(&format!("{{{src}}}"))
            || literal.contains(&format!("{{{src}:"))
            || args
                .iter()
                .any(|a| *a == src || *a == format!(".{src}") || a.starts_with(&format!("{src}.")))
    })
}

fn findings(src: &str) -> Vec<Finding> {
    let s = src.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(k) = src[from..].find("#[error(") {
        let at = from + k;
        let open = at + "#[error".len();
        let Some(end) = matching(s, open) else { break };
        let attr = &src[at..end + 1];
        from = end;
        if attr.contains("transparent") {
            continue;
        }
        let (name, sources) = item_sources(src, end + 1);
        if formats_a_source(attr, &sources) {
            out.push(Finding {
                name,
                line: src[..at].matches('\n').count() + 1,
                attr: attr.split_whitespace().collect::<Vec<_>>().join(" "),
            });
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_error_message_repeats_its_source() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for crate_dir in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
        rust_files(&crate_dir.path().join("src"), &mut files);
    }
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("xtask/src"), &mut files);
    assert!(
        files.len() > 50,
        "the scan found only {} files",
        files.len()
    );
    let mut bad = Vec::new();
    let mut allowed_seen = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(file).unwrap();
        for f in findings(&text) {
            match ALLOWED.iter().find(|(p, n, _)| *p == rel && *n == f.name) {
                Some(entry) => allowed_seen.push(*entry),
                None => bad.push(format!("{rel}:{} ({}): {}", f.line, f.name, f.attr)),
            }
        }
    }
    assert!(
        bad.is_empty(),
        "these messages repeat the source they expose; drop the `{{source}}` (the chain shows \
         it) or, for a text the reference fixes, add it to ALLOWED with the reason:\n{}",
        bad.join("\n")
    );
    for entry in ALLOWED {
        assert!(
            allowed_seen.contains(entry),
            "stale ALLOWED entry {entry:?}: that text no longer formats its source"
        );
    }
}

#[test]
fn the_scan_flags_each_way_of_formatting_a_source_and_nothing_else() {
    let src = r#"
pub enum E {
    /// Named source field.
    #[error("could not {op} {}: {source}", path.display())]
    Io { op: &'static str, path: PathBuf, source: io::Error },
    /// Marked field, other name.
    #[error("step failed ({cause:?})")]
    Step {
        #[source]
        cause: Inner,
    },
    #[error("{0} — nothing was read")]
    Gid(#[from] InvalidGardenId),
    #[error("bad: {}", .0)]
    Positional(#[source] Inner),
    #[error("could not {op} {} — {}", path.display(), io_hint(source))]
    Hinted { op: &'static str, path: PathBuf, source: io::Error },
    #[error(transparent)]
    Through(#[from] Inner),
    #[error("{0}")]
    Text(String),
    #[error("peer said {error}")]
    Refused { error: String },
}
#[derive(Debug, thiserror::Error)]
#[error("cannot start {pi_bin}: {source}")]
pub struct Spawn { pi_bin: PathBuf, source: io::Error }
"#;
    let names: Vec<String> = findings(src).into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["Io", "Step", "Gid", "Positional", "Spawn"]);
}
