//! Read-only looks at the world's directories: file lists, byte snapshots, pi transcripts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Files directly in `dir` whose name ends with `suffix` (sorted; empty if `dir` is absent).
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(suffix))
        })
        .collect();
    out.sort();
    out
}

/// Every entry under `dir` (recursive), relative path → contents (`None` for directories and
/// non-regular files). Two equal snapshots mean the tree is byte-identical.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(Result::ok) {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap_or(&p).to_path_buf();
        let ft = e.file_type().ok();
        if ft.is_some_and(|t| t.is_dir()) {
            out.insert(rel, None);
            walk(root, &p, out);
        } else if ft.is_some_and(|t| t.is_file()) {
            out.insert(rel, std::fs::read(&p).ok());
        } else {
            out.insert(rel, None);
        }
    }
}

/// The `content` of every `custom_message` entry with `customType == "entwurf-message"` in the
/// pi session transcripts (`*.jsonl`) under `agent_dir`, in file order.
pub fn entwurf_messages(agent_dir: &Path) -> Vec<String> {
    let mut files = Vec::new();
    collect_jsonl(agent_dir, &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if v["type"] == "custom_message" && v["customType"] == "entwurf-message" {
                if let Some(c) = v["content"].as_str() {
                    out.push(c.to_owned());
                }
            }
        }
    }
    out
}

fn collect_jsonl(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(Result::ok) {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            collect_jsonl(&p, out);
        } else if p.extension().is_some_and(|x| x == "jsonl") {
            out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_entwurf_messages_in_nested_transcripts() {
        let d = tempfile::tempdir().unwrap();
        let s = d.path().join("sessions/--cwd--");
        std::fs::create_dir_all(&s).unwrap();
        std::fs::write(
            s.join("a.jsonl"),
            concat!(
                "{\"type\":\"session\",\"id\":\"x\"}\n",
                "{\"type\":\"custom_message\",\"customType\":\"entwurf-message\",\"content\":\"hi\\n\\n<sender_info>{}</sender_info>\",\"display\":true}\n",
                "{\"type\":\"custom_message\",\"customType\":\"other\",\"content\":\"no\"}\n",
                "not json\n",
            ),
        )
        .unwrap();
        assert_eq!(
            entwurf_messages(d.path()),
            vec!["hi\n\n<sender_info>{}</sender_info>".to_owned()]
        );
    }

    #[test]
    fn snapshots_differ_when_a_byte_changes() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("g")).unwrap();
        std::fs::write(d.path().join("g/state.json"), b"{}").unwrap();
        let before = snapshot(d.path());
        assert_eq!(before, snapshot(d.path()));
        std::fs::write(d.path().join("g/state.json"), b"{ }").unwrap();
        assert_ne!(before, snapshot(d.path()));
        assert_eq!(files_ending(&d.path().join("g"), ".json").len(), 1);
        assert!(files_ending(&d.path().join("absent"), ".msg").is_empty());
    }
}
