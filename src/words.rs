//! POSIX shell words, for a task's `command`, the shell's command lines and
//! the words `ctl` and `import` quote back: whitespace separates words,
//! single quotes keep everything literal, double quotes let a backslash escape
//! only `\`, `"`, `$`, `` ` `` and a newline, and a backslash outside quotes
//! escapes any character (a backslash-newline joins lines). It never expands
//! variables, globs, tildes or `#` comments and never runs a shell: the words
//! come out exactly as the text spells them. It imports nothing of the crate.

/// Splits `s` into words by POSIX shell quoting rules. An empty or all-blank
/// `s` gives no words; `''` gives one empty word.
///
/// Fails with `unterminated single quote`, `unterminated double quote` or
/// `trailing backslash` when the text ends inside a quote or after an
/// unquoted backslash.
pub fn split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word exists once any part of it was seen, even an empty `''`.
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            // The shell's default IFS separates words outside quotes.
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\\' => match chars.next() {
                // A backslash-newline is a line continuation: both vanish.
                Some('\n') => {}
                Some(next) => {
                    word.push(next);
                    in_word = true;
                }
                None => return Err("trailing backslash".to_string()),
            },
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote".to_string()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('\n') => {}
                            Some(next @ ('\\' | '"' | '$' | '`')) => word.push(next),
                            Some(next) => {
                                word.push('\\');
                                word.push(next);
                            }
                            None => return Err("unterminated double quote".to_string()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote".to_string()),
                    }
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Quotes `word` so that `split` gives it back unchanged: plain words stay
/// as they are, others go in single quotes.
pub fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-/+=:,@%".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_is_undone_by_split() {
        for w in [
            "plain",
            "a b",
            "it's",
            "",
            "\\",
            "\"q\"",
            "$x `y`",
            "tab\there",
            "é",
        ] {
            assert_eq!(split(&quote(w)).unwrap(), [w], "{w}");
        }
        assert_eq!(quote("web_1"), "web_1");
    }

    fn ok(s: &str) -> Vec<String> {
        split(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn splits_on_whitespace() {
        assert_eq!(ok("sleep 10"), ["sleep", "10"]);
        assert_eq!(ok("  a \t b\nc  "), ["a", "b", "c"]);
        assert!(ok("").is_empty());
        assert!(ok(" \t\n ").is_empty());
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(ok("nginx -g 'daemon off;'"), ["nginx", "-g", "daemon off;"]);
        assert_eq!(ok(r#"'a\b $x \"'"#), [r#"a\b $x \""#]);
        assert_eq!(ok("''"), [""]);
        assert_eq!(ok("a '' b"), ["a", "", "b"]);
        assert_eq!(ok("'a'b'c'"), ["abc"]);
        assert_eq!(ok("'two\nlines'"), ["two\nlines"]);
    }

    #[test]
    fn double_quotes_escape_only_some() {
        assert_eq!(ok(r#""a b""#), ["a b"]);
        assert_eq!(ok(r#""\\ \" \$ \`""#), [r#"\ " $ `"#]);
        assert_eq!(ok(r#""\n\a\'""#), [r"\n\a\'"]);
        assert_eq!(ok("\"one\\\ntwo\""), ["onetwo"]);
        assert_eq!(ok(r#""""#), [""]);
        assert_eq!(ok(r#"x"y z"'w'"#), ["xy zw"]);
        assert_eq!(ok(r#""it's""#), ["it's"]);
        assert_eq!(ok(r#"'say "hi"'"#), [r#"say "hi""#]);
    }

    #[test]
    fn backslash_outside_quotes() {
        assert_eq!(ok(r"a\ b"), ["a b"]);
        assert_eq!(ok(r"\'x\'"), ["'x'"]);
        assert_eq!(ok(r"\\"), [r"\"]);
        assert_eq!(ok(r"\n"), ["n"]);
        assert_eq!(ok("one \\\n two"), ["one", "two"]);
        assert_eq!(ok("on\\\ne"), ["one"]);
    }

    #[test]
    fn no_expansion() {
        assert_eq!(
            ok("echo $HOME ~ *.txt # no"),
            ["echo", "$HOME", "~", "*.txt", "#", "no"]
        );
        assert_eq!(ok("sh -c 'echo $((1+2))'"), ["sh", "-c", "echo $((1+2))"]);
    }

    #[test]
    fn unicode_passes_through() {
        assert_eq!(ok("échó 'ü ñ' \"日本\""), ["échó", "ü ñ", "日本"]);
    }

    #[test]
    fn errors() {
        assert_eq!(split("echo 'abc").unwrap_err(), "unterminated single quote");
        assert_eq!(
            split("echo \"abc").unwrap_err(),
            "unterminated double quote"
        );
        assert_eq!(
            split("echo \"abc\\").unwrap_err(),
            "unterminated double quote"
        );
        assert_eq!(split("echo abc\\").unwrap_err(), "trailing backslash");
        assert_eq!(split("'").unwrap_err(), "unterminated single quote");
        assert_eq!(split("\"").unwrap_err(), "unterminated double quote");
        assert_eq!(split("\\").unwrap_err(), "trailing backslash");
    }
}
