//! Named invariants: every check in a cell says which invariant broke.

use std::fmt;
use std::path::Path;

use predicates::reflection::PredicateReflection;
use predicates::Predicate;
use predicates_tree::CaseTreeExt as _;

use crate::discovery::DiscoveryError;
use crate::resident::HarnessError;
use crate::target::TargetError;

/// Why a cell failed. `Debug` prints the same text as `Display`, so a test returning
/// `Err(CellError)` shows a readable line in libtest's output.
#[derive(thiserror::Error)]
pub enum CellError {
    /// A named invariant does not hold.
    #[error("invariant broken: {name}: {detail}")]
    Invariant {
        /// The invariant's name (stable; grep for it in the cell source).
        name: String,
        /// What was observed instead.
        detail: String,
    },
    /// The live setup could not be built (no pi, boot timeout, IO).
    #[error("live setup failed")]
    Harness(#[from] HarnessError),
    /// No usable pi.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    /// The live target variables are malformed.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// A step of the cell (an API call) returned an error.
    #[error("step {step:?} failed: {error}")]
    Step {
        /// Which step.
        step: String,
        /// The error text.
        error: String,
    },
}

/// A failed cell prints this (a test's `Err` is shown with `Debug`): the text and its causes.
impl fmt::Debug for CellError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&entwurf_fs::Chain(self), f)
    }
}

impl CellError {
    /// Wraps an error from a named step.
    pub fn step(step: impl Into<String>, error: impl fmt::Display) -> Self {
        CellError::Step {
            step: step.into(),
            error: error.to_string(),
        }
    }
}

/// `Ok(())` when `holds`, else [`CellError::Invariant`] named `name` with `detail`.
///
/// The detail is built lazily so a passing check costs nothing.
pub fn check<D: fmt::Display>(
    name: &str,
    holds: bool,
    detail: impl FnOnce() -> D,
) -> Result<(), CellError> {
    if holds {
        Ok(())
    } else {
        Err(CellError::Invariant {
            name: name.to_owned(),
            detail: detail().to_string(),
        })
    }
}

/// [`check`] for equality: the detail shows expected and observed values.
pub fn check_eq<T: PartialEq + fmt::Debug>(
    name: &str,
    observed: &T,
    expected: &T,
) -> Result<(), CellError> {
    check(name, observed == expected, || {
        format!("expected {expected:?}, observed {observed:?}")
    })
}

/// An on-disk invariant: `Ok(())` when `path` (a store path of the world, usually a
/// [`assert_fs::fixture::ChildPath`]) satisfies `pred` (`predicate::path::missing()`,
/// `path::exists()`, a content predicate `….from_utf8().from_file_path()`, or one of
/// [`crate::on_disk`]'s), else [`CellError::Invariant`] named `name`. The detail is the path, the
/// predicate's account of why it failed, and, for a small regular file, what it holds.
pub fn check_path<P>(name: &str, path: impl AsRef<Path>, pred: P) -> Result<(), CellError>
where
    P: Predicate<Path> + PredicateReflection,
{
    let path = path.as_ref();
    let Some(case) = pred.find_case(false, path) else {
        return Ok(());
    };
    let mut detail = format!("{}: {}", path.display(), case.tree());
    let small_file = std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() <= 512);
    if small_file {
        if let Ok(text) = std::fs::read_to_string(path) {
            detail.push_str(&format!("\nit holds: {:?}", text.trim_end()));
        }
    }
    Err(CellError::Invariant {
        name: name.to_owned(),
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_check_names_its_invariant() {
        let err = check("no-lock-left", false, || "lock file /x/g.lock exists").unwrap_err();
        assert_eq!(
            format!("{err:?}"),
            "invariant broken: no-lock-left: lock file /x/g.lock exists"
        );
        assert!(check("ok", true, || "unused").is_ok());
        let err = check_eq("outcome", &"failed", &"sent").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invariant broken: outcome: expected \"sent\", observed \"failed\""
        );
    }

    #[test]
    fn a_failed_path_check_names_its_invariant_path_and_contents() {
        use assert_fs::prelude::*;
        use predicates::prelude::*;
        let d = assert_fs::TempDir::new().unwrap();
        let lock = d.child("g.lock");
        check_path("no-lock-left", &lock, predicate::path::missing()).unwrap();
        lock.write_str("pid 7\n").unwrap();
        let err = check_path("no-lock-left", &lock, predicate::path::missing()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "invariant broken: no-lock-left: {}: ",
                lock.display()
            )),
            "{text}"
        );
        assert!(text.ends_with("it holds: \"pid 7\""), "{text}");
        let says_hi = predicate::str::contains("hi").from_utf8().from_file_path();
        let err = check_path("msg-carries-hi", &lock, says_hi).unwrap_err();
        assert!(err.to_string().contains("msg-carries-hi"), "{err}");
    }
}
