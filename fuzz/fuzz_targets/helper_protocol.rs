#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| force_rmmod_gen::fuzzing::helper_protocol(data));
