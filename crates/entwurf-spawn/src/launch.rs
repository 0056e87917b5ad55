//! The `pi` command line for a spawn-bg resume (spec §8), as data.
//!
//! `pi --mode json -p --entwurf-control <launchArgs…> <extension args…> --session-id <gid>
//! [--provider <p>] --model <m> <prompt>`, run in the session header's cwd with
//! `ENTWURF_V2_RESUME_RESIDENT_SESSION_ID=<gid>` added to the inherited environment.
//!
//! Extension loading: there is deliberately no `--no-extensions`. The resident must come up with
//! the same extensions (providers among them) the session was made with, and pi rejects the
//! `--entwurf-control` flag unless the entwurf control extension is loaded. When that extension is
//! not installed where pi discovers it, the caller names it through `extension_args`
//! (`["-e", "/path/to/entwurf-control.ts"]`); those arguments are an explicit input, never guessed.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::identity::LaunchIdentity;
use crate::plan::SpawnBgPlan;

/// The env var that marks a resident as an authorised spawn-bg resume of this session id.
pub const RESUME_RESIDENT_SESSION_ENV: &str = "ENTWURF_V2_RESUME_RESIDENT_SESSION_ID";

/// The pi flag that makes a session stand up its control socket.
pub const ENTWURF_CONTROL_FLAG: &str = "--entwurf-control";

/// The default command name (looked up on `PATH`).
pub const DEFAULT_PI_COMMAND: &str = "pi";

/// Everything needed to start the resident, without starting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    /// The program (`pi`, or an absolute path).
    pub program: PathBuf,
    /// The argv after the program.
    pub args: Vec<String>,
    /// The working directory: the session header cwd.
    pub cwd: PathBuf,
    /// Variables added to the inherited environment.
    pub env: Vec<(OsString, OsString)>,
    /// The session (garden) id being resumed.
    pub session_id: String,
}

/// Lays out the resume argv (no IO).
///
/// ```
/// use entwurf_spawn::launch::resume_args;
/// let args = resume_args(&["--approve".into()], &[], "20260612T100000-aaaaaa", Some("anthropic"), "m", "hi");
/// assert_eq!(args.join(" "), "--mode json -p --entwurf-control --approve --session-id 20260612T100000-aaaaaa --provider anthropic --model m hi");
/// ```
pub fn resume_args(
    launch_args: &[String],
    extension_args: &[String],
    session_id: &str,
    provider: Option<&str>,
    model: &str,
    prompt: &str,
) -> Vec<String> {
    let mut args: Vec<String> = ["--mode", "json", "-p", ENTWURF_CONTROL_FLAG]
        .map(str::to_owned)
        .to_vec();
    args.extend_from_slice(launch_args);
    args.extend_from_slice(extension_args);
    args.extend(["--session-id".to_owned(), session_id.to_owned()]);
    args.extend(crate::pi_line::provider_model_args(provider, model));
    args.push(prompt.to_owned());
    args
}

/// The full launch for `plan` from the resolved `identity`.
pub fn launch_spec(
    program: PathBuf,
    plan: &SpawnBgPlan,
    identity: &LaunchIdentity,
    extension_args: &[String],
) -> LaunchSpec {
    LaunchSpec {
        program,
        args: resume_args(
            &plan.launch_args,
            extension_args,
            plan.session_id.as_str(),
            identity.provider.as_deref(),
            &identity.model,
            &plan.prompt,
        ),
        cwd: identity.cwd.clone(),
        env: vec![(
            RESUME_RESIDENT_SESSION_ENV.into(),
            plan.session_id.as_str().into(),
        )],
        session_id: plan.session_id.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_is_last_and_provider_optional() {
        let args = resume_args(
            &[],
            &["-e".into(), "/x/ext.ts".into()],
            "20260612T100000-aaaaaa",
            None,
            "gpt",
            "do --it",
        );
        assert_eq!(
            args,
            [
                "--mode",
                "json",
                "-p",
                "--entwurf-control",
                "-e",
                "/x/ext.ts",
                "--session-id",
                "20260612T100000-aaaaaa",
                "--model",
                "gpt",
                "do --it"
            ]
        );
        assert!(!args.iter().any(|a| a == "--no-extensions" || a == "-ne"));
    }
}
