//! Resource limits: at start the supervisor raises its open-file limit as
//! far as the config needs (as root, the hard limit too) and says in one
//! line per limit which one cannot fit, with the numbers. Children get the
//! soft limit back that the supervisor was started with: `raise` returns
//! it, and the supervisor hands it to its `spawn::Spawner`.
//! Never fails: a limit that cannot be read or raised is only reported.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

use crate::config::Config;

/// Files the supervisor needs besides those of its processes: its own
/// stdio, epoll, signalfd, timerfd, control socket and connections.
const BASE_FILES: u64 = 64;

/// What `raise` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Raised {
    /// The open-file soft limit children start with (the one the
    /// supervisor was given), or `None` when it was not changed.
    pub child_nofile: Option<u64>,
    /// One line per limit that does not fit, naming it and the numbers.
    pub warnings: Vec<String>,
}

/// The number of processes of `config`.
pub fn processes(config: &Config) -> u64 {
    config.tasks.values().map(|t| u64::from(t.instances)).sum()
}

/// Files needed for `config`: two pipes per process, one more per log file
/// (a process keeps its `stdout`/`stderr` files open), and a base.
pub fn files_needed(config: &Config) -> u64 {
    BASE_FILES
        + config
            .tasks
            .values()
            .map(|t| {
                let logs = u64::from(t.stdout.is_some()) + u64::from(t.stderr.is_some());
                u64::from(t.instances) * (2 + logs)
            })
            .sum::<u64>()
}

/// The (soft, hard) limits to ask for when `need` files are needed and the
/// limits are (`soft`, `hard`): the soft limit up to what is needed, the
/// hard limit too when `privileged`, up to `nr_open`. Never lowers either.
pub fn plan(need: u64, soft: u64, hard: u64, privileged: bool, nr_open: u64) -> (u64, u64) {
    if soft >= need {
        return (soft, hard);
    }
    let hard = if privileged && hard < need {
        need.min(nr_open).max(hard)
    } else {
        hard
    };
    (need.min(hard).max(soft), hard)
}

fn read_number(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Raises RLIMIT_NOFILE for `config`, and checks RLIMIT_NPROC (not root)
/// and kernel.pid_max. Returns the limit children get back and one line
/// per limit that does not fit, naming the limit and the numbers.
pub fn raise(config: &Config) -> Raised {
    let processes = processes(config);
    let need = files_needed(config);
    let root = nix::unistd::geteuid().is_root();
    let mut warnings = Vec::new();
    let mut child_nofile = None;
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let nr_open = read_number("/proc/sys/fs/nr_open").unwrap_or(hard);
        let (new_soft, new_hard) = plan(need, soft, hard, root, nr_open);
        if (new_soft, new_hard) != (soft, hard) {
            // Without CAP_SYS_RESOURCE root cannot raise the hard limit
            // either: then as far as it goes.
            if setrlimit(Resource::RLIMIT_NOFILE, new_soft, new_hard).is_err() {
                let (s, h) = plan(need, soft, hard, false, nr_open);
                let _ = setrlimit(Resource::RLIMIT_NOFILE, s, h);
            }
            child_nofile = Some(soft);
        }
        if let Ok((now_soft, now_hard)) = getrlimit(Resource::RLIMIT_NOFILE)
            && now_soft < need
        {
            warnings.push(format!(
                "RLIMIT_NOFILE: {processes} processes need {need} open files, the limit is {now_soft} (hard limit {now_hard}); some will fail to start"
            ));
        }
    }
    // Root is not held to RLIMIT_NPROC. It counts every process of the
    // uid and children inherit it, so it is only checked, never raised.
    if !root
        && let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NPROC)
        && soft < processes + 1
    {
        warnings.push(format!(
            "RLIMIT_NPROC: {processes} processes and the supervisor need {} processes, the limit is {soft} (hard limit {hard}); some will fail to start",
            processes + 1
        ));
    }
    if let Some(max) = read_number("/proc/sys/kernel/pid_max")
        && processes + 100 > max
    {
        warnings.push(format!(
            "kernel.pid_max: {processes} processes do not fit in pid_max {max}; some will fail to start"
        ));
    }
    Raised {
        child_nofile,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_raises_soft_within_hard_and_hard_only_when_privileged() {
        // Enough already: nothing changes, nothing is lowered.
        assert_eq!(plan(100, 1024, 4096, false, 1 << 20), (1024, 4096));
        // Soft up to the need, within the hard limit.
        assert_eq!(plan(2000, 1024, 4096, false, 1 << 20), (2000, 4096));
        // Unprivileged: soft stops at the hard limit.
        assert_eq!(plan(20064, 1024, 20000, false, 1 << 20), (20000, 20000));
        // Root: the hard limit too, up to nr_open.
        assert_eq!(plan(20064, 1024, 20000, true, 1 << 20), (20064, 20064));
        assert_eq!(
            plan(5 << 20, 1024, 20000, true, 1 << 20),
            (1 << 20, 1 << 20)
        );
    }

    #[test]
    fn files_count_pipes_logs_and_a_base() {
        let yaml = "tasks:
  a:
    command: sleep 1
    instances: 10
  b:
    command: sleep 1
    instances: 3
    stdout: /tmp/b.out
    stderr: /tmp/b.err
";
        let c = crate::config::parse(yaml, std::path::Path::new("t.yaml"), false).unwrap();
        assert_eq!(processes(&c), 13);
        assert_eq!(files_needed(&c), BASE_FILES + 10 * 2 + 3 * 4);
    }
}
