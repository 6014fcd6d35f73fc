//! The INI dialect supervisord reads (Python's `RawConfigParser` as
//! supervisord sets it up): `[section]` headers, `key = value` or
//! `key: value`, keys folded to lowercase, whole-line comments starting
//! with `;` or `#`, inline comments where `;` or `#` follows whitespace
//! (quotes do not protect them, as in supervisord), and indented lines
//! continuing the previous value. A section named twice gathers the keys of
//! both, the later value of a key winning. Pure: text in, sections out; it
//! never reads a file.

use crate::text::quoted;

/// One `key = value` line (with its continuation lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Lowercased, as supervisord looks keys up.
    pub key: String,
    /// Trimmed; continuation lines joined with `\n`.
    pub value: String,
    /// 1-based line of the key.
    pub line: usize,
    /// Whether an inline comment was cut from the value.
    pub cut: bool,
}

/// A `[name]` section and its entries in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    /// 1-based line of the header.
    pub line: usize,
    pub entries: Vec<Entry>,
}

impl Section {
    /// The value of `key` (the last one given wins).
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }
}

/// Cuts an inline comment: `;` or `#` at the start or after whitespace.
fn strip_inline_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if (b == b';' || b == b'#') && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

/// Why a text is not a supervisord config: the line (0 for the file as a
/// whole) and one line of message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniError {
    pub line: usize,
    pub message: String,
}

fn fail<T>(line: usize, message: String) -> Result<T, IniError> {
    Err(IniError { line, message })
}

/// Parses `text`. Errors are one line (the caller adds the file name): a line before any section header, a header without a
/// closing `]` or a name, a line that is neither a header nor `key = value`.
/// A file with no section at all is an error too: it is not a supervisord
/// config.
pub fn parse(text: &str) -> Result<Vec<Section>, IniError> {
    let mut sections: Vec<Section> = Vec::new();
    // Whether the last line was a key (so an indented line continues it).
    let mut open_value = false;
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') || trimmed.starts_with('#') {
            // A blank line ends nothing in Python's parser, but a comment
            // or blank line adds nothing to a value either.
            continue;
        }
        let indented = raw.starts_with([' ', '\t']);
        let body = strip_inline_comment(raw);
        let cut = body.len() < raw.len();
        let body = body.trim();
        if indented && open_value {
            // open_value is set only just after an entry joins the last
            // section, and cleared by the header that could reorder them.
            let entry = sections
                .last_mut()
                .and_then(|s| s.entries.last_mut())
                .expect("an open value has a section and an entry");
            entry.cut |= cut;
            if !body.is_empty() {
                if !entry.value.is_empty() {
                    entry.value.push('\n');
                }
                entry.value.push_str(body);
            }
            continue;
        }
        if body.is_empty() {
            continue;
        }
        if let Some(rest) = body.strip_prefix('[') {
            let Some(end) = rest.rfind(']') else {
                return fail(
                    line_no,
                    format!("section header without ']': {}", quoted(body)),
                );
            };
            let name = rest[..end].trim();
            if name.is_empty() {
                return fail(line_no, "section header without a name".to_string());
            }
            open_value = false;
            match sections.iter().position(|s| s.name == name) {
                // Keys of a repeated section join the first one.
                Some(i) => {
                    let s = sections.remove(i);
                    sections.push(s);
                }
                None => sections.push(Section {
                    name: name.to_string(),
                    line: line_no,
                    entries: Vec::new(),
                }),
            }
            continue;
        }
        let Some(section) = sections.last_mut() else {
            return fail(
                line_no,
                format!(
                    "not an INI file: expected a [section] header, found {}",
                    quoted(body)
                ),
            );
        };
        let Some(sep) = body.find(['=', ':']) else {
            return fail(
                line_no,
                format!(
                    "expected 'key = value' in [{}], found {}",
                    section.name,
                    quoted(body)
                ),
            );
        };
        let key = body[..sep].trim();
        if key.is_empty() {
            return fail(line_no, format!("a value without a key: {}", quoted(body)));
        }
        section.entries.push(Entry {
            key: key.to_lowercase(),
            value: body[sep + 1..].trim().to_string(),
            line: line_no,
            cut,
        });
        open_value = true;
    }
    if sections.is_empty() {
        return fail(0, "not an INI file: no [section] in it".to_string());
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keys_comments_and_continuations() {
        let s = parse(
            "; top\n[program:web]\nCommand = sleep 1 ; a comment\nenvironment=A=\"1\",\n  B=\"2\"\n#x\nnumprocs:2\n",
        )
        .unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].name, "program:web");
        assert_eq!(s[0].get("command").unwrap().value, "sleep 1");
        assert_eq!(s[0].get("environment").unwrap().value, "A=\"1\",\nB=\"2\"");
        assert_eq!(s[0].get("numprocs").unwrap().line, 7);
    }

    #[test]
    fn a_semicolon_without_space_before_it_is_kept() {
        let s = parse("[a]\nk = x;y #z\n").unwrap();
        assert_eq!(s[0].get("k").unwrap().value, "x;y");
    }

    #[test]
    fn a_repeated_section_gathers_its_keys_and_the_last_value_wins() {
        let s = parse("[a]\nk=1\n[b]\n[a]\nk=2\nj=3\n").unwrap();
        assert_eq!(s.len(), 2);
        let a = s.iter().find(|x| x.name == "a").unwrap();
        assert_eq!(a.get("k").unwrap().value, "2");
        assert_eq!(a.get("j").unwrap().value, "3");
    }

    #[test]
    fn what_is_not_ini_is_refused_with_its_line() {
        let err = |t: &str| {
            let e = parse(t).unwrap_err();
            (e.line, e.message)
        };
        let cases = [
            (
                "tasks:\n  a: 1\n",
                1,
                "not an INI file: expected a [section] header, found 'tasks:'",
            ),
            ("", 0, "not an INI file: no [section] in it"),
            (
                "; only a comment\n",
                0,
                "not an INI file: no [section] in it",
            ),
            (
                "[a]\njust words\n",
                2,
                "expected 'key = value' in [a], found 'just words'",
            ),
            ("[a\n", 1, "section header without ']': '[a'"),
            ("[ ]\n", 1, "section header without a name"),
            ("[a]\n= 1\n", 2, "a value without a key: '= 1'"),
        ];
        for (text, line, message) in cases {
            assert_eq!(err(text), (line, message.to_string()), "{text:?}");
        }
    }
}
