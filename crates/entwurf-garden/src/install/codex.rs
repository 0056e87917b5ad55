//! Codex: `[mcp_servers.entwurf]` in `config.toml`, edited with `toml_edit` so that comments,
//! order and formatting of everything else stay as they are. Codex has no hooks: a Codex
//! session can send (with an explicit sender label), mail to it is undeliverable.

use toml_edit::{Array, DocumentMut, Item, Table};

use super::claude::{MCP_SERVER_NAME, REFERENCE_MCP_NAMES};
use super::{FileEdit, InstallError, InstallOptions, InstallPaths, Plan, Target};

/// The reference's MCP servers present in a Codex config.
pub fn reference_in_codex(doc: &DocumentMut) -> Vec<String> {
    let Some(servers) = doc.get("mcp_servers").and_then(Item::as_table_like) else {
        return Vec::new();
    };
    REFERENCE_MCP_NAMES
        .iter()
        .filter(|n| servers.contains_key(n))
        .map(|n| format!("[mcp_servers.{n}] in config.toml"))
        .collect()
}

fn args_equal(item: Option<&Item>, want: &[String]) -> bool {
    let Some(arr) = item.and_then(Item::as_array) else {
        return false;
    };
    arr.len() == want.len()
        && arr
            .iter()
            .zip(want)
            .all(|(v, w)| v.as_str() == Some(w.as_str()))
}

/// Plans `entwurf install codex` (or its uninstall) over the current `config.toml` text.
pub fn plan_codex(
    current: Option<&str>,
    paths: &InstallPaths,
    opts: &InstallOptions,
) -> Result<Plan, InstallError> {
    let path = &paths.codex_config;
    let mut doc: DocumentMut =
        current
            .unwrap_or("")
            .parse()
            .map_err(|e: toml_edit::TomlError| InstallError::Parse {
                path: path.clone(),
                kind: "TOML",
                message: e.to_string().trim().to_owned(),
            })?;
    let mut notes = Vec::new();
    if let Some(item) = doc.get("mcp_servers") {
        if !item.is_table() {
            return Err(InstallError::Shape {
                path: path.clone(),
                key: "mcp_servers".into(),
                found: if item.is_table_like() {
                    "an inline table"
                } else {
                    "not a table"
                },
                expected: "a [mcp_servers] table",
            });
        }
    }

    if opts.uninstall {
        if let Some(servers) = doc.get_mut("mcp_servers").and_then(Item::as_table_mut) {
            servers.remove(MCP_SERVER_NAME);
            if servers.is_empty() && servers.is_implicit() {
                doc.remove("mcp_servers");
            }
        }
    } else {
        let found = reference_in_codex(&doc);
        if !found.is_empty() {
            if !opts.replace_reference {
                return Err(InstallError::ReferenceInstalled { found });
            }
            if let Some(servers) = doc.get_mut("mcp_servers").and_then(Item::as_table_mut) {
                for n in REFERENCE_MCP_NAMES {
                    servers.remove(n);
                }
            }
            notes.push(format!(
                "the reference bridge is removed ({}); the backup of config.toml keeps it",
                found.join("; ")
            ));
        }
        let non_empty = !doc.as_table().is_empty();
        if doc.get("mcp_servers").is_none() {
            let mut t = Table::new();
            t.set_implicit(true);
            doc.insert("mcp_servers", Item::Table(t));
        }
        let Some(servers) = doc.get_mut("mcp_servers").and_then(Item::as_table_mut) else {
            unreachable!("just ensured a table");
        };
        match servers
            .get_mut(MCP_SERVER_NAME)
            .and_then(Item::as_table_mut)
        {
            Some(entry) => {
                if entry.get("command").and_then(Item::as_str) != Some(opts.entwurf_bin.as_str()) {
                    entry.insert("command", toml_edit::value(opts.entwurf_bin.as_str()));
                }
                if !args_equal(entry.get("args"), &opts.codex_mcp_args) {
                    entry.insert(
                        "args",
                        toml_edit::value(Array::from_iter(opts.codex_mcp_args.iter())),
                    );
                }
            }
            None => {
                if servers.contains_key(MCP_SERVER_NAME) {
                    return Err(InstallError::Shape {
                        path: path.clone(),
                        key: format!("mcp_servers.{MCP_SERVER_NAME}"),
                        found: "not a table",
                        expected: "a table",
                    });
                }
                let mut t = Table::new();
                if non_empty {
                    t.decor_mut().set_prefix("\n");
                }
                t.insert("command", toml_edit::value(opts.entwurf_bin.as_str()));
                t.insert(
                    "args",
                    toml_edit::value(Array::from_iter(opts.codex_mcp_args.iter())),
                );
                servers.insert(MCP_SERVER_NAME, Item::Table(t));
            }
        }
    }

    let rendered = doc.to_string();
    let after = if current.is_none() && rendered.is_empty() {
        None
    } else {
        Some(rendered)
    };
    let mut edits = Vec::new();
    if after.as_deref() != current {
        edits.push(FileEdit {
            path: path.clone(),
            before: current.map(str::to_owned),
            after,
        });
    }
    Ok(Plan {
        target: Target::Codex,
        uninstall: opts.uninstall,
        edits,
        notes,
    })
}
