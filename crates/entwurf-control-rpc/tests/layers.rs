//! The crate's modules layer one way: each module imports (`crate::<module>`) only modules below
//! it, with `error` and `wire` at the bottom. A new import that points up a layer (a cycle in
//! the making) fails here with the offending line.

use std::path::Path;

/// Bottom up. A module may use only modules that come before it.
const LAYERS: &[&str] = &[
    "error", "wire", "lines", "conn", "client", "socket", "server",
];

fn crate_refs(text: &str) -> Vec<(usize, String)> {
    let mut refs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // Only module paths (`crate::conn::…`); `crate::Item` goes through the root.
            if rest[name.len()..].starts_with("::") {
                refs.push((n + 1, name));
            }
        }
    }
    refs
}

#[test]
fn modules_import_only_lower_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for (rank, module) in LAYERS.iter().enumerate() {
        let file = src.join(format!("{module}.rs"));
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, used) in crate_refs(&text) {
            let used_rank = LAYERS.iter().position(|m| *m == used);
            assert!(
                used_rank.is_some_and(|r| r < rank),
                "{}:{line}: `{module}` uses `crate::{used}`, which is not below it in {LAYERS:?}",
                file.display()
            );
        }
    }
}

#[test]
fn error_is_a_leaf() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/error.rs"))
        .unwrap();
    assert!(
        !text.contains("crate::"),
        "error.rs must import nothing of the crate"
    );
}

#[test]
fn the_check_sees_an_upward_import() {
    let refs = crate_refs("use crate::client::RpcError; // crate::socket::x\nlet x = crate::Foo;");
    assert_eq!(refs, vec![(1, "client".to_owned())]);
}
