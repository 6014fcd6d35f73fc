//! What a reload changes: the tasks of two configurations sorted into added,
//! removed, changed (a process-defining key differs, per DESIGN's Reload
//! section: their processes must restart), updated (policy keys or the
//! instance count differ: applied in place, processes keep running) and
//! unchanged. Which keys define a process is [`TaskSpec::same_process`]. Pure: it compares
//! two values and never touches a process.

use super::Config;
#[cfg(doc)]
use super::TaskSpec;

/// Task names of a reload, each list sorted; every task of either config is
/// in exactly one list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Only in the new config.
    pub added: Vec<String>,
    /// Only in the old config.
    pub removed: Vec<String>,
    /// In both, with a process-defining key changed: processes restart.
    pub changed: Vec<String>,
    /// In both, same processes, but a policy key or `instances` changed.
    pub updated: Vec<String>,
    /// In both and equal.
    pub unchanged: Vec<String>,
}

impl Diff {
    /// Whether the reload changes nothing at all.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.updated.is_empty()
    }
}

/// Compares the tasks of `old` and `new` by name.
pub fn diff(old: &Config, new: &Config) -> Diff {
    let mut d = Diff::default();
    // BTreeMap iteration is in name order, so every list comes out sorted.
    for (name, old_task) in &old.tasks {
        match new.tasks.get(name) {
            None => d.removed.push(name.clone()),
            Some(new_task) if !old_task.same_process(new_task) => d.changed.push(name.clone()),
            Some(new_task) if old_task != new_task => d.updated.push(name.clone()),
            Some(_) => d.unchanged.push(name.clone()),
        }
    }
    d.added = new
        .tasks
        .keys()
        .filter(|name| !old.tasks.contains_key(*name))
        .cloned()
        .collect();
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(text: &str) -> Config {
        crate::config::parse(text, Path::new("/etc/tm/taskmaster.yaml"), false)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    const BASE: &str = "
tasks:
  web: {command: nginx, instances: 2}
  worker: {command: work --fast, restart: always}
  cron: {command: crond}
";

    #[test]
    fn identical_configs_change_nothing() {
        let d = diff(&config(BASE), &config(BASE));
        assert_eq!(d.unchanged, names(&["cron", "web", "worker"]));
        assert!(d.is_empty());
        assert_eq!(
            d,
            Diff {
                unchanged: names(&["cron", "web", "worker"]),
                ..Diff::default()
            }
        );
    }

    #[test]
    fn added_and_removed() {
        let new = config(
            "
tasks:
  web: {command: nginx, instances: 2}
  worker: {command: work --fast, restart: always}
  backup: {command: backup.sh}
  api: {command: api}
",
        );
        let d = diff(&config(BASE), &new);
        assert_eq!(d.added, names(&["api", "backup"]));
        assert_eq!(d.removed, names(&["cron"]));
        assert_eq!(d.unchanged, names(&["web", "worker"]));
        assert!(d.changed.is_empty() && d.updated.is_empty());
        assert!(!d.is_empty());
    }

    #[test]
    fn process_keys_change_policy_keys_update() {
        let changes = [
            ("command: nginx -q", true),
            ("environment: {A: 1}", true),
            ("workingDirectory: /srv", true),
            ("umask: '077'", true),
            ("stdout: web.log", true),
            ("stderr: /tmp/web.err", true),
            ("instances: 3", false),
            ("instances: 1", false),
            ("autoLaunch: false", false),
            ("restart: never", false),
            ("expectedExitCodes: [0, 2]", false),
            ("successfulStartTimeout: 5", false),
            ("restartsAttempts: 9", false),
            ("stopingSignal: INT", false),
            ("stopSignal: KILL", false),
            ("gracefulStopTimeout: 1.5", false),
            ("essential: true", false),
            ("envFile: /etc/os-release", true),
            ("notify: true", true),
            ("restartDelay: 2", false),
            ("logMaxSize: 10M", false),
            ("logBackups: 1", false),
            ("dependsOn: [cron]", false),
            ("healthCheck: {tcp: '127.0.0.1:80'}", false),
            ("watchdogTimeout: 30", false),
            ("autorestart: false", false),
        ];
        for (change, restarts) in changes {
            let (key, _) = change.split_once(':').unwrap();
            let mut web = format!("{{command: nginx, instances: 2, {change}}}");
            if key == "command" || key == "instances" {
                web = format!(
                    "{{{change}{}}}",
                    if key == "command" {
                        ", instances: 2"
                    } else {
                        ", command: nginx"
                    }
                );
            }
            let new = config(&format!(
                "tasks:\n  web: {web}\n  worker: {{command: work --fast, restart: always}}\n  cron: {{command: crond}}\n"
            ));
            let d = diff(&config(BASE), &new);
            let (changed, updated) = if restarts {
                (names(&["web"]), vec![])
            } else {
                (vec![], names(&["web"]))
            };
            assert_eq!(d.changed, changed, "{change}");
            assert_eq!(d.updated, updated, "{change}");
            assert_eq!(d.unchanged, names(&["cron", "worker"]), "{change}");
            assert!(d.added.is_empty() && d.removed.is_empty(), "{change}");
        }
    }

    #[test]
    fn user_change_restarts() {
        let parse_root = |t: &str| crate::config::parse(t, Path::new("t.yaml"), true).unwrap();
        let old = parse_root("tasks: {a: {command: x, user: alice}, b: {command: y}}");
        let new = parse_root("tasks: {a: {command: x, user: bob}, b: {command: y, user: 0}}");
        let d = diff(&old, &new);
        assert_eq!(d.changed, names(&["a", "b"]));
    }

    #[test]
    fn same_text_written_differently_is_unchanged() {
        let old = config("tasks:\n  a:\n    command: sleep 10\n    expectedExitCodes: 0\n");
        let new = config("tasks: {a: {command: \"sleep  '10'\", expectedExitCodes: [0]}}");
        let d = diff(&old, &new);
        // The command text differs although argv is the same: a restart is
        // the safe reading of "command changed".
        assert_eq!(d.changed, names(&["a"]));
        let new =
            config("tasks: {a: {command: sleep 10, expectedExitCodes: [0], restart: on-failure}}");
        assert_eq!(diff(&old, &new).unchanged, names(&["a"]));
    }

    #[test]
    fn empty_configs() {
        let empty = config("tasks: {}");
        let d = diff(&empty, &config(BASE));
        assert_eq!(d.added, names(&["cron", "web", "worker"]));
        let d = diff(&config(BASE), &empty);
        assert_eq!(d.removed, names(&["cron", "web", "worker"]));
        assert_eq!(diff(&empty, &empty), Diff::default());
    }
}
