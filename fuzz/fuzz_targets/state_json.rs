//! `state.json`: any text parses or fails without panicking; what parses, written back with our
//! writer, parses to the same state.
#![no_main]

use entwurf_meta_session::ReceiptState;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(state) = ReceiptState::parse(&text) {
        let _ = state.check_drift(&state.garden_id);
        let back = ReceiptState::parse(&state.to_file_string()).expect("our bytes parse");
        assert_eq!(back, state);
    }
});
