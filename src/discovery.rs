//! Where the pi binary and our control extension are.
//!
//! `PI_BIN` and `ENTWURF_PI_EXTENSION` override; otherwise the pinned install of the line
//! `ENTWURF_PI_LINE` names (`0.80` or `1.x`; default 1.x, the pi most people run) that
//! `cargo xtask pi` puts under `<workspace>/target/pi/<line>/`, and the extension in the source
//! tree. With neither, discovery fails with one line that says how to get a pi.
//!
//! The line of a `PI_BIN` pi is its version's (read from its installed `package.json`, else
//! `ENTWURF_PI_LINE` when set, else `PI_BIN --version`).

use std::path::{Path, PathBuf};

use entwurf_spawn::pi_line::{installed_pi_version, manifest_version};
use entwurf_spawn::PiLine;

/// Overrides the pi executable.
pub const ENV_PI_BIN: &str = "PI_BIN";
/// Overrides the control extension (`entwurf-control.ts`).
pub const ENV_PI_EXTENSION: &str = "ENTWURF_PI_EXTENSION";
/// Picks the pinned pi line (`0.80` or `1.x`; default 1.x).
pub const ENV_PI_LINE: &str = "ENTWURF_PI_LINE";

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
    /// The pi line this pi belongs to.
    pub line: PiLine,
}

/// No usable pi or extension.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// `ENTWURF_PI_LINE` names no line.
    #[error("{ENV_PI_LINE}={value:?} is not a pi line: use 0.80 or 1.x, or unset it (1.x)")]
    BadLine {
        /// The value.
        value: String,
    },
    /// `PI_BIN`'s version could not be read (and `ENTWURF_PI_LINE` does not say).
    #[error("cannot tell the pi line of {ENV_PI_BIN}={path}: {detail}; set {ENV_PI_LINE} too")]
    UnknownLine {
        /// The value of `PI_BIN`.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// Nothing at the default install path and no override.
    #[error("no pi at {path} (and {ENV_PI_BIN} is unset): run `cargo xtask pi` to install the pinned pi lines, or set {ENV_PI_BIN}")]
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

/// The launcher `cargo xtask pi` makes for `line` (it execs the pinned node).
pub fn default_pi_bin(workspace: &Path, line: PiLine) -> PathBuf {
    workspace.join("target/pi").join(line.name()).join("bin/pi")
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
    let named_line = match lookup(ENV_PI_LINE).filter(|v| !v.trim().is_empty()) {
        Some(value) => Some(PiLine::parse(&value).ok_or(DiscoveryError::BadLine { value })?),
        None => None,
    };
    let (pi_bin, line) = match get(ENV_PI_BIN) {
        Some(path) if path.is_file() => {
            let line = match (manifest_version(&path), named_line) {
                (Some(version), _) => PiLine::of_version(&version),
                (None, Some(line)) => line,
                (None, None) => installed_pi_version(&path, None)
                    .map(|v| PiLine::of_version(&v))
                    .map_err(|e| DiscoveryError::UnknownLine {
                        path: path.clone(),
                        detail: e.to_string(),
                    })?,
            };
            (path, line)
        }
        Some(path) => return Err(DiscoveryError::BadPiBin { path }),
        None => {
            let line = named_line.unwrap_or(PiLine::DEFAULT);
            let path = default_pi_bin(workspace, line);
            if !path.is_file() {
                return Err(DiscoveryError::NoPi { path });
            }
            (path, line)
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
        line,
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
                path: default_pi_bin(ws.path(), PiLine::V1)
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
        for line in PiLine::ALL {
            touch(&default_pi_bin(ws.path(), line));
            touch(
                &ws.path()
                    .join("target/pi")
                    .join(line.name())
                    .join("node_modules/.bin/node"),
            );
        }
        touch(&default_extension(ws.path()));
        // Default: the 1.x line.
        let loc = discover_pi(|_| None, ws.path()).unwrap();
        assert_eq!(loc.pi_bin, default_pi_bin(ws.path(), PiLine::V1));
        assert_eq!(loc.line, PiLine::V1);
        assert_eq!(loc.extension, default_extension(ws.path()));
        assert_eq!(
            loc.node_bin_dir,
            Some(ws.path().join("target/pi/1.x/bin/../node_modules/.bin"))
        );
        // ENTWURF_PI_LINE=0.80 picks the other; a bad value is named.
        let loc = discover_pi(|k| (k == ENV_PI_LINE).then(|| "0.80".into()), ws.path()).unwrap();
        assert_eq!(
            (loc.pi_bin, loc.line),
            (default_pi_bin(ws.path(), PiLine::V0_80), PiLine::V0_80)
        );
        let err =
            discover_pi(|k| (k == ENV_PI_LINE).then(|| "0.79".into()), ws.path()).unwrap_err();
        assert_eq!(
            err,
            DiscoveryError::BadLine {
                value: "0.79".into()
            }
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
        // A PI_BIN whose version cannot be read from a package takes ENTWURF_PI_LINE's word.
        let loc = discover_pi(
            |k| match k {
                ENV_PI_BIN => Some(pi_s.clone()),
                ENV_PI_EXTENSION => Some(ext_s.clone()),
                ENV_PI_LINE => Some("0.80".into()),
                _ => None,
            },
            ws.path(),
        )
        .unwrap();
        assert_eq!(
            (loc.pi_bin, loc.extension, loc.node_bin_dir, loc.line),
            (pi.clone(), ext, None, PiLine::V0_80)
        );
        // Without it, a PI_BIN that cannot answer `--version` is refused with what to do.
        let err = discover_pi(|k| (k == ENV_PI_BIN).then(|| pi_s.clone()), ws.path()).unwrap_err();
        assert!(
            matches!(err, DiscoveryError::UnknownLine { .. })
                && err.to_string().contains(ENV_PI_LINE),
            "{err}"
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
        touch(&default_pi_bin(ws.path(), PiLine::V1));
        let err = discover_pi(|_| None, ws.path()).unwrap_err();
        assert_eq!(
            err,
            DiscoveryError::NoExtension {
                path: default_extension(ws.path())
            }
        );
    }
}
