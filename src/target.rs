//! Which `<provider>/<model>` the live resident is started with.
//!
//! Pure: the environment is passed in as a lookup function, so the rules are testable with plain
//! values and the cells never touch the process environment.

use std::fmt;

/// Full target in one variable: `"<provider>/<model>"`.
pub const ENV_TARGET: &str = "PI_SHELL_ACP_LIVE_TARGET";
/// Provider half (used together with [`ENV_MODEL`]).
pub const ENV_PROVIDER: &str = "PI_SHELL_ACP_LIVE_PROVIDER";
/// Model half (used together with [`ENV_PROVIDER`]).
pub const ENV_MODEL: &str = "PI_SHELL_ACP_LIVE_MODEL";
/// The target when nothing is set.
pub const DEFAULT_PROVIDER: &str = "openai-codex";
/// The target when nothing is set.
pub const DEFAULT_MODEL: &str = "gpt-5.4";

/// The provider and model a resident is started with (`--provider P --model M`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTarget {
    /// pi provider name, e.g. `openai-codex`.
    pub provider: String,
    /// Model id within the provider, e.g. `gpt-5.4` (may itself contain `/`).
    pub model: String,
}

impl fmt::Display for LiveTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// The target variables are set but do not name a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// `PI_SHELL_ACP_LIVE_TARGET` is not `<provider>/<model>`.
    #[error("{ENV_TARGET}={value:?} is malformed: expected \"<provider>/<model>\", for example \"{DEFAULT_PROVIDER}/{DEFAULT_MODEL}\"")]
    MalformedTarget {
        /// The value as found.
        value: String,
    },
    /// Only one of the provider / model pair is set.
    #[error(
        "{set} is set but {missing} is not: set both (or {ENV_TARGET}=\"<provider>/<model>\")"
    )]
    HalfPair {
        /// The variable that is set.
        set: &'static str,
        /// The variable that is missing.
        missing: &'static str,
    },
}

/// Picks the live target from `lookup` (an environment lookup; empty values count as unset).
///
/// Order: [`ENV_TARGET`], then [`ENV_PROVIDER`] + [`ENV_MODEL`] (both required), then the
/// default `openai-codex/gpt-5.4`.
pub fn select_target(lookup: impl Fn(&str) -> Option<String>) -> Result<LiveTarget, TargetError> {
    let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
    if let Some(value) = get(ENV_TARGET) {
        return parse_target(&value);
    }
    match (get(ENV_PROVIDER), get(ENV_MODEL)) {
        (Some(provider), Some(model)) => Ok(LiveTarget {
            provider: provider.trim().to_owned(),
            model: model.trim().to_owned(),
        }),
        (Some(_), None) => Err(TargetError::HalfPair {
            set: ENV_PROVIDER,
            missing: ENV_MODEL,
        }),
        (None, Some(_)) => Err(TargetError::HalfPair {
            set: ENV_MODEL,
            missing: ENV_PROVIDER,
        }),
        (None, None) => Ok(LiveTarget {
            provider: DEFAULT_PROVIDER.to_owned(),
            model: DEFAULT_MODEL.to_owned(),
        }),
    }
}

/// Parses `"<provider>/<model>"`: split at the first `/`, both halves non-empty, no whitespace.
pub fn parse_target(value: &str) -> Result<LiveTarget, TargetError> {
    let malformed = || TargetError::MalformedTarget {
        value: value.to_owned(),
    };
    let trimmed = value.trim();
    let (provider, model) = trimmed.split_once('/').ok_or_else(malformed)?;
    let bad = |s: &str| s.is_empty() || s.chars().any(char::is_whitespace);
    if bad(provider) || bad(model) || model.starts_with('/') || model.ends_with('/') {
        return Err(malformed());
    }
    Ok(LiveTarget {
        provider: provider.to_owned(),
        model: model.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let owned: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| owned.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    fn t(p: &str, m: &str) -> LiveTarget {
        LiveTarget {
            provider: p.into(),
            model: m.into(),
        }
    }

    #[rstest]
    #[case::nothing_set_gives_the_default(&[], t("openai-codex", "gpt-5.4"))]
    #[case::empty_values_count_as_unset(&[(ENV_TARGET, ""), (ENV_PROVIDER, " ")], t("openai-codex", "gpt-5.4"))]
    #[case::target_variable(&[(ENV_TARGET, "anthropic/claude-x")], t("anthropic", "claude-x"))]
    #[case::target_model_may_contain_a_slash(&[(ENV_TARGET, "openrouter/meta/llama")], t("openrouter", "meta/llama"))]
    #[case::target_wins_over_the_pair(&[(ENV_TARGET, "a/b"), (ENV_PROVIDER, "c"), (ENV_MODEL, "d")], t("a", "b"))]
    #[case::provider_and_model_pair(&[(ENV_PROVIDER, "fakeloop"), (ENV_MODEL, "slow")], t("fakeloop", "slow"))]
    fn selects(#[case] pairs: &[(&str, &str)], #[case] want: LiveTarget) {
        assert_eq!(select_target(env(pairs)), Ok(want));
    }

    #[rstest]
    #[case::no_slash("gpt-5.4")]
    #[case::empty_provider("/gpt-5.4")]
    #[case::empty_model("openai-codex/")]
    #[case::inner_whitespace("openai codex/gpt-5.4")]
    #[case::double_slash("openai-codex//gpt")]
    fn malformed_target_is_an_error_showing_the_form(#[case] value: &str) {
        let err = select_target(env(&[(ENV_TARGET, value)])).unwrap_err();
        assert_eq!(
            err,
            TargetError::MalformedTarget {
                value: value.into()
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("\"<provider>/<model>\""), "{msg}");
        assert!(msg.contains(ENV_TARGET), "{msg}");
    }

    #[rstest]
    #[case::provider_only(&[(ENV_PROVIDER, "p")], ENV_PROVIDER, ENV_MODEL)]
    #[case::model_only(&[(ENV_MODEL, "m")], ENV_MODEL, ENV_PROVIDER)]
    fn half_a_pair_is_an_error(
        #[case] pairs: &[(&str, &str)],
        #[case] set: &'static str,
        #[case] missing: &'static str,
    ) {
        assert_eq!(
            select_target(env(pairs)),
            Err(TargetError::HalfPair { set, missing })
        );
    }
}
