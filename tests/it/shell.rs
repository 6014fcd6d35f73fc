//! Commands on stdin (a pipe, as in scripts): replies on stdout, errors as
//! one line, stop replies once down, EOF keeps the supervisor running.

use crate::harness::*;

const TWO: &str = "tasks:\n  a:\n    command: sleep 1000\n    successfulStartTimeout: 0\n  b:\n    command: sleep 1000\n    autoLaunch: false\n";

#[test]
fn status_and_errors_on_stdin() {
    let mut sup = Sup::start_shell("shell-status", TWO);
    sup.running_pid("a");
    sup.send("status");
    sup.wait_stdout("Task", secs(5));
    wait_until(secs(5), "the rows", || {
        let out = sup.out_text();
        out.lines()
            .any(|l| l.starts_with("a ") && l.contains("RUNNING"))
            && out
                .lines()
                .any(|l| l.starts_with("b ") && l.contains("STOPPED"))
    });
    let header = sup
        .out_text()
        .lines()
        .find(|l| l.starts_with("Task"))
        .unwrap()
        .to_string();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["Task", "Status", "PID", "Uptime", "Restarts", "Command"]
    );
    sup.send("frobnicate");
    sup.wait_stdout(
        "error: unknown command 'frobnicate' (try 'help')\n",
        secs(5),
    );
    sup.send("start nosuch");
    sup.wait_stdout("error: no such process or task: 'nosuch'\n", secs(5));
    assert!(
        !sup.out_text().contains("Taskmaster> "),
        "no prompt on a pipe"
    );
    sup.send("help");
    sup.wait_stdout("logs [-f] [--stdout|--stderr] NAME|all [N]", secs(5));
}

#[test]
fn stop_reply_comes_when_down_and_next_commands_wait() {
    let mut sup = Sup::start_shell(
        "shell-stop",
        "tasks:\n  slow:\n    command: sh -c 'trap \"sleep 0.5; exit 0\" TERM; while true; do sleep 0.05; done'\n    successfulStartTimeout: 0\n",
    );
    let pid = sup.running_pid("slow");
    wait_for_trap(pid, libc::SIGTERM);
    sup.send("stop slow");
    sup.send("start slow");
    sup.wait_stdout("Process 'slow' started with PID", secs(10));
    let out = sup.out_text();
    let stopped = out.find("Process 'slow' stopped").expect("stop reply");
    let started = out.find("Process 'slow' started").unwrap();
    assert!(stopped < started, "{out}");
    assert!(!alive(pid));
}

#[test]
fn eof_on_a_pipe_keeps_supervising() {
    let mut sup = Sup::start_shell("shell-eof", TWO);
    let pid = sup.running_pid("a");
    sup.close_stdin();
    // Still controllable over the socket, processes untouched.
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(sup.try_exit().is_none(), "exited on EOF");
    assert_eq!(sup.running_pid("a"), pid);
    sup.ok("start b");
    sup.running_pid("b");
}

#[test]
fn shutdown_from_the_shell() {
    let mut sup = Sup::start_shell(TWO.len().to_string().as_str(), TWO);
    let pid = sup.running_pid("a");
    sup.send("quit");
    assert_eq!(sup.wait_exit(secs(10)), 0);
    assert!(!alive(pid));
}
