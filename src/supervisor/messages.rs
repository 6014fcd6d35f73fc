//! What the supervisor says and hears at its terminal: notices about its
//! own doings on stderr, replies to commands (to the shell, a control
//! connection, or the log), the prompt, and the command lines read from
//! stdin one at a time. Text for the person at the shell goes above the
//! line being edited.

use std::time::Instant;

use super::{ReplyTo, Supervisor};
use crate::console::Stream;
use crate::shell::stdin::{Fill, Stdin};

/// The shell at stdin.
pub(super) struct Shell {
    pub(super) stdin: Option<Stdin>,
    /// A shell command waits for its reply; further lines wait.
    pub(super) busy: bool,
    /// The shell became free: read the lines that waited.
    pub(super) resume: bool,
}

impl Shell {
    pub(super) fn new(stdin: Option<Stdin>) -> Shell {
        Shell {
            stdin,
            busy: false,
            resume: false,
        }
    }
}

impl Supervisor {
    /// Runs the command lines stdin has, one at a time: while a command
    /// waits for its reply, the next lines wait too. On a terminal the line
    /// editor keeps taking keys meanwhile (entered lines queue up).
    pub(super) fn read_stdin(&mut self, now: Instant) {
        loop {
            if self.shutting_down() {
                return;
            }
            let Some(stdin) = &mut self.shell.stdin else {
                return;
            };
            if !self.shell.busy
                && let Some(line) = stdin.next_line()
            {
                self.shell.busy = true;
                self.execute_line(&line, ReplyTo::Shell, now);
                continue;
            }
            if self.shell.busy && !stdin.is_editing() {
                return;
            }
            // Completion asks for the names only on Tab.
            let (procs, tasks) = (&self.by_name, &self.config.tasks);
            let names = |f: &mut dyn FnMut(&str)| {
                procs.keys().chain(tasks.keys()).for_each(|n| f(n));
            };
            let fill = stdin.fill(&mut self.console, &names);
            if stdin.take_interrupt() {
                // Ctrl-C ends the shell's `logs -f`.
                self.unfollow(super::follow::FollowTo::Shell);
            }
            let Some(stdin) = &mut self.shell.stdin else {
                return;
            };
            match fill {
                Fill::Data => {}
                Fill::Empty => break,
                Fill::Eof => {
                    let tty = stdin.is_tty();
                    stdin.stop(self.poll.registry(), &mut self.console);
                    if tty {
                        // Ctrl-D on an empty line.
                        self.console.raw(Stream::Out, b"\n");
                        self.emit_supervisor(crate::events::What::ShuttingDown {
                            reason: "end of input at the terminal".into(),
                        });
                        self.begin_shutdown(0, None, now);
                        return;
                    }
                }
            }
        }
        self.prompt();
    }

    /// Shows the prompt if the shell takes input now: when no command
    /// waits for its reply, or at any time with the line editor.
    pub(super) fn prompt(&mut self) {
        if let Some(stdin) = &mut self.shell.stdin
            && (!self.shell.busy || stdin.is_editing())
            && !self.shutdown.is_on()
        {
            stdin.prompt(&mut self.console);
        }
    }

    /// Prints `text` for the person at the shell: above the prompt and the
    /// line being typed when they are on screen.
    pub(super) fn say(&mut self, stream: Stream, text: &str) {
        match &mut self.shell.stdin {
            Some(stdin) => stdin.above_prompt(&mut self.console, stream, text),
            None => self.console.text(stream, text),
        }
    }

    /// Whether a reply to the shell may colour states.
    pub(super) fn shell_colour(&self) -> bool {
        self.shell.stdin.as_ref().is_some_and(|s| s.colour())
    }

    /// Delivers a finished reply.
    pub(super) fn reply(&mut self, to: ReplyTo, ok: bool, text: String) {
        match to {
            ReplyTo::Shell => {
                if !text.is_empty() {
                    self.say(Stream::Out, &text);
                }
                self.shell.busy = false;
                self.prompt();
                self.shell.resume = true;
            }
            ReplyTo::Conn(k) => self.conn_reply(k, ok, text),
            ReplyTo::Log => {
                // The event itself is in the log already (a reload's
                // record): this is its terminal view.
                for l in text.lines() {
                    self.show_notice(l);
                }
            }
            ReplyTo::Quiet => {}
        }
    }
}
