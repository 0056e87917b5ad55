//! `mcp-sdk/`: the MCP TypeScript SDK pinned by `mcp-sdk/package-lock.json`, installed with
//! `npm ci` into `target/mcp-sdk/` (npm cache there too) next to the live gate's client script
//! `mcp-sdk/client.mjs`. It runs on the pinned Node of `target/pi`. Re-installed only when the
//! manifest or lock changes.

use std::path::{Path, PathBuf};
use std::process::Command;

const STAMP: &str = ".entwurf-lock-hash";
const SDK: &str = "@modelcontextprotocol/sdk";

/// Where it is installed.
pub fn install_dir(root: &Path) -> PathBuf {
    root.join("target").join("mcp-sdk")
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

/// FNV-1a over the inputs (change detection only).
fn stamp_of(parts: &[&[u8]]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in *p {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// Installs the SDK (if needed) and the client script; returns the install dir, which holds
/// `client.mjs` and `node_modules/`. `node_bin_dir` (the pinned Node) goes first on npm's PATH.
pub fn provision(root: &Path, node_bin_dir: &Path) -> Result<PathBuf, String> {
    let src = root.join("mcp-sdk");
    let dir = install_dir(root);
    let manifest = read(&src.join("package.json"))?;
    let lock = read(&src.join("package-lock.json"))?;
    let client = read(&src.join("client.mjs"))?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    write_if_changed(&dir.join("client.mjs"), &client)?;
    let stamp = stamp_of(&[&manifest, &lock]);
    let modules = dir.join("node_modules");
    let present = modules.join(SDK).join("package.json").is_file();
    let current = std::fs::read_to_string(modules.join(STAMP)).unwrap_or_default();
    if present && current.trim() == stamp {
        return Ok(dir);
    }
    write_if_changed(&dir.join("package.json"), &manifest)?;
    write_if_changed(&dir.join("package-lock.json"), &lock)?;
    let started = std::time::Instant::now();
    let mut path = node_bin_dir.as_os_str().to_owned();
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let mut cmd = Command::new("npm");
    cmd.args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .env("PATH", path)
        .env("npm_config_cache", dir.join(".npm-cache"))
        .env("npm_config_update_notifier", "false");
    crate::pi::run_captured(
        cmd,
        &format!("npm ci in {} (is npm installed?)", dir.display()),
        &dir.join("npm-ci.log"),
    )?;
    eprintln!(
        "xtask: npm ci of mcp-sdk/package-lock.json: the MCP TypeScript SDK ({:.1}s)",
        started.elapsed().as_secs_f64()
    );
    write_if_changed(&modules.join(STAMP), format!("{stamp}\n").as_bytes())?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stamp_changes_with_any_input() {
        assert_ne!(stamp_of(&[b"a", b"b"]), stamp_of(&[b"a", b"c"]));
        assert_eq!(stamp_of(&[b"a"]), stamp_of(&[b"a"]));
    }
}
