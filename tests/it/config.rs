//! The configuration file through the real binary: hostile files (deep
//! nesting, oversize, alias and merge-key bombs) are refused at start and
//! at reload with one clear error, while the running processes and the
//! control socket carry on.

use std::process::{Command, Stdio};

use crate::harness::*;

/// `--check FILE` in `dir`: exit code and stderr.
fn check(dir: &std::path::Path, file: &str) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["--check", file])
        .current_dir(dir)
        .env_remove("TASKMASTER_SOCKET")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Hostile files, each about 200 KB, with the error each must give.
fn hostile() -> Vec<(&'static str, String, &'static str)> {
    let n = 200_000;
    let block: String = (0..630).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    let mut laughs = "x-0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n".to_string();
    for i in 1..4000 {
        laughs.push_str(&format!(
            "x-{i}: &a{i} [*a{0}, *a{0}, *a{0}, *a{0}, *a{0}]\n",
            i - 1
        ));
    }
    laughs.push_str("tasks:\n  t: {command: x, expectedExitCodes: *a3999}\n");
    let wide: Vec<String> = (0..5000).map(|i| format!("k{i}: 1")).collect();
    let mut merges = format!("x-base: &b {{{}}}\n", wide.join(", "));
    for i in 0..8000 {
        merges.push_str(&format!("x-{i}: {{<<: *b}}\n"));
    }
    merges.push_str("tasks: {}\n");
    vec![
        (
            "flow.yaml",
            "[".repeat(n),
            "flow.yaml:1:256: recursion limit exceeded",
        ),
        (
            "flowmap.yaml",
            format!("tasks: {}", "{a: ".repeat(n / 4)),
            "flowmap.yaml:1:",
        ),
        (
            "block.yaml",
            block,
            "block.yaml:65:65: nested deeper than 64 levels",
        ),
        (
            "seq.yaml",
            "- ".repeat(n / 2),
            "seq.yaml:1:129: nested deeper than 64 levels",
        ),
        (
            "laughs.yaml",
            laughs,
            "laughs.yaml:4002:19: tasks.t.expectedExitCodes: expected an exit code 0 to 255, found a list",
        ),
        (
            "merges.yaml",
            merges,
            "merges.yaml:202:9: merge keys copy more than 1000000 entries",
        ),
    ]
}

#[test]
fn issue_10_hostile_files_are_refused_at_start() {
    let dir = test_dir("config-hostile");
    for (file, text, error) in hostile() {
        assert!(text.len() >= 150_000, "{file}: {}", text.len());
        std::fs::write(dir.join(file), &text).unwrap();
        let (code, err) = check(&dir, file);
        assert_eq!(code, 2, "{file}: {err}");
        assert!(err.starts_with(error), "{file}: {err}");
        assert!(err.lines().count() <= 2, "{file}: {err}");
    }
    // Over 16 MiB: refused before parsing.
    let big = dir.join("big.yaml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len((16 << 20) + 1).unwrap();
    let (code, err) = check(&dir, "big.yaml");
    assert_eq!(code, 2);
    assert_eq!(err.trim_end(), "big.yaml: file is larger than 16 MiB");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn issue_10_hostile_files_at_reload_change_nothing_and_status_answers() {
    let sup = Sup::start(
        "config-hostile-reload",
        "tasks:\n  keep:\n    command: sleep 1000\n    successfulStartTimeout: 0\n",
    );
    let pid = sup.running_pid("keep");
    for (file, text, error) in hostile() {
        std::fs::write(&sup.config, &text).unwrap();
        let (code, _, err) = sup.ctl(&["reload"]);
        assert_eq!(code, 1, "{file}: {err}");
        let expected = error.replacen(file, "taskmaster.yaml", 1);
        assert!(err.contains(&expected), "{file}: {err}");
        // The loop is free again at once: status answers, nothing moved.
        let (code, out, _) = sup.ctl(&["status"]);
        assert_eq!(code, 0, "{file}");
        assert!(out.contains("keep"), "{out}");
        assert_eq!(sup.running_pid("keep"), pid, "{file}");
    }
    assert!(alive(pid));
}
