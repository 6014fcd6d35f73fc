//! taskmaster: a process supervisor with one thread and one `mio` event
//! loop. The binary (`main.rs`) only parses arguments and calls `cli::run`;
//! everything else lives here so tests, benchmarks and fuzz targets reach the
//! pure parts.

pub mod cli;
pub mod config;
pub mod console;
pub mod control;
pub mod ctl;
pub mod deps;
pub mod error;
pub mod escape;
pub mod events;
pub mod fanout;
pub mod health;
pub mod import;
pub mod limits;
pub mod logs;
pub mod metrics;
pub mod notify;
pub mod outbox;
pub mod process;
pub mod shell;
pub mod signals;
pub mod signame;
pub mod spawn;
pub mod strays;
pub mod supervisor;
pub mod text;
pub mod timers;
pub mod words;

/// The layers of the crate, bottom first: a module may use only modules of
/// lower layers, so the import graph has no cycle and reads
/// config -> process -> supervisor -> cli downward. A new module gets a
/// layer here (the test says so).
#[cfg(test)]
mod layers {
    const LAYERS: &[&[&str]] = &[
        &["text"],
        &["words", "signame", "escape", "error", "timers", "outbox"],
        &["config", "console", "metrics", "fanout"],
        &[
            "process", "logs", "limits", "deps", "health", "notify", "import",
        ],
        &["signals", "shell", "events"],
        &["strays", "control"],
        &["ctl"],
        &["spawn"],
        &["supervisor"],
        &["cli"],
    ];

    fn layer(module: &str) -> usize {
        LAYERS
            .iter()
            .position(|l| l.contains(&module))
            .unwrap_or_else(|| panic!("module '{module}' has no layer in lib.rs"))
    }

    /// `crate::NAME` paths in `text`.
    fn uses(text: &str) -> Vec<String> {
        text.match_indices("crate::")
            .map(|(i, m)| {
                text[i + m.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect()
            })
            .collect()
    }

    fn files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    #[test]
    fn every_import_points_down() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut all = Vec::new();
        files(&src, &mut all);
        let mut edges = 0;
        for path in all {
            let rel = path.strip_prefix(&src).unwrap();
            let first = rel.iter().next().unwrap().to_string_lossy();
            let module = first.trim_end_matches(".rs");
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for used in uses(&text) {
                if used == module {
                    continue;
                }
                edges += 1;
                assert!(
                    layer(&used) < layer(module),
                    "{}: {module} uses {used}, which is not below it",
                    rel.display()
                );
            }
        }
        assert!(edges > 50, "{edges}");
    }

    #[test]
    fn every_module_has_a_layer() {
        let lib = include_str!("lib.rs");
        for line in lib.lines() {
            if let Some(m) = line.strip_prefix("pub mod ") {
                layer(m.trim_end_matches(';'));
            }
        }
    }
}
