//! `cargo xtask pi [--line 0.80|1.x|all] [--check]`: provision the pinned pi lines (each with its
//! Node 22) under `target/pi/<line>/`, and optionally type-check our extension against each.
//!
//! Each line has its own pin, `pi/<line>/package.json` + `package-lock.json`, copied to
//! `target/pi/<line>/`, where `npm ci` runs only when `node_modules` is missing or the pin changed
//! (a stamp holds the pin's hash), so a second run is a few file reads. The lines are provisioned
//! side by side. A launcher `target/pi/<line>/bin/pi` execs the pinned Node with the entry the
//! installed pi package names in its own `package.json` `bin` (0.80: `dist/cli.js`, 1.x:
//! `dist/bundle/cli.js`), and puts `target/pi/<line>/node_modules/.bin` first on `PATH`, so pi and
//! its children run under Node 22 whatever the machine's Node is.
//!
//! Every step prints one line (what, how long). npm's own output (its `EBADENGINE` warnings,
//! npm runs under the machine's Node to install Node 22) goes to `target/pi/<line>/<step>.log`
//! and is shown only when the step fails.
//!
//! Overrides (read here, at the edge): `PI_BIN` uses that pi launcher instead (nothing is
//! installed; its line is its version's); `ENTWURF_PI_EXTENSION` loads that extension instead of
//! `<repo>/pi/extensions/entwurf-control.ts`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub use entwurf_spawn::pi_line::{PiLine, PI_PACKAGE};

/// One provisioned pi line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiInstall {
    /// Which line this pi is.
    pub line: PiLine,
    /// The pi launcher to execute (`target/pi/<line>/bin/pi`, or `PI_BIN`).
    pub pi_bin: PathBuf,
    /// The directory to put first on `PATH` when starting pi (holds the pinned `node`).
    pub node_bin_dir: PathBuf,
    /// The extension to load with `-e` (`ENTWURF_PI_EXTENSION`, or ours).
    pub extension: PathBuf,
    /// pi's version (`0.80.10`, `1.6.0` for the pins).
    pub version: String,
}

const STAMP: &str = ".entwurf-lock-hash";

/// `target/pi` under the repository root.
pub fn pi_root(root: &Path) -> PathBuf {
    root.join("target").join("pi")
}

/// `target/pi/<line>`: where a line is installed.
pub fn install_dir(root: &Path, line: PiLine) -> PathBuf {
    pi_root(root).join(line.name())
}

/// `pi/<line>`: a line's pin (package.json + package-lock.json).
pub fn pin_dir(root: &Path, line: PiLine) -> PathBuf {
    root.join("pi").join(line.name())
}

/// `0.80`, `1.x` or `all` (every line).
pub fn parse_lines(value: &str) -> Result<Vec<PiLine>, String> {
    if value.trim() == "all" {
        return Ok(PiLine::ALL.to_vec());
    }
    PiLine::parse(value).map(|l| vec![l]).ok_or_else(|| {
        format!(
            "unknown pi line {value:?}: one of {}, all",
            PiLine::ALL.map(PiLine::name).join(", ")
        )
    })
}

/// Prints one step line: `xtask pi [<line>]: <what> (<seconds>)`.
fn step(line: PiLine, what: &str, started: Instant) {
    eprintln!(
        "xtask pi [{}]: {what} ({:.1}s)",
        line.name(),
        started.elapsed().as_secs_f64()
    );
}

fn extension(root: &Path) -> Result<PathBuf, String> {
    let extension = match std::env::var_os("ENTWURF_PI_EXTENSION") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => root
            .join("pi")
            .join("extensions")
            .join("entwurf-control.ts"),
    };
    if !extension.is_file() {
        return Err(format!(
            "pi extension {} does not exist (set ENTWURF_PI_EXTENSION to an existing entwurf-control.ts, or unset it)",
            extension.display()
        ));
    }
    Ok(extension)
}

/// Provisions `lines` (side by side) and returns where each is, in `lines` order. Honours
/// `PI_BIN` (one install, of the line its version says) and `ENTWURF_PI_EXTENSION`.
///
/// Errors say what to do (install npm, fix the override path, read the failed step's output).
pub fn provision(root: &Path, lines: &[PiLine]) -> Result<Vec<PiInstall>, String> {
    let extension = extension(root)?;
    if let Some(bin) = std::env::var_os("PI_BIN").filter(|p| !p.is_empty()) {
        let pi_bin = PathBuf::from(bin);
        if !pi_bin.is_file() {
            return Err(format!(
                "PI_BIN={} is not a file (point it at a pi launcher, or unset it to use the pinned pi lines)",
                pi_bin.display()
            ));
        }
        let version = entwurf_spawn::pi_line::installed_pi_version(&pi_bin, None)
            .map_err(|e| e.to_string())?;
        let line = PiLine::of_version(&version);
        eprintln!(
            "xtask pi: PI_BIN={} is pi {version} (line {line}); only that pi is used",
            pi_bin.display()
        );
        let node_bin_dir = pi_bin
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        return Ok(vec![PiInstall {
            line,
            pi_bin,
            node_bin_dir,
            extension,
            version,
        }]);
    }
    remove_single_line_layout(root);
    let results: Vec<Result<PiInstall, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = lines
            .iter()
            .map(|&line| {
                let extension = extension.clone();
                scope.spawn(move || provision_line(root, line, extension))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("provisioning thread panicked".to_owned()))
            })
            .collect()
    });
    results.into_iter().collect()
}

/// Before the lines had their own directories, one pi lived in `target/pi/{node_modules,bin}`.
fn remove_single_line_layout(root: &Path) {
    let dir = pi_root(root);
    if dir.join("node_modules").is_dir() {
        for entry in ["node_modules", "bin", "package.json", "package-lock.json"] {
            let p = dir.join(entry);
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
        eprintln!(
            "xtask pi: removed the old single-line install in {}",
            dir.display()
        );
    }
}

fn provision_line(root: &Path, line: PiLine, extension: PathBuf) -> Result<PiInstall, String> {
    let dir = install_dir(root, line);
    npm_ci_if_needed(root, line, &dir)?;
    let modules = dir.join("node_modules");
    let manifest = read_pi_manifest(&dir)?;
    let version = manifest["version"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "{} has no version; delete {} and retry",
                pi_manifest_path(&dir).display(),
                dir.display()
            )
        })?;
    let entry = bin_entry(&manifest).ok_or_else(|| {
        format!(
            "{} names no `pi` bin; delete {} and retry",
            pi_manifest_path(&dir).display(),
            dir.display()
        )
    })?;
    let cli = modules.join(PI_PACKAGE).join(entry);
    if !cli.is_file() {
        return Err(format!(
            "pi's bin {} is missing; delete {} and retry",
            cli.display(),
            dir.display()
        ));
    }
    let pi_bin = write_launcher(&dir, line, &cli)?;
    Ok(PiInstall {
        line,
        pi_bin,
        node_bin_dir: modules.join(".bin"),
        extension,
        version,
    })
}

/// The `pi` entry of a package's `bin`: a string, or the `pi` key (or the only key) of an object.
fn bin_entry(manifest: &serde_json::Value) -> Option<String> {
    let rel = match &manifest["bin"] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(map) => match map.get("pi") {
            Some(serde_json::Value::String(s)) => s.clone(),
            _ if map.len() == 1 => map.values().next()?.as_str()?.to_owned(),
            _ => return None,
        },
        _ => return None,
    };
    // A relative path inside the package, never `..` out of it.
    let path = Path::new(&rel);
    let inside = !path.is_absolute()
        && path.components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
    inside.then_some(rel)
}

/// FNV-1a over the manifest and the lock: a stable stamp for "the pin changed".
fn stamp_of(parts: &[&[u8]]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().chain(b"\0") {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if std::fs::read(path).ok().as_deref() == Some(bytes) {
        return Ok(());
    }
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn pi_manifest_path(dir: &Path) -> PathBuf {
    dir.join("node_modules")
        .join(PI_PACKAGE)
        .join("package.json")
}

fn read_pi_manifest(dir: &Path) -> Result<serde_json::Value, String> {
    let path = pi_manifest_path(dir);
    serde_json::from_slice(&read(&path)?).map_err(|e| {
        format!(
            "{} is not JSON ({e}); delete {} and retry",
            path.display(),
            dir.display()
        )
    })
}

/// Runs a step's command with its output captured to `log`; on failure the error carries the
/// output's tail and the log's path.
pub(crate) fn run_captured(mut cmd: Command, what: &str, log: &Path) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {what} ({e})"))?;
    let mut text = out.stdout;
    text.extend_from_slice(&out.stderr);
    let _ = std::fs::write(log, &text);
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(40)..].join("\n");
    Err(format!(
        "{what} failed ({}); its output (all of it in {}):\n{tail}",
        out.status,
        log.display()
    ))
}

fn npm_ci_if_needed(root: &Path, line: PiLine, dir: &Path) -> Result<(), String> {
    let pin = pin_dir(root, line);
    let manifest = read(&pin.join("package.json"))?;
    let lock = read(&pin.join("package-lock.json"))?;
    let stamp = stamp_of(&[&manifest, &lock]);
    let modules = dir.join("node_modules");
    let present = modules.join(".bin").join("node").is_file() && pi_manifest_path(dir).is_file();
    let current = std::fs::read_to_string(modules.join(STAMP)).unwrap_or_default();
    if present && current.trim() == stamp {
        return Ok(());
    }
    let started = Instant::now();
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    write_if_changed(&dir.join("package.json"), &manifest)?;
    write_if_changed(&dir.join("package-lock.json"), &lock)?;
    let mut cmd = Command::new("npm");
    cmd.args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        // Keep npm's cache and logs under target/ too: provisioning leaves the home untouched.
        .env("npm_config_cache", pi_root(root).join(".npm-cache"))
        .env("npm_config_update_notifier", "false");
    run_captured(
        cmd,
        &format!("npm ci in {} (is npm installed?)", dir.display()),
        &dir.join("npm-ci.log"),
    )?;
    write_if_changed(&modules.join(STAMP), format!("{stamp}\n").as_bytes())?;
    let pinned = read_pi_manifest(dir)
        .ok()
        .and_then(|m| m["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into());
    step(
        line,
        &format!(
            "npm ci of pi/{}/package-lock.json: pi {pinned} + Node 22",
            line.name()
        ),
        started,
    );
    Ok(())
}

fn sh_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

fn node_of(dir: &Path) -> PathBuf {
    dir.join("node_modules")
        .join("node")
        .join("bin")
        .join("node")
}

fn write_launcher(dir: &Path, line: PiLine, cli: &Path) -> Result<PathBuf, String> {
    let bin_dir = dir.join("bin");
    std::fs::create_dir_all(&bin_dir)
        .map_err(|e| format!("cannot create {}: {e}", bin_dir.display()))?;
    let node_bin = dir.join("node_modules").join(".bin");
    let script = format!(
        "#!/bin/sh\n# Generated by `cargo xtask pi`: pi line {} (the package's own `bin` entry) under the pinned Node 22.\nPATH={}:\"$PATH\"\nexport PATH\nexec {} {} \"$@\"\n",
        line.name(),
        sh_quote(&node_bin),
        sh_quote(&node_of(dir)),
        sh_quote(cli)
    );
    let launcher = bin_dir.join("pi");
    write_if_changed(&launcher, script.as_bytes())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("cannot chmod {}: {e}", launcher.display()))?;
    Ok(launcher)
}

/// `tsc --noEmit` of the extension against one line's pi types and `@types/node`, with that
/// line's pinned TypeScript under its Node 22.
pub fn type_check(root: &Path, install: &PiInstall) -> Result<(), String> {
    let started = Instant::now();
    let dir = install_dir(root, install.line);
    let modules = dir.join("node_modules");
    let tsc = modules.join("typescript").join("bin").join("tsc");
    if !tsc.is_file() {
        return Err(format!(
            "no TypeScript at {} (PI_BIN installs have none; unset PI_BIN to check against the pins)",
            tsc.display()
        ));
    }
    let config = serde_json::json!({
        "compilerOptions": {
            "strict": true,
            "noEmit": true,
            "target": "ES2022",
            "module": "NodeNext",
            "moduleResolution": "NodeNext",
            "skipLibCheck": true,
            "allowImportingTsExtensions": true,
            "types": ["node"],
            "typeRoots": [modules.join("@types")],
            // Bare imports (pi-coding-agent, pi-ai, typebox, …) from this line's install.
            "paths": { "*": [modules.join("*")] }
        },
        "files": [install.extension]
    });
    let tsconfig = dir.join("tsconfig.check.json");
    write_if_changed(&tsconfig, format!("{config:#}\n").as_bytes())?;
    let mut cmd = Command::new(node_of(&dir));
    cmd.arg(&tsc).arg("-p").arg(&tsconfig).current_dir(&dir);
    run_captured(
        cmd,
        &format!(
            "tsc --noEmit of {} against pi {}",
            install.extension.display(),
            install.version
        ),
        &dir.join("tsc.log"),
    )?;
    step(
        install.line,
        &format!(
            "tsc --noEmit: the extension type-checks against pi {}",
            install.version
        ),
        started,
    );
    Ok(())
}

/// [`type_check`] of every install, side by side; the first failure is returned.
pub fn check_all(root: &Path, installs: &[PiInstall]) -> Result<(), String> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = installs
            .iter()
            .map(|install| scope.spawn(move || type_check(root, install)))
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|_| Err("type-check thread panicked".to_owned()))
        })
    })
}

/// `cargo xtask pi [--line 0.80|1.x|all] [--check]`: provision (default: every line), print each
/// launcher path on stdout; `--check` also type-checks the extension against each line.
pub fn run(root: &Path, args: &[String]) -> std::process::ExitCode {
    let usage = "usage: cargo xtask pi [--line 0.80|1.x|all] [--check]";
    let mut lines = PiLine::ALL.to_vec();
    let mut check = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match (arg.as_str(), it.clone().next()) {
            ("--check", _) => check = true,
            ("--line", Some(value)) => {
                it.next();
                match parse_lines(value) {
                    Ok(l) => lines = l,
                    Err(e) => {
                        eprintln!("xtask pi: {e}; {usage}");
                        return std::process::ExitCode::from(2);
                    }
                }
            }
            _ => {
                eprintln!("xtask pi: unexpected argument {arg:?}; {usage}");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let result = provision(root, &lines).and_then(|installs| {
        if check {
            check_all(root, &installs)?;
        }
        // The live tests' MCP client (`cargo test -- --ignored` finds it under target/mcp-sdk).
        if let Some(first) = installs.first() {
            crate::mcp_sdk::provision(root, &first.node_bin_dir)?;
        }
        Ok(installs)
    });
    match result {
        Ok(installs) => {
            for install in installs {
                eprintln!(
                    "xtask pi [{}]: pi {} ready (extension {})",
                    install.line,
                    install.version,
                    install.extension.display()
                );
                println!("{}", install.pi_bin.display());
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xtask pi: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_changes_with_the_lock() {
        assert_ne!(stamp_of(&[b"a", b"b"]), stamp_of(&[b"a", b"c"]));
        assert_ne!(stamp_of(&[b"ab", b""]), stamp_of(&[b"a", b"b"]));
        assert_eq!(stamp_of(&[b"a"]), stamp_of(&[b"a"]));
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(sh_quote(Path::new("/a'b")), r"'/a'\''b'");
    }

    #[test]
    fn lines_parse() {
        assert_eq!(parse_lines("all").unwrap(), PiLine::ALL.to_vec());
        assert_eq!(parse_lines("0.80").unwrap(), vec![PiLine::V0_80]);
        assert_eq!(parse_lines("1.x").unwrap(), vec![PiLine::V1]);
        assert!(parse_lines("0.79").is_err());
    }

    #[test]
    fn the_bin_entry_is_the_packages_own() {
        let m = |v: serde_json::Value| bin_entry(&v);
        assert_eq!(
            m(serde_json::json!({"bin": {"pi": "dist/bundle/cli.js"}})).as_deref(),
            Some("dist/bundle/cli.js")
        );
        assert_eq!(
            m(serde_json::json!({"bin": "dist/cli.js"})).as_deref(),
            Some("dist/cli.js")
        );
        assert_eq!(
            m(serde_json::json!({"bin": {"other": "x.js"}})).as_deref(),
            Some("x.js")
        );
        assert_eq!(m(serde_json::json!({"bin": {"pi": "../../evil.js"}})), None);
        assert_eq!(m(serde_json::json!({"bin": {"pi": "/abs.js"}})), None);
        assert_eq!(m(serde_json::json!({"name": "x"})), None);
    }
}
