//! Fuzzes the terminal escaping of process text (`escape::for_terminal`):
//! for any bytes, what reaches a terminal holds no control character but
//! tab and newline, text without control characters passes unchanged, and
//! escaping what was escaped changes nothing more.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taskmaster::escape::for_terminal;

fuzz_target!(|input: &[u8]| {
    let out = for_terminal(input);
    assert!(
        !out.chars().any(|c| c.is_control() && c != '\t' && c != '\n'),
        "{out:?}"
    );
    if let Ok(s) = std::str::from_utf8(input)
        && !s.chars().any(|c| c.is_control() && c != '\t' && c != '\n')
    {
        assert_eq!(out, s);
    }
    assert_eq!(for_terminal(out.as_bytes()), out);
});
