//! Fuzzes the command parser the shell and the control socket share: it
//! never panics, every error is one line of text, and every command it
//! accepts prints back as a line that parses to the very same command.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taskmaster::shell::command::parse;

fuzz_target!(|data: &[u8]| {
    // Socket and shell input reach the parser as text; the loop turns
    // invalid UTF-8 into replacement characters first.
    let line = String::from_utf8_lossy(data);
    match parse(&line) {
        Err(e) => {
            assert!(
                !e.chars().any(char::is_control),
                "error is not one clean line: {e:?}"
            );
        }
        Ok(None) => {}
        Ok(Some(c)) => {
            let printed = c.to_string();
            assert!(
                !printed.contains('\n'),
                "printed over two lines: {printed:?}"
            );
            assert_eq!(parse(&printed), Ok(Some(c)), "printed as {printed:?}");
        }
    }
});
