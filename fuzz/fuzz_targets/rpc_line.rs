//! Control-socket NDJSON lines: the server's line parser and send validation, the client's
//! response matcher and the line splitter take any bytes without panicking; a response or a
//! request we write parses back to itself.
#![no_main]

use entwurf_control_rpc::wire::{drain_lines, parse_line, validate_send, Request, Response};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut buf = data.to_vec();
    for line in drain_lines(&mut buf) {
        check(&line);
    }
    check(&String::from_utf8_lossy(data));
});

fn check(line: &str) {
    if let Ok(incoming) = parse_line(line) {
        if let Ok(send) = validate_send(&incoming.body) {
            let req = Request::Send(send.clone());
            let back = parse_line(req.to_line().trim_end()).expect("our request line parses");
            assert_eq!(validate_send(&back.body), Ok(send));
        }
    }
    for command in ["send", "get_info", "get_message", "abort", "clear", "parse"] {
        if let Some(resp) = Response::match_line(line, command) {
            let back = Response::match_line(&resp.to_line(), command).expect("our line matches");
            assert_eq!(back, resp);
        }
    }
}
