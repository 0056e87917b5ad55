//! Install / uninstall round trips on temp homes seeded with realistic configuration: the
//! user's other settings come back byte-identical, a second install changes nothing, every
//! changed file is backed up, the reference's wiring is refused or replaced and restored.

use std::fs;
use std::path::Path;

use entwurf_garden::install::{
    apply_plan, plan_claude, plan_codex, read_current, ClaudeInputs, InstallError, InstallOptions,
    InstallPaths, Plan,
};
use serde_json::Value;

const BIN: &str = "/opt/entwurf/bin/entwurf";

const SETTINGS: &str = r#"{
  "$schema": "https://json.schemastore.org/claude-code-settings.json",
  "model": "opus",
  "permissions": {
    "allow": [
      "Bash(git status)",
      "Read"
    ],
    "deny": []
  },
  "env": {
    "DISABLE_TELEMETRY": "1"
  },
  "hooks": {
    "PreToolUse": [
      {
        "matcher": "Bash",
        "hooks": [
          {
            "type": "command",
            "command": "~/.claude/hooks/guard.sh"
          }
        ]
      }
    ],
    "SessionStart": [
      {
        "matcher": "startup",
        "hooks": [
          {
            "type": "command",
            "command": "echo hello"
          }
        ]
      }
    ]
  },
  "statusLine": {
    "type": "command",
    "command": "~/bin/status"
  },
  "cleanupPeriodDays": 30
}
"#;

const CLAUDE_JSON: &str = r#"{
  "numStartups": 42,
  "installMethod": "native",
  "autoUpdates": false,
  "tipsHistory": {
    "new-user-warmup": 7
  },
  "mcpServers": {},
  "projects": {
    "/home/u/proj": {
      "allowedTools": [],
      "mcpServers": {
        "local-one": {
          "type": "stdio",
          "command": "npx",
          "args": [
            "-y",
            "thing"
          ],
          "env": {}
        }
      },
      "hasTrustDialogAccepted": true
    }
  },
  "userID": "abc123",
  "firstStartTime": "2026-01-02T03:04:05.678Z"
}"#;

const CODEX: &str = r#"# Codex configuration
model = "gpt-5.4"   # the default model
approval_policy = "on-request"

[features]
# experimental
web_search = true

[mcp_servers.docs]
command = "docs-mcp"
args = ["--stdio"]
env = { TOKEN = "x" }

# profiles below
[profiles.fast]
model = "gpt-5.4-mini"
"#;

struct Home {
    _tmp: tempfile::TempDir,
    paths: InstallPaths,
}

impl Home {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let paths = InstallPaths::resolve(tmp.path(), None, None);
        Self { _tmp: tmp, paths }
    }

    fn seed(&self) {
        fs::create_dir_all(self.paths.claude_settings.parent().unwrap()).unwrap();
        fs::write(&self.paths.claude_settings, SETTINGS).unwrap();
        fs::write(&self.paths.claude_json, CLAUDE_JSON).unwrap();
        fs::create_dir_all(self.paths.codex_config.parent().unwrap()).unwrap();
        fs::write(&self.paths.codex_config, CODEX).unwrap();
    }

    fn claude_plan(&self, opts: &InstallOptions) -> Result<Plan, InstallError> {
        let s = read_current(&self.paths.claude_settings).unwrap();
        let c = read_current(&self.paths.claude_json).unwrap();
        let st = read_current(&self.paths.claude_state).unwrap();
        plan_claude(
            ClaudeInputs {
                settings: s.as_deref(),
                claude_json: c.as_deref(),
                state: st.as_deref(),
            },
            &self.paths,
            opts,
        )
    }

    fn codex_plan(&self, opts: &InstallOptions) -> Result<Plan, InstallError> {
        let c = read_current(&self.paths.codex_config).unwrap();
        plan_codex(c.as_deref(), &self.paths, opts)
    }

    fn read(&self, p: &Path) -> Option<String> {
        read_current(p).unwrap()
    }

    /// Every file under the home, with its bytes (backups left out).
    fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let root = self._tmp.path();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if !p.to_string_lossy().contains(".entwurf-backup-") {
                    out.push((
                        p.strip_prefix(root).unwrap().display().to_string(),
                        fs::read(&p).unwrap(),
                    ));
                }
            }
        }
        out.sort();
        out
    }
}

fn install() -> InstallOptions {
    InstallOptions::new(BIN)
}

fn uninstall() -> InstallOptions {
    let mut o = InstallOptions::new(BIN);
    o.uninstall = true;
    o
}

#[test]
fn claude_round_trip_leaves_the_users_settings_byte_identical() {
    let h = Home::new();
    h.seed();
    let before = h.snapshot();
    let plan = h.claude_plan(&install()).unwrap();
    assert_eq!(plan.edits.len(), 3, "{}", plan.render());
    let applied = apply_plan(&plan, "t1").unwrap();
    assert_eq!(applied.backups.len(), 2); // settings.json and .claude.json existed

    // Installed: the user's hooks kept, ours appended; the MCP entry in the user-scope map.
    let settings: Value = serde_json::from_str(&h.read(&h.paths.claude_settings).unwrap()).unwrap();
    assert_eq!(settings["model"], "opus");
    assert_eq!(settings["hooks"]["PreToolUse"][0]["matcher"], "Bash");
    let ss = settings["hooks"]["SessionStart"].as_array().unwrap();
    assert_eq!(ss.len(), 2);
    assert_eq!(ss[0]["hooks"][0]["command"], "echo hello");
    assert_eq!(
        ss[1]["hooks"][0]["command"],
        format!("{BIN} hook claude-code")
    );
    let fc = &settings["hooks"]["FileChanged"][0]["hooks"][0];
    assert_eq!(fc["asyncRewake"], true);
    assert_eq!(fc["timeout"], 20);
    let cj: Value = serde_json::from_str(&h.read(&h.paths.claude_json).unwrap()).unwrap();
    assert_eq!(cj["mcpServers"]["entwurf"]["command"], BIN);
    assert_eq!(
        cj["mcpServers"]["entwurf"]["args"],
        serde_json::json!(["mcp"])
    );
    assert_eq!(cj["numStartups"], 42);
    // The rest of .claude.json is untouched byte for byte: only the mcpServers line changed.
    let after = h.read(&h.paths.claude_json).unwrap();
    assert!(after.starts_with("{\n  \"numStartups\": 42,"));
    assert!(!after.ends_with('\n')); // its missing final newline is kept
                                     // The backup holds the original.
    assert_eq!(fs::read_to_string(&applied.backups[0]).unwrap(), SETTINGS);

    // Second install: nothing to change.
    let again = h.claude_plan(&install()).unwrap();
    assert!(again.is_noop(), "{}", again.render());

    // Uninstall: byte-identical to the seed (the state file goes too).
    let plan = h.claude_plan(&uninstall()).unwrap();
    apply_plan(&plan, "t2").unwrap();
    assert_eq!(h.snapshot(), before);
    assert!(h.claude_plan(&uninstall()).unwrap().is_noop());
}

#[test]
fn claude_on_an_empty_home_creates_and_removes_everything() {
    let h = Home::new();
    let before = h.snapshot();
    let plan = h.claude_plan(&install()).unwrap();
    let text = plan.render();
    assert!(text.contains("(does not exist)"), "{text}");
    apply_plan(&plan, "t1").unwrap();
    assert!(h.claude_plan(&install()).unwrap().is_noop());
    apply_plan(&h.claude_plan(&uninstall()).unwrap(), "t2").unwrap();
    assert_eq!(h.snapshot(), before);
}

#[test]
fn a_moved_binary_updates_the_entries_in_place() {
    let h = Home::new();
    h.seed();
    apply_plan(&h.claude_plan(&install()).unwrap(), "t1").unwrap();
    let moved = InstallOptions::new("/usr/local/bin/entwurf");
    let plan = h.claude_plan(&moved).unwrap();
    apply_plan(&plan, "t2").unwrap();
    let settings = h.read(&h.paths.claude_settings).unwrap();
    assert!(!settings.contains(BIN));
    assert_eq!(
        settings
            .matches("/usr/local/bin/entwurf hook claude-code")
            .count(),
        4
    );
    assert!(h.claude_plan(&moved).unwrap().is_noop());
}

#[test]
fn four_space_files_keep_their_indent() {
    let h = Home::new();
    fs::create_dir_all(h.paths.claude_settings.parent().unwrap()).unwrap();
    let four = "{\n    \"theme\": \"dark\"\n}\n";
    fs::write(&h.paths.claude_settings, four).unwrap();
    apply_plan(&h.claude_plan(&install()).unwrap(), "t1").unwrap();
    let text = h.read(&h.paths.claude_settings).unwrap();
    assert!(
        text.contains("\n    \"hooks\": {\n        \"SessionStart\""),
        "{text}"
    );
    apply_plan(&h.claude_plan(&uninstall()).unwrap(), "t2").unwrap();
    assert_eq!(h.read(&h.paths.claude_settings).unwrap(), four);
}

#[test]
fn the_reference_is_refused_then_replaced_and_restored() {
    let h = Home::new();
    fs::create_dir_all(h.paths.claude_settings.parent().unwrap()).unwrap();
    let settings = r#"{
  "enabledPlugins": {
    "entwurf-meta-receive@meta-bridge-local": true,
    "other@market": true
  },
  "extraKnownMarketplaces": {
    "meta-bridge-local": {
      "source": {
        "source": "directory",
        "path": "/home/u/.local/share/entwurf/meta-bridge/.assembled"
      }
    }
  }
}
"#;
    let cj = r#"{
  "mcpServers": {
    "entwurf-bridge": {
      "type": "stdio",
      "command": "entwurf-bridge",
      "args": [],
      "env": {
        "ENTWURF_BRIDGE_REQUIRE_META_SENDER": "1"
      }
    },
    "keep": {
      "command": "x"
    }
  }
}
"#;
    fs::write(&h.paths.claude_settings, settings).unwrap();
    fs::write(&h.paths.claude_json, cj).unwrap();
    let before = h.snapshot();
    match h.claude_plan(&install()) {
        Err(InstallError::ReferenceInstalled { found }) => {
            assert!(
                found.iter().any(|f| f.contains("entwurf-meta-receive")),
                "{found:?}"
            );
            assert!(
                found.iter().any(|f| f.contains("entwurf-bridge")),
                "{found:?}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mut replace = install();
    replace.replace_reference = true;
    let plan = h.claude_plan(&replace).unwrap();
    assert!(plan.notes.iter().any(|n| n.contains("out of the way")));
    apply_plan(&plan, "t1").unwrap();
    let s: Value = serde_json::from_str(&h.read(&h.paths.claude_settings).unwrap()).unwrap();
    assert_eq!(
        s["enabledPlugins"]["entwurf-meta-receive@meta-bridge-local"],
        false
    );
    assert_eq!(s["enabledPlugins"]["other@market"], true);
    let c: Value = serde_json::from_str(&h.read(&h.paths.claude_json).unwrap()).unwrap();
    assert!(c["mcpServers"].get("entwurf-bridge").is_none());
    assert!(c["mcpServers"].get("entwurf").is_some());
    assert!(h.claude_plan(&replace).unwrap().is_noop());
    // Uninstall puts the reference back exactly.
    apply_plan(&h.claude_plan(&uninstall()).unwrap(), "t2").unwrap();
    let restored: Value = serde_json::from_str(&h.read(&h.paths.claude_json).unwrap()).unwrap();
    assert_eq!(
        restored["mcpServers"]["entwurf-bridge"]["command"],
        "entwurf-bridge"
    );
    assert_eq!(h.read(&h.paths.claude_settings).unwrap(), settings);
    // The MCP map got its entry back at the end instead of its old place: same content.
    let orig: Value = serde_json::from_str(cj).unwrap();
    assert_eq!(restored, orig);
    assert_eq!(h.snapshot().len(), before.len());
}

#[test]
fn reference_hooks_wired_by_hand_are_detected() {
    let h = Home::new();
    fs::create_dir_all(h.paths.claude_settings.parent().unwrap()).unwrap();
    let s = r#"{"hooks":{"SessionStart":[{"matcher":"","hooks":[{"type":"command","command":"node /x/meta-bridge-hook.js"}]}]}}"#;
    fs::write(&h.paths.claude_settings, s).unwrap();
    assert!(matches!(
        h.claude_plan(&install()),
        Err(InstallError::ReferenceInstalled { .. })
    ));
}

#[test]
fn malformed_settings_are_refused_without_touching_anything() {
    let h = Home::new();
    fs::create_dir_all(h.paths.claude_settings.parent().unwrap()).unwrap();
    fs::write(&h.paths.claude_settings, "{ not json").unwrap();
    assert!(matches!(
        h.claude_plan(&install()),
        Err(InstallError::Parse { .. })
    ));
    fs::write(&h.paths.claude_settings, r#"{"hooks": []}"#).unwrap();
    assert!(matches!(
        h.claude_plan(&install()),
        Err(InstallError::Shape { .. })
    ));
    fs::write(
        &h.paths.claude_settings,
        r#"{"hooks": {"SessionStart": {}}}"#,
    )
    .unwrap();
    assert!(matches!(
        h.claude_plan(&install()),
        Err(InstallError::Shape { .. })
    ));
}

#[test]
fn apply_refuses_a_file_changed_since_planning() {
    let h = Home::new();
    h.seed();
    let plan = h.claude_plan(&install()).unwrap();
    fs::write(&h.paths.claude_settings, "{}\n").unwrap();
    assert!(matches!(
        apply_plan(&plan, "t"),
        Err(InstallError::Raced { .. })
    ));
}

#[test]
fn a_symlinked_settings_file_is_written_through_its_link() {
    let h = Home::new();
    h.seed();
    let real = h.paths.claude_settings.with_file_name("real-settings.json");
    fs::rename(&h.paths.claude_settings, &real).unwrap();
    std::os::unix::fs::symlink(&real, &h.paths.claude_settings).unwrap();
    apply_plan(&h.claude_plan(&install()).unwrap(), "t1").unwrap();
    assert!(fs::symlink_metadata(&h.paths.claude_settings)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(fs::read_to_string(&real)
        .unwrap()
        .contains("hook claude-code"));
}

#[test]
fn codex_round_trip_keeps_comments_and_order() {
    let h = Home::new();
    h.seed();
    let before = h.snapshot();
    let plan = h.codex_plan(&install()).unwrap();
    let applied = apply_plan(&plan, "t1").unwrap();
    assert_eq!(applied.backups.len(), 1);
    let text = h.read(&h.paths.codex_config).unwrap();
    // The new table goes right after its sibling [mcp_servers.docs]; every other byte stays.
    let ours = format!(
        "\n[mcp_servers.entwurf]\ncommand = \"{BIN}\"\nargs = [\"mcp\", \"--sender-label\", \"external-mcp/codex\"]\n"
    );
    let at = CODEX.find("\n# profiles below").unwrap() + 1;
    assert_eq!(
        text,
        format!("{}{}{}", &CODEX[..at], &ours[1..], &CODEX[at - 1..])
    );
    assert!(h.codex_plan(&install()).unwrap().is_noop());
    apply_plan(&h.codex_plan(&uninstall()).unwrap(), "t2").unwrap();
    assert_eq!(h.snapshot(), before);
}

#[test]
fn codex_on_an_empty_home_and_a_custom_label() {
    let h = Home::new();
    let mut o = install();
    o.codex_mcp_args = vec!["mcp".into(), "--sender-label".into(), "codex-work".into()];
    let plan = h.codex_plan(&o).unwrap();
    apply_plan(&plan, "t1").unwrap();
    assert_eq!(
        h.read(&h.paths.codex_config).unwrap(),
        format!("[mcp_servers.entwurf]\ncommand = \"{BIN}\"\nargs = [\"mcp\", \"--sender-label\", \"codex-work\"]\n")
    );
    // A changed label updates only the args; keys the user added to the entry stay.
    let with_extra = h.read(&h.paths.codex_config).unwrap() + "startup_timeout_sec = 30\n";
    fs::write(&h.paths.codex_config, &with_extra).unwrap();
    apply_plan(&h.codex_plan(&install()).unwrap(), "t2").unwrap();
    let text = h.read(&h.paths.codex_config).unwrap();
    assert!(
        text.contains("\"external-mcp/codex\"]") && text.contains("startup_timeout_sec = 30"),
        "{text}"
    );
    apply_plan(&h.codex_plan(&uninstall()).unwrap(), "t3").unwrap();
    // The key the user added lived inside our table, so it leaves with it; the file the install
    // created is gone again.
    assert!(!h.paths.codex_config.exists());
}

#[test]
fn codex_reference_is_refused_or_replaced() {
    let h = Home::new();
    fs::create_dir_all(h.paths.codex_config.parent().unwrap()).unwrap();
    fs::write(
        &h.paths.codex_config,
        "[mcp_servers.entwurf-bridge]\ncommand = \"entwurf-bridge\"\n",
    )
    .unwrap();
    assert!(matches!(
        h.codex_plan(&install()),
        Err(InstallError::ReferenceInstalled { .. })
    ));
    let mut o = install();
    o.replace_reference = true;
    apply_plan(&h.codex_plan(&o).unwrap(), "t").unwrap();
    let text = h.read(&h.paths.codex_config).unwrap();
    assert!(
        !text.contains("entwurf-bridge") && text.contains("[mcp_servers.entwurf]"),
        "{text}"
    );
}
