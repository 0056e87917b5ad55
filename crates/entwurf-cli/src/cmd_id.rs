//! `entwurf id`: garden ids.

use std::process::ExitCode;

use entwurf_meta_session::GardenId;
use serde_json::json;

use crate::ctx::{CliError, Ctx};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: IdCommand,
}

#[derive(clap::Subcommand, Debug)]
enum IdCommand {
    /// Print a fresh garden id (local-time stamp + 3 random bytes).
    New,
    /// Check that a value is a garden id (exit 0) or say why not (exit 2).
    Check {
        /// The value to check.
        value: String,
    },
}

pub fn run(args: Args, ctx: &Ctx) -> Result<ExitCode, CliError> {
    let gid = match args.command {
        IdCommand::New => GardenId::mint(),
        IdCommand::Check { value } => GardenId::parse(&value)?,
    };
    if ctx.global.json {
        println!("{}", json!({ "gardenId": gid }));
    } else {
        println!("{gid}");
    }
    Ok(ExitCode::SUCCESS)
}
