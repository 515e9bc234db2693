#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| layer_fuzz_harness::deb_reader(data));
