//! Arbitrary bytes, fed to the MP3 frame counter in arbitrary chunk splits: it must never
//! panic and must give the same facts however the input is split.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| job_fuzz::check_split_invariance(data));
