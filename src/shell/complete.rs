//! Tab completion for the terminal shell: given the text before the cursor,
//! which word is being typed and what it may become: a command, a process
//! or task name (or `all`), a signal name after `signal`, a command after
//! `help`, `--json` after `status`. Pure: the names of the moment come from
//! the caller, only when Tab is pressed; it never sees the supervisor.

use crate::shell::command::COMMANDS;
use crate::signame;

/// The process and task names of the moment: calls its argument once per
/// name (repeats are fine). Called only on Tab, so the caller never keeps a
/// copy of thousands of names up to date.
pub type Names<'a> = &'a dyn Fn(&mut dyn FnMut(&str));

/// What the word under completion may become.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// Byte offset in the text where the word being completed starts.
    pub start: usize,
    /// Every candidate starting with that word, sorted, without repeats.
    pub candidates: Vec<String>,
}

/// Which kind of word goes at a position of a command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Command,
    /// Process or task names, and `all` when the command takes it.
    Names {
        all: bool,
        json: bool,
    },
    Signal,
    Nothing,
}

fn slot(words: &[&str]) -> Slot {
    let Some((first, args)) = words.split_first() else {
        return Slot::Command;
    };
    let n = args.len();
    match *first {
        "start" | "stop" | "restart" => Slot::Names {
            all: true,
            json: false,
        },
        "status" => Slot::Names {
            all: true,
            json: true,
        },
        "logs" if n == 0 => Slot::Names {
            all: false,
            json: false,
        },
        "pid" if n == 0 => Slot::Names {
            all: true,
            json: false,
        },
        "signal" if n == 0 => Slot::Signal,
        "signal" => Slot::Names {
            all: true,
            json: false,
        },
        "help" if n == 0 => Slot::Command,
        _ => Slot::Nothing,
    }
}

/// Signal names spelled like `typed`: with `SIG` when it starts so, in
/// lower case when it is typed in lower case.
fn signal_candidates(typed: &str, out: &mut Vec<String>) {
    // `get`: the first three bytes may end inside a character.
    let sig = typed
        .get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case("sig"));
    let lower = typed.bytes().any(|b| b.is_ascii_lowercase())
        && !typed.bytes().any(|b| b.is_ascii_uppercase());
    for n in signame::names() {
        let mut c = if sig {
            format!("SIG{n}")
        } else {
            n.to_string()
        };
        if lower {
            c.make_ascii_lowercase();
        }
        if c.starts_with(typed) {
            out.push(c);
        }
    }
}

/// Completes the last word of `before` (the line up to the cursor).
pub fn complete(before: &str, names: Names) -> Completion {
    let start = before
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8());
    let typed = &before[start..];
    let words: Vec<&str> = before[..start].split_whitespace().collect();
    let mut candidates = Vec::new();
    let mut push = |c: &str| {
        if c.starts_with(typed) {
            candidates.push(c.to_string());
        }
    };
    match slot(&words) {
        Slot::Command => {
            for (word, _, _) in COMMANDS {
                push(word);
            }
            push("quit");
            push("exit");
        }
        Slot::Names { all, json } => {
            names(&mut push);
            if all {
                push("all");
            }
            if json {
                push("--json");
            }
        }
        Slot::Signal => signal_candidates(typed, &mut candidates),
        Slot::Nothing => {}
    }
    candidates.sort_unstable();
    candidates.dedup();
    Completion { start, candidates }
}

/// The longest prefix (whole characters) that every candidate shares.
pub fn common_prefix(candidates: &[String]) -> &str {
    let Some(first) = candidates.first() else {
        return "";
    };
    let mut end = first.len();
    for c in &candidates[1..] {
        let same: usize = first
            .chars()
            .zip(c.chars())
            .take_while(|(a, b)| a == b)
            .map(|(a, _)| a.len_utf8())
            .sum();
        end = end.min(same);
    }
    &first[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn procs(f: &mut dyn FnMut(&str)) {
        for n in ["web_1", "web_2", "web", "worker", "db"] {
            f(n);
        }
    }

    fn cands(before: &str) -> Vec<String> {
        complete(before, &procs).candidates
    }

    #[test]
    fn commands_at_the_start() {
        assert_eq!(cands("st"), ["start", "status", "stop"]);
        assert_eq!(cands("  re"), ["reload", "restart"]);
        assert_eq!(cands("q"), ["quit"]);
        assert_eq!(complete("  re", &procs).start, 2);
        assert_eq!(cands("help sh"), ["shutdown"]);
        assert!(cands("x").is_empty());
    }

    #[test]
    fn names_tasks_and_all_as_arguments() {
        assert_eq!(cands("stop w"), ["web", "web_1", "web_2", "worker"]);
        assert_eq!(cands("start web_1 a"), ["all"]);
        assert_eq!(cands("status --"), ["--json"]);
        assert_eq!(cands("logs d"), ["db"]);
        assert!(cands("logs a").is_empty(), "logs takes one process");
        assert!(cands("logs db ").is_empty(), "then a number");
        assert!(cands("reload ").is_empty());
        let c = complete("restart wor", &procs);
        assert_eq!((c.start, c.candidates), (8, vec!["worker".to_string()]));
    }

    #[test]
    fn signal_names_then_processes() {
        assert_eq!(cands("signal TE"), ["TERM"]);
        assert_eq!(cands("signal SIGUS"), ["SIGUSR1", "SIGUSR2"]);
        assert_eq!(cands("signal usr"), ["usr1", "usr2"]);
        assert_eq!(cands("signal HUP d"), ["db"]);
    }

    #[test]
    fn fuzz_signal_completion_of_non_ascii_text() {
        // Found by fuzz/line_editor: Tab after `signal 𓐘𓐘` sliced the word
        // inside a character and panicked the supervisor.
        assert!(cands("signal 𓐘𓐘").is_empty());
        assert!(cands("signal é").is_empty());
        assert!(cands("signal sé").is_empty());
        assert_eq!(cands("signal sigte"), ["sigterm"]);
    }

    #[test]
    fn common_prefixes() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(common_prefix(&v(&["web_1", "web_2", "web"])), "web");
        assert_eq!(common_prefix(&v(&["stop", "start"])), "st");
        assert_eq!(common_prefix(&v(&["é1", "é2"])), "é");
        assert_eq!(common_prefix(&v(&["éa", "èa"])), "");
        assert_eq!(common_prefix(&v(&["one"])), "one");
        assert_eq!(common_prefix(&[]), "");
    }
}
