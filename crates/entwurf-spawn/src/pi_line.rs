//! The pi lines entwurf runs against, and everything that differs between them: the one place.
//!
//! | | 0.80 (pinned 0.80.10) | 1.x (pinned 1.6.0) |
//! |---|---|---|
//! | `bin` entry of the npm package | `dist/cli.js` | `dist/bundle/cli.js` (boots ~3× faster) |
//! | project trust inputs under `<cwd>/.pi` | `settings.json`, `extensions`, `skills`, `prompts`, `themes`, `SYSTEM.md`, `APPEND_SYSTEM.md` | the same plus `mcp.json` |
//! | `trust.json` | read as is | a leading BOM is dropped; keys compare after `path.resolve` |
//! | `--provider` without `--model` | accepted | an error |
//! | `-ne` / `--no-extensions` | turns off discovered extensions | also turns off the built-ins (mcp, codemode, tool-search) |
//!
//! Facts read from the installed packages (`dist/core/trust-manager.js`, `package.json`). The
//! extension (`pi/extensions/entwurf-control.ts`) is the same on both lines; launch arguments are
//! the same too, because every launch names a model whenever it names a provider
//! ([`provider_model_args`]) and `-ne` is only used by test residents, which want no built-ins.
//!
//! Production learns the line from the pi it is about to launch ([`installed_pi_version`], read
//! once per dispatcher), never from a setting. A pi whose version cannot be read is judged by
//! the newest line's rules, the strictest (its trust inputs include every older line's).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The npm package of the pi coding agent.
pub const PI_PACKAGE: &str = "@earendil-works/pi-coding-agent";

/// A pi release line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiLine {
    /// 0.80.x (the reference was built against it).
    V0_80,
    /// 1.x (npm `latest`; what most people run).
    V1,
}

/// Entries under `<cwd>/.pi` that pi 0.80 loads only from a trusted project.
const TRUST_INPUTS_0_80: &[&str] = &[
    "settings.json",
    "extensions",
    "skills",
    "prompts",
    "themes",
    "SYSTEM.md",
    "APPEND_SYSTEM.md",
];

/// The same for pi 1.x: 1.0 added `mcp.json` (project MCP servers).
const TRUST_INPUTS_1: &[&str] = &[
    "settings.json",
    "mcp.json",
    "extensions",
    "skills",
    "prompts",
    "themes",
    "SYSTEM.md",
    "APPEND_SYSTEM.md",
];

impl PiLine {
    /// Every line, oldest first.
    pub const ALL: [PiLine; 2] = [PiLine::V0_80, PiLine::V1];

    /// The line tests use when nothing picks one: 1.x, the pi most people run.
    pub const DEFAULT: PiLine = PiLine::V1;

    /// The rules used for a pi whose version cannot be read: the newest (strictest) line's.
    pub const STRICTEST: PiLine = PiLine::V1;

    /// `0.80` or `1.x`: the name in `pi/<line>/`, `target/pi/<line>/`, flags and test names.
    pub fn name(self) -> &'static str {
        match self {
            PiLine::V0_80 => "0.80",
            PiLine::V1 => "1.x",
        }
    }

    /// The line called `name` (`0.80`, `1.x`; `1` is accepted for `1.x`).
    ///
    /// ```
    /// use entwurf_spawn::pi_line::PiLine;
    /// assert_eq!(PiLine::parse("0.80"), Some(PiLine::V0_80));
    /// assert_eq!(PiLine::parse(" 1.x "), Some(PiLine::V1));
    /// assert_eq!(PiLine::parse("2"), None);
    /// ```
    pub fn parse(name: &str) -> Option<PiLine> {
        match name.trim() {
            "0.80" => Some(PiLine::V0_80),
            "1.x" | "1" => Some(PiLine::V1),
            _ => None,
        }
    }

    /// The line a pi version belongs to: `0.*` is 0.80 (the only 0.x line supported), anything
    /// else — 1.x, a newer major, or a version that does not parse — gets the newest rules.
    ///
    /// ```
    /// use entwurf_spawn::pi_line::PiLine;
    /// assert_eq!(PiLine::of_version("0.80.10"), PiLine::V0_80);
    /// assert_eq!(PiLine::of_version("1.6.0"), PiLine::V1);
    /// assert_eq!(PiLine::of_version("garbage"), PiLine::V1);
    /// ```
    pub fn of_version(version: &str) -> PiLine {
        let version = version.trim().trim_start_matches('v');
        match version.split('.').next().map(str::parse::<u64>) {
            Some(Ok(0)) => PiLine::V0_80,
            _ => PiLine::STRICTEST,
        }
    }

    /// Entries under `<cwd>/.pi` that this line gates behind project trust.
    pub fn trust_requiring_project_config(self) -> &'static [&'static str] {
        match self {
            PiLine::V0_80 => TRUST_INPUTS_0_80,
            PiLine::V1 => TRUST_INPUTS_1,
        }
    }

    /// Whether this line drops a leading byte-order mark from `trust.json` before parsing.
    pub fn trust_store_strips_bom(self) -> bool {
        self == PiLine::V1
    }

    /// Whether this line compares trust store keys after `path.resolve` (so `/a/b/` names `/a/b`).
    pub fn trust_store_resolves_keys(self) -> bool {
        self == PiLine::V1
    }
}

impl std::fmt::Display for PiLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `--provider <p> --model <m>`, or `--model <m>` alone: every line accepts this (since 1.0 a
/// `--provider` without `--model` is an error, so a provider never goes out alone).
///
/// ```
/// use entwurf_spawn::pi_line::provider_model_args;
/// assert_eq!(provider_model_args(Some("p"), "m"), ["--provider", "p", "--model", "m"]);
/// assert_eq!(provider_model_args(Some(""), "m"), ["--model", "m"]);
/// ```
pub fn provider_model_args(provider: Option<&str>, model: &str) -> Vec<String> {
    let mut args = Vec::with_capacity(4);
    if let Some(provider) = provider.filter(|p| !p.is_empty()) {
        args.extend(["--provider".to_owned(), provider.to_owned()]);
    }
    args.extend(["--model".to_owned(), model.to_owned()]);
    args
}

/// Why the version of a pi program could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PiVersionError {
    /// A bare command name that no `PATH` directory holds.
    #[error("no {program} on PATH: install pi or name it with a path (PI_BIN)")]
    NotOnPath {
        /// The command name.
        program: String,
    },
    /// `<pi> --version` could not be run, failed, or printed no version.
    #[error("cannot read the version of {program}: {detail}")]
    Version {
        /// The program.
        program: PathBuf,
        /// What happened.
        detail: String,
    },
}

/// How long `<pi> --version` may take before it is killed (a Node boot is ~1 s).
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);

/// The version of the pi that `program` starts. `path_env` is the `PATH` used to find a bare
/// command name (read at the edge).
///
/// Cheap first: the `package.json` of [`PI_PACKAGE`] found from the program's real path (npm's
/// `bin` symlinks point into the package) or, for a launcher `<dir>/bin/pi` as `cargo xtask pi`
/// writes it, at `<dir>/node_modules/<PI_PACKAGE>/package.json`. Only when neither exists is
/// `<program> --version` run (bounded by a timeout).
pub fn installed_pi_version(
    program: &Path,
    path_env: Option<&OsStr>,
) -> Result<String, PiVersionError> {
    let resolved = resolve_program(program, path_env)?;
    if let Some(version) = manifest_version(&resolved) {
        return Ok(version);
    }
    run_version(&resolved)
}

/// A program with a `/` is used as is; a bare name is looked up on `path_env`.
fn resolve_program(program: &Path, path_env: Option<&OsStr>) -> Result<PathBuf, PiVersionError> {
    if program.components().count() > 1 || program.is_absolute() {
        return Ok(program.to_path_buf());
    }
    std::env::split_paths(path_env.unwrap_or_default())
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable_file(candidate))
        .ok_or_else(|| PiVersionError::NotOnPath {
            program: program.display().to_string(),
        })
}

fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The pi package's version from the manifests near `program` (see [`installed_pi_version`]).
pub fn manifest_version(program: &Path) -> Option<String> {
    let real = std::fs::canonicalize(program).ok()?;
    let in_package = real
        .ancestors()
        .skip(1)
        .map(|dir| dir.join("package.json"))
        .find_map(|manifest| pi_manifest_version(&manifest));
    in_package.or_else(|| {
        let launcher_home = program.parent()?.parent()?;
        pi_manifest_version(
            &launcher_home
                .join("node_modules")
                .join(PI_PACKAGE)
                .join("package.json"),
        )
    })
}

/// `version` of a manifest whose `name` is [`PI_PACKAGE`] (anything else: `None`).
fn pi_manifest_version(manifest: &Path) -> Option<String> {
    let meta = std::fs::metadata(manifest).ok()?;
    // A manifest is a few KiB; anything huge or not a regular file is not one.
    if !meta.is_file() || meta.len() > 1 << 20 {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest).ok()?).ok()?;
    if value["name"] != PI_PACKAGE {
        return None;
    }
    value["version"].as_str().map(str::to_owned)
}

fn run_version(program: &Path) -> Result<String, PiVersionError> {
    let fail = |detail: String| PiVersionError::Version {
        program: program.to_path_buf(),
        detail,
    };
    let mut child = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > VERSION_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!("no answer within {VERSION_TIMEOUT:?}")));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(format!("exited {}", out.status)));
    }
    parse_version_output(&String::from_utf8_lossy(&out.stdout))
        .ok_or_else(|| fail("printed no version".to_owned()))
}

/// The first `N.N…` token of `pi --version`'s output.
pub fn parse_version_output(text: &str) -> Option<String> {
    text.split_whitespace()
        .map(|t| t.trim_start_matches('v'))
        .find(|t| {
            let mut parts = t.split('.');
            parts.next().is_some_and(|p| p.parse::<u64>().is_ok())
                && parts.next().is_some_and(|p| p.parse::<u64>().is_ok())
        })
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for line in PiLine::ALL {
            assert_eq!(PiLine::parse(line.name()), Some(line));
        }
    }

    #[test]
    fn versions_map_to_lines() {
        assert_eq!(PiLine::of_version("0.80.3"), PiLine::V0_80);
        assert_eq!(PiLine::of_version("v1.0.3"), PiLine::V1);
        assert_eq!(PiLine::of_version("2.0.0"), PiLine::V1);
        assert_eq!(PiLine::of_version(""), PiLine::V1);
    }

    #[test]
    fn the_newest_line_gates_everything_the_older_one_does() {
        for input in PiLine::V0_80.trust_requiring_project_config() {
            assert!(PiLine::V1.trust_requiring_project_config().contains(input));
        }
        assert!(PiLine::V1
            .trust_requiring_project_config()
            .contains(&"mcp.json"));
        assert!(!PiLine::V0_80
            .trust_requiring_project_config()
            .contains(&"mcp.json"));
    }

    #[test]
    fn version_output_parses() {
        assert_eq!(parse_version_output("1.6.0\n").as_deref(), Some("1.6.0"));
        assert_eq!(
            parse_version_output("pi v0.80.10\n").as_deref(),
            Some("0.80.10")
        );
        assert_eq!(parse_version_output("Unknown option\n"), None);
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn the_version_comes_from_the_package_behind_an_npm_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("lib/node_modules").join(PI_PACKAGE);
        write(
            &pkg.join("package.json"),
            &format!(r#"{{"name":"{PI_PACKAGE}","version":"1.6.0"}}"#),
        );
        write(&pkg.join("dist/bundle/cli.js"), "");
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        let link = dir.path().join("bin/pi");
        std::os::unix::fs::symlink(pkg.join("dist/bundle/cli.js"), &link).unwrap();
        assert_eq!(manifest_version(&link).as_deref(), Some("1.6.0"));
    }

    #[test]
    fn the_version_comes_from_the_xtask_launcher_layout() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path()
                .join("node_modules")
                .join(PI_PACKAGE)
                .join("package.json"),
            &format!(r#"{{"name":"{PI_PACKAGE}","version":"0.80.10"}}"#),
        );
        // Our own manifest next to it has another name and is not taken for pi's.
        write(
            &dir.path().join("package.json"),
            r#"{"name":"entwurf-rs-pi-0.80","version":"0.0.0"}"#,
        );
        write(&dir.path().join("bin/pi"), "#!/bin/sh\n");
        assert_eq!(
            manifest_version(&dir.path().join("bin/pi")).as_deref(),
            Some("0.80.10")
        );
    }

    #[test]
    fn a_wrapper_without_a_package_answers_through_version() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("pi");
        write(&script, "#!/bin/sh\necho 0.80.10\n");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(manifest_version(&script), None);
        let path = std::env::join_paths([dir.path()]).unwrap();
        assert_eq!(
            installed_pi_version(Path::new("pi"), Some(&path)).unwrap(),
            "0.80.10"
        );
        let err =
            installed_pi_version(Path::new("pi"), Some(OsStr::new("/nonexistent"))).unwrap_err();
        assert!(matches!(err, PiVersionError::NotOnPath { .. }), "{err}");
    }
}
