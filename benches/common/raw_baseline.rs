//! The raw baseline of `compare`: the least any supervisor has to do, and so
//! the physical limit it is measured against. It `posix_spawn`s N children
//! (glibc spawns with `clone(CLONE_VM | CLONE_VFORK)`), each in its own
//! process group with stdin on /dev/null and stdout/stderr on pipes whose
//! read ends it keeps open, prints `up` on stdout once all are spawned, then
//! sleeps in `sigwaitinfo`: SIGCHLD reaps (and in churn mode spawns the
//! child again), SIGUSR1 prints the number of spawns so far, SIGTERM sends
//! SIGTERM to every child, reaps them all and exits. It keeps no state per
//! child but its pid and two fds, and never reads the pipes (the workloads
//! write nothing).

use std::collections::HashMap;
use std::ffi::{CString, c_char};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

unsafe extern "C" {
    static environ: *const *const c_char;
}

/// Spawns the same child again and again with `posix_spawn`.
pub struct Spawner {
    program: CString,
    argv: Vec<CString>,
    devnull: OwnedFd,
    attr: libc::posix_spawnattr_t,
}

impl Spawner {
    /// Prepares spawning `argv` (the program looked up on PATH once).
    pub fn new(argv: &[String]) -> Spawner {
        let program = lookup(&argv[0]);
        let argv: Vec<CString> = argv
            .iter()
            .map(|a| CString::new(a.as_str()).expect("no NUL in argv"))
            .collect();
        // SAFETY: plain open; the fd is owned below.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        assert!(fd >= 0, "cannot open /dev/null");
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let devnull = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: posix_spawnattr_* initialise and fill a plain C struct
        // that lives as long as the Spawner.
        let attr = unsafe {
            let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
            libc::posix_spawnattr_init(&mut attr);
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::posix_spawnattr_setsigmask(&mut attr, &empty);
            libc::posix_spawnattr_setsigdefault(&mut attr, &all);
            libc::posix_spawnattr_setpgroup(&mut attr, 0);
            libc::posix_spawnattr_setflags(
                &mut attr,
                (libc::POSIX_SPAWN_SETPGROUP
                    | libc::POSIX_SPAWN_SETSIGMASK
                    | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short,
            );
            attr
        };
        Spawner {
            program,
            argv,
            devnull,
            attr,
        }
    }

    /// Spawns one child; returns its pid and the read ends of its pipes.
    pub fn spawn(&self) -> (i32, [OwnedFd; 2]) {
        let pipe = || {
            let mut fds = [0; 2];
            // SAFETY: pipe2 fills two fresh fds, owned right below.
            let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
            assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
            // SAFETY: both fds are fresh and owned by nobody else.
            unsafe { [OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])] }
        };
        let [out_r, out_w] = pipe();
        let [err_r, err_w] = pipe();
        let mut argv: Vec<*mut c_char> = self.argv.iter().map(|a| a.as_ptr() as *mut _).collect();
        argv.push(std::ptr::null_mut());
        let mut pid = 0;
        // SAFETY: the file actions live across the call; every pointer
        // passed is valid and NUL-terminated; environ is the process's own.
        let r = unsafe {
            let mut fa: libc::posix_spawn_file_actions_t = std::mem::zeroed();
            libc::posix_spawn_file_actions_init(&mut fa);
            libc::posix_spawn_file_actions_adddup2(&mut fa, self.devnull.as_raw_fd(), 0);
            libc::posix_spawn_file_actions_adddup2(&mut fa, out_w.as_raw_fd(), 1);
            libc::posix_spawn_file_actions_adddup2(&mut fa, err_w.as_raw_fd(), 2);
            let r = libc::posix_spawn(
                &mut pid,
                self.program.as_ptr(),
                &fa,
                &self.attr,
                argv.as_ptr(),
                environ as *const *mut c_char,
            );
            libc::posix_spawn_file_actions_destroy(&mut fa);
            r
        };
        assert_eq!(
            r,
            0,
            "posix_spawn: {}",
            std::io::Error::from_raw_os_error(r)
        );
        (pid, [out_r, err_r])
    }
}

/// The program's path, looked up on PATH once.
fn lookup(program: &str) -> CString {
    let found = if program.contains('/') {
        Path::new(program).to_path_buf()
    } else {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{program} not found on PATH"))
    };
    CString::new(found.as_os_str().as_bytes()).expect("no NUL in path")
}

/// Raises RLIMIT_NOFILE for `n` children with two pipes each.
pub fn raise_nofile(n: usize) {
    let need = 2 * n as u64 + 64;
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        if lim.rlim_cur < need {
            lim.rlim_cur = need;
            lim.rlim_max = lim.rlim_max.max(need);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
        }
    }
}

/// Runs the baseline: `mode` is `up` (children run until SIGTERM) or
/// `churn` (a child that exits is spawned again).
pub fn main(mode: &str, n: usize, argv: &[String]) -> ! {
    let churn = mode == "churn";
    raise_nofile(n);
    // SAFETY: signal mask manipulation on local sets; single-threaded.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGCHLD, libc::SIGTERM, libc::SIGUSR1] {
            libc::sigaddset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let spawner = Spawner::new(argv);
    let mut children: HashMap<i32, [OwnedFd; 2]> = HashMap::with_capacity(n);
    let mut spawns: u64 = 0;
    for _ in 0..n {
        let (pid, fds) = spawner.spawn();
        children.insert(pid, fds);
        spawns += 1;
    }
    let mut out = std::io::stdout();
    let _ = writeln!(out, "up {spawns}");
    let _ = out.flush();
    loop {
        // SAFETY: waits for one of the blocked signals.
        let sig = unsafe { libc::sigwaitinfo(&set, std::ptr::null_mut()) };
        match sig {
            libc::SIGCHLD => {
                for pid in reap(false) {
                    if children.remove(&pid).is_some() && churn {
                        let (pid, fds) = spawner.spawn();
                        children.insert(pid, fds);
                        spawns += 1;
                    }
                }
            }
            libc::SIGUSR1 => {
                let _ = writeln!(out, "count {spawns}");
                let _ = out.flush();
            }
            libc::SIGTERM => {
                for &pid in children.keys() {
                    // SAFETY: plain kill of our own child.
                    unsafe { libc::kill(pid, libc::SIGTERM) };
                }
                reap(true);
                std::process::exit(0);
            }
            _ => {}
        }
    }
}

/// Reaps exited children: all that have exited, or (`block`) every child
/// until none is left.
fn reap(block: bool) -> Vec<i32> {
    let mut pids = Vec::new();
    loop {
        let mut status = 0;
        let flags = if block { 0 } else { libc::WNOHANG };
        // SAFETY: waitpid on our own children.
        let pid = unsafe { libc::waitpid(-1, &mut status, flags) };
        if pid > 0 {
            pids.push(pid);
            continue;
        }
        if pid < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return pids;
    }
}
