//! The world's on-disk invariants as `predicates` over store paths, for the ones
//! `predicates::path` does not name itself (an entry kind, a directory's entries, a tree left
//! byte-identical), and the two looks that are not invariants: a directory listing and pi's
//! transcripts. A cell checks each with [`crate::check_path`], so a broken one reports its name,
//! the path and the predicate's own account (what it found).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use predicates::reflection::{Case, PredicateReflection, Product};
use predicates::Predicate;

/// Entries directly in a directory whose name ends with a suffix (sorted; empty if absent).
pub use entwurf_testkit::entries_ending;

/// Holds for a directory (or an absent path) with no entry whose name ends with `suffix`; `""`
/// asks for an empty directory.
pub fn no_entry_ending(suffix: &'static str) -> NoEntryEnding {
    NoEntryEnding { suffix }
}

/// See [`no_entry_ending`].
#[derive(Debug, Clone, Copy)]
pub struct NoEntryEnding {
    suffix: &'static str,
}

impl fmt::Display for NoEntryEnding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.suffix.is_empty() {
            write!(f, "var is an empty directory")
        } else {
            write!(f, "var holds no entry ending with {:?}", self.suffix)
        }
    }
}

impl PredicateReflection for NoEntryEnding {}

impl Predicate<Path> for NoEntryEnding {
    fn eval(&self, dir: &Path) -> bool {
        entries_ending(dir, self.suffix).is_empty()
    }

    fn find_case<'a>(&'a self, expected: bool, dir: &Path) -> Option<Case<'a>> {
        let found = entries_ending(dir, self.suffix);
        (found.is_empty() == expected).then(|| {
            Case::new(Some(self), !expected)
                .add_product(Product::new("found", format!("{found:?}")))
        })
    }
}

/// Holds for a path that is a Unix socket (not followed if it is a symlink).
pub fn is_socket() -> IsSocket {
    IsSocket
}

/// See [`is_socket`].
#[derive(Debug, Clone, Copy)]
pub struct IsSocket;

impl fmt::Display for IsSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "var is a socket")
    }
}

impl PredicateReflection for IsSocket {}

impl Predicate<Path> for IsSocket {
    fn eval(&self, path: &Path) -> bool {
        use std::os::unix::fs::FileTypeExt;
        std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
    }

    fn find_case<'a>(&'a self, expected: bool, path: &Path) -> Option<Case<'a>> {
        let actual = self.eval(path);
        (actual == expected).then(|| {
            let kind = match std::fs::symlink_metadata(path) {
                Ok(m) => format!("{:?}", m.file_type()),
                Err(e) => e.to_string(),
            };
            Case::new(Some(self), actual).add_product(Product::new("found", kind))
        })
    }
}

/// Snapshots the tree at `path` now (a directory recursively, or one file); the predicate holds
/// when the tree at the path it is given is byte-identical to that snapshot.
pub fn unchanged_from(path: &Path) -> Unchanged {
    Unchanged {
        before: snapshot(path),
    }
}

/// See [`unchanged_from`].
#[derive(Debug, Clone)]
pub struct Unchanged {
    before: BTreeMap<PathBuf, Option<Vec<u8>>>,
}

impl fmt::Display for Unchanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "var is byte-identical to its {} snapshotted entries",
            self.before.len()
        )
    }
}

impl PredicateReflection for Unchanged {}

impl Predicate<Path> for Unchanged {
    fn eval(&self, path: &Path) -> bool {
        snapshot(path) == self.before
    }

    fn find_case<'a>(&'a self, expected: bool, path: &Path) -> Option<Case<'a>> {
        let after = snapshot(path);
        let actual = after == self.before;
        (actual == expected).then(|| {
            let changed: Vec<&PathBuf> = self
                .before
                .keys()
                .chain(after.keys())
                .filter(|k| self.before.get(*k) != after.get(*k))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            Case::new(Some(self), actual)
                .add_product(Product::new("changed", format!("{changed:?}")))
        })
    }
}

/// Every entry under `path` (recursive), relative path → contents (`None` for directories and
/// non-regular files); a regular file is its own one entry. Two equal snapshots mean the tree is
/// byte-identical.
fn snapshot(path: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        out.insert(PathBuf::new(), std::fs::read(path).ok());
    } else {
        walk(path, path, &mut out);
    }
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(Result::ok) {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap_or(&p).to_path_buf();
        let ft = e.file_type().ok();
        if ft.is_some_and(|t| t.is_dir()) {
            out.insert(rel, None);
            walk(root, &p, out);
        } else if ft.is_some_and(|t| t.is_file()) {
            out.insert(rel, std::fs::read(&p).ok());
        } else {
            out.insert(rel, None);
        }
    }
}

/// The `content` of every `custom_message` entry with `customType == "entwurf-message"` in the
/// pi session transcripts (`*.jsonl`) under `agent_dir`, in file order.
pub fn entwurf_messages(agent_dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    collect_jsonl(agent_dir, &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if v["type"] == "custom_message" && v["customType"] == "entwurf-message" {
                if let Some(c) = v["content"].as_str() {
                    out.push(c.to_owned());
                }
            }
        }
    }
    out
}

fn collect_jsonl(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(Result::ok) {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            collect_jsonl(&p, out);
        } else if p.extension().is_some_and(|x| x == "jsonl") {
            out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assert_fs::prelude::*;

    #[test]
    fn finds_entwurf_messages_in_nested_transcripts() {
        let d = assert_fs::TempDir::new().unwrap();
        let s = d.child("sessions/--cwd--");
        std::fs::create_dir_all(&s).unwrap();
        std::fs::write(
            s.join("a.jsonl"),
            concat!(
                "{\"type\":\"session\",\"id\":\"x\"}\n",
                "{\"type\":\"custom_message\",\"customType\":\"entwurf-message\",\"content\":\"hi\\n\\n<sender_info>{}</sender_info>\",\"display\":true}\n",
                "{\"type\":\"custom_message\",\"customType\":\"other\",\"content\":\"no\"}\n",
                "not json\n",
            ),
        )
        .unwrap();
        assert_eq!(
            entwurf_messages(d.path()),
            vec!["hi\n\n<sender_info>{}</sender_info>".to_owned()]
        );
    }

    #[test]
    fn unchanged_fails_when_a_byte_changes_and_names_the_entry() {
        let d = assert_fs::TempDir::new().unwrap();
        let state = d.child("g/state.json");
        state.write_binary(b"{}").unwrap();
        let same = unchanged_from(d.path());
        assert!(same.eval(d.path()));
        state.write_binary(b"{ }").unwrap();
        assert!(!same.eval(d.path()));
        let case = same
            .find_case(false, d.path())
            .expect("a case for the change");
        let changed: Vec<String> = case.products().map(|p| p.to_string()).collect();
        assert_eq!(changed, vec![r#"changed: ["g/state.json"]"#.to_owned()]);
        let file = unchanged_from(state.path());
        assert!(file.eval(state.path()));
        state.write_binary(b"{}").unwrap();
        assert!(!file.eval(state.path()));
    }

    #[test]
    fn entry_predicates_list_what_they_found() {
        let d = assert_fs::TempDir::new().unwrap();
        let g = d.child("g");
        g.child("a.json").touch().unwrap();
        assert_eq!(entries_ending(&g, ".json").len(), 1);
        assert!(entries_ending(d.child("absent"), ".msg").is_empty());
        assert!(no_entry_ending(".msg").eval(&g));
        assert!(no_entry_ending(".msg").eval(&d.child("absent")));
        assert!(!no_entry_ending(".json").eval(&g));
        assert!(!no_entry_ending("").eval(&g));
        assert!(no_entry_ending(".json").find_case(false, &g).is_some());
        assert!(!is_socket().eval(&g.child("a.json")));
        let sock = d.child("s.sock");
        let _listener = std::os::unix::net::UnixListener::bind(sock.path()).unwrap();
        assert!(is_socket().eval(&sock));
    }
}
