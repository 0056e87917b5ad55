//! Claude Code: the four hooks in the user settings, the MCP server in the user-scope MCP map.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::jsonfmt::{self, Style};
use super::{FileEdit, InstallError, InstallOptions, InstallPaths, Plan, Target};

/// Our MCP server's name in `mcpServers`.
pub const MCP_SERVER_NAME: &str = "entwurf";
/// The reference's MCP server names (current and pre-rename).
pub const REFERENCE_MCP_NAMES: &[&str] = &["entwurf-bridge", "pi-tools-bridge"];
/// The reference's plugin as it appears in `enabledPlugins`.
pub const REFERENCE_PLUGIN: &str = "entwurf-meta-receive@meta-bridge-local";
/// Our install state's file name in the Claude Code config dir.
pub const STATE_FILE: &str = "entwurf-install.json";

/// The events we hook, in the order they are written.
pub const EVENTS: [&str; 4] = [
    "SessionStart",
    "CwdChanged",
    "UserPromptSubmit",
    "FileChanged",
];

/// The current texts of the three files (`None` = absent).
#[derive(Debug, Clone, Copy, Default)]
pub struct ClaudeInputs<'a> {
    /// `settings.json`.
    pub settings: Option<&'a str>,
    /// `.claude.json`.
    pub claude_json: Option<&'a str>,
    /// Our state file.
    pub state: Option<&'a str>,
}

/// The hook command line: the binary (single-quoted unless it is made of plain path
/// characters) and `hook claude-code`. Shell form, because every Claude Code version runs it
/// (the `args` exec form is recent; an older Claude Code would drop the arguments).
pub fn hook_command(bin: &str) -> String {
    let plain = !bin.is_empty()
        && bin
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@".contains(&b));
    let quoted = if plain {
        bin.to_owned()
    } else {
        format!("'{}'", bin.replace('\'', r"'\''"))
    };
    format!("{quoted} hook claude-code")
}

/// Whether a hook command is one of ours (any binary path whose file name starts with
/// `entwurf`, running `hook claude-code`).
pub fn is_entwurf_hook_command(cmd: &str) -> bool {
    let Some(prog) = cmd.strip_suffix(" hook claude-code") else {
        return false;
    };
    let prog = prog.trim().trim_matches('\'').trim_matches('"');
    let name = prog.rsplit('/').next().unwrap_or(prog);
    name.starts_with("entwurf")
}

fn is_reference_hook_command(cmd: &str) -> bool {
    cmd.contains("meta-bridge-hook")
        || cmd.contains("entwurf-meta-receive")
        || (cmd.contains("doorbell.sh") && cmd.contains("meta-bridge"))
}

fn desired_hook(event: &str, bin: &str) -> Value {
    if event == "FileChanged" {
        json!({"type": "command", "command": hook_command(bin), "asyncRewake": true, "timeout": 20})
    } else {
        json!({"type": "command", "command": hook_command(bin), "timeout": 10})
    }
}

fn desired_mcp(opts: &InstallOptions) -> Value {
    json!({
        "type": "stdio",
        "command": opts.entwurf_bin,
        "args": opts.claude_mcp_args,
        "env": {},
    })
}

fn hook_cmd(entry: &Value) -> Option<&str> {
    entry.get("command").and_then(Value::as_str)
}

/// What of the reference is wired in these two documents.
pub fn reference_in_claude(settings: &Value, claude_json: &Value) -> Vec<String> {
    let mut found = Vec::new();
    if settings
        .pointer(&format!("/enabledPlugins/{REFERENCE_PLUGIN}"))
        .and_then(Value::as_bool)
        == Some(true)
    {
        found.push(format!(
            "plugin {REFERENCE_PLUGIN} enabled in settings.json"
        ));
    }
    if let Some(hooks) = settings.get("hooks").and_then(Value::as_object) {
        for (event, groups) in hooks {
            let n = groups
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|g| g.get("hooks").and_then(Value::as_array))
                .flatten()
                .filter(|h| hook_cmd(h).is_some_and(is_reference_hook_command))
                .count();
            if n > 0 {
                found.push(format!("its {event} hook in settings.json"));
            }
        }
    }
    for name in REFERENCE_MCP_NAMES {
        if claude_json
            .get("mcpServers")
            .and_then(|m| m.get(name))
            .is_some()
        {
            found.push(format!("MCP server {name} in .claude.json"));
        }
    }
    found
}

/// What an install changed that only an uninstall can put back: the containers it created and
/// the reference entries it replaced, kept in `<claude dir>/entwurf-install.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    /// Keys (`settings:hooks`, `settings:hooks.SessionStart`, `claudeJson:mcpServers`) and files
    /// (`settings:file`, `claudeJson:file`) the install created.
    #[serde(default)]
    created_containers: Vec<String>,
    /// What `--replace-reference` took away, restored by uninstall.
    #[serde(default)]
    replaced: Vec<Replaced>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Replaced {
    /// `settings` / `claudeJson`.
    file: String,
    /// The key path (for a hook group: `["hooks", "<event>"]`).
    path: Vec<String>,
    /// `entry` (a map entry set back) or `hookGroup` (a group appended back).
    kind: String,
    /// The original value.
    value: Value,
}

fn shape(path: &std::path::Path, key: &str, v: &Value, expected: &'static str) -> InstallError {
    let found = match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    InstallError::Shape {
        path: path.to_path_buf(),
        key: key.to_owned(),
        found,
        expected,
    }
}

struct Doc {
    value: Value,
    style: Style,
    faithful: bool,
    existed: bool,
}

fn load(path: &std::path::Path, text: Option<&str>) -> Result<Doc, InstallError> {
    match text {
        None => Ok(Doc {
            value: Value::Object(Map::new()),
            style: Style::default_new(),
            faithful: true,
            existed: false,
        }),
        Some(t) => {
            let (value, style, faithful) = jsonfmt::parse(t).map_err(|e| InstallError::Parse {
                path: path.to_path_buf(),
                kind: "JSON",
                message: e.to_string(),
            })?;
            if !value.is_object() {
                return Err(shape(path, "(top level)", &value, "an object"));
            }
            Ok(Doc {
                value,
                style,
                faithful,
                existed: true,
            })
        }
    }
}

fn obj_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(Map::new());
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// Removes every hook entry matching `pred` from one event's groups; groups left without
/// entries are dropped. Returns the removed entries with their group's matcher.
fn remove_entries(groups: &mut Vec<Value>, pred: &dyn Fn(&str) -> bool) -> Vec<Value> {
    let mut removed = Vec::new();
    groups.retain_mut(|g| {
        let matcher = g.get("matcher").cloned();
        let Some(entries) = g.get_mut("hooks").and_then(Value::as_array_mut) else {
            return true;
        };
        let before = entries.len();
        let mut taken = Vec::new();
        entries.retain(|h| {
            if hook_cmd(h).is_some_and(pred) {
                taken.push(h.clone());
                false
            } else {
                true
            }
        });
        if !taken.is_empty() {
            let mut group = Map::new();
            if let Some(m) = matcher {
                group.insert("matcher".into(), m);
            }
            group.insert("hooks".into(), Value::Array(taken));
            removed.push(Value::Object(group));
        }
        !(before > 0 && entries.is_empty())
    });
    removed
}

/// Plans `entwurf install claude-code` (or its uninstall) over the current file texts.
pub fn plan_claude(
    inputs: ClaudeInputs<'_>,
    paths: &InstallPaths,
    opts: &InstallOptions,
) -> Result<Plan, InstallError> {
    let mut settings = load(&paths.claude_settings, inputs.settings)?;
    let mut cj = load(&paths.claude_json, inputs.claude_json)?;
    let old_state: Option<State> = match inputs.state {
        None => None,
        Some(t) => Some(serde_json::from_str(t).map_err(|e| InstallError::Parse {
            path: paths.claude_state.clone(),
            kind: "JSON",
            message: e.to_string(),
        })?),
    };
    let mut state = old_state.clone().unwrap_or_default();
    let mut notes = Vec::new();

    if let Some(h) = settings.value.get("hooks") {
        if !h.is_object() {
            return Err(shape(&paths.claude_settings, "hooks", h, "an object"));
        }
        for (event, groups) in h.as_object().into_iter().flatten() {
            if !groups.is_array() {
                return Err(shape(
                    &paths.claude_settings,
                    &format!("hooks.{event}"),
                    groups,
                    "an array",
                ));
            }
        }
    }
    if let Some(m) = cj.value.get("mcpServers") {
        if !m.is_object() {
            return Err(shape(&paths.claude_json, "mcpServers", m, "an object"));
        }
    }

    if opts.uninstall {
        uninstall(&mut settings, &mut cj, &state, old_state.is_some());
    } else {
        install(&mut settings, &mut cj, &mut state, opts, &mut notes)?;
    }

    let mut edits = Vec::new();
    for (doc, path, before, file_key) in [
        (
            &settings,
            &paths.claude_settings,
            inputs.settings,
            "settings:file",
        ),
        (
            &cj,
            &paths.claude_json,
            inputs.claude_json,
            "claudeJson:file",
        ),
    ] {
        let created_by_us = state.created_containers.iter().any(|c| c == file_key);
        let empty = doc.value.as_object().is_some_and(Map::is_empty);
        // A file the install created and the uninstall emptied goes; so does one that would
        // only ever hold `{}`.
        let after = if empty && ((opts.uninstall && created_by_us) || !doc.existed) {
            None
        } else {
            Some(doc.style.write(&doc.value))
        };
        if after.as_deref() != before {
            if doc.existed && !doc.faithful {
                notes.push(format!(
                    "{} is not in a layout entwurf writes back byte for byte; it will be rewritten with its indent kept (the backup keeps the original)",
                    path.display()
                ));
            }
            edits.push(FileEdit {
                path: path.clone(),
                before: before.map(str::to_owned),
                after,
            });
        }
    }

    let state_after =
        if opts.uninstall || (state.created_containers.is_empty() && state.replaced.is_empty()) {
            None
        } else {
            let mut t = serde_json::to_string_pretty(&state).unwrap_or_default();
            t.push('\n');
            Some(t)
        };
    // An unchanged state (same content) is not rewritten, so a second install changes nothing.
    let same_state = match (&old_state, &state_after) {
        (Some(old), Some(_)) => *old == state,
        (None, None) => true,
        _ => false,
    };
    if !same_state && (state_after.is_some() || inputs.state.is_some()) {
        edits.push(FileEdit {
            path: paths.claude_state.clone(),
            before: inputs.state.map(str::to_owned),
            after: state_after,
        });
    }
    Ok(Plan {
        target: Target::ClaudeCode,
        uninstall: opts.uninstall,
        edits,
        notes,
    })
}

fn note_created(state: &mut State, key: String) {
    if !state.created_containers.contains(&key) {
        state.created_containers.push(key);
    }
}

fn install(
    settings: &mut Doc,
    cj: &mut Doc,
    state: &mut State,
    opts: &InstallOptions,
    notes: &mut Vec<String>,
) -> Result<(), InstallError> {
    let found = reference_in_claude(&settings.value, &cj.value);
    if !found.is_empty() {
        if !opts.replace_reference {
            return Err(InstallError::ReferenceInstalled { found });
        }
        replace_reference(settings, cj, state);
        notes.push(format!(
            "the reference bridge is taken out of the way ({}); `entwurf install claude-code --uninstall` puts it back",
            found.join("; ")
        ));
    }
    if !settings.existed {
        note_created(state, "settings:file".into());
    }
    if !cj.existed {
        note_created(state, "claudeJson:file".into());
    }

    let root = obj_mut(&mut settings.value);
    if !root.contains_key("hooks") {
        note_created(state, "settings:hooks".into());
    }
    let hooks = obj_mut(root.entry("hooks").or_insert_with(|| json!({})));
    for event in EVENTS {
        if !hooks.contains_key(event) {
            note_created(state, format!("settings:hooks.{event}"));
        }
        let groups = match hooks.entry(event).or_insert_with(|| json!([])) {
            Value::Array(a) => a,
            _ => unreachable!("checked to be an array"),
        };
        let want = desired_hook(event, &opts.entwurf_bin);
        let ours: Vec<(usize, &Value)> = groups
            .iter()
            .enumerate()
            .flat_map(|(gi, g)| {
                g.get("hooks")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|h| hook_cmd(h).is_some_and(is_entwurf_hook_command))
                    .map(move |h| (gi, h))
            })
            .collect();
        let in_place = ours.len() == 1 && *ours[0].1 == want && {
            let m = groups[ours[0].0].get("matcher");
            m.is_none() || m == Some(&json!(""))
        };
        if !in_place {
            remove_entries(groups, &is_entwurf_hook_command);
            groups.push(json!({"matcher": "", "hooks": [want]}));
        }
    }

    let root = obj_mut(&mut cj.value);
    if !root.contains_key("mcpServers") {
        note_created(state, "claudeJson:mcpServers".into());
    }
    let servers = obj_mut(root.entry("mcpServers").or_insert_with(|| json!({})));
    let want = desired_mcp(opts);
    if servers.get(MCP_SERVER_NAME) != Some(&want) {
        servers.insert(MCP_SERVER_NAME.into(), want);
    }
    Ok(())
}

fn replace_reference(settings: &mut Doc, cj: &mut Doc, state: &mut State) {
    let root = obj_mut(&mut settings.value);
    if let Some(Value::Object(plugins)) = root.get_mut("enabledPlugins") {
        if plugins.get(REFERENCE_PLUGIN) == Some(&Value::Bool(true)) {
            state.replaced.push(Replaced {
                file: "settings".into(),
                path: vec!["enabledPlugins".into(), REFERENCE_PLUGIN.into()],
                kind: "entry".into(),
                value: Value::Bool(true),
            });
            plugins.insert(REFERENCE_PLUGIN.into(), Value::Bool(false));
        }
    }
    if let Some(Value::Object(hooks)) = root.get_mut("hooks") {
        for (event, groups) in hooks.iter_mut() {
            if let Value::Array(groups) = groups {
                for g in remove_entries(groups, &is_reference_hook_command) {
                    state.replaced.push(Replaced {
                        file: "settings".into(),
                        path: vec!["hooks".into(), event.clone()],
                        kind: "hookGroup".into(),
                        value: g,
                    });
                }
            }
        }
    }
    let root = obj_mut(&mut cj.value);
    if let Some(Value::Object(servers)) = root.get_mut("mcpServers") {
        for name in REFERENCE_MCP_NAMES {
            if let Some(v) = servers.shift_remove(*name) {
                state.replaced.push(Replaced {
                    file: "claudeJson".into(),
                    path: vec!["mcpServers".into(), (*name).into()],
                    kind: "entry".into(),
                    value: v,
                });
            }
        }
    }
}

fn uninstall(settings: &mut Doc, cj: &mut Doc, state: &State, have_state: bool) {
    let created = |k: &str| state.created_containers.iter().any(|c| c == k);
    if let Some(Value::Object(root)) = Some(&mut settings.value) {
        let mut drop_hooks = false;
        if let Some(Value::Object(hooks)) = root.get_mut("hooks") {
            let events: Vec<String> = hooks.keys().cloned().collect();
            for event in events {
                let emptied = match hooks.get_mut(&event) {
                    Some(Value::Array(groups)) => {
                        let had = !groups.is_empty();
                        let removed = remove_entries(groups, &is_entwurf_hook_command);
                        had && !removed.is_empty() && groups.is_empty()
                    }
                    _ => false,
                };
                let key = format!("settings:hooks.{event}");
                if emptied && (if have_state { created(&key) } else { true }) {
                    hooks.shift_remove(&event);
                }
            }
            drop_hooks = hooks.is_empty()
                && (if have_state {
                    created("settings:hooks")
                } else {
                    false
                });
        }
        if drop_hooks {
            root.shift_remove("hooks");
        }
    }
    if let Some(Value::Object(root)) = Some(&mut cj.value) {
        let mut drop = false;
        if let Some(Value::Object(servers)) = root.get_mut("mcpServers") {
            let removed = servers.shift_remove(MCP_SERVER_NAME).is_some();
            drop = servers.is_empty()
                && removed
                && (if have_state {
                    created("claudeJson:mcpServers")
                } else {
                    true
                });
        }
        if drop {
            root.shift_remove("mcpServers");
        }
    }
    // Put back what --replace-reference took away.
    for r in &state.replaced {
        let doc = if r.file == "settings" {
            &mut *settings
        } else {
            &mut *cj
        };
        let mut cur = &mut doc.value;
        let (last, parents) = match r.path.split_last() {
            Some(x) => x,
            None => continue,
        };
        for key in parents {
            cur = obj_mut(cur).entry(key.clone()).or_insert_with(|| json!({}));
        }
        match r.kind.as_str() {
            "hookGroup" => {
                let slot = obj_mut(cur)
                    .entry(last.clone())
                    .or_insert_with(|| json!([]));
                if let Value::Array(a) = slot {
                    a.push(r.value.clone());
                }
            }
            _ => {
                obj_mut(cur).insert(last.clone(), r.value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_commands_are_quoted_only_when_needed() {
        assert_eq!(
            hook_command("/usr/bin/entwurf"),
            "/usr/bin/entwurf hook claude-code"
        );
        assert_eq!(
            hook_command("/home/a b/it's/entwurf"),
            r"'/home/a b/it'\''s/entwurf' hook claude-code"
        );
        assert!(is_entwurf_hook_command("/usr/bin/entwurf hook claude-code"));
        assert!(is_entwurf_hook_command(
            "'/home/a b/entwurf' hook claude-code"
        ));
        assert!(!is_entwurf_hook_command("/usr/bin/other hook claude-code"));
        assert!(!is_entwurf_hook_command("node meta-bridge-hook.js"));
    }
}
