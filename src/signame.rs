//! Signal names as users write them (`TERM`, `SIGTERM`, `term`, `15`,
//! `RTMIN+2`) and as the supervisor prints them. Pure: never sends a signal.

/// Standard signals by their name without the `SIG` prefix.
const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// Every standard signal name, without `SIG`, for completion and messages.
pub fn names() -> impl Iterator<Item = &'static str> {
    NAMES.iter().map(|(n, _)| *n)
}

fn rt_range() -> (i32, i32) {
    (libc::SIGRTMIN(), libc::SIGRTMAX())
}

/// Parses a signal given by name (any case, with or without `SIG`), by
/// number, or as `RTMIN+N`/`RTMAX-N`. `None` when it names no signal.
pub fn parse(text: &str) -> Option<i32> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        let n: i32 = t.parse().ok()?;
        let (_, rtmax) = rt_range();
        return (1..=rtmax).contains(&n).then_some(n);
    }
    let upper = t.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = NAMES.iter().find(|(name, _)| *name == bare) {
        return Some(n);
    }
    let (lo, hi) = rt_range();
    let offset = |s: &str| -> Option<i32> {
        if s.is_empty() {
            Some(0)
        } else {
            s.parse::<i32>().ok()
        }
    };
    let n = if let Some(rest) = bare.strip_prefix("RTMIN") {
        lo + rest
            .strip_prefix('+')
            .map_or_else(|| offset(rest), offset)?
    } else if let Some(rest) = bare.strip_prefix("RTMAX") {
        hi - rest
            .strip_prefix('-')
            .map_or_else(|| offset(rest), offset)?
    } else {
        return None;
    };
    (lo..=hi).contains(&n).then_some(n)
}

/// The usual name of signal `n` (`SIGTERM`), or `SIG<n>` when it has none.
pub fn name(n: i32) -> String {
    if let Some((name, _)) = NAMES.iter().find(|(_, v)| *v == n) {
        return format!("SIG{name}");
    }
    let (lo, hi) = rt_range();
    if n == lo {
        "SIGRTMIN".to_string()
    } else if (lo..=hi).contains(&n) {
        format!("SIGRTMIN+{}", n - lo)
    } else {
        format!("SIG{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling() {
        for s in ["TERM", "SIGTERM", "term", "sigterm", "15", " Term "] {
            assert_eq!(parse(s), Some(libc::SIGTERM), "{s}");
        }
        assert_eq!(parse("KILL"), Some(9));
        assert_eq!(parse("RTMIN"), Some(libc::SIGRTMIN()));
        assert_eq!(parse("RTMIN+2"), Some(libc::SIGRTMIN() + 2));
        assert_eq!(parse("SIGRTMAX-1"), Some(libc::SIGRTMAX() - 1));
    }

    #[test]
    fn rejects_non_signals() {
        for s in ["", "0", "65", "TERMS", "SIG", "-1", "RTMIN+99", "1.5"] {
            assert_eq!(parse(s), None, "{s}");
        }
    }

    #[test]
    fn names_round_trip() {
        for (n, _) in NAMES {
            let num = parse(n).unwrap();
            assert_eq!(parse(&name(num)), Some(num));
        }
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(
            parse(&name(libc::SIGRTMIN() + 3)),
            Some(libc::SIGRTMIN() + 3)
        );
    }
}
