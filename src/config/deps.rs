//! Checks that need every task at once: process names two tasks share, and
//! the `dependsOn` graph (unknown tasks, a task depending on itself,
//! cycles, each named with where it is written). Linear in tasks plus
//! dependencies; no recursion, so a chain of 100 000 tasks is fine.

use std::collections::HashMap;

use super::Condition;
use super::schema::unknown;
use super::values::{Item, Validator};
use super::yaml::Pos;
use crate::text::quoted;

/// One `dependsOn` entry.
#[derive(Debug, Clone)]
pub struct Dep {
    pub task: String,
    pub condition: Condition,
    at: Pos,
    path: String,
}

impl Dep {
    pub(super) fn new(task: &str, condition: Condition, at: Pos, path: String) -> Dep {
        Dep {
            task: task.to_string(),
            condition,
            at,
            path,
        }
    }
}

/// A task as the cross-task checks see it.
struct Task {
    name: String,
    /// `None` when `instances` was invalid (no process-name check then).
    instances: Option<u32>,
    at: Pos,
    path: String,
    deps: Vec<Dep>,
}

/// Every task with a valid name, in file order.
#[derive(Default)]
pub(super) struct Graph {
    tasks: Vec<Task>,
}

impl Graph {
    pub(super) fn add(&mut self, name: &str, instances: Option<u32>, it: &Item, deps: Vec<Dep>) {
        self.tasks.push(Task {
            name: name.to_string(),
            instances,
            at: it.at,
            path: it.path.clone(),
            deps,
        });
    }

    /// Reports every problem into `v`; true when there is none.
    pub(super) fn check(&self, v: &mut Validator) -> bool {
        let before = v.problems.len();
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        for (i, t) in self.tasks.iter().enumerate() {
            if by_name.contains_key(t.name.as_str()) {
                let message = format!("duplicate task name {}", quoted(&t.name));
                v.error(t.at, &t.path, message);
            } else {
                by_name.insert(&t.name, i);
            }
        }
        self.process_names(v, &by_name);
        // Edges as indices; unknown and self-dependencies are reported here.
        let mut edges: Vec<Vec<(usize, &Dep)>> = vec![Vec::new(); self.tasks.len()];
        for (i, t) in self.tasks.iter().enumerate() {
            for d in &t.deps {
                match by_name.get(d.task.as_str()) {
                    None => {
                        let names = self.tasks.iter().map(|t| t.name.as_str());
                        v.error(d.at, &d.path, unknown("task", &d.task, names));
                    }
                    Some(&j) if j == i => {
                        let message = format!("task {} depends on itself", quoted(&t.name));
                        v.error(d.at, &d.path, message);
                    }
                    Some(&j) => edges[i].push((j, d)),
                }
            }
        }
        self.cycles(v, &edges);
        v.problems.len() == before
    }

    /// Only a generated name `A_i` can meet a single-instance task
    /// literally named `A_i` (two generated names of different tasks never
    /// meet: `i` is digits only), so no name list is ever built.
    fn process_names(&self, v: &mut Validator, by_name: &HashMap<&str, usize>) {
        for (j, single) in self.tasks.iter().enumerate() {
            let Some((prefix, digits)) = single.name.rsplit_once('_') else {
                continue;
            };
            let Some(&i) = by_name.get(prefix) else {
                continue;
            };
            let multi = &self.tasks[i];
            let n = u64::from(multi.instances.unwrap_or(0));
            // Digits only, without a leading zero ('+' is the one other
            // character that parsing a u64 takes).
            let k = digits
                .parse::<u64>()
                .ok()
                .filter(|_| !digits.starts_with(['0', '+']));
            if single.instances == Some(1) && n > 1 && k.is_some_and(|k| k <= n) {
                // Reported at whichever of the two comes second in the file.
                let later = if i < j { single } else { multi };
                let message = format!(
                    "duplicate process name {} (task {} and task {})",
                    quoted(&single.name),
                    quoted(&multi.name),
                    quoted(&single.name)
                );
                v.error(later.at, &later.path, message);
            }
        }
    }

    /// Depth-first search with an explicit stack; each back edge is a cycle,
    /// reported at the dependency that closes it.
    fn cycles(&self, v: &mut Validator, edges: &[Vec<(usize, &Dep)>]) {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        let mut mark = vec![Mark::New; self.tasks.len()];
        for start in 0..self.tasks.len() {
            if mark[start] != Mark::New {
                continue;
            }
            // (task, next edge to follow)
            let mut path: Vec<(usize, usize)> = vec![(start, 0)];
            mark[start] = Mark::OnPath;
            while let Some(&mut (task, ref mut next)) = path.last_mut() {
                let Some(&(to, dep)) = edges[task].get(*next) else {
                    mark[task] = Mark::Done;
                    path.pop();
                    continue;
                };
                *next += 1;
                match mark[to] {
                    Mark::New => {
                        mark[to] = Mark::OnPath;
                        path.push((to, 0));
                    }
                    Mark::OnPath => {
                        let from = path.iter().position(|&(t, _)| t == to).unwrap_or(0);
                        let mut names: Vec<&str> = path[from..]
                            .iter()
                            .map(|&(t, _)| self.tasks[t].name.as_str())
                            .collect();
                        names.push(&self.tasks[to].name);
                        let message = format!("dependency cycle {}", names.join(" -> "));
                        v.error(dep.at, &dep.path, message);
                    }
                    Mark::Done => {}
                }
            }
        }
    }
}
