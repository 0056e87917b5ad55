//! Where the pi binary and our control extension are.
//!
//! `PI_BIN` and `ENTWURF_PI_EXTENSION` override; otherwise the pinned install that
//! `cargo xtask pi` puts under `<workspace>/target/pi/` and the extension in the source tree.
//! With neither, discovery fails with one line that says how to get a pi.

use std::path::{Path, PathBuf};

/// Overrides the pi executable.
pub const ENV_PI_BIN: &str = "PI_BIN";
/// Overrides the control extension (`entwurf-control.ts`).
pub const ENV_PI_EXTENSION: &str = "ENTWURF_PI_EXTENSION";

/// A pi that can be started, and the extension that gives it `--entwurf-control`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiLocation {
    /// The `pi` executable (a node script in an npm install).
    pub pi_bin: PathBuf,
    /// The control extension passed with `-e`.
    pub extension: PathBuf,
    /// A directory holding a `node` new enough for pi (put first on `PATH`), when one sits next
    /// to the pi executable (an npm `node_modules/.bin`).
    pub node_bin_dir: Option<PathBuf>,
}

/// No usable pi or extension.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// Nothing at the default install path and no override.
    #[error("no pi at {path} (and {ENV_PI_BIN} is unset): run `cargo xtask pi` to install the pinned pi, or set {ENV_PI_BIN}")]
    NoPi {
        /// The path that was looked at.
        path: PathBuf,
    },
    /// `PI_BIN` names something that is not a file.
    #[error("{ENV_PI_BIN}={path} is not a file: point it at a pi executable, or unset it and run `cargo xtask pi`")]
    BadPiBin {
        /// The value of `PI_BIN`.
        path: PathBuf,
    },
    /// The extension file is missing.
    #[error("no entwurf-control extension at {path}: set {ENV_PI_EXTENSION} or restore pi/extensions/entwurf-control.ts")]
    NoExtension {
        /// The path that was looked at.
        path: PathBuf,
    },
}

/// The default pi launcher made by `cargo xtask pi` (it execs the pinned node).
pub fn default_pi_bin(workspace: &Path) -> PathBuf {
    workspace.join("target/pi/bin/pi")
}

/// The extension shipped in the source tree.
pub fn default_extension(workspace: &Path) -> PathBuf {
    workspace.join("pi/extensions/entwurf-control.ts")
}

/// Finds pi and the extension. `lookup` is an environment lookup (empty values count as unset);
/// `workspace` is the repository root.
pub fn discover_pi(
    lookup: impl Fn(&str) -> Option<String>,
    workspace: &Path,
) -> Result<PiLocation, DiscoveryError> {
    let get = |k: &str| {
        lookup(k)
            .filter(|v| !v.trim().is_empty())
            .map(PathBuf::from)
    };
    let pi_bin = match get(ENV_PI_BIN) {
        Some(path) if path.is_file() => path,
        Some(path) => return Err(DiscoveryError::BadPiBin { path }),
        None => {
            let path = default_pi_bin(workspace);
            if !path.is_file() {
                return Err(DiscoveryError::NoPi { path });
            }
            path
        }
    };
    let extension = get(ENV_PI_EXTENSION).unwrap_or_else(|| default_extension(workspace));
    if !extension.is_file() {
        return Err(DiscoveryError::NoExtension { path: extension });
    }
    // An npm `.bin` next to the executable, or the one beside the xtask launcher's `bin/`.
    let node_bin_dir = pi_bin.parent().and_then(|dir| {
        [dir.to_path_buf(), dir.join("../node_modules/.bin")]
            .into_iter()
            .find(|d| d.join("node").is_file())
    });
    Ok(PiLocation {
        pi_bin,
        extension,
        node_bin_dir,
    })
}

/// The repository root (the root package's manifest directory).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// [`discover_pi`] over the process environment and [`workspace_root`] (the edge; cells call this).
pub fn discover_pi_from_env() -> Result<PiLocation, DiscoveryError> {
    discover_pi(|k| std::env::var(k).ok(), &workspace_root())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"").unwrap();
    }

    #[test]
    fn without_pi_the_error_is_one_line_naming_cargo_xtask_pi() {
        let ws = tempfile::tempdir().unwrap();
        let err = discover_pi(|_| None, ws.path()).unwrap_err();
        assert_eq!(
            err,
            DiscoveryError::NoPi {
                path: default_pi_bin(ws.path())
            }
        );
        let msg = err.to_string();
        assert!(
            msg.contains("cargo xtask pi") && !msg.contains('\n'),
            "{msg}"
        );
    }

    #[test]
    fn the_default_install_is_found_with_its_node() {
        let ws = tempfile::tempdir().unwrap();
        touch(&default_pi_bin(ws.path()));
        touch(&ws.path().join("target/pi/node_modules/.bin/node"));
        touch(&default_extension(ws.path()));
        let loc = discover_pi(|_| None, ws.path()).unwrap();
        assert_eq!(loc.pi_bin, default_pi_bin(ws.path()));
        assert_eq!(loc.extension, default_extension(ws.path()));
        assert_eq!(
            loc.node_bin_dir,
            Some(ws.path().join("target/pi/bin/../node_modules/.bin"))
        );
    }

    #[test]
    fn overrides_win_and_a_bad_override_is_named() {
        let ws = tempfile::tempdir().unwrap();
        let pi = ws.path().join("elsewhere/pi");
        let ext = ws.path().join("ext.ts");
        touch(&pi);
        touch(&ext);
        let (pi_s, ext_s) = (pi.display().to_string(), ext.display().to_string());
        let loc = discover_pi(
            |k| match k {
                ENV_PI_BIN => Some(pi_s.clone()),
                ENV_PI_EXTENSION => Some(ext_s.clone()),
                _ => None,
            },
            ws.path(),
        )
        .unwrap();
        assert_eq!(
            (loc.pi_bin, loc.extension, loc.node_bin_dir),
            (pi, ext, None)
        );

        let missing = ws.path().join("nope");
        let missing_s = missing.display().to_string();
        let err =
            discover_pi(|k| (k == ENV_PI_BIN).then(|| missing_s.clone()), ws.path()).unwrap_err();
        assert_eq!(err, DiscoveryError::BadPiBin { path: missing });
    }

    #[test]
    fn a_missing_extension_is_named() {
        let ws = tempfile::tempdir().unwrap();
        touch(&default_pi_bin(ws.path()));
        let err = discover_pi(|_| None, ws.path()).unwrap_err();
        assert_eq!(
            err,
            DiscoveryError::NoExtension {
                path: default_extension(ws.path())
            }
        );
    }
}
