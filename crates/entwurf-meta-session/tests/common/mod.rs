//! Filesystem helpers shared by the meta-session integration tests.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The permission bits of `p`.
pub fn mode_of(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The names in `dir`, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}
