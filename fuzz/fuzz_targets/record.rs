//! Meta records (v1 and v2): any bytes parse or fail without panicking; a parsed record written
//! back with our v2 writer parses to the same record.
#![no_main]

use entwurf_meta_session::{parse_record_bytes, parse_stored_record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(stored) = parse_stored_record(data) {
        let bytes = stored.record.to_file_bytes();
        let back = parse_record_bytes(&bytes).expect("our v2 bytes parse");
        assert_eq!(back, stored.record);
        let again = parse_stored_record(&bytes).expect("our v2 bytes parse");
        assert!(again.v1_receipts.is_none(), "we never write v1");
    }
});
