#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(values) = ferrocast_rtmp::amf0::decode_all(data) {
        // What decodes must encode and decode to the same values.
        let enc = ferrocast_rtmp::amf0::encode_all(&values);
        let again = ferrocast_rtmp::amf0::decode_all(&enc).expect("re-decoding our own encoding");
        assert_eq!(format!("{values:?}"), format!("{again:?}"));
    }
});
