//! `entwurf`: the command-line face of the entwurf v2 substrate.

use clap::Parser;

/// entwurf v2 dispatch substrate.
#[derive(Parser, Debug)]
#[command(name = "entwurf", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
