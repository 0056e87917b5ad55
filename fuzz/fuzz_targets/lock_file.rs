//! Lock files and reclaim markers: any bytes parse without panicking; a parsed holder written
//! back with our writer parses to the same holder.
#![no_main]

use std::path::Path;

use entwurf_lock::{claim_line, marker_line, parse_holder, parse_marker};
use entwurf_meta_session::GardenId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let path = Path::new("/fuzz/locks/20260612T100000-aaaaaa.lock");
    let Ok(gid) = GardenId::parse("20260612T100000-aaaaaa") else {
        return;
    };
    if let Some(holder) = parse_holder(&text, path, &gid) {
        let line = claim_line(&holder).expect("a parsed holder serialises");
        let back = parse_holder(&line, path, &gid).expect("our line parses");
        assert_eq!(back, holder);
        let _ = holder.pid.probe_pid();
        let _ = holder.pid.to_string();
    }
    if let Some(creator) = parse_marker(&text) {
        let line = marker_line(&creator).expect("a parsed marker serialises");
        assert_eq!(parse_marker(&line), Some(creator));
    }
});
