#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| force_rmmod_gen::fuzzing::trace_raw(data));
