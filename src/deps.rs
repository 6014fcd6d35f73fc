//! The `dependsOn` graph as pure functions: whether a condition holds for
//! the processes of a task (all instances must meet it; any that failed for
//! good fails it), the reason a WAITING process shows, which tasks a start
//! pulls in, and the order of a group stop (dependents before what they
//! depend on). Cycles and unknown names never reach here: the config
//! refuses them. Never touches a process; the supervisor passes what it
//! sees.

use std::collections::{BTreeMap, BTreeSet};

pub use crate::config::Condition;

/// Each task's `dependsOn`: task name -> (dependency name -> condition).
pub type Graph = BTreeMap<String, BTreeMap<String, Condition>>;

/// The word a condition is written with.
pub fn condition_name(c: Condition) -> &'static str {
    match c {
        Condition::Started => "started",
        Condition::Running => "running",
        Condition::Healthy => "healthy",
        Condition::Completed => "completed",
    }
}

/// Where one process of a dependency is, as far as conditions care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not spawned and not about to be met: STOPPED, WAITING, BACKOFF, a
    /// restart pending.
    Down,
    /// Spawned, inside its start grace period (STARTED), or stopping.
    Started,
    /// RUNNING; `ready` once healthy / READY=1 where it has a check or
    /// `notify` (always true without).
    Running { ready: bool },
    /// EXITED for good with an expected code.
    Completed,
    /// FATAL, or EXITED for good with an unexpected code.
    Failed,
}

/// Whether a condition holds for a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Met,
    Unmet,
    /// It never will: the dependents go FATAL.
    Failed,
}

/// How `cond` stands for one process.
pub fn standing(cond: Condition, seen: Seen) -> Standing {
    use Condition as C;
    match (cond, seen) {
        (_, Seen::Failed) => Standing::Failed,
        (C::Started, Seen::Started | Seen::Running { .. } | Seen::Completed) => Standing::Met,
        (C::Running, Seen::Running { .. } | Seen::Completed) => Standing::Met,
        (C::Healthy, Seen::Running { ready: true }) => Standing::Met,
        (C::Completed, Seen::Completed) => Standing::Met,
        (C::Started, Seen::Down)
        | (C::Running, Seen::Down | Seen::Started)
        | (C::Healthy, Seen::Down | Seen::Started | Seen::Running { ready: false })
        | (C::Healthy, Seen::Completed)
        | (C::Completed, Seen::Down | Seen::Started | Seen::Running { .. }) => Standing::Unmet,
    }
}

/// How `cond` stands for a task whose processes are `seen`: met when all
/// are, failed when any failed. A task with no instances is met.
pub fn task_standing(cond: Condition, seen: impl IntoIterator<Item = Seen>) -> Standing {
    let mut all = Standing::Met;
    for s in seen {
        match standing(cond, s) {
            Standing::Failed => return Standing::Failed,
            Standing::Unmet => all = Standing::Unmet,
            Standing::Met => {}
        }
    }
    all
}

/// The text after "waiting for": `db (healthy), migrate (completed)`.
pub fn waiting_for(unmet: &[(String, Condition)]) -> String {
    unmet
        .iter()
        .map(|(name, c)| format!("{name} ({})", condition_name(*c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The tasks `roots` depend on, directly or not, dependencies first (each
/// before every task that depends on it), `roots` themselves excluded
/// unless one depends on another.
pub fn dependencies_of(graph: &Graph, roots: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    // Iterative post-order: (task, whether its dependencies are pushed).
    let mut stack: Vec<(String, bool)> = roots.iter().rev().map(|r| (r.clone(), false)).collect();
    let root_set: BTreeSet<&String> = roots.iter().collect();
    let mut is_dep = BTreeSet::new();
    while let Some((task, expanded)) = stack.pop() {
        if expanded {
            order.push(task);
            continue;
        }
        if !seen.insert(task.clone()) {
            continue;
        }
        stack.push((task.clone(), true));
        if let Some(deps) = graph.get(&task) {
            for d in deps.keys().rev() {
                is_dep.insert(d.clone());
                if !seen.contains(d) {
                    stack.push((d.clone(), false));
                }
            }
        }
    }
    order
        .into_iter()
        .filter(|t| !root_set.contains(t) || is_dep.contains(t))
        .collect()
}

/// For each task, the tasks that depend on it directly.
pub fn dependents(graph: &Graph) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (task, deps) in graph {
        for d in deps.keys() {
            out.entry(d.clone()).or_default().push(task.clone());
        }
    }
    out
}

/// Whether `task`, one of a set being stopped together (`stopping` says for
/// a task whether it is in the set and still not down), must wait: some
/// task depending on it, directly or through tasks outside the set, is
/// still being stopped.
pub fn stop_blocked(
    task: &str,
    dependents: &BTreeMap<String, Vec<String>>,
    stopping: impl Fn(&str) -> bool,
) -> bool {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&str> = vec![task];
    while let Some(t) = todo.pop() {
        for d in dependents.get(t).into_iter().flatten() {
            if !seen.insert(d.as_str()) {
                continue;
            }
            if stopping(d) {
                return true;
            }
            todo.push(d);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use Condition as C;

    fn graph(edges: &[(&str, &str, Condition)]) -> Graph {
        let mut g = Graph::new();
        for (t, d, c) in edges {
            g.entry(t.to_string())
                .or_default()
                .insert(d.to_string(), *c);
            g.entry(d.to_string()).or_default();
        }
        g
    }

    #[test]
    fn every_condition_against_every_sight() {
        use Seen as S;
        use Standing::{Failed as F, Met as M, Unmet as U};
        let sights = [
            S::Down,
            S::Started,
            S::Running { ready: false },
            S::Running { ready: true },
            S::Completed,
            S::Failed,
        ];
        let table = [
            (C::Started, [U, M, M, M, M, F]),
            (C::Running, [U, U, M, M, M, F]),
            (C::Healthy, [U, U, U, M, U, F]),
            (C::Completed, [U, U, U, U, M, F]),
        ];
        for (cond, row) in table {
            for (s, want) in sights.iter().zip(row) {
                assert_eq!(standing(cond, *s), want, "{cond:?} {s:?}");
            }
        }
    }

    #[test]
    fn all_instances_must_meet_and_one_failure_fails() {
        use Seen as S;
        let ready = S::Running { ready: true };
        assert_eq!(task_standing(C::Healthy, [ready, ready]), Standing::Met);
        assert_eq!(
            task_standing(C::Healthy, [ready, S::Running { ready: false }]),
            Standing::Unmet
        );
        assert_eq!(
            task_standing(C::Healthy, [S::Down, S::Failed, ready]),
            Standing::Failed
        );
        assert_eq!(task_standing(C::Completed, []), Standing::Met);
    }

    #[test]
    fn waiting_reason_names_each_dependency() {
        assert_eq!(
            waiting_for(&[("db".into(), C::Healthy), ("migrate".into(), C::Completed)]),
            "db (healthy), migrate (completed)"
        );
    }

    #[test]
    fn a_start_pulls_in_dependencies_first() {
        let g = graph(&[
            ("api", "db", C::Healthy),
            ("api", "migrate", C::Completed),
            ("migrate", "db", C::Healthy),
            ("worker", "api", C::Healthy),
            ("other", "x", C::Started),
        ]);
        let order = dependencies_of(&g, &["worker".into()]);
        assert_eq!(order, ["db", "migrate", "api"]);
        let order = dependencies_of(&g, &["worker".into(), "api".into()]);
        assert_eq!(
            order,
            ["db", "migrate", "api"],
            "api is a dependency of worker"
        );
        assert!(dependencies_of(&g, &["db".into()]).is_empty());
    }

    #[test]
    fn stops_wait_for_dependents_in_the_set_even_through_others() {
        let g = graph(&[
            ("api", "db", C::Healthy),
            ("worker", "api", C::Healthy),
            ("cache", "db", C::Started),
        ]);
        let deps = dependents(&g);
        let stopping = |set: &'static [&'static str]| move |t: &str| set.contains(&t);
        let all = stopping(&["db", "api", "worker", "cache"]);
        assert!(stop_blocked("db", &deps, all));
        assert!(stop_blocked("api", &deps, all));
        assert!(!stop_blocked("worker", &deps, all));
        assert!(!stop_blocked("cache", &deps, all));
        // api is not being stopped, but worker (which depends on it) is.
        assert!(stop_blocked("db", &deps, stopping(&["db", "worker"])));
        assert!(!stop_blocked("db", &deps, stopping(&["db"])));
    }
}
