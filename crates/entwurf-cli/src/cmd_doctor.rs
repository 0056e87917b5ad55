//! `entwurf doctor`: what is installed, whether the hook fired recently, the store's health.
//! Exit 0 when nothing needs a hand, 1 when a problem is listed.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cmd_hook::hook_log;
use crate::cmd_install::ConfigPaths;
use crate::ctx::{CliError, Ctx};

// The doc comments below are clap's --help text, where `<agent>` is a placeholder, not HTML.
#[allow(rustdoc::invalid_html_tags)]
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    paths: ConfigPaths,
    /// The hook log to read (default: $ENTWURF_HOOK_LOG, else <agent dir>/entwurf-hook.log).
    #[arg(long, value_name = "FILE")]
    log_file: Option<PathBuf>,
}

pub fn run(args: Args, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let paths = args.paths.resolve()?;
    let dirs = ctx.dirs()?;
    let log = hook_log(args.log_file, Some(&dirs));
    let report = entwurf_garden::doctor::diagnose(&paths, &dirs, &log, chrono::Utc::now());
    if ctx.global.json {
        println!("{}", serde_json::json!(report));
    } else {
        print!("{}", report.render());
    }
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
