//! Tidy: every invariant points at a test that exists.
//!
//! The invariants live with their crates as `Architecture Invariant:` paragraphs in the `//!` or
//! `///` docs of the module that owns them; `ARCHITECTURE.md` is the map that links to them and
//! `README.md` lists what entwurf guarantees. Each names the test that proves it as
//! `` `path/to/file.rs::test_name` `` (path from the repository root, inside backticks);
//! `` `::other_test` `` names another test in the file of the reference before it.
//!
//! [`every_test_reference_names_an_existing_test_function`] reads `ARCHITECTURE.md`,
//! `README.md`, `crates/*/src/**/*.rs` and `src/**/*.rs`, and fails naming every reference whose
//! file does not exist or holds no `fn test_name`.
//! [`every_architecture_invariant_names_a_test`] fails naming every `Architecture Invariant:`
//! paragraph without such a reference, and [`the_map_links_every_file_that_holds_invariants`]
//! every file holding such paragraphs that `ARCHITECTURE.md` does not link.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// The repository root (the harness package is the root package).
fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One `path::test` reference and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TestRef {
    /// The file that names the test, relative to the repository root.
    source: String,
    /// 1-based line of the reference in `source`.
    line: usize,
    /// The test's file, relative to the repository root.
    path: String,
    /// The test function's name.
    test: String,
}

impl fmt::Display for TestRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: `{}::{}`",
            self.source, self.line, self.path, self.test
        )
    }
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn is_repo_path(s: &str) -> bool {
    s.ends_with(".rs")
        && !s.starts_with('/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
}

/// Every reference in `text` (the contents of `source`): backtick spans of the form
/// `path.rs::name`, or `::name` naming a test in the file of the reference before it.
fn collect_refs(source: &str, text: &str) -> Vec<TestRef> {
    let mut refs = Vec::new();
    let mut last_path: Option<&str> = None;
    for (index, line) in text.lines().enumerate() {
        // Odd pieces of a split on backticks are the spans' contents.
        for span in line.split('`').skip(1).step_by(2) {
            let (path, test) = match span.split_once("::") {
                Some(("", test)) if is_ident(test) => match last_path {
                    Some(path) => (path, test),
                    None => continue,
                },
                Some((path, test)) if is_repo_path(path) && is_ident(test) => (path, test),
                _ => continue,
            };
            last_path = Some(path);
            refs.push(TestRef {
                source: source.to_string(),
                line: index + 1,
                path: path.to_string(),
                test: test.to_string(),
            });
        }
    }
    refs
}

/// Whether `code` defines a function named `name` (`fn name(` or `fn name<`).
fn defines_fn(code: &str, name: &str) -> bool {
    let needle = format!("fn {name}");
    code.match_indices(&needle).any(|(at, _)| {
        let before_ok = code[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c == '_' || c.is_ascii_alphanumeric()));
        let after = code[at + needle.len()..].trim_start();
        before_ok && (after.starts_with('(') || after.starts_with('<'))
    })
}

/// Why `r` does not point at a test, if it does not.
fn check_ref(root: &Path, r: &TestRef) -> Option<String> {
    match fs::read_to_string(root.join(&r.path)) {
        Err(e) => Some(format!("{r}: cannot read `{}`: {e}", r.path)),
        Ok(code) if !defines_fn(&code, &r.test) => Some(format!(
            "{r}: `{}` has no `fn {}` (renamed or removed? fix the reference)",
            r.path, r.test
        )),
        Ok(_) => None,
    }
}

/// The `.rs` files under `dir`, recursively, sorted.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The documents that hold invariants or guarantees, relative to `root`, with their contents.
fn documents(root: &Path) -> Vec<(String, String)> {
    let mut files = vec![root.join("ARCHITECTURE.md"), root.join("README.md")];
    let mut crates: Vec<PathBuf> = fs::read_dir(root.join("crates"))
        .expect("crates/ is readable")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    crates.sort();
    for krate in crates {
        rust_files(&krate.join("src"), &mut files);
    }
    rust_files(&root.join("src"), &mut files);
    files
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            (rel, text)
        })
        .collect()
}

/// The `Architecture Invariant:` paragraphs of `text`: (1-based first line, the paragraph).
/// A paragraph is a run of doc-comment lines (`//!` or `///`) ended by an empty doc line or a
/// line that is not a doc comment.
fn invariant_paragraphs(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let doc = trimmed
            .strip_prefix("//!")
            .or_else(|| trimmed.strip_prefix("///"))
            .map(str::trim);
        match doc {
            Some(content) if !content.is_empty() => {
                if let Some((_, paragraph)) = current.as_mut() {
                    paragraph.push('\n');
                    paragraph.push_str(content);
                } else if content.contains("Architecture Invariant:") {
                    current = Some((index + 1, content.to_string()));
                }
            }
            _ => found.extend(current.take()),
        }
    }
    found.extend(current);
    found
}

#[test]
fn every_test_reference_names_an_existing_test_function() {
    let root = repo_root();
    let mut refs = Vec::new();
    for (source, text) in documents(&root) {
        refs.extend(collect_refs(&source, &text));
    }
    let broken: Vec<String> = refs.iter().filter_map(|r| check_ref(&root, r)).collect();
    assert!(
        broken.is_empty(),
        "{} of {} test references point at no test:\n{}",
        broken.len(),
        refs.len(),
        broken.join("\n")
    );
    // The map and the crates' invariants name tests; an empty harvest means the parser broke.
    assert!(refs.len() > 50, "only {} test references found", refs.len());
}

#[test]
fn every_architecture_invariant_names_a_test() {
    let root = repo_root();
    let mut count = 0;
    let mut bare = Vec::new();
    for (source, text) in documents(&root) {
        if !source.ends_with(".rs") {
            continue;
        }
        for (line, paragraph) in invariant_paragraphs(&text) {
            count += 1;
            if collect_refs(&source, &paragraph).is_empty() {
                bare.push(format!("{source}:{line}: {paragraph}"));
            }
        }
    }
    assert!(
        bare.is_empty(),
        "{} of {count} `Architecture Invariant:` paragraphs name no `path/to/file.rs::test`:\n{}",
        bare.len(),
        bare.join("\n\n")
    );
    assert!(count > 20, "only {count} invariants found");
}

#[test]
fn the_map_links_every_file_that_holds_invariants() {
    let root = repo_root();
    let map = fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let unlinked: Vec<String> = documents(&root)
        .into_iter()
        .filter(|(source, text)| {
            source.ends_with(".rs")
                && !invariant_paragraphs(text).is_empty()
                && !map.contains(&format!("]({source})"))
        })
        .map(|(source, _)| source)
        .collect();
    assert!(
        unlinked.is_empty(),
        "ARCHITECTURE.md's invariants table links no `[crate]({{path}})` for: {}",
        unlinked.join(", ")
    );
}

#[test]
fn the_checker_names_a_misspelled_test_and_a_missing_file() {
    let root = repo_root();
    let text = "see `tests/tidy.rs::every_test_reference_names_an_existing_test_functon`, \
                `::every_architecture_invariant_names_a_test` and `tests/no_such_file.rs::x`";
    let refs = collect_refs("example.md", text);
    assert_eq!(refs.len(), 3, "{refs:?}");
    assert_eq!(refs[1].path, "tests/tidy.rs");
    let verdicts: Vec<Option<String>> = refs.iter().map(|r| check_ref(&root, r)).collect();
    let misspelled = verdicts[0]
        .as_deref()
        .expect("a misspelled name is reported");
    assert!(
        misspelled.contains("example.md:1")
            && misspelled.contains("every_test_reference_names_an_existing_test_functon"),
        "{misspelled}"
    );
    assert_eq!(
        verdicts[1], None,
        "the `::name` form resolves in the file before it"
    );
    let missing = verdicts[2].as_deref().expect("a missing file is reported");
    assert!(
        missing.contains("cannot read `tests/no_such_file.rs`"),
        "{missing}"
    );
}

#[test]
fn invariant_paragraphs_end_at_an_empty_doc_line() {
    let text = "//! Intro.\n//!\n//! Architecture Invariant: a holds,\n//! proved by \
                `tests/tidy.rs::x`.\n//!\n//! Not part of it.\nfn f() {}\n/// Architecture \
                Invariant: b.\nfn g() {}\n";
    let paragraphs = invariant_paragraphs(text);
    assert_eq!(
        paragraphs,
        vec![
            (
                3,
                "Architecture Invariant: a holds,\nproved by `tests/tidy.rs::x`.".to_string()
            ),
            (8, "Architecture Invariant: b.".to_string()),
        ]
    );
}
