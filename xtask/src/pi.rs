//! `cargo xtask pi`: provision the pinned pi (and its Node 22) under `target/pi/`.
//!
//! `pi/package.json` and `pi/package-lock.json` are copied to `target/pi/`, where `npm ci` runs
//! only when `node_modules` is missing or the lock changed (a stamp holds the lock's hash), so a
//! second run is a few file reads. A launcher `target/pi/bin/pi` execs the pinned Node with pi's
//! `cli.js` and puts `target/pi/node_modules/.bin` first on `PATH`, so pi and its children run
//! under Node 22 whatever the machine's Node is.
//!
//! Overrides (read here, at the edge): `PI_BIN` uses that pi launcher instead (nothing is
//! installed); `ENTWURF_PI_EXTENSION` loads that extension instead of
//! `<repo>/pi/extensions/entwurf-control.ts`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the pinned pi and Node live after provisioning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiInstall {
    /// The pi launcher to execute (`target/pi/bin/pi`, or `PI_BIN`).
    pub pi_bin: PathBuf,
    /// The directory to put first on `PATH` when starting pi (holds the pinned `node`).
    pub node_bin_dir: PathBuf,
    /// The extension to load with `-e` (`ENTWURF_PI_EXTENSION`, or ours).
    pub extension: PathBuf,
    /// pi's version (`0.80.10` for the pinned install).
    pub version: String,
}

/// The pinned pi package, as named in `pi/package.json`.
pub const PI_PACKAGE: &str = "@earendil-works/pi-coding-agent";
const STAMP: &str = ".entwurf-lock-hash";

/// `target/pi` under the repository root.
pub fn install_dir(root: &Path) -> PathBuf {
    root.join("target").join("pi")
}

/// Provisions pi and returns where it is. Honours `PI_BIN` and `ENTWURF_PI_EXTENSION`.
///
/// Errors say what to do (install npm, fix the override path, look at npm's output).
pub fn provision(root: &Path) -> Result<PiInstall, String> {
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
    if let Some(bin) = std::env::var_os("PI_BIN").filter(|p| !p.is_empty()) {
        let pi_bin = PathBuf::from(bin);
        if !pi_bin.is_file() {
            return Err(format!(
                "PI_BIN={} is not a file (point it at a pi launcher, or unset it to use the pinned pi)",
                pi_bin.display()
            ));
        }
        let version = run_version(&pi_bin)?;
        let node_bin_dir = pi_bin
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        return Ok(PiInstall {
            pi_bin,
            node_bin_dir,
            extension,
            version,
        });
    }
    let dir = install_dir(root);
    npm_ci_if_needed(root, &dir)?;
    let node_bin_dir = dir.join("node_modules").join(".bin");
    let pi_bin = write_launcher(&dir)?;
    let version = installed_pi_version(&dir)?;
    Ok(PiInstall {
        pi_bin,
        node_bin_dir,
        extension,
        version,
    })
}

/// FNV-1a over the manifest and the lock: a stable stamp for "the lock changed".
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

fn npm_ci_if_needed(root: &Path, dir: &Path) -> Result<(), String> {
    let manifest = read(&root.join("pi").join("package.json"))?;
    let lock = read(&root.join("pi").join("package-lock.json"))?;
    let stamp = stamp_of(&[&manifest, &lock]);
    let modules = dir.join("node_modules");
    let present = modules.join(".bin").join("node").is_file()
        && modules
            .join(PI_PACKAGE)
            .join("dist")
            .join("cli.js")
            .is_file();
    let current = std::fs::read_to_string(modules.join(STAMP)).unwrap_or_default();
    if present && current.trim() == stamp {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    write_if_changed(&dir.join("package.json"), &manifest)?;
    write_if_changed(&dir.join("package-lock.json"), &lock)?;
    eprintln!(
        "xtask pi: npm ci in {} (pinned pi + Node 22)",
        dir.display()
    );
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        // Keep npm's cache and logs under target/ too: provisioning leaves the home untouched.
        .env("npm_config_cache", dir.join(".npm-cache"))
        .env("npm_config_update_notifier", "false")
        .status()
        .map_err(|e| {
            format!("cannot run npm ({e}); install Node.js/npm (any version) and retry")
        })?;
    if !status.success() {
        return Err(format!(
            "npm ci in {} failed ({status}); see npm's output above",
            dir.display()
        ));
    }
    write_if_changed(&modules.join(STAMP), format!("{stamp}\n").as_bytes())
}

fn sh_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

fn write_launcher(dir: &Path) -> Result<PathBuf, String> {
    let bin_dir = dir.join("bin");
    std::fs::create_dir_all(&bin_dir)
        .map_err(|e| format!("cannot create {}: {e}", bin_dir.display()))?;
    let modules = dir.join("node_modules");
    let node_bin = modules.join(".bin");
    let node = modules.join("node").join("bin").join("node");
    let cli = modules.join(PI_PACKAGE).join("dist").join("cli.js");
    let script = format!(
        "#!/bin/sh\n# Generated by `cargo xtask pi`: run the pinned pi under the pinned Node 22.\nPATH={}:\"$PATH\"\nexport PATH\nexec {} {} \"$@\"\n",
        sh_quote(&node_bin),
        sh_quote(&node),
        sh_quote(&cli)
    );
    let launcher = bin_dir.join("pi");
    write_if_changed(&launcher, script.as_bytes())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("cannot chmod {}: {e}", launcher.display()))?;
    Ok(launcher)
}

fn installed_pi_version(dir: &Path) -> Result<String, String> {
    let manifest = dir
        .join("node_modules")
        .join(PI_PACKAGE)
        .join("package.json");
    let value: serde_json::Value = serde_json::from_slice(&read(&manifest)?).map_err(|e| {
        format!(
            "{} is not JSON ({e}); delete target/pi and retry",
            manifest.display()
        )
    })?;
    value["version"].as_str().map(str::to_owned).ok_or_else(|| {
        format!(
            "{} has no version; delete target/pi and retry",
            manifest.display()
        )
    })
}

fn run_version(pi_bin: &Path) -> Result<String, String> {
    let out = Command::new(pi_bin)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run {} --version: {e}", pi_bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} --version failed ({}): {}",
            pi_bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `cargo xtask pi`: provision, then print the launcher path on stdout.
pub fn run(root: &Path) -> std::process::ExitCode {
    match provision(root) {
        Ok(install) => {
            eprintln!(
                "xtask pi: pi {} (node dir {}), extension {}",
                install.version,
                install.node_bin_dir.display(),
                install.extension.display()
            );
            println!("{}", install.pi_bin.display());
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
}
