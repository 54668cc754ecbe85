//! Generated MP3 streams (the fuzzer's bytes pick the formats, tags, junk, headers and cut),
//! measured by our frame counter and by the `mp3-duration` crate: its answer must be exactly
//! the one the differences in mp3count's docs predict. The same check runs as a proptest in
//! `crates/mp3count/tests/mp3_duration.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/mp3count/tests/support/oracle.rs"]
mod oracle;
#[path = "../../crates/mp3count/tests/support/streams.rs"]
mod streams;

fuzz_target!(|data: &[u8]| oracle::check_recipe(data));
