//! Process facts from `/proc` (Linux): which processes a pid has spawned.

use std::collections::BTreeSet;

/// The pids whose parent is `parent` (from `/proc/<pid>/stat`; empty where `/proc` is absent).
pub fn child_pids(parent: u32) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.filter_map(Result::ok) {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        if parent_of_stat(&stat) == Some(parent) {
            out.insert(pid);
        }
    }
    out
}

/// The ppid field of a `/proc/<pid>/stat` line (the comm field may hold spaces and parens).
fn parent_of_stat(stat: &str) -> Option<u32> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppid_is_read_past_a_tricky_comm() {
        assert_eq!(parent_of_stat("123 (a) b) S 77 123 123 0"), Some(77));
        assert_eq!(parent_of_stat("garbage"), None);
    }

    #[test]
    fn a_spawned_child_is_listed() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let kids = child_pids(std::process::id());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(kids.contains(&child.id()), "{kids:?}");
    }
}
