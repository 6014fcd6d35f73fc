//! `taskmaster import SUPERVISORD.CONF`: reads a supervisord config (and
//! the files its `[include] files=` globs name, as supervisord does: from
//! the main file only, relative to its directory, each glob's matches in
//! sorted order) and prints the equivalent taskmaster YAML. The reading and
//! globbing go through [`Files`], so the conversion itself is pure and
//! fuzzed; `ini.rs` parses, `expand.rs` maps `%(name)s`, `emit.rs` writes
//! the YAML, with each program's keys mapped by `program.rs`.

mod emit;
pub mod expand;
pub mod ini;
mod program;
mod values;

use std::path::{Path, PathBuf};

use crate::error::Error;

/// Where the importer gets files from.
pub trait Files {
    /// The bytes of `path`, or why not (one line).
    fn read(&mut self, path: &Path) -> Result<Vec<u8>, String>;
    /// The existing paths matching `pattern` (`*`, `?`, `[...]` in any
    /// component), sorted.
    fn glob(&mut self, pattern: &Path) -> Vec<PathBuf>;
}

/// The real file system.
pub struct Disk;

impl Files for Disk {
    fn read(&mut self, path: &Path) -> Result<Vec<u8>, String> {
        if path.is_dir() {
            return Err("Is a directory".to_string());
        }
        std::fs::read(path).map_err(crate::text::os_reason)
    }

    fn glob(&mut self, pattern: &Path) -> Vec<PathBuf> {
        let mut found = vec![PathBuf::new()];
        for part in pattern.components() {
            let text = part.as_os_str().to_string_lossy();
            let wild = text.contains(['*', '?', '[']);
            let mut next = Vec::new();
            for base in found {
                if !wild {
                    next.push(base.join(part));
                    continue;
                }
                let dir = if base.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    base.as_path()
                };
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    // As the shell and Python's glob: a leading dot is matched
                    // only by a pattern that spells it.
                    if name.starts_with('.') && !text.starts_with('.') {
                        continue;
                    }
                    if fnmatch(&text, &name) {
                        next.push(base.join(&name));
                    }
                }
            }
            found = next;
        }
        let mut found: Vec<PathBuf> = found.into_iter().filter(|p| p.exists()).collect();
        found.sort();
        found
    }
}

/// Shell-style matching of one path component: `*`, `?`, `[abc]`,
/// `[a-z]`, `[!x]` (or `[^x]`).
pub fn fnmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matching with one backtrack point for the last `*`.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => class(&p, pi, n[ni]),
            Some(&c) => (c == n[ni]).then_some(pi + 1),
            None => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                ni += 1;
            }
            (None, Some((sp, sn))) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class starting at `p[at] == '['`: the index
/// after it on a match. An unclosed `[` matches itself.
fn class(p: &[char], at: usize, c: char) -> Option<usize> {
    let mut i = at + 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let start = i;
    let mut hit = false;
    while i < p.len() && (p[i] != ']' || i == start) {
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&e| e != ']') {
            hit |= p[i] <= c && c <= p[i + 2];
            i += 3;
        } else {
            hit |= p[i] == c;
            i += 1;
        }
    }
    if i >= p.len() {
        return (c == '[').then_some(at + 1);
    }
    (hit != negate).then_some(i + 1)
}

/// One file read: its path, the directory `%(here)s` names, its sections.
pub struct Source {
    pub path: PathBuf,
    pub here: String,
    pub sections: Vec<ini::Section>,
}

/// Reads and parses one file. Errors name it: unreadable, binary, not
/// UTF-8, empty, not INI.
fn load(files: &mut dyn Files, path: &Path) -> Result<Source, String> {
    let shown = path.display();
    let bytes = files
        .read(path)
        .map_err(|e| format!("{shown}: cannot read: {e}"))?;
    if bytes.contains(&0) {
        return Err(format!("{shown}: not a supervisord config: binary data"));
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        format!(
            "{shown}: not a supervisord config: invalid UTF-8 at byte {}",
            e.valid_up_to()
        )
    })?;
    if text.trim().is_empty() {
        return Err(format!("{shown}: empty file"));
    }
    let sections = ini::parse(text).map_err(|e| match e.line {
        0 => format!("{shown}: {}", e.message),
        n => format!("{shown}:{n}: {}", e.message),
    })?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    Ok(Source {
        path: path.to_path_buf(),
        here: dir.display().to_string(),
        sections,
    })
}

/// Converts the config at `path` (absolute) and everything it includes.
/// `env` looks up `%(ENV_X)s` where a value is needed now; `host` is
/// `%(host_node_name)s`.
///
/// Fails with one line naming the file (and line, key): see [`load`],
/// plus `[include]` without `files`, `[program:]` without a name, a name
/// taskmaster cannot take, a value supervisord would refuse.
pub fn convert(
    path: &Path,
    files: &mut dyn Files,
    env: &dyn Fn(&str) -> Option<String>,
    host: &str,
) -> Result<String, String> {
    // Names, keys and values in a message may hold any character.
    convert_all(path, files, env, host).map_err(|e| values::one_line(&e))
}

fn convert_all(
    path: &Path,
    files: &mut dyn Files,
    env: &dyn Fn(&str) -> Option<String>,
    host: &str,
) -> Result<String, String> {
    let main = load(files, path)?;
    let mut sources = vec![main];
    let mut missed = Vec::new();
    if let Some(inc) = sources[0].sections.iter().find(|s| s.name == "include") {
        let Some(entry) = inc.get("files") else {
            return Err(format!(
                "{}:{}: [include] has no 'files' setting",
                path.display(),
                inc.line
            ));
        };
        let vars = expand::Vars {
            here: &sources[0].here,
            program_name: None,
            group_name: None,
            process_num: None,
            host_node_name: host,
            env,
        };
        let globs = expand::expand(&entry.value, &vars, false)
            .map_err(|e| format!("{}:{}: [include] files: {e}", path.display(), entry.line))?
            .text;
        let base = Path::new(&sources[0].here).to_path_buf();
        for pattern in globs.split_whitespace() {
            let full = base.join(pattern);
            let matched = files.glob(&full);
            if matched.is_empty() {
                missed.push(full.display().to_string());
            }
            for p in matched {
                if p == path {
                    continue;
                }
                sources.push(load(files, &p)?);
            }
        }
    }
    emit::emit(&sources, &missed, env, host)
}

/// `taskmaster import FILE`: the YAML, or a configuration error (exit 2).
pub fn run(path: &Path) -> Result<String, Error> {
    let abs = std::path::absolute(path)
        .map_err(|e| Error::Config(format!("{}: cannot read: {e}", path.display())))?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    convert(&abs, &mut Disk, &|k| std::env::var(k).ok(), &host).map_err(Error::Config)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One file in memory, at `/s.conf`.
    struct One(&'static str);

    impl Files for One {
        fn read(&mut self, _: &Path) -> Result<Vec<u8>, String> {
            Ok(self.0.as_bytes().to_vec())
        }
        fn glob(&mut self, _: &Path) -> Vec<PathBuf> {
            Vec::new()
        }
    }

    fn convert_one(text: &'static str) -> Result<String, String> {
        convert(Path::new("/s.conf"), &mut One(text), &|_| None, "h")
    }

    #[test]
    fn fuzz_an_inline_comment_that_leaves_an_open_quote_is_an_error() {
        assert_eq!(
            convert_one("[program:web]\ncommand=sh -c \"echo a ;b\"\n").unwrap_err(),
            "/s.conf:2: [program:web] command: unterminated double quote (the line was cut at an inline comment: ' ;' or ' #' starts one, as in supervisord)"
        );
        assert_eq!(
            convert_one("[program:web]\ncommand=sh -c 'a\n").unwrap_err(),
            "/s.conf:2: [program:web] command: unterminated single quote"
        );
        assert_eq!(
            convert_one("[program:web]\ncommand= #\n").unwrap_err(),
            "/s.conf:2: [program:web] command: empty command"
        );
    }

    #[test]
    fn fuzz_an_empty_path_or_user_is_an_error() {
        for (text, want) in [
            (
                "stderr_logfile=",
                "3: [program:w] stderr_logfile: empty path",
            ),
            ("directory= ;here", "3: [program:w] directory: empty path"),
            ("user=%(ENV_E)s", "3: [program:w] user: empty user name"),
        ] {
            let conf = format!("[program:w]\ncommand=x\n{text}\n");
            let got = convert(
                Path::new("/s.conf"),
                &mut One(conf.leak()),
                &|_| Some(String::new()),
                "h",
            );
            assert_eq!(got.unwrap_err(), format!("/s.conf:{want}"), "{text}");
        }
        let got = convert_one("[supervisord]\nlogfile=\n[program:w]\ncommand=x\n");
        assert_eq!(
            got.unwrap_err(),
            "/s.conf:2: [supervisord] logfile: empty path"
        );
    }

    #[test]
    fn fuzz_a_program_named_all_is_an_error() {
        assert_eq!(
            convert_one("[program:all]\ncommand=x\n").unwrap_err(),
            "/s.conf:1: [program:all]: 'all' cannot be a task name (commands use it for every process)"
        );
    }

    #[test]
    fn fuzz_a_umask_over_777_is_an_error() {
        assert_eq!(
            convert_one("[program:w]\ncommand=x\numask=2022\n").unwrap_err(),
            "/s.conf:3: [program:w] umask: umask '2022' is out of range (0 to 777)"
        );
        assert!(convert_one("[program:w]\ncommand=x\numask=0077\n").is_ok());
    }

    #[test]
    fn fuzz_an_error_is_one_line_whatever_the_text() {
        assert_eq!(
            convert_one("[program:w]\ncommand=%(x\ry)s\n").unwrap_err(),
            "/s.conf:2: [program:w] command: unknown expansion %(x\\ry)s"
        );
    }

    #[test]
    fn fnmatch_like_the_shell() {
        let cases = [
            ("*.conf", "a.conf", true),
            ("*.conf", "a.ini", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("[ab]*", "bx", true),
            ("[!ab]*", "bx", false),
            ("[a-c].x", "b.x", true),
            ("*", "", true),
            ("*a*b", "xaxxb", true),
            ("*a*b", "xaxxbc", false),
            ("[", "[", true),
        ];
        for (p, n, want) in cases {
            assert_eq!(fnmatch(p, n), want, "{p} {n}");
        }
    }
}
