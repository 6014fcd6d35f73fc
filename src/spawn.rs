//! Starting one process of a task: its own process group, stdin on
//! /dev/null, stdout and stderr on pipes whose read ends come back
//! non-blocking and close-on-exec, the task's env, working directory, umask
//! and user, default signal dispositions, an empty signal mask, the open-file
//! limit the supervisor was given, and the parent-death signal. Never waits
//! for the child, except to reap one that failed before exec.
//!
//! The child is made with `clone(CLONE_VM | CLONE_VFORK | CLONE_FILES)` on a
//! stack of its own, so the cost of a spawn does not grow with the
//! supervisor: no page table is copied (as with glibc's `posix_spawn`), and
//! neither is the table of its 20 000 pipe ends. The three fds a child needs
//! wait in fixed low slots; the child's first act is
//! `close_range(slots_end, ~0, CLOSE_RANGE_UNSHARE)`, which gives it a
//! private table holding only the fds below the slots' end, so it never
//! changes the parent's table, and exec has nothing to copy or close. Unlike
//! `posix_spawn` the child can take a user, umask, rlimit and parent-death
//! signal. Everything the child needs is prepared before the clone; the
//! child only makes raw system calls, and reports a failure (errno and what
//! failed) through memory it shares with the parent, which resumes once the
//! child has exec'd or exited. What it is given (program paths, argv,
//! environment, credentials) is made in `spawn/prepare.rs`.

mod prepare;

use std::ffi::{CString, c_void};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;

use crate::config::TaskSpec;
pub use prepare::program_problem;
use prepare::{candidates, cstring, environment, identity, pointers, search_path};

/// A freshly spawned child.
#[derive(Debug)]
pub struct Child {
    pub pid: i32,
    /// The child's start time lies in this range of clock ticks since
    /// boot (as /proc/PID/stat counts them).
    pub born: (u64, u64),
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Why a spawn failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnError {
    /// One line naming what failed, e.g. `cannot spawn ngnx: No such file or
    /// directory`.
    pub reason: String,
    /// Whether trying again later may work (out of processes, files or
    /// memory).
    pub transient: bool,
}

impl SpawnError {
    fn errno(what: String, errno: i32) -> SpawnError {
        SpawnError {
            reason: format!("{what}: {}", Errno::from_raw(errno).desc()),
            transient: matches!(
                errno,
                libc::EAGAIN | libc::ENOMEM | libc::EMFILE | libc::ENFILE
            ),
        }
    }

    fn os(what: String, err: &io::Error) -> SpawnError {
        match err.raw_os_error() {
            Some(errno) if errno != 0 => SpawnError::errno(what, errno),
            _ => SpawnError::fixed(format!("{what}: {err}")),
        }
    }

    fn fixed(reason: String) -> SpawnError {
        SpawnError {
            reason,
            transient: false,
        }
    }
}

/// What failed in the child before exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
enum Stage {
    None = 0,
    /// A private fd table (close_range, unshare).
    Files,
    ProcessGroup,
    Stdio,
    Chdir,
    SetGroups,
    SetGid,
    SetUid,
    DeathSignal,
    Rlimit,
    Exec,
}

/// Everything the child reads, prepared by the parent before the clone, and
/// the slot where it reports a failure. Raw pointers only: the child must
/// not allocate, lock or unwind.
struct ChildArgs {
    /// Programs to try in turn (PATH lookup done as far as the parent can).
    candidates: *const *const libc::c_char,
    candidates_len: usize,
    argv: *const *const libc::c_char,
    /// `argv` with one free slot in front, for `/bin/sh` when the kernel
    /// does not know the file's format (as `execvp` does).
    sh_argv: *mut *const libc::c_char,
    envp: *const *const libc::c_char,
    /// The slots of stdin (/dev/null), stdout and stderr; the child keeps
    /// only the fds below `keep_below` (all of these are).
    stdio: [RawFd; 3],
    keep_below: RawFd,
    workdir: *const libc::c_char,
    umask: Option<libc::mode_t>,
    groups: *const libc::gid_t,
    groups_len: usize,
    ids: Option<(libc::uid_t, libc::gid_t)>,
    death_signal: i32,
    parent: libc::pid_t,
    nofile: Option<libc::rlimit>,
    /// Set by the child on failure.
    stage: Stage,
    errno: i32,
}

/// The highest signal number the kernel knows.
const NSIG: i32 = 64;

/// The child, between clone and exec.
///
/// # Safety
/// `arg` points to a `ChildArgs` that the parent keeps alive and does not
/// touch until the child has exec'd or exited (CLONE_VFORK suspends it).
/// Sets every signal but SIGKILL and SIGSTOP to its default action. Only
/// raw system calls: safe between fork (or clone) and exec.
///
/// # Safety
/// Changes the dispositions of the whole process: call it only in a child
/// about to exec.
pub unsafe fn reset_signal_dispositions() {
    // The raw syscall, as libc's wrapper refuses the two signals it
    // reserves (32, 33), which a parent may still have ignored. An all-zero
    // kernel sigaction is SIG_DFL, no flags, empty mask.
    let default = [0usize; 4];
    for sig in 1..=NSIG {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: a valid sigaction of all zeroes; no old action asked.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    default.as_ptr(),
                    0usize,
                    8usize,
                );
            }
        }
    }
}

extern "C" fn child_main(arg: *mut c_void) -> libc::c_int {
    // SAFETY: see above; everything below is a raw system call on data
    // prepared before the clone: no allocation, no locks, no unwinding.
    unsafe {
        let a = &mut *(arg as *mut ChildArgs);
        let fail = |a: &mut ChildArgs, stage: Stage| -> libc::c_int {
            a.errno = *libc::__errno_location();
            a.stage = stage;
            libc::_exit(127)
        };
        // First a table of its own, holding only the fds below the slots:
        // from here on nothing the child does touches the parent's fds. On
        // a kernel without CLOSE_RANGE_UNSHARE, a copy of the whole table.
        if libc::syscall(
            libc::SYS_close_range,
            a.keep_below as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_UNSHARE,
        ) != 0
            && libc::unshare(libc::CLONE_FILES) != 0
        {
            return fail(a, Stage::Files);
        }
        reset_signal_dispositions();
        if libc::setpgid(0, 0) != 0 {
            return fail(a, Stage::ProcessGroup);
        }
        // dup2 clears close-on-exec on the copy; the slots are >= 3.
        for (to, from) in a.stdio.into_iter().enumerate() {
            if libc::dup2(from, to as RawFd) < 0 {
                return fail(a, Stage::Stdio);
            }
        }
        if !a.workdir.is_null() && libc::chdir(a.workdir) != 0 {
            return fail(a, Stage::Chdir);
        }
        if let Some(mask) = a.umask {
            libc::umask(mask);
        }
        // Raw syscalls: libc's wrappers would try to change the ids of
        // every thread of the parent, whose memory the child shares.
        if let Some((uid, gid)) = a.ids {
            if libc::syscall(libc::SYS_setgroups, a.groups_len as libc::c_long, a.groups) != 0 {
                return fail(a, Stage::SetGroups);
            }
            if libc::syscall(libc::SYS_setgid, gid as libc::c_long) != 0 {
                return fail(a, Stage::SetGid);
            }
            if libc::syscall(libc::SYS_setuid, uid as libc::c_long) != 0 {
                return fail(a, Stage::SetUid);
            }
        }
        // After setuid, which clears it.
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            a.death_signal as libc::c_ulong,
            0,
            0,
            0,
        ) != 0
        {
            return fail(a, Stage::DeathSignal);
        }
        // The supervisor may have died before the line above.
        if libc::getppid() != a.parent {
            libc::_exit(128 + a.death_signal);
        }
        if let Some(lim) = &a.nofile
            && libc::setrlimit(libc::RLIMIT_NOFILE, lim) != 0
        {
            return fail(a, Stage::Rlimit);
        }
        let empty = 0u64;
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            std::ptr::null_mut::<u64>(),
            8usize,
        );
        // As execvp: try each PATH entry; EACCES is reported only if no
        // later entry works; a file of unknown format runs under /bin/sh.
        let mut denied = false;
        let mut last = libc::ENOENT;
        for i in 0..a.candidates_len {
            let path = *a.candidates.add(i);
            libc::execve(path, a.argv, a.envp);
            let e = *libc::__errno_location();
            match e {
                libc::ENOEXEC => {
                    *a.sh_argv = c"/bin/sh".as_ptr();
                    *a.sh_argv.add(1) = path;
                    libc::execve(c"/bin/sh".as_ptr(), a.sh_argv, a.envp);
                    return fail(a, Stage::Exec);
                }
                libc::EACCES => denied = true,
                libc::ENOENT | libc::ENOTDIR | libc::ESTALE | libc::ENODEV | libc::ETIMEDOUT => {}
                _ => return fail(a, Stage::Exec),
            }
            last = e;
        }
        *libc::__errno_location() = if denied { libc::EACCES } else { last };
        fail(a, Stage::Exec)
    }
}

/// A stack for the child, reused by every spawn (the parent is suspended
/// while the child runs on it).
struct Stack {
    base: *mut c_void,
    len: usize,
}

/// Stack size of the child: it runs a few small frames of raw syscalls.
const STACK_LEN: usize = 256 * 1024;
const GUARD_LEN: usize = 4096;

impl Stack {
    fn new() -> io::Result<Stack> {
        // SAFETY: a fresh anonymous private mapping, owned by the Stack.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                STACK_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // An overflow faults instead of writing below the mapping.
        // SAFETY: the lowest page of the mapping just made.
        unsafe { libc::mprotect(base, GUARD_LEN, libc::PROT_NONE) };
        Ok(Stack {
            base,
            len: STACK_LEN,
        })
    }

    /// The initial stack pointer: the top, 16-byte aligned.
    fn top(&self) -> *mut c_void {
        // SAFETY: one past the end of the mapping, which is page aligned.
        unsafe { self.base.cast::<u8>().add(self.len).cast() }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, no longer used.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

/// What every spawn reuses: the child's stack and three low fd slots, all
/// close-on-exec. Slot 0 is /dev/null for good; slots 1 and 2 hold /dev/null
/// too except during a spawn, when they hold the write ends of the child's
/// stdout and stderr pipes.
struct Reused {
    stack: Stack,
    slots: [OwnedFd; 3],
}

/// Spawns children. The supervisor owns one and passes it where a child is
/// made: `&mut self` makes one spawn at a time the only way (the stack and
/// slots are shared by every spawn), and it carries the open-file limit
/// children get back.
pub struct Spawner {
    /// Made at the first spawn, kept for the next ones.
    reused: Option<Reused>,
    /// The open-file soft limit children start with, when the supervisor
    /// raised its own (`limits::raise`).
    child_nofile: Option<u64>,
}

impl Spawner {
    /// A spawner whose children get `child_nofile` as their open-file soft
    /// limit (`None`: the supervisor's own). Makes nothing yet.
    pub fn new(child_nofile: Option<u64>) -> Spawner {
        Spawner {
            reused: None,
            child_nofile,
        }
    }

    /// Spawns a process of `task`. The caller owns the returned pipes and
    /// must reap the pid.
    pub fn spawn(&mut self, task: &TaskSpec) -> Result<Child, SpawnError> {
        spawn(&mut self.reused, self.child_nofile, task)
    }
}

impl Reused {
    fn new() -> io::Result<Reused> {
        let null = std::fs::File::open("/dev/null")?;
        // The lowest free numbers above stdio: they are taken early, so the
        // child's private table (everything below the slots) stays small.
        let low = || -> io::Result<OwnedFd> { Ok(rustix::io::fcntl_dupfd_cloexec(&null, 3)?) };
        let slots = [low()?, low()?, low()?];
        Ok(Reused {
            stack: Stack::new()?,
            slots,
        })
    }

    /// The slots' fd numbers.
    fn stdio(&self) -> [RawFd; 3] {
        self.slots.each_ref().map(|s| s.as_raw_fd())
    }

    /// Puts `fd` in slot `i` (1 or 2, close-on-exec); what was there is
    /// closed.
    fn fill(&mut self, i: usize, fd: impl AsFd) -> io::Result<()> {
        let flags = rustix::io::DupFlags::CLOEXEC;
        Ok(rustix::io::dup3(fd, &mut self.slots[i], flags)?)
    }

    /// Puts /dev/null back in slots 1 and 2, closing the parent's copies of
    /// the pipes' write ends.
    fn clear(&mut self) {
        let (null, rest) = self.slots.split_at_mut(1);
        for slot in rest {
            let _ = rustix::io::dup3(&null[0], slot, rustix::io::DupFlags::CLOEXEC);
        }
    }
}

/// A pipe: (read end, write end), both close-on-exec.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
}

/// Spawns a process of `task` with the stack and slots in `reused` (made
/// now if missing).
fn spawn(
    reused: &mut Option<Reused>,
    child_nofile: Option<u64>,
    task: &TaskSpec,
) -> Result<Child, SpawnError> {
    let program = &task.argv[0];
    let workdir = match &task.working_directory {
        Some(dir) => {
            match std::fs::metadata(dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(SpawnError::fixed(format!(
                        "cannot use working directory {}: Not a directory",
                        dir.display()
                    )));
                }
                Err(e) => {
                    return Err(SpawnError::os(
                        format!("cannot use working directory {}", dir.display()),
                        &e,
                    ));
                }
            }
            Some(cstring(
                dir.as_os_str().as_bytes(),
                "the working directory",
            )?)
        }
        None => None,
    };
    let id = task.user.as_deref().map(identity).transpose()?;
    let candidates = candidates(program, task)?;
    let argv: Vec<CString> = task
        .argv
        .iter()
        .map(|a| cstring(a.as_bytes(), "the command"))
        .collect::<Result<_, _>>()?;
    let env = environment(task, id.as_ref())?;
    let candidate_ptrs = pointers(&candidates);
    let argv_ptrs = pointers(&argv);
    let mut sh_argv: Vec<*const libc::c_char> = Vec::with_capacity(argv_ptrs.len() + 1);
    sh_argv.push(std::ptr::null());
    sh_argv.extend_from_slice(&argv_ptrs);
    let env_ptrs = pointers(&env);
    let nofile = match child_nofile {
        Some(soft) => {
            let (_, hard) =
                nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                    .map_err(|e| SpawnError::errno("cannot read RLIMIT_NOFILE".into(), e as i32))?;
            Some(libc::rlimit {
                rlim_cur: soft.min(hard),
                rlim_max: hard,
            })
        }
        None => None,
    };
    let spawn_err = |e: io::Error| SpawnError::os(format!("cannot spawn {program}"), &e);
    let (out_r, out_w) = pipe().map_err(spawn_err)?;
    let (err_r, err_w) = pipe().map_err(spawn_err)?;
    // Before the child exists: nothing may fail after it does, or it would
    // run unsupervised.
    for fd in [&out_r, &err_r] {
        set_nonblocking(fd).map_err(spawn_err)?;
    }
    let spawner = match reused {
        Some(parts) => parts,
        empty => empty.insert(Reused::new().map_err(spawn_err)?),
    };
    let filled = spawner
        .fill(1, &out_w)
        .and_then(|()| spawner.fill(2, &err_w));
    // The slots hold the write ends now (or failed to): these copies go.
    drop((out_w, err_w));
    if let Err(e) = filled {
        spawner.clear();
        return Err(spawn_err(e));
    }
    let stdio = spawner.stdio();
    let mut args = ChildArgs {
        candidates: candidate_ptrs.as_ptr(),
        candidates_len: candidates.len(),
        argv: argv_ptrs.as_ptr(),
        sh_argv: sh_argv.as_mut_ptr(),
        envp: env_ptrs.as_ptr(),
        stdio,
        keep_below: stdio.iter().copied().max().unwrap_or(2) + 1,
        workdir: workdir.as_ref().map_or(std::ptr::null(), |w| w.as_ptr()),
        umask: task.umask.map(|m| m as libc::mode_t),
        groups: id.as_ref().map_or(std::ptr::null(), |i| i.groups.as_ptr()),
        groups_len: id.as_ref().map_or(0, |i| i.groups.len()),
        ids: id.as_ref().map(|i| (i.uid, i.gid)),
        death_signal: task.stop_signal,
        parent: std::process::id() as libc::pid_t,
        nofile,
        stage: Stage::None,
        errno: 0,
    };
    let before = crate::strays::boot_ticks(false);
    let pid = clone_child(&spawner.stack, &mut args);
    let after = crate::strays::boot_ticks(true);
    spawner.clear();
    if pid < 0 {
        return Err(SpawnError::errno(format!("cannot spawn {program}"), -pid));
    }
    // SAFETY: the child wrote these (if at all) before the parent resumed.
    let (stage, errno) = unsafe {
        (
            std::ptr::read_volatile(&args.stage),
            std::ptr::read_volatile(&args.errno),
        )
    };
    if stage != Stage::None {
        // It has exited already (the parent resumes only then): reap it
        // here, as nobody else knows the pid.
        let child = nix::unistd::Pid::from_raw(pid);
        while nix::sys::wait::waitpid(child, None) == Err(Errno::EINTR) {}
        let what = match stage {
            Stage::Chdir => format!(
                "cannot use working directory {}",
                task.working_directory
                    .as_deref()
                    .unwrap_or(Path::new("?"))
                    .display()
            ),
            Stage::Exec if program.contains('/') => format!("cannot execute '{program}'"),
            Stage::Exec => format!(
                "cannot execute '{program}' (searched PATH={})",
                String::from_utf8_lossy(&search_path(task))
            ),
            Stage::SetGroups | Stage::SetGid | Stage::SetUid => {
                let user = id.as_ref().map_or("?", |i| i.user.as_str());
                let what = match stage {
                    Stage::SetGroups => "groups",
                    Stage::SetGid => "group id",
                    _ => "user id",
                };
                format!("cannot set {what} for user '{user}'")
            }
            Stage::Files => "cannot make a private file descriptor table".to_string(),
            Stage::ProcessGroup => "cannot make a process group".to_string(),
            Stage::Stdio => "cannot set up stdin, stdout and stderr".to_string(),
            Stage::DeathSignal => "cannot set the parent-death signal".to_string(),
            Stage::Rlimit => "cannot set RLIMIT_NOFILE".to_string(),
            Stage::None => format!("cannot spawn {program}"),
        };
        return Err(SpawnError::errno(what, errno));
    }
    Ok(Child {
        pid,
        born: (before, after),
        stdout: out_r,
        stderr: err_r,
    })
}

/// Clones the child onto `stack`, sharing memory and fd table until it
/// unshares the table, with every signal blocked meanwhile (the child
/// unblocks them just before exec). Returns its pid, or -errno.
fn clone_child(stack: &Stack, args: &mut ChildArgs) -> i32 {
    // SAFETY: sigset manipulation on locals; the clone child runs
    // `child_main` on its own stack with `args`, which outlives it since the
    // parent is suspended (CLONE_VFORK) until the child exec'd or exited.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::clone(
            child_main,
            stack.top(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_FILES | libc::SIGCHLD,
            (args as *mut ChildArgs).cast(),
        );
        let err = Errno::last_raw();
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if pid < 0 { -err } else { pid }
    }
}

/// Sets O_NONBLOCK on `fd`.
pub fn set_nonblocking(fd: impl AsFd) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(&fd)?;
    Ok(rustix::fs::fcntl_setfl(
        &fd,
        flags | rustix::fs::OFlags::NONBLOCK,
    )?)
}
