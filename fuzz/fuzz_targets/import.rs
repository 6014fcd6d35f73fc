//! Fuzzes `taskmaster import`: `import::convert` never panics on any
//! supervisord file and the files it includes; an error is one line that
//! names a file; and what it accepts is YAML that `config::parse` accepts
//! as it is (run as root, so `user:` passes), the only errors allowed being
//! `${X}` with X unset here, which DESIGN leaves to the environment
//! taskmaster starts in.
//!
//! The input is the main file, `/etc/supervisor/supervisord.conf`; each
//! `\n%%FILE\n` in it starts another file, `/etc/supervisor/conf.d/N.conf`
//! (N = 1, 2, ...), which `[include] files = conf.d/*.conf` picks up.

#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use taskmaster::import::{Files, convert, fnmatch};

const MAIN: &str = "/etc/supervisor/supervisord.conf";
const SPLIT: &[u8] = b"\n%%FILE\n";

/// Files in memory: the main one and the included ones.
struct Memory {
    files: Vec<(PathBuf, Vec<u8>)>,
}

impl Files for Memory {
    fn read(&mut self, path: &Path) -> Result<Vec<u8>, String> {
        match self.files.iter().find(|(p, _)| p == path) {
            Some((_, bytes)) => Ok(bytes.clone()),
            None if path == Path::new("/etc/supervisor/conf.d") => {
                Err("Is a directory".to_string())
            }
            None => Err("No such file or directory".to_string()),
        }
    }

    fn glob(&mut self, pattern: &Path) -> Vec<PathBuf> {
        let parts: Vec<String> = pattern
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let mut found: Vec<PathBuf> = self
            .files
            .iter()
            .map(|(p, _)| p.clone())
            .filter(|p| {
                let names: Vec<String> = p
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                names.len() == parts.len()
                    && names.iter().zip(&parts).all(|(n, pat)| fnmatch(pat, n))
            })
            .collect();
        found.sort();
        found
    }
}

fuzz_target!(|data: &[u8]| {
    let mut files = Vec::new();
    let mut rest = data;
    loop {
        let (file, more) = match rest.windows(SPLIT.len()).position(|w| w == SPLIT) {
            Some(i) => (&rest[..i], Some(&rest[i + SPLIT.len()..])),
            None => (rest, None),
        };
        let path = match files.len() {
            0 => PathBuf::from(MAIN),
            n => PathBuf::from(format!("/etc/supervisor/conf.d/{n}.conf")),
        };
        files.push((path, file.to_vec()));
        match more {
            Some(m) => rest = m,
            None => break,
        }
    }
    // Half the names are set: `%(ENV_X)s` read now is both found and not.
    let env = |name: &str| (name.len() % 2 == 0).then(|| format!("v-{name}"));
    let result = convert(Path::new(MAIN), &mut Memory { files }, &env, "host");
    let yaml = match result {
        Ok(yaml) => yaml,
        Err(e) => {
            assert!(!e.contains(['\n', '\r']), "error over two lines: {e:?}");
            assert!(e.starts_with("/etc/supervisor/"), "error names no file: {e:?}");
            return;
        }
    };
    if let Err(e) = taskmaster::config::parse(&yaml, Path::new("/etc/tm/imported.yaml"), true) {
        for line in &e.errors {
            assert!(
                line.contains("is not set (write '${"),
                "imported YAML refused:\n{yaml}\n{e}"
            );
        }
    }
});
