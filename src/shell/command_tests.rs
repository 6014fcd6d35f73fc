use super::*;

fn ok(line: &str) -> Command {
    parse(line).unwrap().unwrap()
}

#[test]
fn parses_each_command() {
    assert_eq!(
        ok("status"),
        Command::Status {
            names: vec![],
            json: false
        }
    );
    assert_eq!(
        ok("  status --json web_1 "),
        Command::Status {
            names: vec!["web_1".into()],
            json: true
        }
    );
    assert_eq!(
        ok("start a b"),
        Command::Start(vec!["a".into(), "b".into()])
    );
    assert_eq!(ok("stop all"), Command::Stop(vec!["all".into()]));
    assert_eq!(ok("restart w"), Command::Restart(vec!["w".into()]));
    assert_eq!(
        ok("start --wait db web"),
        Command::StartWait(vec!["db".into(), "web".into()])
    );
    assert_eq!(
        ok("restart db --wait"),
        Command::RestartWait(vec!["db".into()])
    );
    assert!(parse("start --wait").is_err());
    assert_eq!(ok("reload"), Command::Reload { dry_run: false });
    assert_eq!(ok("reload --dry-run"), Command::Reload { dry_run: true });
    let logs = |name: &str, lines, follow, streams| Command::Logs {
        name: name.into(),
        lines,
        follow,
        streams,
    };
    assert_eq!(ok("logs w"), logs("w", 10, false, Streams::Both));
    assert_eq!(ok("logs w 5"), logs("w", 5, false, Streams::Both));
    assert_eq!(ok("logs -f w"), logs("w", 10, true, Streams::Both));
    assert_eq!(
        ok("logs --follow --stderr all 3"),
        logs("all", 3, true, Streams::Stderr)
    );
    assert_eq!(
        ok("logs w --stdout 0 -f"),
        logs("w", 0, true, Streams::Stdout)
    );
    assert_eq!(
        ok("clear a b"),
        Command::Clear(vec!["a".into(), "b".into()])
    );
    assert_eq!(ok("version"), Command::Version);
    assert_eq!(
        ok("signal HUP w"),
        Command::Signal {
            sig: libc::SIGHUP,
            names: vec!["w".into()]
        }
    );
    assert_eq!(
        ok("signal 9 w x"),
        Command::Signal {
            sig: 9,
            names: vec!["w".into(), "x".into()]
        }
    );
    assert_eq!(ok("pid"), Command::Pid(None));
    assert_eq!(ok("pid w"), Command::Pid(Some("w".into())));
    assert_eq!(ok("help"), Command::Help(None));
    assert_eq!(ok("help stop"), Command::Help(Some("stop".into())));
    for s in ["shutdown", "quit", "exit"] {
        assert_eq!(ok(s), Command::Shutdown);
    }
    assert_eq!(ok("metrics"), Command::Metrics);
    assert_eq!(ok("events"), Command::Events);
    assert_eq!(parse("   ").unwrap(), None);
    assert_eq!(parse("").unwrap(), None);
}

#[test]
fn supervisorctl_words_mean_their_commands() {
    for (alias, same) in [
        ("tail w", "logs w"),
        ("tail -f w", "logs -f w"),
        ("tail -f --stderr web 20", "logs -f --stderr web 20"),
        ("update", "reload"),
        ("reread", "reload --dry-run"),
        ("avail", "status all"),
    ] {
        assert_eq!(ok(alias), ok(same), "{alias}");
    }
    assert_eq!(
        parse("avail x").unwrap_err(),
        "avail: unexpected argument 'x'"
    );
    assert_eq!(
        parse("update now").unwrap_err(),
        "update: unexpected argument 'now'"
    );
    assert_eq!(
        parse("version 2").unwrap_err(),
        "version: unexpected argument '2'"
    );
    assert_eq!(
        parse("clear").unwrap_err(),
        "clear: missing process name (usage: clear NAME...|all)"
    );
}

#[test]
fn help_lists_the_aliases() {
    let all = help(None).unwrap();
    let last = all.lines().last().unwrap();
    for word in [
        "tail = logs",
        "update = reload",
        "avail = status",
        "quit = shutdown",
    ] {
        assert!(last.contains(word), "{last}");
    }
    assert_eq!(
        help(Some("tail")).unwrap(),
        format!(
            "{}  {} ('tail' is an alias of 'logs')",
            COMMANDS[5].1, COMMANDS[5].2
        )
    );
    assert!(help(Some("version")).is_ok());
    assert!(help(Some("clear")).is_ok());
}

#[test]
fn rejects_bad_input_with_one_line() {
    for (line, want) in [
        ("frobnicate", "unknown command 'frobnicate' (try 'help')"),
        (
            "start",
            "start: missing process name (usage: start NAME...|all)",
        ),
        ("logs w x", "logs: 'x' is not a number of lines"),
        (
            "logs",
            "logs: missing process name (usage: logs [-f] [--stdout|--stderr] NAME|all [N])",
        ),
        (
            "logs --stdout --stderr w",
            "logs: give one of --stdout and --stderr (usage: logs [-f] [--stdout|--stderr] NAME|all [N])",
        ),
        ("logs -x w", "logs: unknown option '-x'"),
        ("logs w 1 2", "logs: unexpected argument '2'"),
        ("signal FOO w", "signal: unknown signal 'FOO'"),
        (
            "signal TERM",
            "signal: missing process name (usage: signal SIG NAME...|all)",
        ),
        ("status --yaml", "status: unknown option '--yaml'"),
        ("reload now", "reload: unexpected argument 'now'"),
        ("metrics x", "metrics: unexpected argument 'x'"),
        ("events all", "events: unexpected argument 'all'"),
        ("stop a/b", "stop: invalid process name 'a/b'"),
        ("start 'unterminated", "unterminated single quote"),
    ] {
        let err = parse(line).unwrap_err();
        assert_eq!(err, want, "{line}");
        assert!(!err.contains('\n'));
    }
}

#[test]
fn display_parses_back() {
    for line in [
        "status",
        "status --json a b",
        "start a b",
        "stop all",
        "restart x",
        "start --wait a b",
        "restart --wait x",
        "reload",
        "logs w 3",
        "logs -f w",
        "logs --stderr -f all 7",
        "logs --stdout x",
        "tail -f w",
        "clear a b",
        "version",
        "update",
        "avail",
        "signal USR1 a",
        "pid",
        "pid w",
        "help",
        "help quit",
        "shutdown",
        "metrics",
        "events",
    ] {
        let c = ok(line);
        assert_eq!(ok(&c.to_string()), c, "{line}");
    }
}

#[test]
fn fuzz_control_characters_in_errors_are_escaped() {
    // Found by fuzz/command: a quoted word may hold a line break, and
    // errors quoted it raw, over two lines.
    for (line, want) in [
        ("'\x10'", "unknown command '\\u{10}' (try 'help')"),
        ("'a\nb'", "unknown command 'a\\nb' (try 'help')"),
        ("status '-\r'", "status: unknown option '-\\r'"),
        ("logs w '1\n'", "logs: '1\\n' is not a number of lines"),
        ("signal 'TE\nRM' w", "signal: unknown signal 'TE\\nRM'"),
        ("reload '\t'", "reload: unexpected argument '\\t'"),
    ] {
        let err = parse(line).unwrap_err();
        assert_eq!(err, want, "{line:?}");
        assert!(!err.chars().any(char::is_control), "{err:?}");
    }
}

#[test]
fn fuzz_help_topic_with_a_line_break_is_refused() {
    // Found by fuzz/command: `help 'a<newline>b'` parsed, and printed
    // back over two lines.
    assert_eq!(
        parse("help 'a\nb'").unwrap_err(),
        "unknown command 'a\\nb' (try 'help')"
    );
    assert_eq!(
        parse("help nope").unwrap_err(),
        "unknown command 'nope' (try 'help')"
    );
    assert_eq!(ok("help quit"), Command::Help(Some("quit".into())));
}

#[test]
fn help_covers_every_command() {
    let all = help(None).unwrap();
    for (word, _, _) in COMMANDS {
        assert!(all.contains(word));
        assert!(help(Some(word)).is_ok());
    }
    assert!(help(Some("quit")).unwrap().starts_with("shutdown"));
    assert!(help(Some("nope")).is_err());
}
