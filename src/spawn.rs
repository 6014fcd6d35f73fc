//! Starting one process of a task: its own process group, stdin on
//! /dev/null, stdout and stderr on pipes whose read ends come back
//! non-blocking and close-on-exec, the task's env, working directory, umask
//! and user, default signal dispositions, an empty signal mask, and the
//! parent-death signal. Never waits for the child.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::errno::Errno;

use crate::config::TaskSpec;

/// A freshly spawned child.
#[derive(Debug)]
pub struct Child {
    pub pid: i32,
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
    fn os(what: String, err: &io::Error) -> SpawnError {
        let errno = err.raw_os_error().unwrap_or(0);
        let text = if errno != 0 {
            Errno::from_raw(errno).desc().to_string()
        } else {
            err.to_string()
        };
        SpawnError {
            reason: format!("{what}: {text}"),
            transient: matches!(
                errno,
                libc::EAGAIN | libc::ENOMEM | libc::EMFILE | libc::ENFILE
            ),
        }
    }

    fn fixed(reason: String) -> SpawnError {
        SpawnError {
            reason,
            transient: false,
        }
    }
}

/// The credentials a child takes before exec.
#[derive(Debug, Clone)]
struct Identity {
    uid: libc::uid_t,
    gid: libc::gid_t,
    groups: Vec<libc::gid_t>,
}

fn identity(user: &str) -> Result<Identity, SpawnError> {
    let found = match user.parse::<u32>() {
        Ok(uid) => nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)),
        Err(_) => nix::unistd::User::from_name(user),
    };
    let u = match found {
        Ok(Some(u)) => u,
        Ok(None) => return Err(SpawnError::fixed(format!("unknown user '{user}'"))),
        Err(e) => {
            return Err(SpawnError::fixed(format!(
                "cannot look up user '{user}': {}",
                e.desc()
            )));
        }
    };
    let name = CString::new(u.name.as_bytes())
        .map_err(|_| SpawnError::fixed(format!("unknown user '{user}'")))?;
    let groups = nix::unistd::getgrouplist(&name, u.gid)
        .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
        .unwrap_or_else(|_| vec![u.gid.as_raw()]);
    Ok(Identity {
        uid: u.uid.as_raw(),
        gid: u.gid.as_raw(),
        groups,
    })
}

/// Spawns process `name` of `task`. The caller owns the returned pipes and
/// must reap the pid.
pub fn spawn(task: &TaskSpec) -> Result<Child, SpawnError> {
    let program = &task.argv[0];
    let mut cmd = Command::new(program);
    cmd.args(&task.argv[1..])
        .envs(&task.environment)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(dir) = &task.working_directory {
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
        cmd.current_dir(dir);
    }
    let id = task.user.as_deref().map(identity).transpose()?;
    let umask = task.umask;
    let death_signal = task.stop_signal;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs between fork and exec and calls only
    // async-signal-safe functions on data prepared before the fork: no
    // allocation, no locks, no logging.
    unsafe {
        cmd.pre_exec(move || {
            // The raw syscall, as libc's wrapper refuses the two signals it
            // reserves (32, 33), which a parent may still have ignored. An
            // all-zero kernel sigaction is SIG_DFL, no flags, empty mask.
            let default = [0usize; 4];
            for sig in 1..=libc::SIGRTMAX() {
                if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                    libc::syscall(
                        libc::SYS_rt_sigaction,
                        sig,
                        default.as_ptr(),
                        0usize,
                        8usize,
                    );
                }
            }
            let empty: libc::sigset_t = std::mem::zeroed();
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            if let Some(mask) = umask {
                libc::umask(mask as libc::mode_t);
            }
            if let Some(id) = &id
                && (libc::setgroups(id.groups.len(), id.groups.as_ptr()) != 0
                    || libc::setgid(id.gid) != 0
                    || libc::setuid(id.uid) != 0)
            {
                return Err(io::Error::last_os_error());
            }
            // After setuid, which clears it.
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                death_signal as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            // The supervisor may have died before the line above.
            if libc::getppid() != parent {
                libc::_exit(128 + death_signal);
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| SpawnError::os(format!("cannot spawn {program}"), &e))?;
    let pid = child.id() as i32;
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(SpawnError::fixed(format!(
            "cannot spawn {program}: no pipes"
        )));
    };
    let stdout: OwnedFd = out.into();
    let stderr: OwnedFd = err.into();
    for fd in [&stdout, &stderr] {
        set_nonblocking(fd.as_raw_fd())
            .map_err(|e| SpawnError::os("cannot set up pipe".into(), &e))?;
    }
    Ok(Child {
        pid,
        stdout,
        stderr,
    })
}

/// Sets O_NONBLOCK on `fd`.
pub fn set_nonblocking(fd: std::os::fd::RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a valid fd owned by the caller.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
