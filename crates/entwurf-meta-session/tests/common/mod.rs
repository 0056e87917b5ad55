//! Filesystem helpers shared by the meta-session integration tests.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The permission bits of `p`.
#[allow(dead_code)]
pub fn mode_of(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The entry names of `dir`, sorted, without the upsert lock dir (a dot dir every listing
/// ignores, created by the first upsert; its content is empty lock files).
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != entwurf_meta_session::UPSERT_LOCK_DIR)
        .collect();
    v.sort();
    v
}
