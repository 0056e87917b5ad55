//! `entwurf send`.

use std::process::ExitCode;

use crate::ctx::{CliError, Ctx};

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args, _ctx: &Ctx) -> Result<ExitCode, CliError> {
    Err(CliError::NotYet("entwurf send"))
}
