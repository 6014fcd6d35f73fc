//! The shell on a real terminal: each test runs the binary in a pane of its
//! own tmux server (`tmux -L <unique>`), types with send-keys and reads the
//! screen with capture-pane. A script in the pane records `stty -g` and the
//! terminal's file flags before and after taskmaster, and its exit status.
//! On drop the supervisor, its children and the tmux server are killed by
//! pid.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

static SERVERS: AtomicUsize = AtomicUsize::new(0);

/// taskmaster in a tmux pane.
struct Pane {
    server: String,
    dir: PathBuf,
    socket: PathBuf,
    pid: i32,
    server_pid: i32,
    /// The tmux server's socket file, removed at the end.
    server_socket: Option<PathBuf>,
    children: Vec<i32>,
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl Pane {
    /// Starts taskmaster on `yaml` in a 100x30 pane with `env` exported, and
    /// waits for its prompt.
    fn start(name: &str, yaml: &str, env: &[(&str, &str)]) -> Pane {
        let dir = test_dir(&format!("term-{name}"));
        let d = dir.to_str().unwrap().to_string();
        let config = dir.join("taskmaster.yaml");
        std::fs::write(&config, yaml.replace("$DIR", &d)).unwrap();
        let socket = dir.join("tm.sock");
        let mut exports = String::new();
        for (k, v) in env {
            exports.push_str(&format!("export {k}={}\n", sh_quote(v)));
        }
        let q = |rel: &str| sh_quote(&format!("{d}/{rel}"));
        let script = format!(
            "unset NO_COLOR\n\
             export TASKMASTER_HISTORY={hist}\n\
             {exports}\
             stty -g > {sb}\n\
             grep flags /proc/self/fdinfo/0 > {fb}\n\
             {bin} --socket {sock} {config}\n\
             code=$?\n\
             stty -g > {sa}\n\
             grep flags /proc/self/fdinfo/0 > {fa}\n\
             echo $code > {exit}.tmp && mv {exit}.tmp {exit}\n",
            hist = q("history"),
            sb = q("stty.before"),
            fb = q("flags.before"),
            bin = sh_quote(BIN),
            sock = sh_quote(socket.to_str().unwrap()),
            config = sh_quote(config.to_str().unwrap()),
            sa = q("stty.after"),
            fa = q("flags.after"),
            exit = q("exit"),
        );
        std::fs::write(dir.join("run.sh"), script).unwrap();
        // The pane stays after the script ends, so its last screen can be read.
        std::fs::write(dir.join("tmux.conf"), "set -g remain-on-exit on\n").unwrap();
        let n = SERVERS.fetch_add(1, Ordering::SeqCst);
        let server = format!("tm-it-{}-{n}", std::process::id());
        let mut pane = Pane {
            server,
            dir,
            socket,
            pid: 0,
            server_pid: 0,
            server_socket: None,
            children: Vec::new(),
        };
        let conf = pane.dir.join("tmux.conf");
        let run = pane.dir.join("run.sh");
        let ok = pane
            .tmux_cmd()
            .arg("-f")
            .arg(&conf)
            .args(["new-session", "-d", "-s", "t", "-x", "100", "-y", "30"])
            .arg(format!("sh {}", run.display()))
            .status()
            .expect("run tmux")
            .success();
        assert!(ok, "tmux new-session failed");
        let server = pane.tmux(&["display-message", "-p", "-t", "t", "#{pid} #{socket_path}"]);
        let (pid, path) = server
            .trim()
            .split_once(' ')
            .expect("tmux server pid and socket");
        pane.server_pid = pid.parse().expect("tmux server pid");
        pane.server_socket = Some(PathBuf::from(path));
        wait_until(secs(10), "the control socket", || {
            UnixStream::connect(&pane.socket).is_ok()
        });
        pane.pid = pane.cmd("pid").1.parse().expect("supervisor pid");
        pane.wait_row("Taskmaster>");
        pane
    }

    fn tmux_cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.env_remove("TMUX").args(["-L", &self.server]);
        c
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = self.tmux_cmd().args(args).output().expect("run tmux");
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Keys by tmux name (`Enter`, `C-c`, `Up`, `Tab`...).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend(keys);
        self.tmux(&args);
    }

    /// Literal text.
    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "t", "-l", text]);
    }

    /// The screen and its scrollback, wrapped lines joined, trailing blank
    /// lines dropped.
    fn screen(&self) -> String {
        let s = self.tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", "t"]);
        s.trim_end().to_string()
    }

    /// The screen with its colours as escape sequences.
    fn screen_escapes(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-e", "-t", "t"])
    }

    /// The row the cursor is on, and the cursor's column.
    fn cursor_row(&self) -> (String, usize) {
        let pos = self.tmux(&[
            "display-message",
            "-p",
            "-t",
            "t",
            "#{cursor_x} #{cursor_y}",
        ]);
        let (x, y) = pos.trim().split_once(' ').unwrap();
        let y: usize = y.parse().unwrap();
        let rows = self.tmux(&["capture-pane", "-p", "-t", "t"]);
        let row = rows.lines().nth(y).unwrap_or("").trim_end().to_string();
        (row, x.parse().unwrap())
    }

    fn wait_screen(&self, what: &str, f: impl Fn(&str) -> bool) {
        let deadline = std::time::Instant::now() + secs(10);
        loop {
            let s = self.screen();
            if f(&s) {
                return;
            }
            if std::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the cursor's row to be exactly `row`.
    fn wait_row(&self, row: &str) {
        let deadline = std::time::Instant::now() + secs(10);
        loop {
            let (r, _) = self.cursor_row();
            if r == row {
                return;
            }
            if std::time::Instant::now() > deadline {
                panic!(
                    "timed out waiting for row {row:?}; got {r:?}; screen:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// One command over the control socket: (success, reply).
    fn cmd(&self, line: &str) -> (bool, String) {
        let mut s = UnixStream::connect(&self.socket).expect("connect");
        s.write_all(format!("{line}\n").as_bytes()).unwrap();
        let reply = read_reply(&mut s, &format!("'{line}'"));
        let (status, text) = reply.split_once('\n').unwrap_or((&reply, ""));
        (status == "0", text.trim_end().to_string())
    }

    /// `status --json` rows; remembers the pids for cleanup.
    fn status(&mut self) -> Vec<Value> {
        let (ok, text) = self.cmd("status --json");
        assert!(ok, "{text}");
        let rows: Vec<Value> = serde_json::from_str(&text).unwrap();
        for r in &rows {
            if let Some(p) = r["pid"].as_i64() {
                self.children.push(p as i32);
            }
        }
        rows
    }

    fn state(&mut self, name: &str) -> String {
        let rows = self.status();
        let row = rows.iter().find(|r| r["name"] == name).expect("process");
        row["state"].as_str().unwrap().to_string()
    }

    fn wait_running(&mut self, names: &[&str]) {
        wait_until(secs(10), "processes RUNNING", || {
            names.iter().all(|n| self.state(n) == "RUNNING")
        });
    }

    fn file(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.join(rel)).ok()
    }

    /// Waits for taskmaster to exit; its status as the script saw it.
    fn wait_exit(&self) -> i32 {
        wait_for(secs(10), "taskmaster to exit", || {
            self.file("exit").map(|s| s.trim().parse().unwrap())
        })
    }

    /// The terminal's settings and flags were the same after as before.
    fn assert_terminal_restored(&self) {
        wait_until(secs(5), "the script's last records", || {
            self.file("flags.after").is_some_and(|f| f.contains('\n'))
        });
        let before = self.file("stty.before").unwrap();
        assert!(!before.trim().is_empty());
        assert_eq!(self.file("stty.after").unwrap(), before, "stty -g differs");
        assert_eq!(
            self.file("flags.after").unwrap(),
            self.file("flags.before").unwrap(),
            "file flags (O_NONBLOCK) differ"
        );
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        if self.pid > 1 && alive(self.pid) {
            if let Ok(mut s) = UnixStream::connect(&self.socket) {
                let _ = s.set_read_timeout(Some(secs(2)));
                let _ = s.write_all(b"status --json\n");
                let mut reply = String::new();
                let _ = s.read_to_string(&mut reply);
                if let Some((_, json)) = reply.split_once('\n')
                    && let Ok(Value::Array(rows)) = serde_json::from_str::<Value>(json)
                {
                    let pids = rows.iter().filter_map(|r| r["pid"].as_i64());
                    self.children.extend(pids.map(|p| p as i32));
                }
            }
            kill(self.pid, libc::SIGKILL);
        }
        for &p in &self.children {
            if p > 1 {
                kill(-p, libc::SIGKILL);
                kill(p, libc::SIGKILL);
            }
        }
        let _ = self.tmux_cmd().arg("kill-server").status();
        if self.server_pid > 1 && alive(self.server_pid) {
            kill(self.server_pid, libc::SIGKILL);
        }
        if let Some(path) = &self.server_socket {
            let _ = std::fs::remove_file(path);
        }
        remove_test_dir(&self.dir);
    }
}

const TASKS: &str = "tasks:\n  web:\n    command: sleep 1000\n    instances: 2\n    successfulStartTimeout: 0\n  worker:\n    command: sleep 1000\n    successfulStartTimeout: 0\n  idle:\n    command: sleep 1000\n    autoLaunch: false\n";

#[test]
fn status_reply_in_colour_with_aligned_columns() {
    let mut p = Pane::start("colour", TASKS, &[]);
    p.wait_running(&["web_1", "web_2", "worker"]);
    p.type_text("status");
    p.keys(&["Enter"]);
    p.wait_screen("the status table", |s| {
        s.lines()
            .any(|l| l.starts_with("worker") && l.contains("RUNNING"))
    });
    let screen = p.screen();
    let header = screen.lines().find(|l| l.starts_with("Task ")).unwrap();
    let idle = screen.lines().find(|l| l.starts_with("idle")).unwrap();
    let web = screen.lines().find(|l| l.starts_with("web_1")).unwrap();
    let col = header.find("Status").unwrap_or_else(|| panic!("{screen}"));
    assert_eq!(idle.find("STOPPED"), Some(col), "{screen}");
    assert_eq!(web.find("RUNNING"), Some(col), "{screen}");
    assert_eq!(idle.find('-'), header.find("PID"), "{screen}");
    let esc = p.screen_escapes();
    assert!(esc.contains("\x1b[32mRUNNING"), "green RUNNING: {esc:?}");
    assert!(esc.contains("\x1b[2mSTOPPED"), "dim STOPPED: {esc:?}");
    // The prompt is back, and the socket's reply never has colour.
    p.wait_row("Taskmaster>");
    let (ok, text) = p.cmd("status");
    assert!(
        ok && text.contains("RUNNING") && !text.contains('\x1b'),
        "{text:?}"
    );
}

#[test]
fn tab_completes_names_and_lists_on_the_second_tab() {
    let mut p = Pane::start("tab", TASKS, &[]);
    p.wait_running(&["worker"]);
    p.type_text("sto");
    p.keys(&["Tab"]);
    p.type_text("wo");
    p.keys(&["Tab"]);
    p.wait_row("Taskmaster> stop worker");
    p.keys(&["Enter"]);
    p.wait_screen("the stop reply", |s| s.contains("Process 'worker' stopped"));
    assert_eq!(p.state("worker"), "STOPPED");
    p.type_text("start w");
    p.keys(&["Tab", "Tab"]);
    p.wait_screen("the listing", |s| {
        s.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w == ["web", "web_1", "web_2", "worker"]
        })
    });
    p.wait_row("Taskmaster> start w");
    p.type_text("or");
    p.keys(&["Tab", "Enter"]);
    p.wait_screen("the start reply", |s| {
        s.contains("Process 'worker' started with PID")
    });
}

#[test]
fn history_recall_search_and_file() {
    let p = Pane::start("history", TASKS, &[("NO_COLOR", "1")]);
    let pid = p.pid.to_string();
    p.type_text("pid");
    p.keys(&["Enter"]);
    p.wait_screen("the pid reply", |s| s.lines().any(|l| l == pid));
    // Not recorded: a leading space.
    p.type_text(" status");
    p.keys(&["Enter"]);
    p.wait_screen("the status reply", |s| s.contains("Task "));
    p.keys(&["Up"]);
    p.wait_row("Taskmaster> pid");
    p.keys(&["Enter"]);
    p.wait_screen("a second pid reply", |s| {
        s.lines().filter(|l| *l == pid).count() == 2
    });
    p.type_text("half");
    p.keys(&["C-r"]);
    p.type_text("pi");
    p.wait_row("(reverse-i-search)'pi': pid");
    p.keys(&["C-g"]);
    p.wait_row("Taskmaster> half");
    // No colour with NO_COLOR.
    assert!(!p.screen_escapes().contains("\x1b[32m"));
    p.keys(&["C-u", "C-d"]);
    assert_eq!(p.wait_exit(), 0);
    let hist = p.file("history").unwrap();
    assert_eq!(
        hist, "pid\n",
        "one entry, repeats collapsed, ' status' kept out"
    );
}

#[test]
fn ctrl_c_clears_a_half_line_and_kills_nothing() {
    let mut p = Pane::start("ctrl-c", TASKS, &[]);
    p.wait_running(&["worker"]);
    let rows = p.status();
    let worker = rows.iter().find(|r| r["name"] == "worker").unwrap()["pid"].to_string();
    p.type_text("stop wor");
    p.keys(&["C-c"]);
    p.wait_screen("^C", |s| s.contains("Taskmaster> stop wor^C"));
    p.wait_row("Taskmaster>");
    p.type_text("pid worker");
    p.keys(&["Enter"]);
    p.wait_screen("the pid of worker", |s| s.lines().any(|l| l == worker));
    assert!(alive(p.pid), "the supervisor survives Ctrl-C");
    assert_eq!(p.state("worker"), "RUNNING");
}

#[test]
fn fatal_notice_while_typing_keeps_the_line() {
    let yaml = "tasks:\n  bad:\n    command: sh -c 'while [ ! -e $DIR/go ]; do sleep 0.02; done; exit 3'\n    successfulStartTimeout: 30\n    restartsAttempts: 0\n  worker:\n    command: sleep 1000\n    successfulStartTimeout: 0\n";
    let mut p = Pane::start("notice", yaml, &[]);
    p.wait_running(&["worker"]);
    p.type_text("status wor");
    p.keys(&["Left", "Left"]);
    p.wait_row("Taskmaster> status wor");
    std::fs::write(p.dir.join("go"), "").unwrap();
    p.wait_screen("the FATAL notice", |s| s.contains("'bad' is FATAL"));
    let screen = p.screen();
    let lines: Vec<&str> = screen.lines().collect();
    let notice = lines
        .iter()
        .position(|l| l.contains("'bad' is FATAL"))
        .unwrap();
    assert_eq!(
        lines.get(notice + 1),
        Some(&"Taskmaster> status wor"),
        "the prompt and typed text are redrawn below the notice:\n{screen}"
    );
    assert_eq!(
        p.cursor_row(),
        ("Taskmaster> status wor".into(), 20),
        "cursor kept"
    );
    p.keys(&["End"]);
    p.type_text("ker");
    p.keys(&["Enter"]);
    p.wait_screen("the status of worker", |s| {
        s.lines()
            .any(|l| l.starts_with("worker") && l.contains("RUNNING"))
    });
}

#[test]
fn a_burst_of_notices_lands_whole_above_the_line_being_typed() {
    // Thirty exits reaped together: their notices go out in one loop
    // turn, the prompt and the half-typed line redrawn once below them.
    let yaml = "tasks:\n  w:\n    command: sleep 1000\n    instances: 30\n    successfulStartTimeout: 0\n    restart: never\n";
    let mut p = Pane::start("burst", yaml, &[]);
    let names: Vec<String> = (1..=30).map(|i| format!("w_{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    p.wait_running(&refs);
    let pids: Vec<i32> = p
        .status()
        .iter()
        .map(|r| r["pid"].as_i64().unwrap() as i32)
        .collect();
    p.type_text("status w_1");
    p.keys(&["Left", "Left"]);
    p.wait_row("Taskmaster> status w_1");
    for pid in pids {
        kill(pid, libc::SIGKILL);
    }
    let notice = |n: &str| format!("taskmaster: '{n}' exited (killed by SIGKILL)");
    p.wait_screen("thirty notices", |s| {
        names.iter().all(|n| s.lines().any(|l| l == notice(n)))
    });
    p.wait_row("Taskmaster> status w_1");
    let screen = p.screen();
    let lines: Vec<&str> = screen.lines().filter(|l| !l.is_empty()).collect();
    for n in &names {
        let seen = lines.iter().filter(|l| **l == notice(n)).count();
        assert_eq!(
            seen, 1,
            "{n}, each notice whole on a line of its own:\n{screen}"
        );
    }
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("Taskmaster>"))
            .count(),
        1,
        "no prompt left among the notices:\n{screen}"
    );
    assert_eq!(lines.last(), Some(&"Taskmaster> status w_1"), "{screen}");
    assert_eq!(
        p.cursor_row(),
        ("Taskmaster> status w_1".into(), 20),
        "cursor kept"
    );
    p.keys(&["End"]);
    p.type_text("0");
    p.keys(&["Enter"]);
    p.wait_screen("the status of w_10", |s| {
        s.lines()
            .any(|l| l.starts_with("w_10 ") && l.contains("EXITED"))
    });
}

#[test]
fn late_stop_reply_lands_above_the_line_and_queued_lines_follow() {
    let yaml = "tasks:\n  slow:\n    command: sh -c 'trap \"while [ ! -e $DIR/release ]; do sleep 0.02; done; exit 0\" TERM; while true; do sleep 0.05; done'\n    successfulStartTimeout: 0\n";
    let mut p = Pane::start("late-reply", yaml, &[]);
    p.wait_running(&["slow"]);
    p.type_text("stop slow");
    p.keys(&["Enter"]);
    // The prompt is back while the stop waits.
    wait_until(secs(10), "slow STOPPING", || p.state("slow") == "STOPPING");
    p.wait_row("Taskmaster>");
    // Entered now, run after the stop's reply.
    p.type_text("pid");
    p.keys(&["Enter"]);
    p.wait_row("Taskmaster>");
    p.type_text("sta");
    p.wait_row("Taskmaster> sta");
    std::fs::write(p.dir.join("release"), "").unwrap();
    let pid = p.pid.to_string();
    p.wait_screen("the stop reply and the queued pid", |s| {
        s.lines().any(|l| l == pid)
    });
    let screen = p.screen();
    let lines: Vec<&str> = screen.lines().collect();
    let stopped = lines.iter().position(|l| *l == "Process 'slow' stopped");
    let pid_at = lines.iter().position(|l| *l == pid);
    assert!(stopped.is_some() && stopped < pid_at, "in order:\n{screen}");
    assert_eq!(
        lines.last(),
        Some(&"Taskmaster> sta"),
        "typed text intact:\n{screen}"
    );
    assert_eq!(p.cursor_row(), ("Taskmaster> sta".into(), 15));
}

#[test]
fn long_line_scrolls_resizes_and_runs_whole() {
    let p = Pane::start("long", TASKS, &[]);
    let name = "x".repeat(150);
    p.type_text(&format!("pid {name}"));
    p.wait_row(&format!("Taskmaster> {}", &name[..87]));
    p.tmux(&["resize-window", "-t", "t", "-x", "40"]);
    p.wait_row(&format!("Taskmaster> {}", &name[..27]));
    let (_, col) = p.cursor_row();
    assert!(col < 40, "cursor inside the narrow row");
    p.keys(&["Enter"]);
    p.wait_screen("the whole line's reply", |s| {
        s.contains(&format!("error: no such process or task: '{name}'"))
    });
}

#[test]
fn ctrl_d_on_an_empty_line_shuts_down_and_restores_the_terminal() {
    let mut p = Pane::start("ctrl-d", TASKS, &[]);
    p.wait_running(&["web_1", "web_2", "worker"]);
    let pids: Vec<i32> = p
        .status()
        .iter()
        .filter_map(|r| r["pid"].as_i64())
        .map(|x| x as i32)
        .collect();
    assert_eq!(pids.len(), 3);
    // On a non-empty line Ctrl-D deletes (here: nothing, at the end).
    p.type_text("x");
    p.keys(&["C-d"]);
    p.wait_row("Taskmaster> x");
    assert!(alive(p.pid));
    p.keys(&["BSpace", "C-d"]);
    assert_eq!(p.wait_exit(), 0);
    p.assert_terminal_restored();
    assert!(
        p.screen()
            .contains("Taskmaster> shutdown\nShutting down..."),
        "{}",
        p.screen()
    );
    for pid in pids {
        assert!(!alive(pid), "child {pid} outlived the supervisor");
    }
}

#[test]
fn sigterm_mid_line_restores_the_terminal() {
    let p = Pane::start("sigterm", TASKS, &[]);
    p.type_text("sta");
    p.wait_row("Taskmaster> sta");
    kill(p.pid, libc::SIGTERM);
    assert_eq!(p.wait_exit(), 0);
    p.assert_terminal_restored();
}

#[test]
fn issue_10_logs_shows_escape_sequences_from_a_process_as_text() {
    let p = Pane::start(
        "escape-logs",
        "tasks:\n  evil:\n    command: printf 'before\\033[2J\\033]0;pwned\\007after\\n'\n    restart: never\n    successfulStartTimeout: 0\n",
        &[],
    );
    wait_until(secs(10), "the line in the ring", || {
        p.cmd("logs evil").1.contains("after")
    });
    p.type_text("logs evil");
    p.keys(&["Enter"]);
    p.wait_screen("the escaped line", |s| {
        s.contains("before\\x1b[2J\\x1b]0;pwned\\x07after")
    });
    let title = p.tmux(&["display-message", "-p", "-t", "t", "#{pane_title}"]);
    assert!(!title.contains("pwned"), "retitled: {title}");
    // The screen was not cleared: what came before the reply is still there.
    assert!(
        p.screen().contains("Taskmaster> logs evil"),
        "{}",
        p.screen()
    );
}

#[test]
fn logs_follow_in_the_shell_until_ctrl_c_while_the_editor_works() {
    let yaml = "tasks:\n  talk:\n    command: sh -c 'trap \"echo ping-$$\" USR1; echo hello; while true; do sleep 0.05; done'\n    successfulStartTimeout: 0\n  bad:\n    command: sh -c 'while [ ! -e $DIR/go ]; do sleep 0.02; done; exit 3'\n    successfulStartTimeout: 30\n    restartsAttempts: 0\n";
    let mut p = Pane::start("follow", yaml, &[]);
    p.wait_running(&["talk"]);
    let pid = p.status().iter().find(|r| r["name"] == "talk").unwrap()["pid"]
        .as_i64()
        .unwrap() as i32;
    wait_for_trap(pid, libc::SIGUSR1);
    wait_until(secs(10), "hello kept", || {
        p.cmd("logs talk").1.contains("hello")
    });
    p.type_text("logs -f talk");
    p.keys(&["Enter"]);
    p.wait_screen("the kept line", |s| {
        s.lines().any(|l| l.ends_with("] hello"))
    });
    let ping = format!("] ping-{pid}");
    kill(pid, libc::SIGUSR1);
    p.wait_screen("a new line", |s| s.lines().any(|l| l.ends_with(&ping)));
    // The line editor keeps working while following: typed text stays
    // below the lines that arrive, and so do notices.
    p.type_text("pid tal");
    p.wait_row("Taskmaster> pid tal");
    kill(pid, libc::SIGUSR1);
    p.wait_screen("a second line", |s| {
        s.lines().filter(|l| l.ends_with(&ping)).count() == 2
    });
    std::fs::write(p.dir.join("go"), "").unwrap();
    p.wait_screen("the FATAL notice", |s| s.contains("'bad' is FATAL"));
    assert_eq!(p.cursor_row(), ("Taskmaster> pid tal".into(), 19));
    // Ctrl-C ends the follow (and drops the half-typed line); the prompt
    // is back and commands run again.
    p.keys(&["C-c"]);
    p.wait_row("Taskmaster>");
    kill(pid, libc::SIGUSR1);
    wait_until(secs(10), "the third line kept", || {
        p.cmd("logs talk").1.matches("ping-").count() == 3
    });
    p.type_text("pid talk");
    p.keys(&["Enter"]);
    p.wait_screen("the reply of pid", |s| {
        s.lines().any(|l| l == pid.to_string())
    });
    let screen = p.screen();
    assert_eq!(
        screen.lines().filter(|l| l.ends_with(&ping)).count(),
        2,
        "nothing printed after Ctrl-C:\n{screen}"
    );
    assert!(alive(p.pid), "Ctrl-C does not stop the supervisor");
}
