//! Streaming through a pipe the client attached: `ctl logs -f` sends the
//! write end of a pipe with its command (SCM_RIGHTS) and reads the lines
//! there, which lets the supervisor give one block to many followers with
//! `tee(2)`; any other client, or a client that attaches anything but a
//! pipe's write end, gets the lines on the socket. Also: a flooding
//! process's pipe grows (for 16 at a time at most), and a following `ctl`
//! runs as SCHED_BATCH.

use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::*;

/// A real client in Python: connects, sends `logs -f w 0` with the fd that
/// MODE says attached (`pipe`: a pipe's write end; `readend`: its read
/// end; `file`: FILE opened for writing; `none`), prints the first reply
/// line, then copies the stream from wherever it comes: the pipe after
/// `0 pipe`, else the socket. `closeread` attaches a pipe, closes its read
/// end after the first line, waits on the socket and says when that ends.
const CLIENT: &str = r#"
import os, socket, sys
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
r = w = None
if mode in ("pipe", "readend", "closeread"):
    r, w = os.pipe()
fds = {"pipe": [w], "closeread": [w], "readend": [r], "none": []}.get(mode)
if mode == "file":
    fds = [os.open(sys.argv[3], os.O_WRONLY | os.O_CREAT, 0o600)]
socket.send_fds(s, [b"logs -f w 0\n"], fds)
if mode in ("pipe", "closeread"):
    os.close(w)
head = b""
while not head.endswith(b"\n"):
    b = s.recv(1)
    if not b:
        break
    head += b
out = sys.stdout.buffer
out.write(b"head=" + head)
out.flush()
if mode == "closeread":
    # Gone from the pipe, not from the socket.
    os.close(r)
    out.write(b"closed\n")
    out.flush()
    s.recv(1)
    out.write(b"socket closed\n")
    out.flush()
    import time
    time.sleep(1000)
while True:
    d = os.read(r, 65536) if head == b"0 pipe\n" else s.recv(65536)
    if not d:
        break
    out.write(d)
    out.flush()
"#;

const TALKER: &str = "tasks:
  w:
    command: sh -c 'trap \"echo said-$$\" USR1; while true; do sleep 0.05; done'
    successfulStartTimeout: 0
";

#[test]
fn a_pipe_write_end_carries_the_stream_anything_else_leaves_it_on_the_socket() {
    let sup = Sup::start("fanout-peers", TALKER);
    let pid = sup.running_pid("w");
    wait_for_trap(pid, libc::SIGUSR1);
    let client = sup.path("client.py");
    std::fs::write(&client, CLIENT).unwrap();
    let file = sup.path("attached");
    let peer = |mode: &str| {
        Captured::start(
            Command::new("python3")
                .arg(&client)
                .arg(&sup.socket)
                .arg(mode)
                .arg(&file),
        )
    };
    let peers: Vec<(&str, Captured)> = ["pipe", "readend", "file", "none"]
        .into_iter()
        .map(|m| (m, peer(m)))
        .collect();
    for (mode, p) in &peers {
        let head = if *mode == "pipe" { "0 pipe" } else { "0" };
        wait_until(secs(10), &format!("{mode}: the reply head"), || {
            p.text().starts_with(&format!("head={head}\n"))
        });
    }
    kill(pid, libc::SIGUSR1);
    for (mode, p) in &peers {
        wait_until(secs(10), &format!("{mode}: the line"), || {
            p.text().contains(&format!("] said-{pid}\n"))
        });
    }
    assert_eq!(
        std::fs::read(&file).unwrap(),
        b"",
        "a file attached is never written"
    );
    // The supervisor is unharmed and lets go of each client that leaves.
    assert!(sup.ok("status").contains("RUNNING"));
}

#[test]
fn a_client_that_closes_its_pipe_is_let_go_at_once() {
    let sup = Sup::start("fanout-closeread", TALKER);
    sup.wait_state("w", "RUNNING", secs(10));
    let fds = || open_fds(sup.pid());
    let before = fds();
    let client = sup.path("client.py");
    std::fs::write(&client, CLIENT).unwrap();
    let peer = Captured::start(
        Command::new("python3")
            .arg(&client)
            .arg(&sup.socket)
            .arg("closeread"),
    );
    wait_until(secs(10), "the pipe closed by the client", || {
        peer.text().starts_with("head=0 pipe\nclosed\n")
    });
    // No line comes that would find the pipe broken: its end alone tells.
    wait_until(secs(10), "the connection and the pipe let go", || {
        fds() == before
    });
    // The supervisor closed the socket; the client had not.
    wait_until(secs(10), "the socket closed by the supervisor", || {
        peer.text().ends_with("closed\nsocket closed\n")
    });
}

#[test]
fn many_followers_of_a_flood_each_get_every_line_whole_and_in_order() {
    let (sup, tools) = numbered_flood("fanout-flood", 200_000);
    // Counted once the flood's pipes are open.
    sup.wait_state("flood", "RUNNING", secs(10));
    let before = open_fds(sup.pid());
    let followers: Vec<Captured> = (0..4)
        .map(|_| Captured::ctl(&sup, &["logs", "-f", "flood", "0"]))
        .collect();
    // Every follower is in (its connection and its pipe) before the flood.
    wait_until(secs(10), "the followers connected", || {
        open_fds(sup.pid()) == before + 2 * followers.len()
    });
    std::fs::write(sup.path("go"), "").unwrap();
    for (i, f) in followers.iter().enumerate() {
        wait_until(secs(60), &format!("follower {i}: every line"), || {
            seen(&f.text(), i) == 200_000
        });
    }
    let _ = std::fs::remove_dir_all(tools);
}

#[test]
fn a_follower_writing_to_a_file_gets_every_line_whole_and_in_order() {
    // ctl moves the stream to a file it may splice to without copying it;
    // a file opened for appending takes no splice, and is written instead.
    let (sup, tools) = numbered_flood("fanout-file", 200_000);
    sup.wait_state("flood", "RUNNING", secs(10));
    let spliced = sup.path("spliced.out");
    let appended = sup.path("appended.out");
    std::fs::write(&appended, "").unwrap();
    let to = [
        std::fs::File::create(&spliced).unwrap(),
        std::fs::OpenOptions::new()
            .append(true)
            .open(&appended)
            .unwrap(),
    ];
    let followers: Vec<Captured> = to
        .into_iter()
        .map(|file| Captured::ctl_to(&sup, &["logs", "-f", "flood", "0"], file))
        .collect();
    // The supervisor holds the pipe each ctl reads the stream from.
    wait_until(secs(10), "the followers connected", || {
        let held = pipes_of(sup.pid(), 0);
        followers.iter().all(|f| {
            pipes_of(f.child.id() as i32, 3)
                .iter()
                .any(|p| held.contains(p))
        })
    });
    std::fs::write(sup.path("go"), "").unwrap();
    for (i, path) in [&spliced, &appended].into_iter().enumerate() {
        wait_until(secs(60), &format!("{}: every line", path.display()), || {
            let text = std::fs::read(path).unwrap();
            seen(&String::from_utf8_lossy(&text), i) == 200_000
        });
    }
    // The last line comes alone, and reaches the file at once.
    std::fs::write(sup.path("more"), "").unwrap();
    for (i, path) in [&spliced, &appended].into_iter().enumerate() {
        wait_until(
            secs(10),
            &format!("{}: the last line", path.display()),
            || {
                let text = std::fs::read(path).unwrap();
                seen(&String::from_utf8_lossy(&text), i) == 200_001
            },
        );
    }
    // The first moved the stream without reading it: fewer reads than
    // the stream has blocks of ctl's read buffer (256 KiB), which a copy
    // takes at least; the second read it.
    let blocks = std::fs::metadata(&spliced).unwrap().len() / (256 * 1024);
    let reads: Vec<u64> = followers
        .iter()
        .map(|f| read_syscalls(f.child.id() as i32))
        .collect();
    assert!(
        reads[0] < blocks,
        "spliced: {} reads, {blocks} blocks",
        reads[0]
    );
    assert!(
        reads[1] >= blocks,
        "copied: {} reads, {blocks} blocks",
        reads[1]
    );
    // Neither gave up on its file.
    for mut f in followers {
        assert!(f.child.try_wait().unwrap().is_none(), "ctl still follows");
    }
    let _ = std::fs::remove_dir_all(tools);
}

/// The read(2)-like system calls `pid` made (`syscr` of /proc/PID/io).
fn read_syscalls(pid: i32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("syscr: "))
        .unwrap()
        .parse()
        .unwrap()
}

/// CPU time `pid` used, in clock ticks (utime + stime of /proc/PID/stat).
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // utime and stime are fields 14 and 15; the first here is field 3.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn a_follower_whose_stdout_is_a_full_non_blocking_pipe_waits_for_room() {
    // Its reader made the pipe they share non-blocking, then read nothing
    // for a while: ctl waits for room instead of taking the full pipe for
    // a reader that is gone.
    let (sup, tools) = numbered_flood("fanout-nonblock", 200_000);
    sup.wait_state("flood", "RUNNING", secs(10));
    let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::NONBLOCK).unwrap();
    let mut ctl = Captured::ctl_to(&sup, &["logs", "-f", "flood", "0"], std::fs::File::from(w));
    let pid = ctl.child.id() as i32;
    // The supervisor holds the pipe ctl reads the stream from.
    wait_until(secs(10), "ctl following", || {
        let ours = pipes_of(pid, 3);
        pipes_of(sup.pid(), 0).iter().any(|p| ours.contains(p))
    });
    // Nothing comes yet: ctl waits for lines without spinning (a splice
    // between pipes, one of them non-blocking, does not wait for them).
    let before = cpu_ticks(pid);
    let quiet = Instant::now() + Duration::from_secs(1);
    wait_until(secs(5), "a quiet second", || Instant::now() >= quiet);
    let used = cpu_ticks(pid) - before;
    assert!(used < 20, "ctl used {used} ticks waiting for lines");
    std::fs::write(sup.path("go"), "").unwrap();
    // Far more than its stdout holds, which nobody reads meanwhile.
    wait_until(secs(60), "the flood written", || {
        sup.cmd("logs flood 1").1.contains("] 199999 ")
    });
    assert!(ctl.child.try_wait().unwrap().is_none(), "ctl still follows");
    std::fs::write(sup.path("more"), "").unwrap();
    let mut text = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    wait_until(secs(30), "every line, or its count in a marker", || {
        while let Ok(n) = rustix::io::read(&r, &mut buf) {
            if n == 0 {
                break;
            }
            text.extend_from_slice(&buf[..n]);
        }
        seen(&String::from_utf8_lossy(&text), 0) == 200_001
    });
    assert!(
        String::from_utf8_lossy(&text).contains(" lines dropped]\n"),
        "the flood overran ctl's pipe while it waited"
    );
    drop(ctl);
    let _ = std::fs::remove_dir_all(tools);
}

/// A supervisor `name` whose task `flood`, once `go` exists in the test
/// dir, writes `lines` numbered lines (`N ` and N % 300 `x`, as `seen`
/// checks them), then line `lines` once `more` exists; and the directory
/// of its script, for the caller to remove.
fn numbered_flood(name: &str, lines: u32) -> (Sup, std::path::PathBuf) {
    let tools = test_dir(&format!("{name}-tools"));
    let flood = script(
        &tools,
        "flood.py",
        "exec python3 -c '
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
def wait(f):
    while not os.path.exists(d + \"/\" + f):
        time.sleep(0.005)
wait(\"go\")
w = sys.stdout.write
for i in range(n):
    w(\"%d %s\\n\" % (i, \"x\" * (i % 300)))
sys.stdout.flush()
wait(\"more\")
w(\"%d %s\\n\" % (n, \"x\" * (n % 300)))
sys.stdout.flush()
time.sleep(1000)
' \"$@\"",
    );
    let sup = Sup::start(
        name,
        &format!(
            "tasks:\n  flood:\n    command: {} $DIR {lines}\n    successfulStartTimeout: 0\n",
            flood.display()
        ),
    );
    (sup, tools)
}

/// How many flood lines `text` accounts for (each line, or a marker's
/// count), checking that they are whole and in order.
fn seen(text: &str, follower: usize) -> u64 {
    let mut next = 0u64;
    // Only complete lines.
    let upto = text.rfind('\n').map_or(0, |i| i + 1);
    for l in text[..upto].lines() {
        if let Some(n) = l.strip_prefix("[... ") {
            next += n.split(' ').next().unwrap().parse::<u64>().unwrap();
            continue;
        }
        let b = &l[22..];
        let (n, xs) = b.split_once(' ').unwrap_or((b, ""));
        assert_eq!(n, next.to_string(), "follower {follower}: line {next}");
        assert_eq!(
            xs.len() as u64,
            next % 300,
            "follower {follower}: line {next} whole"
        );
        next += 1;
    }
    next
}

/// The pipes (`pipe:[inode]`) among the fds of `pid` from `from` on.
fn pipes_of(pid: i32, from: i32) -> Vec<String> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    fds.filter_map(|e| {
        let e = e.ok()?;
        let fd: i32 = e.file_name().to_str()?.parse().ok()?;
        let to = std::fs::read_link(e.path()).ok()?;
        let to = to.to_str()?.to_string();
        (fd >= from && to.starts_with("pipe:")).then_some(to)
    })
    .collect()
}

/// Bytes waiting in the stdout pipe of `pid`, and the pipe's size.
fn stdout_pipe(pid: i32) -> (usize, usize) {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(format!("/proc/{pid}/fd/1"))
        .unwrap();
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int; F_GETPIPE_SZ takes no argument.
    let (r, size) = unsafe {
        (
            libc::ioctl(f.as_raw_fd(), libc::FIONREAD, &mut queued),
            libc::fcntl(f.as_raw_fd(), libc::F_GETPIPE_SZ),
        )
    };
    assert!(r == 0 && size > 0, "pipe of {pid}");
    (queued as usize, size as usize)
}

#[test]
fn flooding_processes_get_larger_pipes_sixteen_at_a_time() {
    let tools = test_dir("fanout-grow-tools");
    let flood = script(
        &tools,
        "flood.py",
        "exec python3 -c '
import os, sys, time
d = sys.argv[1]
while not os.path.exists(d + \"/go\"):
    time.sleep(0.01)
line = b\"y\" * 1023 + b\"\\n\"
os.write(1, line * 2048)
open(\"%s/done-%d\" % (d, os.getpid()), \"w\").close()
time.sleep(1000)
' \"$1\"",
    );
    let sup = Sup::start(
        "fanout-grow",
        &format!(
            "tasks:\n  flood:\n    command: {} $DIR\n    instances: 20\n    successfulStartTimeout: 0\n",
            flood.display()
        ),
    );
    for round in 0..2 {
        sup.wait_running(20, secs(20));
        let pids: Vec<i32> = (1..=20)
            .map(|i| sup.running_pid(&format!("flood_{i}")))
            .collect();
        // With the supervisor stopped, every pipe fills up: its first read
        // of each is a full 64 KiB one.
        kill(sup.pid(), libc::SIGSTOP);
        std::fs::write(sup.path("go"), "").unwrap();
        let deadline = Instant::now() + secs(20);
        while pids.iter().any(|&p| stdout_pipe(p).0 < 65536) {
            if Instant::now() > deadline {
                kill(sup.pid(), libc::SIGCONT);
                panic!("pipes did not fill");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        kill(sup.pid(), libc::SIGCONT);
        wait_until(secs(30), "every flood written", || {
            pids.iter().all(|p| sup.path(&format!("done-{p}")).exists())
        });
        let sizes: Vec<usize> = pids.iter().map(|&p| stdout_pipe(p).1).collect();
        let grown = sizes.iter().filter(|&&s| s == 1 << 20).count();
        let small = sizes.iter().filter(|&&s| s == 65536).count();
        assert_eq!((grown, small), (16, 4), "round {round}: {sizes:?}");
        // New children, new pipes: the 16 grown ones are given back.
        std::fs::remove_file(sup.path("go")).unwrap();
        if round == 0 {
            sup.ok("restart flood");
            wait_until(secs(20), "new children", || {
                (1..=20).all(|i| {
                    let p = sup.proc(&format!("flood_{i}"));
                    p["state"] == "RUNNING" && !pids.contains(&(p["pid"].as_i64().unwrap() as i32))
                })
            });
        }
    }
    drop(sup);
    remove_test_dir(&tools);
}

#[test]
fn a_following_ctl_runs_as_a_batch_task() {
    let sup = Sup::start("fanout-batch", TALKER);
    let p = Captured::start(
        Command::new(BIN)
            .arg("ctl")
            .arg("--socket")
            .arg(&sup.socket)
            .args(["logs", "-f", "w"]),
    );
    let pid = p.child.id() as i32;
    // Field 41 of /proc/PID/stat: the scheduling policy; 3 is SCHED_BATCH.
    let policy = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after = stat.rsplit_once(") ").map_or("", |(_, r)| r).to_string();
        after.split(' ').nth(41 - 3).unwrap_or("").to_string()
    };
    wait_until(secs(10), "ctl logs -f as SCHED_BATCH", || policy() == "3");
}

/// A client that attaches a pipe of `$2` bytes to `logs -f flood 0`,
/// prints the reply head, reads nothing until `$3/read` exists, then
/// copies the pipe to its stdout.
const STALLER: &str = r#"
import fcntl, os, socket, sys, time
path, size, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
r, w = os.pipe()
fcntl.fcntl(w, 1031, size)  # F_SETPIPE_SZ
socket.send_fds(s, [b"logs -f flood 0\n"], [w])
os.close(w)
head = b""
while not head.endswith(b"\n"):
    head += s.recv(1)
out = sys.stdout.buffer
out.write(b"head=" + head)
out.flush()
while not os.path.exists(d + "/read"):
    time.sleep(0.01)
while True:
    b = os.read(r, 65536)
    if not b:
        break
    out.write(b)
    out.flush()
"#;

#[test]
fn a_follower_pipe_is_its_queue_the_supervisor_holds_only_the_rest() {
    // 3.4 MB as followers get them.
    let (sup, tools) = numbered_flood("fanout-beside", 20_000);
    sup.wait_state("flood", "RUNNING", secs(10));
    let client = sup.path("staller.py");
    std::fs::write(&client, STALLER).unwrap();
    let dir = sup.path("");
    let sizes = [64 * 1024, 1024 * 1024];
    let peers: Vec<Captured> = sizes
        .iter()
        .map(|size| {
            Captured::start(
                Command::new("python3")
                    .arg(&client)
                    .arg(&sup.socket)
                    .arg(size.to_string())
                    .arg(&dir),
            )
        })
        .collect();
    for p in &peers {
        wait_until(secs(10), "the reply head", || p.text() == "head=0 pipe\n");
    }
    std::fs::write(sup.path("go"), "").unwrap();
    // Every line went through the supervisor while no one read.
    wait_until(secs(30), "the flood handled", || {
        sup.ok("logs flood 1").contains("] 19999 ")
    });
    std::fs::write(sup.path("read"), "").unwrap();
    std::fs::write(sup.path("more"), "").unwrap();
    let longest = "[YYYY-MM-DD HH:MM:SS] 19999 ".len() + 300;
    for (p, size) in peers.iter().zip(sizes) {
        wait_until(secs(30), &format!("pipe of {size}: every line"), || {
            seen(p.text().strip_prefix("head=0 pipe\n").unwrap(), size) == 20_001
        });
        let text = p.text();
        let before = text.find("[... ").expect("lines were dropped") - "head=0 pipe\n".len();
        // What came before the marker waited in the pipe or in the
        // supervisor: 256 KiB in all, or the pipe and 32 KiB beside it.
        let bound = (256 * 1024).max(size + 32 * 1024);
        assert!(
            before <= bound + longest,
            "pipe of {size}: {before} bytes before the marker"
        );
        if size < 256 * 1024 {
            assert!(
                before > size + 100 * 1024,
                "pipe of {size}: the supervisor held its part: {before} bytes"
            );
        }
    }
    let _ = std::fs::remove_dir_all(tools);
}

#[test]
fn ctl_takes_the_socket_when_its_pipe_cannot_be_large() {
    // A user past its pipe memory (`fs.pipe-user-pages-soft`) gets pipes
    // of a page or two that cannot grow: ctl then leaves its pipe out.
    let uid = private_uid(4);
    let sup = Sup::launch(
        "fanout-smallpipe",
        TALKER,
        Launch {
            uid: Some(uid),
            ..Launch::default()
        },
    );
    let pid = sup.running_pid("w");
    wait_for_trap(pid, libc::SIGUSR1);
    let as_user = |cmd: &str| {
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={uid}"))
            .arg(format!("--regid={uid}"))
            .arg("--clear-groups")
            .arg(cmd);
        c
    };
    // A process of the user's that takes 1 MiB pipes until the kernel
    // refuses to grow one, and holds them.
    let mut hog = Command::new("sleep");
    hog.arg("1000");
    // SAFETY: only async-signal-safe calls, between fork and exec.
    unsafe {
        hog.pre_exec(move || {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(uid) != 0
                || libc::setuid(uid) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            loop {
                let mut fds = [0; 2];
                if libc::pipe(fds.as_mut_ptr()) != 0
                    || libc::fcntl(fds[1], libc::F_SETPIPE_SZ, 1 << 20) < 0
                {
                    return Ok(());
                }
            }
        });
    }
    // Killed when dropped, the test failing or not.
    let hog = Captured::start(&mut hog);
    let before = open_fds(sup.pid());
    let bin = sup.path("taskmaster");
    let follower = Captured::start(
        as_user(bin.to_str().unwrap())
            .arg("ctl")
            .arg("--socket")
            .arg(&sup.socket)
            .args(["logs", "-f", "w", "0"]),
    );
    kill(pid, libc::SIGUSR1);
    follower.wait_text("the line on the socket", |t| {
        t.contains(&format!("] said-{pid}\n"))
    });
    // Its connection only: no pipe came with the command.
    assert_eq!(open_fds(sup.pid()), before + 1);
    drop(hog);
}
