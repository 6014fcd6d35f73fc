//! The shell's input: stdin read without blocking, cut into command lines,
//! and the prompt. A terminal in the foreground (stdin and stdout, `TERM`
//! not `dumb`) gets the line editor of `line.rs` in raw mode, with history
//! (`history.rs`) and completion; the prompt `Taskmaster> ` stays usable
//! while a command waits for its reply, and notices and replies are printed
//! above it with the line being typed redrawn. Anything else is read as
//! plain lines. Stdin's flags and the terminal's modes live on an open file
//! shared with other programs, so they are restored on every way out
//! (`stop`, `restore`, drop, and the panic hook of `term.rs`). It never
//! blocks: reads are non-blocking and writes go through the `Console`.

use std::collections::VecDeque;

use mio::Registry;
use mio::unix::SourceFd;

use crate::console::{Console, Stream};
use crate::logs::lines::Lines;
use crate::shell::complete::Names;
use crate::shell::history::{self, History, HistoryFile, MAX_ENTRIES};
use crate::shell::line::{Editor, Output};
use crate::shell::term;

/// The prompt shown on a terminal.
pub const PROMPT: &str = "Taskmaster> ";

/// The width assumed when the terminal does not tell.
const DEFAULT_WIDTH: usize = 80;

/// What reading stdin gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Bytes arrived (maybe lines).
    Data,
    /// Nothing more for now.
    Empty,
    /// End of input.
    Eof,
}

/// The supervisor's stdin.
pub struct Stdin {
    /// A terminal whose foreground job we are.
    tty: bool,
    flags: Option<rustix::fs::OFlags>,
    /// Registered with the poll (false for files and /dev/null, which are
    /// always readable and are read to the end at once).
    registered: bool,
    lines: Lines,
    queue: VecDeque<String>,
    done: bool,
    /// The plain prompt is on screen (a terminal without the editor).
    prompted: bool,
    /// The line editor, when stdin and stdout are a terminal in raw mode.
    editor: Option<Box<Editor>>,
    history: Option<HistoryFile>,
    /// Ctrl-D was typed: `shutdown` is queued and nothing more is read.
    closing: bool,
    /// `status` may colour states: stdout is a terminal, `NO_COLOR` unset.
    colour: bool,
    /// Ctrl-C was typed since the last `take_interrupt`.
    interrupted: bool,
    /// The prompt was erased for text printed above it in this loop turn;
    /// `show_again` brings it back once, after all of that text.
    erased: bool,
}

impl Default for Stdin {
    fn default() -> Self {
        Self::new()
    }
}

fn env_is(name: &str, value: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| v == value)
}

impl Stdin {
    /// Takes over fd 0, making it non-blocking; on a terminal, puts it in
    /// raw mode for the line editor and loads the history.
    pub fn new() -> Stdin {
        let stdin = rustix::stdio::stdin();
        let tty = rustix::termios::isatty(stdin);
        let out_tty = rustix::termios::isatty(rustix::stdio::stdout());
        let foreground = tty && term::is_foreground(stdin);
        let dumb = env_is("TERM", "dumb");
        // https://no-color.org: set and not empty disables colour.
        let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let editing = foreground && out_tty && !dumb;
        // Messages now, while the fds still block.
        if tty && !foreground {
            crate::text::stderr_line(
                "taskmaster: not the terminal's foreground job: no shell (use 'taskmaster ctl')",
            );
        }
        let (history_file, history) = match editing.then(history_path).flatten() {
            Some(path) => {
                let (file, h, err) = HistoryFile::load(path, MAX_ENTRIES);
                if let Some(e) = err {
                    crate::text::stderr_line(&format!("taskmaster: {e}"));
                }
                (Some(file), h)
            }
            None => (None, History::new(MAX_ENTRIES)),
        };
        // A closed fd 0 just fails: there is nothing to read then.
        let flags = rustix::fs::fcntl_getfl(rustix::stdio::stdin()).ok();
        if let Some(f) = flags {
            term::remember_flags(f);
            let _ =
                rustix::fs::fcntl_setfl(rustix::stdio::stdin(), f | rustix::fs::OFlags::NONBLOCK);
        }
        let editor = (editing && term::enter(stdin).is_ok()).then(|| {
            let width = term::width().unwrap_or(DEFAULT_WIDTH);
            Box::new(Editor::new(PROMPT, width, history))
        });
        Stdin {
            tty: foreground,
            flags,
            registered: false,
            lines: Lines::default(),
            queue: VecDeque::new(),
            done: flags.is_none(),
            prompted: false,
            history: history_file.filter(|_| editor.is_some()),
            editor,
            closing: false,
            colour: out_tty && !dumb && !no_colour,
            interrupted: false,
            erased: false,
        }
    }

    /// Whether stdin is a terminal (whose foreground job we are).
    pub fn is_tty(&self) -> bool {
        self.tty
    }

    /// Whether the line editor runs: then keys are read and the prompt
    /// shown even while a command waits for its reply.
    pub fn is_editing(&self) -> bool {
        self.editor.is_some() && !self.done
    }

    /// Whether replies may colour states.
    pub fn colour(&self) -> bool {
        self.colour
    }

    /// Registers fd 0 with the poll under `token` when it can be polled.
    pub fn register(&mut self, reg: &Registry, token: mio::Token) {
        if self.done {
            return;
        }
        self.registered = reg
            .register(&mut SourceFd(&0), token, mio::Interest::READABLE)
            .is_ok();
    }

    /// Stops reading commands: erases the prompt and gives the terminal its
    /// own modes back (so from now on Ctrl-C is SIGINT again).
    pub fn stop(&mut self, reg: &Registry, console: &mut Console) {
        if let Some(ed) = &mut self.editor {
            console.raw(Stream::Out, &ed.hide());
        } else if std::mem::take(&mut self.prompted) && !self.done {
            console.raw(Stream::Out, b"\r\x1b[K");
        }
        term::leave();
        if self.registered {
            let _ = reg.deregister(&mut SourceFd(&0));
            self.registered = false;
        }
        self.done = true;
    }

    /// Whether Ctrl-C was typed since the last call (it ends the shell's
    /// `logs -f`).
    pub fn take_interrupt(&mut self) -> bool {
        std::mem::take(&mut self.interrupted)
    }

    /// The next complete command line, if one was read.
    pub fn next_line(&mut self) -> Option<String> {
        let line = self.queue.pop_front();
        if line.is_some() {
            self.prompted = false;
            if self.editor.is_none() {
                // Without the editor the prompt erased was this line's.
                self.erased = false;
            }
        }
        line
    }

    /// Reads what is available: plain lines into the queue, or keys into
    /// the editor (its screen updates go to `console`, entered lines to the
    /// queue). `names` are the process and task names, asked for on Tab.
    /// `Eof` comes once; after it (or `stop`) there is only `Empty`.
    pub fn fill(&mut self, console: &mut Console, names: Names) -> Fill {
        if self.done || self.closing {
            return Fill::Empty;
        }
        // Keys edit the line on screen: it is shown before they are.
        self.show_again(console);
        let mut buf = [0u8; 4096];
        loop {
            let n = match rustix::io::read(rustix::stdio::stdin(), &mut buf) {
                Ok(n) => n,
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::AGAIN) => return Fill::Empty,
                Err(_) => {
                    self.done = true;
                    return Fill::Eof;
                }
            };
            if n > 0 {
                let bytes = &buf[..n];
                if self.editor.is_some() {
                    self.edit(console, bytes, names);
                } else {
                    let queue = &mut self.queue;
                    self.lines.feed(bytes, |l| {
                        queue.push_back(String::from_utf8_lossy(l).into_owned());
                    });
                }
                return Fill::Data;
            }
            let queue = &mut self.queue;
            self.lines
                .finish(|l| queue.push_back(String::from_utf8_lossy(l).into_owned()));
            self.done = true;
            return Fill::Eof;
        }
    }

    /// Keys for the editor.
    fn edit(&mut self, console: &mut Console, bytes: &[u8], names: Names) {
        let Some(ed) = &mut self.editor else { return };
        for out in ed.feed(bytes, names) {
            match out {
                Output::Screen(b) => console.raw(Stream::Out, &b),
                Output::Line(line) => {
                    let kept = self
                        .editor
                        .as_mut()
                        .is_some_and(|ed| ed.history_mut().add(&line));
                    if kept
                        && let Some(file) = &mut self.history
                        && let Some(err) = file.append(&line)
                    {
                        console.line(Stream::Err, &[b"taskmaster: ", err.as_bytes()]);
                    }
                    self.queue.push_back(line);
                }
                Output::Eof => {
                    // Ctrl-D on an empty line is `shutdown`, in its turn.
                    if let Some(ed) = &mut self.editor
                        && ed.is_visible()
                    {
                        console.raw(Stream::Out, &ed.hide());
                        console.raw(Stream::Out, format!("{PROMPT}shutdown\r\n").as_bytes());
                    }
                    self.queue.push_back("shutdown".to_string());
                    self.closing = true;
                }
                Output::Interrupt => self.interrupted = true,
            }
        }
    }

    /// Shows the prompt (terminal only) unless it is already shown.
    pub fn prompt(&mut self, console: &mut Console) {
        if self.done || self.closing {
            return;
        }
        match &mut self.editor {
            Some(ed) if !ed.is_visible() => console.raw(Stream::Out, &ed.show()),
            Some(_) => {}
            None if self.tty && !self.prompted => {
                console.raw(Stream::Out, PROMPT.as_bytes());
                self.prompted = true;
            }
            None => {}
        }
    }

    /// Prints `text` (one or more lines) so that it does not run into the
    /// prompt: above it, with the line being typed redrawn below by
    /// `show_again` at the end of the loop turn, once for all the text of
    /// the turn.
    pub fn above_prompt(&mut self, console: &mut Console, stream: Stream, text: &str) {
        match &mut self.editor {
            Some(ed) if ed.is_visible() && !self.done => {
                console.raw(Stream::Out, &ed.hide());
                self.erased = true;
            }
            None if self.tty && self.prompted && !self.done => {
                console.raw(Stream::Out, b"\r\x1b[K");
                self.prompted = false;
                self.erased = true;
            }
            _ => {}
        }
        console.text(stream, text);
    }

    /// Redraws the prompt and the line being typed if text printed above
    /// them erased them (the end of a loop turn, or keys to edit the line).
    pub fn show_again(&mut self, console: &mut Console) {
        if !std::mem::take(&mut self.erased) || self.done || self.closing {
            return;
        }
        match &mut self.editor {
            Some(ed) if !ed.is_visible() => console.raw(Stream::Out, &ed.show()),
            Some(_) => {}
            None if !self.prompted => {
                console.raw(Stream::Out, PROMPT.as_bytes());
                self.prompted = true;
            }
            None => {}
        }
    }

    /// The terminal changed size (SIGWINCH): redraws the line for the new
    /// width.
    pub fn resize(&mut self, console: &mut Console) {
        if let Some(ed) = &mut self.editor
            && let Some(width) = term::width()
        {
            console.raw(Stream::Out, &ed.set_width(width));
        }
    }

    /// Restores the terminal's modes and fd 0's flags, and trims the
    /// history file. Safe to call more than once.
    pub fn restore(&mut self) {
        term::leave();
        if let Some(h) = &mut self.history {
            h.finish();
        }
        if let Some(f) = self.flags.take() {
            let _ = rustix::fs::fcntl_setfl(rustix::stdio::stdin(), f);
            term::forget_flags();
        }
    }
}

impl Drop for Stdin {
    /// Every way out restores the terminal, even an error before the loop.
    fn drop(&mut self) {
        self.restore();
    }
}

/// The history file's path from the environment (see `history::default_path`).
fn history_path() -> Option<std::path::PathBuf> {
    history::default_path(|k| std::env::var_os(k))
}
