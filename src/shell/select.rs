//! Which processes a name in a command stands for: a process, a task, `all`,
//! a glob over process names (`worker_*`, `web?`, `db[12]`) or
//! supervisorctl's `task:*`, `task:N` (instance N) and `task:process`.
//! Pure: it sees names, never a process.

/// One name as written in a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector<'a> {
    /// `all`.
    All,
    /// A process or task name, as is.
    Name(&'a str),
    /// `task:*`.
    Task(&'a str),
    /// `task:N` or `task:process`: `member` is `N` or the process name.
    Member { task: &'a str, member: &'a str },
    /// A pattern with `*`, `?` or `[...]`.
    Glob(&'a str),
}

/// Reads one name of a command.
pub fn selector(name: &str) -> Selector<'_> {
    if name == "all" {
        return Selector::All;
    }
    if let Some((task, member)) = name.split_once(':') {
        return match member {
            "*" => Selector::Task(task),
            _ => Selector::Member { task, member },
        };
    }
    if name.contains(['*', '?', '[']) {
        return Selector::Glob(name);
    }
    Selector::Name(name)
}

/// The process name `member` of `task:member` stands for: `N` is instance
/// N of a task with `instances` instances, anything else is taken as a
/// process name (the caller checks that it belongs to the task).
pub fn member(task: &str, instances: u32, member: &str) -> String {
    match member.parse::<u32>() {
        Ok(1) if instances == 1 => task.to_string(),
        Ok(n) => format!("{task}_{n}"),
        Err(_) => member.to_string(),
    }
}

/// Whether `name` matches shell glob `pattern`: `*` any run, `?` one
/// character, `[abc]`, `[a-z]`, `[!a]` one of a set. It backtracks only to
/// the last `*`, so it takes at most pattern × name steps.
pub fn glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => match class(&p[pi..], n[ni]) {
                Some((hit, len)) => hit.then_some(pi + len),
                // Unterminated: a literal `[`.
                None => (n[ni] == '[').then_some(pi + 1),
            },
            Some(&c) if c == n[ni] => Some(pi + 1),
            _ => None,
        };
        match (step, star) {
            (Some(next), _) => {
                pi = next;
                ni += 1;
            }
            (None, Some((sp, sn))) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            (None, None) => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A `[...]` class at the start of `p`: whether `c` is in it and the
/// class's length; `None` when it has no closing `]`.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let close = p.iter().skip(2).position(|&x| x == ']').map(|i| i + 2)?;
    let body = &p[1..close];
    let (negate, body) = match body.first() {
        Some('!' | '^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == '-' {
            hit |= (body[i]..=body[i + 2]).contains(&c);
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    Some((hit != negate, close + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        assert_eq!(selector("all"), Selector::All);
        assert_eq!(selector("web"), Selector::Name("web"));
        assert_eq!(selector("web:*"), Selector::Task("web"));
        assert_eq!(
            selector("w:2"),
            Selector::Member {
                task: "w",
                member: "2"
            }
        );
        assert_eq!(selector("worker_*"), Selector::Glob("worker_*"));
        assert_eq!(selector("web?"), Selector::Glob("web?"));
    }

    #[test]
    fn members() {
        assert_eq!(member("w", 3, "2"), "w_2");
        assert_eq!(member("w", 3, "w_3"), "w_3");
        assert_eq!(member("w", 1, "1"), "w");
        assert_eq!(member("w", 1, "2"), "w_2");
    }

    #[test]
    fn globs() {
        for (p, n, hit) in [
            ("worker_*", "worker_1", true),
            ("worker_*", "worker_", true),
            ("worker_*", "work", false),
            ("web?", "web1", true),
            ("web?", "web", false),
            ("web?", "web12", false),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("*_1", "w_1", true),
            ("db[12]", "db2", true),
            ("db[12]", "db3", false),
            ("db[!12]", "db3", true),
            ("db[a-c]", "dbb", true),
            ("db[", "db[", true),
            ("exact", "exact", true),
        ] {
            assert_eq!(glob(p, n), hit, "{p} {n}");
        }
        // Many stars stay fast.
        let pattern = format!("{}b", "*a".repeat(50));
        assert!(!glob(&pattern, &"a".repeat(5000)));
    }
}
