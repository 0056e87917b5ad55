//! Receiver and sender markers (their readers take a path): any bytes read as a marker or as
//! none, without panicking; a marker read back after our serialisation is the same marker.
#![no_main]

use std::cell::RefCell;
use std::path::PathBuf;

use entwurf_meta_session::{read_receiver_marker_at, read_sender_marker_at};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static DIR: RefCell<Option<(tempfile::TempDir, PathBuf)>> = const { RefCell::new(None) };
}

fuzz_target!(|data: &[u8]| {
    DIR.with(|d| {
        let mut d = d.borrow_mut();
        let (_, file) = d.get_or_insert_with(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let file = dir.path().join("marker.json");
            (dir, file)
        });
        std::fs::write(&*file, data).expect("write the input");
        if let Some(m) = read_receiver_marker_at(file, false) {
            let text = serde_json::to_string_pretty(&m).expect("serialises");
            std::fs::write(&*file, text).expect("write back");
            let back = read_receiver_marker_at(file, false).expect("our bytes read");
            assert_eq!(back, m);
        }
        std::fs::write(&*file, data).expect("write the input");
        if let Some(m) = read_sender_marker_at(file, false) {
            let text = serde_json::to_string_pretty(&m).expect("serialises");
            std::fs::write(&*file, text).expect("write back");
            let back = read_sender_marker_at(file, false).expect("our bytes read");
            assert_eq!(back, m);
        }
    });
});
