//! Resource limits: at start the supervisor raises its open-file limit as
//! far as the config needs (as root, the hard limit too) and says in one
//! line which limit cannot fit. Children get the soft limit back that the
//! supervisor was started with.

use std::sync::atomic::{AtomicU64, Ordering};

/// Files the supervisor needs besides two pipes per process.
const BASE_FILES: u64 = 64;

static CHILD_NOFILE: AtomicU64 = AtomicU64::new(u64::MAX);

/// The open-file soft limit children start with (the one the supervisor
/// was given), or `None` when it was never changed.
pub fn child_nofile() -> Option<u64> {
    match CHILD_NOFILE.load(Ordering::Relaxed) {
        u64::MAX => None,
        n => Some(n),
    }
}

/// Files needed for `processes` processes.
pub fn files_needed(processes: usize) -> u64 {
    BASE_FILES + 2 * processes as u64
}

fn read_number(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Raises RLIMIT_NOFILE for `processes` processes. Returns one line per
/// limit that still does not fit.
pub fn raise(processes: usize) -> Vec<String> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let mut warnings = Vec::new();
    let need = files_needed(processes);
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        if soft < need {
            let mut new_hard = hard;
            if hard < need && nix::unistd::geteuid().is_root() {
                let cap = read_number("/proc/sys/fs/nr_open").unwrap_or(hard);
                new_hard = need.min(cap).max(hard);
            }
            let new_soft = need.min(new_hard);
            if setrlimit(Resource::RLIMIT_NOFILE, new_soft, new_hard).is_err() {
                let _ = setrlimit(Resource::RLIMIT_NOFILE, need.min(hard), hard);
            }
            CHILD_NOFILE.store(soft, Ordering::Relaxed);
        }
        if let Ok((now_soft, _)) = getrlimit(Resource::RLIMIT_NOFILE)
            && now_soft < need
        {
            warnings.push(format!(
                    "RLIMIT_NOFILE: {processes} processes need {need} open files, the limit is {now_soft}; some will fail to start"
                ));
        }
    }
    if let Some(max) = read_number("/proc/sys/kernel/pid_max")
        && processes as u64 + 100 > max
    {
        warnings.push(format!(
                "kernel.pid_max: {processes} processes do not fit in pid_max {max}; some will fail to start"
            ));
    }
    warnings
}
