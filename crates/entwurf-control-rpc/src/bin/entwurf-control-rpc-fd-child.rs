//! Test helper for `tests/server_limits.rs`: the child half of the descriptor-exhaustion test.
//! The test starts it through `CARGO_BIN_EXE_entwurf-control-rpc-fd-child`; it is not a tool.
//!
//! `entwurf-control-rpc-fd-child <control dir> <gid> <descriptor limit>` lowers its own soft
//! `RLIMIT_NOFILE` (rlimits are process-wide, so the test process never lowers its own), binds
//! a control-socket server with the default handler, prints `READY` and serves until its stdin
//! closes.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use entwurf_control_rpc::{Handler, Server};
use entwurf_meta_session::GardenId;
use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

struct Defaults;

#[async_trait::async_trait]
impl Handler for Defaults {}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, gid, limit] = args.as_slice() else {
        eprintln!("usage: entwurf-control-rpc-fd-child <control dir> <gid> <descriptor limit> (started by the server_limits tests)");
        return ExitCode::from(2);
    };
    let (Ok(gid), Ok(limit)) = (GardenId::parse(gid), limit.parse::<u64>()) else {
        eprintln!("entwurf-control-rpc-fd-child: bad arguments {args:?}");
        return ExitCode::from(2);
    };
    let current = getrlimit(Resource::Nofile);
    let lowered = Rlimit {
        current: Some(limit),
        maximum: current.maximum,
    };
    if let Err(e) = setrlimit(Resource::Nofile, lowered) {
        eprintln!("entwurf-control-rpc-fd-child: setrlimit: {e}");
        return ExitCode::FAILURE;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("entwurf-control-rpc-fd-child: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let server = match Server::bind(Path::new(dir), &gid, Defaults).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("entwurf-control-rpc-fd-child: bind: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("READY");
        let _ = std::io::stdout().flush();
        // Serve until the parent closes our stdin.
        let _ = tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await;
        server.shutdown().await;
        ExitCode::SUCCESS
    })
}
