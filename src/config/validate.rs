//! Reads a configuration file and turns it into a [`Config`], reporting every
//! problem at once as `file:line:column: key.path: message`. serde_yaml
//! decides the structure and the types; a small shadow parser over the same
//! text finds where each key sits and keeps each plain scalar as written
//! (`1.50`, `0x1F`, `True`), which serde_yaml forgets. The shadow parser only
//! ever informs messages and scalar text: when it cannot follow the file
//! (unusual flow or alias layouts) positions fall back to the nearest key it
//! found. Nothing here starts a process or touches any file but the one read
//! by [`load`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use super::schema::{self, TASK_KEYS, TOP_KEYS};
use super::{Config, RestartPolicy, TaskSpec, base_dir, words};

/// Every problem found in one configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// One full line per problem, in file order, e.g.
    /// `taskmaster.yaml:12:5: tasks.web.restart: unknown value 'sometimes'
    /// (expected always, on-failure, never)`.
    pub errors: Vec<String>,
}

impl ConfigError {
    fn one(message: String) -> Self {
        ConfigError {
            errors: vec![message],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.errors.join("\n"))
    }
}

impl std::error::Error for ConfigError {}

/// Reads and validates the configuration file at `path`; see [`parse`].
///
/// Fails when the file cannot be read (`cannot read PATH: REASON`), is not
/// UTF-8, or is not a valid configuration.
pub fn load(path: &Path, is_root: bool) -> Result<Config, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| {
        ConfigError::one(format!(
            "cannot read {}: {}",
            path.display(),
            os_message(&e)
        ))
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let valid = std::str::from_utf8(valid).unwrap_or_default();
        let at = Lines::new(valid).pos_in(valid, valid.len());
        ConfigError::one(format!(
            "{}:{}:{}: not valid UTF-8 text",
            path.display(),
            at.line,
            at.col
        ))
    })?;
    parse(&text, path, is_root)
}

/// Validates configuration `text` read from `path` (used in messages as
/// given, and to resolve relative paths against its directory). `is_root`
/// says whether the supervisor runs as root, which `user` requires.
///
/// Fails with every problem of the file: YAML syntax (only the first, where
/// serde_yaml stopped), unknown keys (with the nearest valid key when it
/// looks like a misspelling), wrong types, out-of-range values, unknown
/// signals, invalid or duplicate names.
pub fn parse(text: &str, path: &Path, is_root: bool) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let root: Value = serde_yaml::from_str(text)
        .map_err(|e| ConfigError::one(syntax_message(&file, text, &e)))?;
    let shadow = Shadow::parse(text);
    let base = std::path::absolute(base_dir(path)).unwrap_or_else(|_| base_dir(path));
    let mut v = Validator {
        shadow: &shadow,
        is_root,
        base,
        problems: Vec::new(),
    };
    let config = v.config(&root, path);
    match config {
        Some(config) if v.problems.is_empty() => Ok(config),
        _ => {
            if v.problems.is_empty() {
                v.error(START, "", "invalid configuration".to_string());
            }
            // Stable: problems at one place keep the order they were found in.
            v.problems.sort_by_key(|p| p.at);
            let offsets: Vec<usize> = v.problems.iter().map(|p| p.at).collect();
            let positions = shadow.lines.positions(text, &offsets);
            let errors = v
                .problems
                .into_iter()
                .zip(positions)
                .map(|(p, Pos { line, col })| {
                    if p.path.is_empty() {
                        format!("{file}:{line}:{col}: {}", p.message)
                    } else {
                        format!("{file}:{line}:{col}: {}: {}", p.path, p.message)
                    }
                })
                .collect();
            Err(ConfigError { errors })
        }
    }
}

/// An I/O error's text without the ` (os error N)` suffix.
fn os_message(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// A serde_yaml error as `file:line:column: message`.
fn syntax_message(file: &str, text: &str, e: &serde_yaml::Error) -> String {
    let message = strip_mark(&e.to_string());
    let at = duplicate_pos(text, &message).unwrap_or_else(|| {
        e.location().map_or(Pos { line: 1, col: 1 }, |l| Pos {
            line: l.line(),
            col: l.column(),
        })
    });
    format!(
        "{file}:{}:{}: {}",
        at.line,
        at.col,
        super::words::one_line(&message)
    )
}

/// Where the second of two equal keys is, for serde_yaml's
/// `PATH: duplicate entry with key "KEY"` (which points at the mapping).
fn duplicate_pos(text: &str, message: &str) -> Option<Pos> {
    const MARK: &str = "duplicate entry with key ";
    let (path, key) = match message.split_once(&format!(": {MARK}")) {
        Some((path, key)) => (path, key),
        None => ("", message.strip_prefix(MARK)?),
    };
    let shadow = Shadow::parse(text);
    let mut node = shadow.root;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let Some(Shape::Map(entries)) = shadow.nodes.get(node) else {
            return None;
        };
        node = entries
            .iter()
            .find(|e| e.key.as_deref() == Some(part))?
            .value;
    }
    let Some(Shape::Map(entries)) = shadow.nodes.get(node) else {
        return None;
    };
    let second = entries
        .iter()
        .filter(|e| {
            e.key
                .as_deref()
                .is_some_and(|k| format!("{k:?}") == key || k == key)
        })
        .nth(1)?;
    Some(shadow.pos(second.at))
}

/// Removes the first ` at line N column M` (or ` at position N`) from a
/// serde_yaml message: the location is already in front of it.
fn strip_mark(s: &str) -> String {
    for (i, _) in s.match_indices(" at ") {
        let rest = &s[i + 4..];
        let digits = |t: &str| t.bytes().take_while(u8::is_ascii_digit).count();
        let len = if let Some(t) = rest.strip_prefix("line ") {
            let d = digits(t);
            match t[d..].strip_prefix(" column ") {
                Some(u) if d > 0 && digits(u) > 0 => {
                    "line ".len() + d + " column ".len() + digits(u)
                }
                _ => continue,
            }
        } else if let Some(t) = rest.strip_prefix("position ") {
            match digits(t) {
                0 => continue,
                d => "position ".len() + d,
            }
        } else {
            continue;
        };
        return format!("{}{}", &s[..i], &rest[len..]);
    }
    s.to_string()
}

/// A 1-based line and column (in characters), as editors count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Pos {
    line: usize,
    col: usize,
}

/// Byte offset standing for "the file as a whole" (line 1, column 1).
const START: usize = 0;

/// One problem, before formatting.
struct Problem {
    /// Byte offset of the key it is about.
    at: usize,
    path: String,
    message: String,
}

/// The lines of a text, split like libyaml does (`\n`, `\r\n`, `\r`).
struct Lines {
    /// Byte range of each line's content, without its line break.
    spans: Vec<(usize, usize)>,
}

impl Lines {
    fn new(text: &str) -> Self {
        let b = text.as_bytes();
        let mut spans = Vec::new();
        let mut start = if text.starts_with('\u{feff}') { 3 } else { 0 };
        let mut i = start;
        while i < b.len() {
            match b[i] {
                b'\n' => {
                    spans.push((start, i));
                    start = i + 1;
                }
                b'\r' => {
                    spans.push((start, i));
                    if b.get(i + 1) == Some(&b'\n') {
                        i += 1;
                    }
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        spans.push((start, b.len()));
        Lines { spans }
    }

    /// Index of the line holding byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.spans
            .partition_point(|&(start, _)| start <= offset)
            .saturating_sub(1)
    }

    /// `pos_in` for many ascending `offsets` at once, in one pass over each
    /// line involved rather than one per offset.
    fn positions(&self, text: &str, offsets: &[usize]) -> Vec<Pos> {
        let mut out: Vec<Pos> = Vec::with_capacity(offsets.len());
        let mut last: Option<(usize, usize, Pos)> = None;
        for &offset in offsets {
            let line = self.line_of(offset);
            let pos = match last {
                Some((prev, prev_line, prev_pos)) if prev_line == line && prev <= offset => {
                    let more = text
                        .get(prev..offset)
                        .map_or(offset - prev, |s| s.chars().count());
                    Pos {
                        line: prev_pos.line,
                        col: prev_pos.col + more,
                    }
                }
                _ => self.pos_in(text, offset),
            };
            last = Some((offset, line, pos));
            out.push(pos);
        }
        out
    }

    /// Where byte `offset` of `text` is, counting columns in characters.
    fn pos_in(&self, text: &str, offset: usize) -> Pos {
        let line = self.line_of(offset);
        let start = self.spans.get(line).map_or(0, |s| s.0);
        let col = text
            .get(start..offset)
            .map_or(offset.saturating_sub(start), |s| s.chars().count());
        Pos {
            line: line + 1,
            col: col + 1,
        }
    }
}

/// Index of a node of the shadow parse.
type NodeId = usize;

/// The node standing for anything the shadow parse does not describe.
const NOTHING: NodeId = 0;

/// Deeper nesting than this is skipped by the shadow parse (serde_yaml
/// already refuses more than 128 levels).
const MAX_DEPTH: usize = 256;

/// What the shadow parse knows about one YAML node.
enum Shape {
    /// A mapping, its entries in file order.
    Map(Vec<Entry>),
    /// A plain (unquoted) scalar on one line, exactly as written.
    Plain(String),
    /// Anything else: quoted and block scalars, lists, aliases, nothing.
    Other,
}

/// One entry of a shadow mapping.
struct Entry {
    /// The key's text (quotes removed); `None` for complex keys.
    key: Option<String>,
    /// Byte offset of the key's first character.
    at: usize,
    value: NodeId,
}

/// Where keys and plain scalars sit in the text, found by indentation for
/// block style and by brackets for flow style. Best effort by design: it
/// runs only on text serde_yaml accepted, and every loop makes progress, so
/// odd input costs precision, never a panic or a hang.
struct Shadow<'t> {
    text: &'t str,
    lines: Lines,
    nodes: Vec<Shape>,
    anchors: HashMap<&'t str, NodeId>,
    /// Next line the block parser looks at.
    next: usize,
    root: NodeId,
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t')
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_flow_indicator(b: u8) -> bool {
    matches!(b, b',' | b'[' | b']' | b'{' | b'}')
}

/// Whether `rest` starts a block sequence entry (`-` then a blank or end).
fn is_seq_marker(rest: &str) -> bool {
    let b = rest.as_bytes();
    b.first() == Some(&b'-') && b.get(1).is_none_or(|&c| is_blank(c))
}

impl<'t> Shadow<'t> {
    fn parse(text: &'t str) -> Self {
        let mut s = Shadow {
            text,
            lines: Lines::new(text),
            nodes: vec![Shape::Other],
            anchors: HashMap::new(),
            next: 0,
            root: NOTHING,
        };
        s.root = s.document();
        s
    }

    fn pos(&self, offset: usize) -> Pos {
        self.lines.pos_in(self.text, offset)
    }

    fn add(&mut self, shape: Shape) -> NodeId {
        self.nodes.push(shape);
        self.nodes.len() - 1
    }

    fn slice(&self, start: usize, end: usize) -> &'t str {
        self.text.get(start..end).unwrap_or("")
    }

    fn byte(&self, offset: usize) -> Option<u8> {
        self.text.as_bytes().get(offset).copied()
    }

    fn span(&self, line: usize) -> (usize, usize) {
        self.lines.spans.get(line).copied().unwrap_or((0, 0))
    }

    fn line(&self, line: usize) -> &'t str {
        let (s, e) = self.span(line);
        self.slice(s, e)
    }

    fn indent(&self, line: usize) -> usize {
        self.line(line).bytes().take_while(|&b| b == b' ').count()
    }

    /// The text of `line` from column `n` on.
    fn rest_at(&self, line: usize, n: usize) -> &'t str {
        let (s, e) = self.span(line);
        self.slice(s + n, e)
    }

    /// Moves `next` past blank and comment-only lines; the line it stops at.
    fn next_content(&mut self) -> Option<usize> {
        while self.next < self.lines.spans.len() {
            let t = self.line(self.next).trim_start_matches([' ', '\t']);
            if !t.is_empty() && !t.starts_with('#') {
                return Some(self.next);
            }
            self.next += 1;
        }
        None
    }

    /// Skips every following line indented more than `parent`.
    fn skip_deeper(&mut self, parent: isize) {
        while let Some(l) = self.next_content() {
            if self.indent(l) as isize <= parent {
                break;
            }
            self.next += 1;
        }
    }

    /// Skips the rest of a block sequence whose `-` sit at column `n`.
    fn skip_sequence(&mut self, n: usize) {
        while let Some(l) = self.next_content() {
            let ind = self.indent(l);
            if ind < n || (ind == n && !is_seq_marker(self.rest_at(l, n))) {
                break;
            }
            self.next += 1;
        }
    }

    fn skip_blanks(&self, mut offset: usize, end: usize) -> usize {
        while offset < end && self.byte(offset).is_some_and(is_blank) {
            offset += 1;
        }
        offset
    }

    fn document(&mut self) -> NodeId {
        while let Some(l) = self.next_content() {
            let line = self.line(l);
            if line.starts_with('%') {
                self.next += 1;
                continue;
            }
            if let Some(rest) = line.strip_prefix("---")
                && (rest.is_empty() || rest.starts_with([' ', '\t']))
            {
                let (s, e) = self.span(l);
                let off = self.skip_blanks(s + 3, e);
                if off < e && self.byte(off) != Some(b'#') {
                    return self.inline(l, off, -1, 0);
                }
                self.next += 1;
            }
            break;
        }
        self.block(-1, 0)
    }

    /// The block node starting on the next content line, if that line is
    /// indented more than `parent`.
    fn block(&mut self, parent: isize, depth: usize) -> NodeId {
        let Some(l) = self.next_content() else {
            return NOTHING;
        };
        let n = self.indent(l);
        if n as isize <= parent {
            return NOTHING;
        }
        if depth > MAX_DEPTH {
            self.skip_deeper(parent);
            return NOTHING;
        }
        let (s, e) = self.span(l);
        let off = s + n;
        if is_seq_marker(self.slice(off, e)) {
            self.next = l + 1;
            self.skip_sequence(n);
            return NOTHING;
        }
        if self.key_at(off, e).is_some() {
            return self.mapping(n, depth);
        }
        let (off, anchor) = self.props(off, e);
        let id = if off >= e || self.byte(off) == Some(b'#') {
            self.next = l + 1;
            self.block(parent, depth + 1)
        } else {
            self.inline(l, off, parent, depth)
        };
        if let Some(a) = anchor {
            self.anchors.insert(a, id);
        }
        id
    }

    /// A block mapping whose keys sit at column `n`, from the next content
    /// line on.
    fn mapping(&mut self, n: usize, depth: usize) -> NodeId {
        let mut entries = Vec::new();
        while let Some(l) = self.next_content() {
            let ind = self.indent(l);
            if ind < n {
                break;
            }
            let (s, e) = self.span(l);
            let off = s + n;
            let found = if ind == n { self.key_at(off, e) } else { None };
            let Some((key, after)) = found else {
                // Not an entry (a stray line); skip it rather than stop.
                self.next = l + 1;
                continue;
            };
            let value = self.entry_value(l, after, e, n, depth);
            entries.push(Entry {
                key,
                at: off,
                value,
            });
        }
        self.add(Shape::Map(entries))
    }

    /// The implicit key starting at `off` on a line ending at `end`: its
    /// text and the offset just past its `:`. `None` when the line holds no
    /// `key:` there.
    fn key_at(&self, off: usize, end: usize) -> Option<(Option<String>, usize)> {
        if off >= end {
            return None;
        }
        let b = self.text.as_bytes();
        let first = *b.get(off)?;
        let next_blank = b.get(off + 1).is_none_or(|&c| is_space(c)) || off + 1 >= end;
        let (key, after_key) = match first {
            b'"' | b'\'' => {
                let (after, decoded) = self.quoted(off);
                if after > end {
                    return None;
                }
                (decoded, after)
            }
            b'[' | b']' | b'{' | b'}' | b',' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%'
            | b'@' | b'`' => return None,
            b'-' | b'?' | b':' if next_blank => return None,
            _ => {
                let mut i = off;
                loop {
                    if i >= end {
                        return None;
                    }
                    match b[i] {
                        b':' if i + 1 >= end || is_blank(b[i + 1]) => break,
                        b'#' if is_blank(b[i - 1]) => return None,
                        _ => i += 1,
                    }
                }
                let key = self.slice(off, i).trim_end_matches([' ', '\t']);
                return Some((Some(key.to_string()), i + 1));
            }
        };
        let i = self.skip_blanks(after_key, end);
        let colon = i < end && b[i] == b':' && (i + 1 >= end || is_blank(b[i + 1]));
        colon.then_some((key, i + 1))
    }

    /// The value of a block mapping entry whose key sits at column `n` on
    /// line `l`, starting after its `:` at `after`.
    fn entry_value(
        &mut self,
        l: usize,
        after: usize,
        end: usize,
        n: usize,
        depth: usize,
    ) -> NodeId {
        let off = self.skip_blanks(after, end);
        let (off, anchor) = self.props(off, end);
        let id = if off >= end || self.byte(off) == Some(b'#') {
            self.next = l + 1;
            match self.next_content() {
                Some(nl) if self.indent(nl) == n && is_seq_marker(self.rest_at(nl, n)) => {
                    self.skip_sequence(n);
                    NOTHING
                }
                _ => self.block(n as isize, depth + 1),
            }
        } else {
            self.inline(l, off, n as isize, depth + 1)
        };
        if let Some(a) = anchor {
            self.anchors.insert(a, id);
        }
        id
    }

    /// Skips `&anchor` and `!tag` properties; the offset after them and the
    /// anchor's name.
    fn props(&self, mut off: usize, end: usize) -> (usize, Option<&'t str>) {
        let mut anchor = None;
        while off < end && matches!(self.byte(off), Some(b'&' | b'!')) {
            let start = off;
            while off < end && !self.byte(off).is_some_and(is_blank) {
                off += 1;
            }
            if self.byte(start) == Some(b'&') {
                anchor = Some(self.slice(start + 1, off));
            }
            off = self.skip_blanks(off, end);
        }
        (off, anchor)
    }

    /// A node that starts mid-line at `off` on line `l` and is not a block
    /// mapping: a flow collection, a scalar or an alias.
    fn inline(&mut self, l: usize, off: usize, parent: isize, depth: usize) -> NodeId {
        let (_, end) = self.span(l);
        match self.byte(off) {
            Some(b'{' | b'[') => {
                let mut o = off;
                let id = self.flow(&mut o, depth);
                self.next = self.lines.line_of(o.saturating_sub(1)) + 1;
                id
            }
            Some(b'"' | b'\'') => {
                let (after, _) = self.quoted(off);
                self.next = self.lines.line_of(after.saturating_sub(1)) + 1;
                NOTHING
            }
            Some(b'|' | b'>') => {
                self.next = l + 1;
                self.skip_deeper(parent);
                NOTHING
            }
            Some(b'*') => {
                let mut i = off + 1;
                while i < end && !self.byte(i).is_some_and(is_blank) {
                    i += 1;
                }
                self.next = l + 1;
                self.anchors
                    .get(self.slice(off + 1, i))
                    .copied()
                    .unwrap_or(NOTHING)
            }
            _ if is_seq_marker(self.slice(off, end)) => {
                self.next = l + 1;
                self.skip_deeper(parent);
                NOTHING
            }
            _ => {
                let b = self.text.as_bytes();
                let mut i = off;
                while i < end && !(b[i] == b'#' && i > off && is_blank(b[i - 1])) {
                    i += 1;
                }
                let text = self.slice(off, i).trim_end_matches([' ', '\t']);
                self.next = l + 1;
                match self.next_content() {
                    // Continuation lines fold into one multi-line scalar.
                    Some(nl) if self.indent(nl) as isize > parent => {
                        self.skip_deeper(parent);
                        NOTHING
                    }
                    _ => self.add(Shape::Plain(text.to_string())),
                }
            }
        }
    }

    /// Skips spaces, line breaks and comments in flow context.
    fn flow_ws(&self, o: &mut usize) {
        let b = self.text.as_bytes();
        while *o < b.len() {
            if is_space(b[*o]) {
                *o += 1;
            } else if b[*o] == b'#' && (*o == 0 || is_space(b[*o - 1])) {
                while *o < b.len() && !matches!(b[*o], b'\n' | b'\r') {
                    *o += 1;
                }
            } else {
                break;
            }
        }
    }

    /// Advances past one character (progress guard for malformed input).
    fn step(&self, o: &mut usize) {
        *o += self
            .text
            .get(*o..)
            .and_then(|s| s.chars().next())
            .map_or(1, char::len_utf8);
    }

    /// A flow node at `*o`, leaving `*o` just past it.
    fn flow(&mut self, o: &mut usize, depth: usize) -> NodeId {
        self.flow_ws(o);
        let b = self.text.as_bytes();
        let mut anchor = None;
        while matches!(b.get(*o), Some(b'&' | b'!')) {
            let start = *o;
            while *o < b.len() && !is_space(b[*o]) && !is_flow_indicator(b[*o]) {
                *o += 1;
            }
            if b[start] == b'&' {
                anchor = Some(self.slice(start + 1, *o));
            }
            self.flow_ws(o);
        }
        let id = if depth > MAX_DEPTH {
            self.skip_flow(o);
            NOTHING
        } else {
            match b.get(*o) {
                None | Some(b',' | b'}' | b']') => NOTHING,
                Some(b'{') => self.flow_map(o, depth),
                Some(b'[') => self.flow_seq(o, depth),
                Some(b'"' | b'\'') => {
                    *o = self.quoted(*o).0;
                    NOTHING
                }
                Some(b'*') => {
                    let start = *o + 1;
                    while *o < b.len() && !is_space(b[*o]) && !is_flow_indicator(b[*o]) {
                        *o += 1;
                    }
                    self.anchors
                        .get(self.slice(start, *o))
                        .copied()
                        .unwrap_or(NOTHING)
                }
                Some(_) => {
                    let (text, after) = self.flow_plain(*o);
                    *o = after;
                    match text {
                        Some(t) => self.add(Shape::Plain(t)),
                        None => NOTHING,
                    }
                }
            }
        };
        if let Some(a) = anchor {
            self.anchors.insert(a, id);
        }
        id
    }

    fn flow_map(&mut self, o: &mut usize, depth: usize) -> NodeId {
        let b = self.text.as_bytes();
        *o += 1;
        let mut entries = Vec::new();
        loop {
            self.flow_ws(o);
            let start = *o;
            match b.get(*o) {
                None => break,
                Some(b'}' | b']') => {
                    *o += 1;
                    break;
                }
                Some(b',') => {
                    *o += 1;
                    continue;
                }
                Some(b'?') if b.get(*o + 1).is_none_or(|&c| is_space(c)) => {
                    *o += 1;
                    self.flow_ws(o);
                }
                _ => {}
            }
            let at = *o;
            let key = match b.get(*o) {
                Some(b'"' | b'\'') => {
                    let (after, decoded) = self.quoted(*o);
                    *o = after;
                    decoded
                }
                Some(b'{' | b'[') => {
                    self.flow(o, depth + 1);
                    None
                }
                Some(b':') => Some(String::new()),
                _ => {
                    let (text, after) = self.flow_plain(*o);
                    *o = after;
                    text
                }
            };
            self.flow_ws(o);
            let value = if b.get(*o) == Some(&b':') {
                *o += 1;
                self.flow(o, depth + 1)
            } else {
                NOTHING
            };
            entries.push(Entry { key, at, value });
            self.flow_ws(o);
            match b.get(*o) {
                Some(b',') => *o += 1,
                Some(b'}') => {
                    *o += 1;
                    break;
                }
                _ => {}
            }
            if *o == start {
                self.step(o);
            }
        }
        self.add(Shape::Map(entries))
    }

    fn flow_seq(&mut self, o: &mut usize, depth: usize) -> NodeId {
        let b = self.text.as_bytes();
        *o += 1;
        loop {
            self.flow_ws(o);
            let start = *o;
            match b.get(*o) {
                None => break,
                Some(b']' | b'}') => {
                    *o += 1;
                    break;
                }
                Some(b',') => {
                    *o += 1;
                    continue;
                }
                _ => {}
            }
            self.flow(o, depth + 1);
            self.flow_ws(o);
            // A single `key: value` pair inside a list.
            if b.get(*o) == Some(&b':') {
                *o += 1;
                self.flow(o, depth + 1);
            }
            if *o == start {
                self.step(o);
            }
        }
        NOTHING
    }

    /// Skips a flow node without looking inside (too deep to describe).
    fn skip_flow(&self, o: &mut usize) {
        let b = self.text.as_bytes();
        let mut level = 0usize;
        while let Some(&c) = b.get(*o) {
            match c {
                b'{' | b'[' => level += 1,
                b'}' | b']' | b',' if level == 0 => return,
                b'}' | b']' => {
                    level -= 1;
                    if level == 0 {
                        *o += 1;
                        return;
                    }
                }
                b'"' | b'\'' => {
                    *o = self.quoted(*o).0;
                    continue;
                }
                _ => {}
            }
            *o += 1;
        }
    }

    /// A plain scalar in flow context at `start`: its text when it fits on
    /// one line, and the offset where it ends.
    fn flow_plain(&self, start: usize) -> (Option<String>, usize) {
        let b = self.text.as_bytes();
        let mut i = start;
        let mut content_end = start;
        let mut broke_line = false;
        let mut multiline = false;
        while i < b.len() {
            match b[i] {
                c if is_flow_indicator(c) => break,
                b':' if b
                    .get(i + 1)
                    .is_none_or(|&c| is_space(c) || is_flow_indicator(c)) =>
                {
                    break;
                }
                b'#' if i > start && is_space(b[i - 1]) => break,
                b'\n' | b'\r' => {
                    broke_line = true;
                    i += 1;
                }
                b' ' | b'\t' => i += 1,
                _ => {
                    multiline |= broke_line;
                    i += 1;
                    content_end = i;
                }
            }
        }
        let text = (!multiline).then(|| self.slice(start, content_end).to_string());
        (text, i)
    }

    /// A quoted scalar starting at `o`: the offset past its closing quote
    /// and its text, when it is on one line and every escape is known.
    fn quoted(&self, o: usize) -> (usize, Option<String>) {
        let Some(body) = self.text.get(o + 1..) else {
            return (self.text.len(), None);
        };
        let double = self.byte(o) == Some(b'"');
        let mut out = String::new();
        let mut exact = true;
        let mut chars = body.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '\'' if !double => {
                    if chars.peek().is_some_and(|&(_, n)| n == '\'') {
                        chars.next();
                        out.push('\'');
                    } else {
                        return (o + 1 + i + 1, exact.then_some(out));
                    }
                }
                '"' if double => return (o + 1 + i + 1, exact.then_some(out)),
                '\\' if double => match chars.next() {
                    Some((_, e)) => match unescape(e, &mut chars) {
                        Some(c) => out.push(c),
                        None => exact = false,
                    },
                    None => break,
                },
                '\n' | '\r' => exact = false,
                c => out.push(c),
            }
        }
        (self.text.len(), None)
    }
}

/// The character a double-quoted escape `\e` stands for; `None` for a line
/// continuation or an unknown escape.
fn unescape(e: char, chars: &mut impl Iterator<Item = (usize, char)>) -> Option<char> {
    let hex = |chars: &mut dyn Iterator<Item = (usize, char)>, n: usize| {
        let mut v = 0u32;
        for _ in 0..n {
            v = v * 16 + chars.next()?.1.to_digit(16)?;
        }
        char::from_u32(v)
    };
    Some(match e {
        '0' => '\0',
        'a' => '\x07',
        'b' => '\x08',
        't' | '\t' => '\t',
        'n' => '\n',
        'v' => '\x0b',
        'f' => '\x0c',
        'r' => '\r',
        'e' => '\x1b',
        ' ' => ' ',
        '"' => '"',
        '/' => '/',
        '\\' => '\\',
        'N' => '\u{85}',
        '_' => '\u{a0}',
        'L' => '\u{2028}',
        'P' => '\u{2029}',
        'x' => hex(chars, 2)?,
        'u' => hex(chars, 4)?,
        'U' => hex(chars, 8)?,
        _ => return None,
    })
}

/// User text made safe for a one-line message: control characters escaped,
/// long text cut.
fn clean(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((cut, _)) => format!("{}...", super::words::one_line(&s[..cut])),
        None => super::words::one_line(s),
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", clean(s))
}

/// serde_yaml's rendering of a scalar, when the text as written is unknown.
fn render(v: &Value) -> String {
    match v {
        Value::Null => "~".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => String::new(),
    }
}

/// Whether shadow key text `text` is the key serde_yaml read as `key`.
fn key_matches(key: &Value, text: Option<&str>) -> bool {
    match (key, text) {
        (Value::String(s), Some(t)) => s == t,
        (Value::Number(_) | Value::Bool(_) | Value::Null, Some(t)) => {
            resolve_plain(t).is_some_and(|v| v == *key)
        }
        _ => false,
    }
}

/// The null, boolean or number a plain scalar stands for, by the very
/// rules serde_yaml applies (YAML 1.2 core schema); `None` for a string.
/// Much cheaper than asking serde_yaml, which sets up a parser per call.
fn resolve_plain(t: &str) -> Option<Value> {
    match t {
        "" | "~" | "null" | "Null" | "NULL" => Some(Value::Null),
        "true" | "True" | "TRUE" => Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => Some(Value::Bool(false)),
        _ => {
            if let Some(n) = plain_unsigned(t) {
                Some(Value::Number(n.into()))
            } else if let Some(n) = plain_negative(t) {
                Some(Value::Number(n.into()))
            } else if digits_but_not_number(t) {
                None
            } else {
                plain_f64(t).map(|f| Value::Number(f.into()))
            }
        }
    }
}

/// Leading zero then digits (`007`, `-01`): a string in YAML 1.2.
fn digits_but_not_number(t: &str) -> bool {
    let s = t.strip_prefix(['-', '+']).unwrap_or(t);
    s.len() > 1 && s.starts_with('0') && s[1..].bytes().all(|b| b.is_ascii_digit())
}

const RADIX_PREFIXES: [(&str, u32); 3] = [("0x", 16), ("0o", 8), ("0b", 2)];

fn plain_unsigned(t: &str) -> Option<u64> {
    let unpositive = t.strip_prefix('+').unwrap_or(t);
    for (prefix, radix) in RADIX_PREFIXES {
        if let Some(rest) = unpositive.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(n) = u64::from_str_radix(rest, radix) {
                return Some(n);
            }
        }
    }
    if unpositive.starts_with(['+', '-']) || digits_but_not_number(t) {
        return None;
    }
    unpositive.parse().ok()
}

fn plain_negative(t: &str) -> Option<i64> {
    for (prefix, radix) in RADIX_PREFIXES {
        if let Some(rest) = t.strip_prefix('-').and_then(|r| r.strip_prefix(prefix))
            && let Ok(n) = i64::from_str_radix(&format!("-{rest}"), radix)
        {
            return Some(n);
        }
    }
    if digits_but_not_number(t) {
        return None;
    }
    t.parse().ok()
}

fn plain_f64(t: &str) -> Option<f64> {
    let unpositive = match t.strip_prefix('+') {
        Some(u) if u.starts_with(['+', '-']) => return None,
        Some(u) => u,
        None => t,
    };
    if matches!(unpositive, ".inf" | ".Inf" | ".INF") {
        return Some(f64::INFINITY);
    }
    if matches!(t, "-.inf" | "-.Inf" | "-.INF") {
        return Some(f64::NEG_INFINITY);
    }
    if matches!(t, ".nan" | ".NaN" | ".NAN") {
        return Some(f64::NAN);
    }
    unpositive.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        clean(name)
    } else {
        format!("{path}.{}", clean(name))
    }
}

/// One entry of a mapping being validated, with where it was written.
struct Item<'v> {
    /// The key as written; `None` for a key that is not a scalar.
    name: Option<String>,
    value: &'v Value,
    node: NodeId,
    /// Byte offset of the key.
    at: usize,
    path: String,
}

/// A task's name and process count, kept for the duplicate-name check.
struct Named {
    name: String,
    instances: u32,
    at: usize,
    path: String,
}

/// Checks one parsed file against the key table, collecting every problem.
struct Validator<'a> {
    shadow: &'a Shadow<'a>,
    is_root: bool,
    /// The config's directory, absolute.
    base: PathBuf,
    problems: Vec<Problem>,
}

impl Validator<'_> {
    fn error(&mut self, at: usize, path: &str, message: String) {
        self.problems.push(Problem {
            at,
            path: path.to_string(),
            message,
        });
    }

    fn fail(&mut self, it: &Item, message: String) {
        self.error(it.at, &it.path, message);
    }

    /// The entries of `map` (the node `node` of the shadow parse, whose key
    /// is at byte `at`).
    fn items<'v>(&self, map: &'v Mapping, node: NodeId, at: usize, path: &str) -> Vec<Item<'v>> {
        let entries: &[Entry] = match self.shadow.nodes.get(node) {
            Some(Shape::Map(e)) => e,
            _ => &[],
        };
        // serde_yaml keeps file order, so entries line up one to one unless
        // the shadow parse lost its way.
        let aligned = entries.len() == map.len()
            && map
                .keys()
                .zip(entries)
                .all(|(k, e)| key_matches(k, e.key.as_deref()));
        let mut by_key: HashMap<&str, &Entry> = HashMap::new();
        if !aligned {
            for e in entries.iter().rev() {
                if let Some(k) = e.key.as_deref() {
                    by_key.insert(k, e);
                }
            }
        }
        map.iter()
            .enumerate()
            .map(|(i, (k, value))| {
                let entry = if aligned {
                    entries.get(i)
                } else if let Value::String(s) = k {
                    by_key.get(s.as_str()).copied()
                } else {
                    None
                };
                let name = match k {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(_) | Value::Bool(_) | Value::Null => Some(
                        entry
                            .and_then(|e| e.key.clone())
                            .unwrap_or_else(|| render(k)),
                    ),
                    Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => None,
                };
                let (at, node) = entry.map_or((at, NOTHING), |e| (e.at, e.value));
                let path = join(path, name.as_deref().unwrap_or("?"));
                Item {
                    name,
                    value,
                    node,
                    at,
                    path,
                }
            })
            .collect()
    }

    /// A scalar's text as written (null is empty); `None` for collections.
    fn scalar_text(&self, v: &Value, node: NodeId) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Null => Some(String::new()),
            Value::Bool(_) | Value::Number(_) => Some(match self.shadow.nodes.get(node) {
                Some(Shape::Plain(t)) if resolve_plain(t).is_some_and(|p| p == *v) => t.clone(),
                _ => render(v),
            }),
            Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => None,
        }
    }

    /// How to name a wrong value in a message.
    fn found(&self, it: &Item) -> String {
        match it.value {
            Value::Null => "nothing".to_string(),
            Value::Sequence(_) => "a list".to_string(),
            Value::Mapping(_) => "a mapping".to_string(),
            Value::Tagged(t) => format!("a value tagged {}", clean(&t.tag.to_string())),
            v => quote(&self.scalar_text(v, it.node).unwrap_or_default()),
        }
    }

    fn unsupported_key(&mut self, it: &Item) {
        self.fail(it, "unsupported key (keys must be plain text)".to_string());
    }

    fn unknown_key(&mut self, it: &Item, name: &str, keys: &'static [schema::Key]) {
        let message = match schema::suggest(name, keys) {
            Some(s) => format!("unknown key {} (did you mean '{s}'?)", quote(name)),
            None => format!("unknown key {}", quote(name)),
        };
        self.fail(it, message);
    }

    fn config(&mut self, root: &Value, path: &Path) -> Option<Config> {
        let map = match root {
            Value::Mapping(m) => m,
            Value::Null => {
                self.error(
                    START,
                    "",
                    "empty configuration (expected a mapping with key 'tasks')".to_string(),
                );
                return None;
            }
            other => {
                let it = Item {
                    name: None,
                    value: other,
                    node: self.shadow.root,
                    at: START,
                    path: String::new(),
                };
                let found = self.found(&it);
                self.fail(
                    &it,
                    format!("expected a mapping with key 'tasks', found {found}"),
                );
                return None;
            }
        };
        let mut socket = None;
        let mut tasks = None;
        let mut ok = true;
        for it in self.items(map, self.shadow.root, START, "") {
            let Some(name) = it.name.as_deref() else {
                self.unsupported_key(&it);
                ok = false;
                continue;
            };
            match schema::find(TOP_KEYS, name).map(|k| k.name) {
                Some("socket") => {
                    socket = self.path(&it);
                    ok &= socket.is_some();
                }
                Some("tasks") => tasks = Some(self.tasks(&it)),
                _ => {
                    self.unknown_key(&it, name, TOP_KEYS);
                    ok = false;
                }
            }
        }
        let Some(tasks) = tasks else {
            self.error(START, "", "missing key 'tasks'".to_string());
            return None;
        };
        let tasks = tasks?;
        ok.then(|| Config {
            path: path.to_path_buf(),
            socket,
            tasks,
        })
    }

    fn tasks(&mut self, it: &Item) -> Option<BTreeMap<String, TaskSpec>> {
        let empty = Mapping::new();
        let map = match it.value {
            Value::Mapping(m) => m,
            Value::Null => &empty,
            _ => {
                let found = self.found(it);
                self.fail(
                    it,
                    format!("expected a mapping of task names to tasks, found {found}"),
                );
                return None;
            }
        };
        let mut tasks = BTreeMap::new();
        let mut named = Vec::new();
        let mut ok = true;
        for task in self.items(map, it.node, it.at, &it.path) {
            let (spec, name) = self.task(&task);
            ok &= spec.is_some();
            named.extend(name);
            if let Some(spec) = spec {
                tasks.insert(spec.name.clone(), spec);
            }
        }
        ok &= self.check_duplicates(&named);
        ok.then_some(tasks)
    }

    /// Reports process names two tasks share. Only a generated name `A_i`
    /// can meet a single-instance task literally named `A_i` (two generated
    /// names `A_i` and `B_j` of different tasks never meet: `i` and `j` are
    /// digits only), so no name list is ever built.
    fn check_duplicates(&mut self, named: &[Named]) -> bool {
        let mut ok = true;
        let mut by_name: HashMap<&str, usize> = HashMap::new();
        for (i, n) in named.iter().enumerate() {
            if by_name.contains_key(n.name.as_str()) {
                self.error(
                    n.at,
                    &n.path,
                    format!("duplicate task name {}", quote(&n.name)),
                );
                ok = false;
            } else {
                by_name.insert(&n.name, i);
            }
        }
        for (j, single) in named.iter().enumerate() {
            if single.instances != 1 {
                continue;
            }
            // Instance numbers are digits only: just the last `_` can split one off.
            if let Some((prefix, digits)) = single.name.rsplit_once('_') {
                let numeric = !digits.is_empty()
                    && !digits.starts_with('0')
                    && digits.bytes().all(|b| b.is_ascii_digit());
                let Some(&i) = by_name.get(prefix) else {
                    continue;
                };
                let multi = &named[i];
                let hit = numeric
                    && multi.instances > 1
                    && digits
                        .parse::<u64>()
                        .is_ok_and(|k| k <= u64::from(multi.instances));
                if hit {
                    // Reported at whichever of the two comes second in the file.
                    let later = if i < j { single } else { multi };
                    let message = format!(
                        "duplicate process name {} (task {} and task {})",
                        quote(&single.name),
                        quote(&multi.name),
                        quote(&single.name)
                    );
                    self.error(later.at, &later.path, message);
                    ok = false;
                }
            }
        }
        ok
    }

    /// One task: its spec when valid, and its name and instance count when
    /// those are known (for the duplicate check).
    fn task(&mut self, it: &Item) -> (Option<TaskSpec>, Option<Named>) {
        let mut ok = true;
        let name = match it.name.as_deref() {
            None => {
                self.unsupported_key(it);
                return (None, None);
            }
            Some(name) => name.to_string(),
        };
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !valid_name {
            self.fail(
                it,
                format!(
                    "invalid task name {} (use letters, digits, '_', '.' and '-')",
                    quote(&name)
                ),
            );
            ok = false;
        } else if name == schema::RESERVED_TASK_NAME {
            self.fail(it, format!("the task name '{name}' is reserved"));
            ok = false;
        }
        let empty = Mapping::new();
        let body = match it.value {
            Value::Mapping(m) => m,
            Value::Null => &empty,
            _ => {
                let found = self.found(it);
                self.fail(
                    it,
                    format!("expected a mapping of task keys, found {found}"),
                );
                return (None, None);
            }
        };
        let mut spec = TaskSpec {
            name: name.clone(),
            command: String::new(),
            argv: Vec::new(),
            instances: schema::DEFAULT_INSTANCES,
            auto_launch: schema::DEFAULT_AUTO_LAUNCH,
            restart: schema::DEFAULT_RESTART,
            expected_exit_codes: schema::DEFAULT_EXIT_CODES.to_vec(),
            start_timeout: schema::DEFAULT_START_TIMEOUT,
            restart_attempts: schema::DEFAULT_RESTART_ATTEMPTS,
            stop_signal: schema::DEFAULT_STOP_SIGNAL,
            stop_timeout: schema::DEFAULT_STOP_TIMEOUT,
            stdout: None,
            stderr: None,
            environment: BTreeMap::new(),
            working_directory: None,
            umask: None,
            user: None,
            essential: schema::DEFAULT_ESSENTIAL,
        };
        let mut has_command = false;
        let mut instances_known = true;
        let mut signal_key: Option<&'static str> = None;
        for key in self.items(body, it.node, it.at, &it.path) {
            let Some(key_name) = key.name.as_deref() else {
                self.unsupported_key(&key);
                ok = false;
                continue;
            };
            let Some(known) = schema::find(TASK_KEYS, key_name) else {
                self.unknown_key(&key, key_name, TASK_KEYS);
                ok = false;
                continue;
            };
            let good = match known.name {
                "command" => {
                    has_command = true;
                    self.command(&key).map(|(c, argv)| {
                        spec.command = c;
                        spec.argv = argv;
                    })
                }
                "instances" => {
                    let v = self.count(&key).and_then(|n| {
                        if n > schema::MAX_INSTANCES {
                            self.fail(
                                &key,
                                format!("{n} is out of range (0 to {})", schema::MAX_INSTANCES),
                            );
                            None
                        } else {
                            Some(n)
                        }
                    });
                    instances_known = v.is_some();
                    v.map(|v| spec.instances = v)
                }
                "autoLaunch" => self.boolean(&key).map(|v| spec.auto_launch = v),
                "restart" => self.restart(&key).map(|v| spec.restart = v),
                "expectedExitCodes" => self.exit_codes(&key).map(|v| spec.expected_exit_codes = v),
                "successfulStartTimeout" => self.seconds(&key).map(|v| spec.start_timeout = v),
                "restartsAttempts" => self.count(&key).map(|v| spec.restart_attempts = v),
                schema::STOP_SIGNAL | schema::STOP_SIGNAL_ALIAS => {
                    if let Some(first) = signal_key {
                        self.fail(
                            &key,
                            format!("both '{first}' and '{}' given (keep one)", known.name),
                        );
                        None
                    } else {
                        signal_key = Some(known.name);
                        self.signal(&key).map(|v| spec.stop_signal = v)
                    }
                }
                "gracefulStopTimeout" => self.seconds(&key).map(|v| spec.stop_timeout = v),
                "stdout" => self.path(&key).map(|v| spec.stdout = Some(v)),
                "stderr" => self.path(&key).map(|v| spec.stderr = Some(v)),
                "environment" => self.environment(&key).map(|v| spec.environment = v),
                "workingDirectory" => self.path(&key).map(|v| spec.working_directory = Some(v)),
                "umask" => self.umask(&key).map(|v| spec.umask = Some(v)),
                "user" => self.user(&key).map(|v| spec.user = Some(v)),
                "essential" => self.boolean(&key).map(|v| spec.essential = v),
                other => {
                    // The key table and this match disagree: a bug, reported
                    // rather than ignored.
                    self.fail(&key, format!("key '{other}' is not handled"));
                    None
                }
            };
            ok &= good.is_some();
        }
        if !has_command {
            self.fail(it, format!("missing key '{}'", schema::COMMAND));
            ok = false;
        }
        let named = (valid_name && instances_known).then(|| Named {
            name,
            instances: spec.instances,
            at: it.at,
            path: it.path.clone(),
        });
        (ok.then_some(spec), named)
    }

    fn command(&mut self, it: &Item) -> Option<(String, Vec<String>)> {
        let Value::String(s) = it.value else {
            let found = self.found(it);
            self.fail(
                it,
                format!("expected a command line (a string), found {found}"),
            );
            return None;
        };
        if s.contains('\0') {
            self.fail(it, "command contains a NUL character".to_string());
            return None;
        }
        match words::split(s) {
            Err(e) => self.fail(it, e),
            Ok(argv) if argv.is_empty() => self.fail(it, "empty command".to_string()),
            Ok(argv) => return Some((s.clone(), argv)),
        }
        None
    }

    fn count(&mut self, it: &Item) -> Option<u32> {
        if let Value::Number(n) = it.value
            && let Some(u) = n.as_u64()
        {
            if let Ok(v) = u32::try_from(u) {
                return Some(v);
            }
            self.fail(it, format!("{u} is out of range (0 to {})", u32::MAX));
            return None;
        }
        let found = self.found(it);
        self.fail(it, format!("expected a whole number >= 0, found {found}"));
        None
    }

    fn boolean(&mut self, it: &Item) -> Option<bool> {
        if let Value::Bool(b) = it.value {
            return Some(*b);
        }
        let found = self.found(it);
        self.fail(
            it,
            format!("expected a boolean (true or false), found {found}"),
        );
        None
    }

    fn restart(&mut self, it: &Item) -> Option<RestartPolicy> {
        let expected = schema::RESTART_VALUES
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ");
        if let Value::String(s) = it.value
            && let Some((_, policy)) = schema::RESTART_VALUES.iter().find(|(n, _)| n == s)
        {
            return Some(*policy);
        }
        let text = match it.value {
            Value::String(_) | Value::Bool(_) | Value::Number(_) => {
                self.scalar_text(it.value, it.node)
            }
            _ => None,
        };
        if let Some(text) = text {
            self.fail(
                it,
                format!("unknown value {} (expected {expected})", quote(&text)),
            );
        } else {
            let found = self.found(it);
            self.fail(it, format!("expected one of {expected}, found {found}"));
        }
        None
    }

    fn exit_codes(&mut self, it: &Item) -> Option<Vec<i32>> {
        let items: &[Value] = match it.value {
            Value::Sequence(s) => s,
            v @ Value::Number(_) => std::slice::from_ref(v),
            _ => {
                let found = self.found(it);
                self.fail(
                    it,
                    format!("expected an exit code 0 to 255 or a list of them, found {found}"),
                );
                return None;
            }
        };
        let mut codes = Vec::with_capacity(items.len());
        let mut ok = true;
        for v in items {
            let code = match v {
                Value::Number(n) if n.as_i64().is_some() || n.as_u64().is_some() => {
                    match n.as_i64() {
                        Some(c) if (0..=schema::MAX_EXIT_CODE).contains(&c) => {
                            codes.push(c as i32);
                            continue;
                        }
                        _ => format!("exit code {n} is out of range (0 to 255)"),
                    }
                }
                Value::Sequence(_) => "expected an exit code 0 to 255, found a list".to_string(),
                Value::Mapping(_) => "expected an exit code 0 to 255, found a mapping".to_string(),
                Value::Null => "expected an exit code 0 to 255, found nothing".to_string(),
                other => format!(
                    "expected an exit code 0 to 255, found {}",
                    quote(&render(other))
                ),
            };
            self.fail(it, code);
            ok = false;
        }
        ok.then_some(codes)
    }

    fn seconds(&mut self, it: &Item) -> Option<std::time::Duration> {
        if let Value::Number(n) = it.value
            && let Some(f) = n.as_f64()
            && f >= 0.0
        {
            if let Some(d) = schema::seconds(f) {
                return Some(d);
            }
            let found = self.found(it);
            self.fail(
                it,
                format!(
                    "{found} is out of range (0 to {} seconds)",
                    schema::MAX_SECONDS
                ),
            );
            return None;
        }
        let found = self.found(it);
        self.fail(
            it,
            format!("expected a number of seconds >= 0, found {found}"),
        );
        None
    }

    fn signal(&mut self, it: &Item) -> Option<i32> {
        match it.value {
            Value::String(_) | Value::Number(_) => {
                let text = self.scalar_text(it.value, it.node).unwrap_or_default();
                let parsed = match it.value {
                    Value::Number(n) => n
                        .as_u64()
                        .and_then(|u| crate::signame::parse(&u.to_string())),
                    _ => crate::signame::parse(&text),
                };
                if parsed.is_none() {
                    self.fail(it, format!("unknown signal {}", quote(&text)));
                }
                parsed
            }
            _ => {
                let found = self.found(it);
                self.fail(
                    it,
                    format!("expected a signal name or number, found {found}"),
                );
                None
            }
        }
    }

    /// A path value, resolved against the config's directory.
    fn path(&mut self, it: &Item) -> Option<PathBuf> {
        let Value::String(s) = it.value else {
            let found = self.found(it);
            self.fail(it, format!("expected a path, found {found}"));
            return None;
        };
        if s.is_empty() {
            self.fail(it, "empty path".to_string());
            return None;
        }
        if s.contains('\0') {
            self.fail(it, "path contains a NUL character".to_string());
            return None;
        }
        let joined = self.base.join(s);
        Some(std::path::absolute(&joined).unwrap_or(joined))
    }

    fn environment(&mut self, it: &Item) -> Option<BTreeMap<String, String>> {
        let empty = Mapping::new();
        let map = match it.value {
            Value::Mapping(m) => m,
            Value::Null => &empty,
            _ => {
                let found = self.found(it);
                self.fail(
                    it,
                    format!("expected a mapping of variable names to values, found {found}"),
                );
                return None;
            }
        };
        let mut env = BTreeMap::new();
        let mut ok = true;
        for var in self.items(map, it.node, it.at, &it.path) {
            let Some(name) = var.name.clone() else {
                self.unsupported_key(&var);
                ok = false;
                continue;
            };
            let problem = if name.is_empty() {
                Some("empty variable name".to_string())
            } else if name.contains('=') {
                Some(format!(
                    "invalid variable name {} (contains '=')",
                    quote(&name)
                ))
            } else if name.contains('\0') {
                Some("variable name contains a NUL character".to_string())
            } else if env.contains_key(&name) {
                Some(format!("duplicate variable {}", quote(&name)))
            } else {
                None
            };
            if let Some(problem) = problem {
                self.fail(&var, problem);
                ok = false;
                continue;
            }
            match self.scalar_text(var.value, var.node) {
                Some(text) if text.contains('\0') => {
                    self.fail(&var, "value contains a NUL character".to_string());
                    ok = false;
                }
                Some(text) => {
                    env.insert(name, text);
                }
                None => {
                    let found = self.found(&var);
                    self.fail(&var, format!("expected a scalar value, found {found}"));
                    ok = false;
                }
            }
        }
        ok.then_some(env)
    }

    fn umask(&mut self, it: &Item) -> Option<u32> {
        let text = match it.value {
            Value::String(_) | Value::Number(_) => self.scalar_text(it.value, it.node),
            _ => None,
        };
        let Some(text) = text else {
            let found = self.found(it);
            self.fail(
                it,
                format!("expected an octal umask like 022, found {found}"),
            );
            return None;
        };
        let digits = text.strip_prefix("0o").unwrap_or(&text);
        let octal = !digits.is_empty() && digits.bytes().all(|b| (b'0'..=b'7').contains(&b));
        if !octal {
            self.fail(
                it,
                format!("expected an octal umask like 022, found {}", quote(&text)),
            );
            return None;
        }
        let trimmed = digits.trim_start_matches('0');
        match u32::from_str_radix(if trimmed.is_empty() { "0" } else { trimmed }, 8) {
            Ok(v) if trimmed.len() <= 3 && v <= schema::MAX_UMASK => Some(v),
            _ => {
                self.fail(
                    it,
                    format!("umask {} is out of range (0 to 777)", quote(&text)),
                );
                None
            }
        }
    }

    fn user(&mut self, it: &Item) -> Option<String> {
        if !self.is_root {
            self.fail(it, "only allowed when taskmaster runs as root".to_string());
            return None;
        }
        match it.value {
            Value::String(s) if s.is_empty() => self.fail(it, "empty user name".to_string()),
            Value::String(s) if s.contains('\0') => {
                self.fail(it, "user name contains a NUL character".to_string());
            }
            Value::String(s) => return Some(s.clone()),
            Value::Number(n) if n.as_u64().is_some_and(|u| u32::try_from(u).is_ok()) => {
                return Some(n.to_string());
            }
            _ => {
                let found = self.found(it);
                self.fail(it, format!("expected a user name or uid, found {found}"));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const FILE: &str = "/etc/tm/taskmaster.yaml";

    fn try_parse(text: &str, is_root: bool) -> Result<Config, ConfigError> {
        parse(text, Path::new("t.yaml"), is_root)
    }

    fn ok(text: &str) -> Config {
        parse(text, Path::new(FILE), false).unwrap_or_else(|e| panic!("{text}\n{e}"))
    }

    fn errs(text: &str) -> Vec<String> {
        match try_parse(text, false) {
            Ok(c) => panic!("accepted:\n{text}\n{c:?}"),
            Err(e) => e.errors,
        }
    }

    /// The task `t` of a file with one task, `command: run` and `extra`
    /// (lines at task-key indentation).
    fn task_with(extra: &str, is_root: bool) -> Result<TaskSpec, Vec<String>> {
        let mut text = "tasks:\n  t:\n    command: run\n".to_string();
        for line in extra.lines() {
            text.push_str("    ");
            text.push_str(line);
            text.push('\n');
        }
        parse(&text, Path::new(FILE), is_root)
            .map(|mut c| c.tasks.remove("t").expect("task t"))
            .map_err(|e| e.errors)
    }

    fn task(extra: &str) -> TaskSpec {
        task_with(extra, false).unwrap_or_else(|e| panic!("{extra}: {e:?}"))
    }

    #[test]
    fn instances_are_capped_at_the_pid_space() {
        assert_eq!(task("instances: 4194304").instances, 1 << 22);
        assert_eq!(
            key_error("instances: 4194305"),
            "4194305 is out of range (0 to 4194304)"
        );
    }

    /// The one error for a single task key line `line` (written at 4:5).
    fn key_error(line: &str) -> String {
        let errors = task_with(line, false).expect_err(line);
        assert_eq!(errors.len(), 1, "{line}: {errors:?}");
        let key = line.split(':').next().unwrap();
        let prefix = format!("{FILE}:4:5: tasks.t.{key}: ");
        errors[0]
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{line}: {}", errors[0]))
            .to_string()
    }

    #[test]
    fn defaults() {
        let c = ok("tasks:\n  web:\n    command: /usr/bin/nginx -g 'daemon off;'\n");
        assert_eq!(c.path, PathBuf::from(FILE));
        assert_eq!(c.socket, None);
        let t = &c.tasks["web"];
        assert_eq!(
            *t,
            TaskSpec {
                name: "web".to_string(),
                command: "/usr/bin/nginx -g 'daemon off;'".to_string(),
                argv: vec!["/usr/bin/nginx".into(), "-g".into(), "daemon off;".into()],
                instances: 1,
                auto_launch: true,
                restart: RestartPolicy::OnFailure,
                expected_exit_codes: vec![0],
                start_timeout: Duration::from_secs(1),
                restart_attempts: 3,
                stop_signal: libc::SIGTERM,
                stop_timeout: Duration::from_secs(10),
                stdout: None,
                stderr: None,
                environment: BTreeMap::new(),
                working_directory: None,
                umask: None,
                user: None,
                essential: false,
            }
        );
    }

    #[test]
    fn every_key_set() {
        let text = "\
socket: run/tm.sock
tasks:
  web_server:
    command: \"/usr/local/bin/nginx -g 'daemon off;'\"
    instances: 3
    autoLaunch: false
    restart: always
    expectedExitCodes: [0, 2]
    successfulStartTimeout: 3
    restartsAttempts: 5
    stopingSignal: SIGQUIT
    gracefulStopTimeout: 0.5
    stdout: /var/log/nginx.out.log
    stderr: logs/nginx.err.log
    environment: {PORT: \"8080\", ENV: production}
    workingDirectory: /var/www
    umask: \"022\"
    user: www-data
    essential: true
";
        let c = parse(text, Path::new(FILE), true).unwrap();
        assert_eq!(c.socket, Some(PathBuf::from("/etc/tm/run/tm.sock")));
        let t = &c.tasks["web_server"];
        assert_eq!(t.argv, ["/usr/local/bin/nginx", "-g", "daemon off;"]);
        assert_eq!(t.instances, 3);
        assert!(!t.auto_launch);
        assert_eq!(t.restart, RestartPolicy::Always);
        assert_eq!(t.expected_exit_codes, [0, 2]);
        assert_eq!(t.start_timeout, Duration::from_secs(3));
        assert_eq!(t.restart_attempts, 5);
        assert_eq!(t.stop_signal, libc::SIGQUIT);
        assert_eq!(t.stop_timeout, Duration::from_millis(500));
        assert_eq!(t.stdout, Some(PathBuf::from("/var/log/nginx.out.log")));
        assert_eq!(t.stderr, Some(PathBuf::from("/etc/tm/logs/nginx.err.log")));
        assert_eq!(t.environment["PORT"], "8080");
        assert_eq!(t.environment["ENV"], "production");
        assert_eq!(t.working_directory, Some(PathBuf::from("/var/www")));
        assert_eq!(t.umask, Some(0o22));
        assert_eq!(t.user.as_deref(), Some("www-data"));
        assert!(t.essential);
        assert_eq!(
            t.process_names(),
            ["web_server_1", "web_server_2", "web_server_3"]
        );
    }

    #[test]
    fn every_schema_key_is_handled() {
        let sample = |kind| match kind {
            schema::Kind::Tasks => unreachable!(),
            schema::Kind::Command => "run",
            schema::Kind::Count => "2",
            schema::Kind::Bool => "maybe",
            schema::Kind::Restart => "never",
            schema::Kind::ExitCodes => "[1]",
            schema::Kind::Seconds => "2.5",
            schema::Kind::Signal => "HUP",
            schema::Kind::Path => "x",
            schema::Kind::Environment => "{A: b}",
            schema::Kind::Umask => "\"077\"",
            schema::Kind::User => "nobody",
        };
        for key in TASK_KEYS.iter().filter(|k| k.name != schema::COMMAND) {
            let value = match (key.kind, key.name) {
                (schema::Kind::Bool, "autoLaunch") => "false",
                (schema::Kind::Bool, _) => "true",
                (kind, _) => sample(kind),
            };
            let line = format!("{}: {value}", key.name);
            let t = task_with(&line, true).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            assert_ne!(t, task(""), "{line} changed nothing");
        }
        for key in TOP_KEYS.iter().filter(|k| k.name != "tasks") {
            ok(&format!(
                "{}: {}\ntasks: {{}}\n",
                key.name,
                sample(key.kind)
            ));
        }
    }

    #[test]
    fn command() {
        assert_eq!(task("").argv, ["run"]);
        let t = ok("tasks:\n  t:\n    command: sh -c 'echo \"a  b\"; exit 3'\n");
        assert_eq!(t.tasks["t"].argv, ["sh", "-c", "echo \"a  b\"; exit 3"]);
        let t = ok("tasks:\n  t:\n    command: >\n      sleep\n      10\n");
        assert_eq!(t.tasks["t"].argv, ["sleep", "10"]);
        let t = ok("tasks:\n  t:\n    command: 'printf \"%s\\n\" x\\ y'\n");
        assert_eq!(t.tasks["t"].argv, ["printf", "%s\\n", "x y"]);

        let e = errs("tasks:\n  t:\n    command: sh -c 'oops\n");
        assert_eq!(
            e,
            ["t.yaml:3:5: tasks.t.command: unterminated single quote"]
        );
        let e = errs("tasks:\n  t:\n    command: '  '\n");
        assert_eq!(e, ["t.yaml:3:5: tasks.t.command: empty command"]);
        let e = errs("tasks:\n  t:\n    command: \"a\\\\\"\n");
        assert_eq!(e, ["t.yaml:3:5: tasks.t.command: trailing backslash"]);
        let e = errs("tasks:\n  t:\n    command: [sleep, 1]\n");
        assert_eq!(
            e,
            ["t.yaml:3:5: tasks.t.command: expected a command line (a string), found a list"]
        );
        let e = errs("tasks:\n  t:\n    command: 42\n");
        assert_eq!(
            e,
            ["t.yaml:3:5: tasks.t.command: expected a command line (a string), found '42'"]
        );
        let e = errs("tasks:\n  t:\n    command:\n");
        assert_eq!(
            e,
            ["t.yaml:3:5: tasks.t.command: expected a command line (a string), found nothing"]
        );
        let e = errs("tasks:\n  t:\n    command: \"a\\0b\"\n");
        assert_eq!(
            e,
            ["t.yaml:3:5: tasks.t.command: command contains a NUL character"]
        );
    }

    #[test]
    fn missing_command() {
        let e = errs("tasks:\n  web:\n    restart: never\n");
        assert_eq!(e, ["t.yaml:2:3: tasks.web: missing key 'command'"]);
        let e = errs("tasks:\n  web:\n");
        assert_eq!(e, ["t.yaml:2:3: tasks.web: missing key 'command'"]);
        let e = errs("tasks:\n  web: {}\n");
        assert_eq!(e, ["t.yaml:2:3: tasks.web: missing key 'command'"]);
        let e = errs("tasks:\n  web: nginx\n");
        assert_eq!(
            e,
            ["t.yaml:2:3: tasks.web: expected a mapping of task keys, found 'nginx'"]
        );
    }

    #[test]
    fn instances_and_attempts() {
        assert_eq!(task("instances: 0").instances, 0);
        assert_eq!(task("instances: 4").instances, 4);
        assert_eq!(
            task("restartsAttempts: 4294967295").restart_attempts,
            u32::MAX
        );
        assert_eq!(task("restartsAttempts: 0").restart_attempts, 0);
        assert_eq!(task("restartsAttempts: 10").restart_attempts, 10);
        assert_eq!(
            key_error("instances: -1"),
            "expected a whole number >= 0, found '-1'"
        );
        assert_eq!(
            key_error("instances: 1.5"),
            "expected a whole number >= 0, found '1.5'"
        );
        assert_eq!(
            key_error("instances: two"),
            "expected a whole number >= 0, found 'two'"
        );
        assert_eq!(
            key_error("instances: \"2\""),
            "expected a whole number >= 0, found '2'"
        );
        assert_eq!(
            key_error("instances: 4294967296"),
            "4294967296 is out of range (0 to 4294967295)"
        );
        assert_eq!(
            key_error("restartsAttempts: -3"),
            "expected a whole number >= 0, found '-3'"
        );
        assert_eq!(
            key_error("restartsAttempts: [1]"),
            "expected a whole number >= 0, found a list"
        );
        assert_eq!(
            key_error("restartsAttempts:"),
            "expected a whole number >= 0, found nothing"
        );
    }

    #[test]
    fn booleans() {
        assert!(!task("autoLaunch: false").auto_launch);
        assert!(task("autoLaunch: true").auto_launch);
        assert!(task("essential: true").essential);
        assert!(task("essential: True").essential);
        assert!(!task("essential: FALSE").essential);
        assert_eq!(
            key_error("autoLaunch: yes"),
            "expected a boolean (true or false), found 'yes'"
        );
        assert_eq!(
            key_error("autoLaunch: 1"),
            "expected a boolean (true or false), found '1'"
        );
        assert_eq!(
            key_error("essential: \"true\""),
            "expected a boolean (true or false), found 'true'"
        );
        assert_eq!(
            key_error("essential: {}"),
            "expected a boolean (true or false), found a mapping"
        );
        assert_eq!(
            key_error("essential: !flag true"),
            "expected a boolean (true or false), found a value tagged !flag"
        );
    }

    #[test]
    fn restart() {
        assert_eq!(task("restart: always").restart, RestartPolicy::Always);
        assert_eq!(
            task("restart: on-failure").restart,
            RestartPolicy::OnFailure
        );
        assert_eq!(task("restart: never").restart, RestartPolicy::Never);
        assert_eq!(task("restart: 'never'").restart, RestartPolicy::Never);
        let expected = "(expected always, on-failure, never)";
        assert_eq!(
            key_error("restart: sometimes"),
            format!("unknown value 'sometimes' {expected}")
        );
        assert_eq!(
            key_error("restart: Always"),
            format!("unknown value 'Always' {expected}")
        );
        assert_eq!(
            key_error("restart: true"),
            format!("unknown value 'true' {expected}")
        );
        assert_eq!(
            key_error("restart:"),
            "expected one of always, on-failure, never, found nothing"
        );
        assert_eq!(
            key_error("restart: [always]"),
            "expected one of always, on-failure, never, found a list"
        );
    }

    #[test]
    fn exit_codes() {
        assert_eq!(task("expectedExitCodes: 2").expected_exit_codes, [2]);
        assert_eq!(
            task("expectedExitCodes: [0, 255, 1]").expected_exit_codes,
            [0, 255, 1]
        );
        assert_eq!(
            task("expectedExitCodes:\n  - 3\n  - 4").expected_exit_codes,
            [3, 4]
        );
        assert!(task("expectedExitCodes: []").expected_exit_codes.is_empty());
        assert_eq!(
            key_error("expectedExitCodes: 256"),
            "exit code 256 is out of range (0 to 255)"
        );
        assert_eq!(
            key_error("expectedExitCodes: [0, -1]"),
            "exit code -1 is out of range (0 to 255)"
        );
        assert_eq!(
            key_error("expectedExitCodes: [0, x]"),
            "expected an exit code 0 to 255, found 'x'"
        );
        assert_eq!(
            key_error("expectedExitCodes: [[0]]"),
            "expected an exit code 0 to 255, found a list"
        );
        assert_eq!(
            key_error("expectedExitCodes: zero"),
            "expected an exit code 0 to 255 or a list of them, found 'zero'"
        );
        let e = task_with("expectedExitCodes: [300, 1, 400]", false).unwrap_err();
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn seconds() {
        assert_eq!(
            task("successfulStartTimeout: 0").start_timeout,
            Duration::ZERO
        );
        assert_eq!(
            task("successfulStartTimeout: 2.5").start_timeout,
            Duration::from_millis(2500)
        );
        assert_eq!(
            task("gracefulStopTimeout: 30").stop_timeout,
            Duration::from_secs(30)
        );
        assert_eq!(
            task("gracefulStopTimeout: 0.1").stop_timeout,
            Duration::from_millis(100)
        );
        assert_eq!(
            task("gracefulStopTimeout: 1e2").stop_timeout,
            Duration::from_secs(100)
        );
        assert_eq!(
            key_error("successfulStartTimeout: -1"),
            "expected a number of seconds >= 0, found '-1'"
        );
        assert_eq!(
            key_error("gracefulStopTimeout: -0.5"),
            "expected a number of seconds >= 0, found '-0.5'"
        );
        assert_eq!(
            key_error("gracefulStopTimeout: 10s"),
            "expected a number of seconds >= 0, found '10s'"
        );
        assert_eq!(
            key_error("gracefulStopTimeout: .nan"),
            "expected a number of seconds >= 0, found '.nan'"
        );
        assert_eq!(
            key_error("gracefulStopTimeout: .inf"),
            "'.inf' is out of range (0 to 31536000 seconds)"
        );
        assert_eq!(
            key_error("successfulStartTimeout: 1e12"),
            "'1e12' is out of range (0 to 31536000 seconds)"
        );
    }

    #[test]
    fn stop_signal() {
        for (text, n) in [
            ("TERM", libc::SIGTERM),
            ("SIGTERM", libc::SIGTERM),
            ("term", libc::SIGTERM),
            ("15", libc::SIGTERM),
            ("'9'", libc::SIGKILL),
            ("SIGUSR1", libc::SIGUSR1),
            ("RTMIN+2", libc::SIGRTMIN() + 2),
        ] {
            assert_eq!(
                task(&format!("stopingSignal: {text}")).stop_signal,
                n,
                "{text}"
            );
            assert_eq!(
                task(&format!("stopSignal: {text}")).stop_signal,
                n,
                "{text}"
            );
        }
        assert_eq!(
            key_error("stopingSignal: SIGFOO"),
            "unknown signal 'SIGFOO'"
        );
        assert_eq!(key_error("stopSignal: 0"), "unknown signal '0'");
        assert_eq!(key_error("stopSignal: -9"), "unknown signal '-9'");
        assert_eq!(key_error("stopSignal: 1.5"), "unknown signal '1.5'");
        assert_eq!(
            key_error("stopSignal: true"),
            "expected a signal name or number, found 'true'"
        );
        assert_eq!(
            key_error("stopSignal: [TERM]"),
            "expected a signal name or number, found a list"
        );
    }

    #[test]
    fn stop_signal_alias_conflict() {
        let e = task_with("stopingSignal: TERM\nstopSignal: INT", false).unwrap_err();
        assert_eq!(
            e,
            [format!(
                "{FILE}:5:5: tasks.t.stopSignal: both 'stopingSignal' and 'stopSignal' given (keep one)"
            )]
        );
        let e = task_with("stopSignal: INT\nstopingSignal: TERM", false).unwrap_err();
        assert_eq!(
            e,
            [format!(
                "{FILE}:5:5: tasks.t.stopingSignal: both 'stopSignal' and 'stopingSignal' given (keep one)"
            )]
        );
    }

    #[test]
    fn paths_resolve_against_the_config_dir() {
        let t = task("stdout: out.log\nstderr: ./logs/../err.log\nworkingDirectory: /srv/app");
        assert_eq!(t.stdout, Some(PathBuf::from("/etc/tm/out.log")));
        assert_eq!(t.stderr, Some(PathBuf::from("/etc/tm/logs/../err.log")));
        assert_eq!(t.working_directory, Some(PathBuf::from("/srv/app")));
        let t = task("workingDirectory: .");
        assert_eq!(t.working_directory, Some(PathBuf::from("/etc/tm")));

        let cwd = std::env::current_dir().unwrap();
        let text = "socket: tm.sock\ntasks:\n  t:\n    command: run\n    stdout: o.log\n";
        let c = parse(text, Path::new("conf/t.yaml"), false).unwrap();
        assert_eq!(c.path, PathBuf::from("conf/t.yaml"));
        assert_eq!(c.socket, Some(cwd.join("conf/tm.sock")));
        assert_eq!(c.tasks["t"].stdout, Some(cwd.join("conf/o.log")));
        let c = parse(text, Path::new("t.yaml"), false).unwrap();
        assert_eq!(c.socket, Some(cwd.join("tm.sock")));
        assert!(c.tasks["t"].stdout.as_ref().unwrap().is_absolute());

        assert_eq!(key_error("stdout: ''"), "empty path");
        assert_eq!(key_error("stderr: 12"), "expected a path, found '12'");
        assert_eq!(
            key_error("workingDirectory: [a]"),
            "expected a path, found a list"
        );
        let e = errs("socket: [x]\ntasks: {}\n");
        assert_eq!(e, ["t.yaml:1:1: socket: expected a path, found a list"]);
    }

    #[test]
    fn environment_keeps_text_as_written() {
        let expect = [
            ("A", "007"),
            ("B", "yes"),
            ("C", "1.50"),
            ("D", "true"),
            ("E", "quoted: 1.50"),
            ("F", "0x1F"),
            ("G", ""),
            ("H", "True"),
            ("I", "+5"),
            ("J", "1e3"),
            ("K", "it's"),
            ("L", "-0.0"),
            ("M", "8080"),
        ];
        let block = task(
            "environment:\n  A: 007\n  B: yes   # comment\n  C: 1.50\n  D: true\n  E: \"quoted: 1.50\"\n  F: 0x1F\n  G: ~\n  H: True\n  I: +5\n  J: 1e3\n  K: 'it''s'\n  L: -0.0\n  M: 8080",
        );
        let flow = task(
            "environment: {A: 007, B: yes, C: 1.50, D: true, E: \"quoted: 1.50\", F: 0x1F, G: ~, H: True, I: +5, J: 1e3, K: 'it''s', L: -0.0, M: 8080}",
        );
        let flow_multiline = task(
            "environment: {\n    A: 007, B: yes,  # c\n    C: 1.50, D: true, E: \"quoted: 1.50\",\n    F: 0x1F, G: ~, H: True, I: +5, J: 1e3, K: 'it''s', L: -0.0, M: 8080 }",
        );
        for t in [block, flow, flow_multiline] {
            let got: Vec<(&str, &str)> = t
                .environment
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(got, expect);
        }
        // Keys that YAML reads as numbers or booleans keep their text too.
        let t = task("environment:\n  1.50: a\n  true: b\n  010: c\n  null: d");
        let keys: Vec<&str> = t.environment.keys().map(String::as_str).collect();
        assert_eq!(keys, ["010", "1.50", "null", "true"]);
        assert!(task("environment:").environment.is_empty());
        assert!(task("environment: {}").environment.is_empty());
    }

    #[test]
    fn environment_through_anchors() {
        let c = ok(
            "tasks:\n  a:\n    command: x\n    environment: &env\n      V: 1.50\n  b:\n    command: y\n    environment: *env\n",
        );
        assert_eq!(c.tasks["b"].environment["V"], "1.50");
        let c = ok("tasks:\n  a: &a {command: x, environment: {V: 0x10}}\n  b: *a\n");
        assert_eq!(c.tasks["b"].environment["V"], "0x10");
    }

    #[test]
    fn environment_errors() {
        assert_eq!(
            key_error("environment: [A=1]"),
            "expected a mapping of variable names to values, found a list"
        );
        let e = task_with(
            "environment:\n  GOOD: 1\n  'A=B': 2\n  '': 3\n  L: [1]\n  M: {x: 1}",
            false,
        )
        .unwrap_err();
        assert_eq!(
            e,
            [
                format!(
                    "{FILE}:6:7: tasks.t.environment.A=B: invalid variable name 'A=B' (contains '=')"
                ),
                format!("{FILE}:7:7: tasks.t.environment.: empty variable name"),
                format!("{FILE}:8:7: tasks.t.environment.L: expected a scalar value, found a list"),
                format!(
                    "{FILE}:9:7: tasks.t.environment.M: expected a scalar value, found a mapping"
                ),
            ]
        );
        let e = task_with("environment: {1: a, '1': b}", false).unwrap_err();
        assert_eq!(
            e,
            [format!(
                "{FILE}:4:25: tasks.t.environment.1: duplicate variable '1'"
            )]
        );
    }

    #[test]
    fn umask_forms() {
        for (text, mask) in [
            ("022", 0o22),
            ("\"022\"", 0o22),
            ("'022'", 0o22),
            ("22", 0o22),
            ("0o22", 0o22),
            ("777", 0o777),
            ("0777", 0o777),
            ("0", 0),
            ("000", 0),
            ("0o0", 0),
            ("\"0027\"", 0o27),
        ] {
            assert_eq!(task(&format!("umask: {text}")).umask, Some(mask), "{text}");
        }
        assert_eq!(
            key_error("umask: 1000"),
            "umask '1000' is out of range (0 to 777)"
        );
        assert_eq!(
            key_error("umask: 08"),
            "expected an octal umask like 022, found '08'"
        );
        assert_eq!(
            key_error("umask: 18"),
            "expected an octal umask like 022, found '18'"
        );
        assert_eq!(
            key_error("umask: rwx"),
            "expected an octal umask like 022, found 'rwx'"
        );
        assert_eq!(
            key_error("umask: -1"),
            "expected an octal umask like 022, found '-1'"
        );
        assert_eq!(
            key_error("umask: 0x12"),
            "expected an octal umask like 022, found '0x12'"
        );
        assert_eq!(
            key_error("umask: 2.5"),
            "expected an octal umask like 022, found '2.5'"
        );
        assert_eq!(
            key_error("umask: true"),
            "expected an octal umask like 022, found 'true'"
        );
        assert_eq!(
            key_error("umask: ''"),
            "expected an octal umask like 022, found ''"
        );
        assert_eq!(
            key_error("umask: 00000000000000000000001000"),
            "umask '00000000000000000000001000' is out of range (0 to 777)"
        );
        assert_eq!(
            key_error("umask: '7777777777777777777777777'"),
            "umask '7777777777777777777777777' is out of range (0 to 777)"
        );
    }

    #[test]
    fn user_needs_root() {
        assert_eq!(
            key_error("user: www-data"),
            "only allowed when taskmaster runs as root"
        );
        let e = errs("tasks:\n  web:\n    command: x\n    user: 33\n");
        assert_eq!(
            e,
            ["t.yaml:4:5: tasks.web.user: only allowed when taskmaster runs as root"]
        );
        let as_root = |line: &str| task_with(line, true);
        assert_eq!(
            as_root("user: www-data").unwrap().user.as_deref(),
            Some("www-data")
        );
        assert_eq!(as_root("user: 33").unwrap().user.as_deref(), Some("33"));
        assert_eq!(as_root("user: '0'").unwrap().user.as_deref(), Some("0"));
        assert_eq!(
            as_root("user: ''").unwrap_err(),
            [format!("{FILE}:4:5: tasks.t.user: empty user name")]
        );
        assert_eq!(
            as_root("user: -1").unwrap_err(),
            [format!(
                "{FILE}:4:5: tasks.t.user: expected a user name or uid, found '-1'"
            )]
        );
        assert_eq!(
            as_root("user: [a]").unwrap_err(),
            [format!(
                "{FILE}:4:5: tasks.t.user: expected a user name or uid, found a list"
            )]
        );
    }

    #[test]
    fn unknown_keys_and_suggestions() {
        assert_eq!(
            key_error("comand: x"),
            "unknown key 'comand' (did you mean 'command'?)"
        );
        assert_eq!(
            key_error("autolaunch: true"),
            "unknown key 'autolaunch' (did you mean 'autoLaunch'?)"
        );
        assert_eq!(
            key_error("stoppingSignal: TERM"),
            "unknown key 'stoppingSignal' (did you mean 'stopingSignal'?)"
        );
        assert_eq!(
            key_error("restartAttempts: 1"),
            "unknown key 'restartAttempts' (did you mean 'restartsAttempts'?)"
        );
        assert_eq!(key_error("priority: 1"), "unknown key 'priority'");
        assert_eq!(key_error("1: x"), "unknown key '1'");
        let e = errs("sockett: /x\ntask:\n  a: {command: x}\n");
        assert_eq!(
            e,
            [
                "t.yaml:1:1: sockett: unknown key 'sockett' (did you mean 'socket'?)",
                "t.yaml:1:1: missing key 'tasks'",
                "t.yaml:2:1: task: unknown key 'task' (did you mean 'tasks'?)",
            ]
        );
    }

    #[test]
    fn top_level_shapes() {
        assert!(ok("tasks: {}").tasks.is_empty());
        assert!(ok("tasks:\n").tasks.is_empty());
        assert!(ok("# nothing yet\ntasks: # none\n").tasks.is_empty());
        assert_eq!(
            errs(""),
            ["t.yaml:1:1: empty configuration (expected a mapping with key 'tasks')"]
        );
        assert_eq!(
            errs("# only a comment\n"),
            ["t.yaml:1:1: empty configuration (expected a mapping with key 'tasks')"]
        );
        assert_eq!(
            errs("socket: /tmp/x\n"),
            ["t.yaml:1:1: missing key 'tasks'"]
        );
        assert_eq!(
            errs("- a\n- b\n"),
            ["t.yaml:1:1: expected a mapping with key 'tasks', found a list"]
        );
        assert_eq!(
            errs("hello\n"),
            ["t.yaml:1:1: expected a mapping with key 'tasks', found 'hello'"]
        );
        assert_eq!(
            errs("tasks: [web]\n"),
            ["t.yaml:1:1: tasks: expected a mapping of task names to tasks, found a list"]
        );
    }

    #[test]
    fn task_names() {
        let c =
            ok("tasks:\n  A-z_0.9: {command: x}\n  123: {command: y}\n  'quoted': {command: z}\n");
        let names: Vec<&str> = c.tasks.keys().map(String::as_str).collect();
        assert_eq!(names, ["123", "A-z_0.9", "quoted"]);
        let e = errs(
            "tasks:\n  web server: {command: x}\n  'a/b': {command: x}\n  all: {command: x}\n",
        );
        assert_eq!(
            e,
            [
                "t.yaml:2:3: tasks.web server: invalid task name 'web server' (use letters, digits, '_', '.' and '-')",
                "t.yaml:3:3: tasks.a/b: invalid task name 'a/b' (use letters, digits, '_', '.' and '-')",
                "t.yaml:4:3: tasks.all: the task name 'all' is reserved",
            ]
        );
        let e = errs("tasks:\n  \"\": {command: x}\n");
        assert_eq!(
            e,
            ["t.yaml:2:3: tasks.: invalid task name '' (use letters, digits, '_', '.' and '-')"]
        );
    }

    #[test]
    fn duplicate_process_names() {
        let e = errs("tasks:\n  w:\n    command: x\n    instances: 2\n  w_1:\n    command: y\n");
        assert_eq!(
            e,
            ["t.yaml:5:3: tasks.w_1: duplicate process name 'w_1' (task 'w' and task 'w_1')"]
        );
        let e = errs("tasks:\n  w_3: {command: y}\n  w: {command: x, instances: 3}\n");
        assert_eq!(
            e,
            ["t.yaml:3:3: tasks.w: duplicate process name 'w_3' (task 'w' and task 'w_3')"]
        );
        let e = errs(
            "tasks:\n  a_b: {command: x, instances: 2}\n  a_b_2: {command: x}\n  a: {command: x, instances: 2}\n  a_1: {command: x}\n",
        );
        assert_eq!(
            e,
            [
                "t.yaml:3:3: tasks.a_b_2: duplicate process name 'a_b_2' (task 'a_b' and task 'a_b_2')",
                "t.yaml:5:3: tasks.a_1: duplicate process name 'a_1' (task 'a' and task 'a_1')",
            ]
        );
        // No collision: out of range, leading zero, zero instances, one instance.
        ok(
            "tasks:\n  w: {command: x, instances: 2}\n  w_3: {command: y}\n  w_01: {command: y}\n  w_0: {command: y}\n",
        );
        ok("tasks:\n  w: {command: x, instances: 0}\n  w_1: {command: y}\n");
        ok("tasks:\n  w: {command: x}\n  w_1: {command: y}\n");
        ok("tasks:\n  w: {command: x, instances: 4000000}\n  v_1: {command: y}\n");
        ok("tasks:\n  w: {command: x, instances: 2}\n  w_1: {command: y, instances: 2}\n");
        // Two keys YAML tells apart but whose text is the same.
        let e = errs("tasks:\n  1: {command: x}\n  '1': {command: y}\n");
        assert_eq!(e, ["t.yaml:3:3: tasks.1: duplicate task name '1'"]);
    }

    #[test]
    fn many_errors_reported_in_file_order() {
        let text = "\
tasks:
  web:
    command: nginx
    restart: sometimes
    instances: -2
  worker:
    comand: work
    autoLaunch: maybe

  ok:
    command: sleep 1
  bad:
    command: run
    gracefulStopTimeout: -1
    umask: 999
";
        assert_eq!(
            errs(text),
            [
                "t.yaml:4:5: tasks.web.restart: unknown value 'sometimes' (expected always, on-failure, never)",
                "t.yaml:5:5: tasks.web.instances: expected a whole number >= 0, found '-2'",
                "t.yaml:6:3: tasks.worker: missing key 'command'",
                "t.yaml:7:5: tasks.worker.comand: unknown key 'comand' (did you mean 'command'?)",
                "t.yaml:8:5: tasks.worker.autoLaunch: expected a boolean (true or false), found 'maybe'",
                "t.yaml:14:5: tasks.bad.gracefulStopTimeout: expected a number of seconds >= 0, found '-1'",
                "t.yaml:15:5: tasks.bad.umask: expected an octal umask like 022, found '999'",
            ]
        );
        let e = try_parse(text, false).unwrap_err();
        assert_eq!(e.to_string(), e.errors.join("\n"));
    }

    #[test]
    fn positions_in_other_layouts() {
        // Flow style on one line.
        let e = errs("tasks: {web: {command: x, restart: sometimes}, b: {}}\n");
        assert_eq!(
            e,
            [
                "t.yaml:1:27: tasks.web.restart: unknown value 'sometimes' (expected always, on-failure, never)",
                "t.yaml:1:48: tasks.b: missing key 'command'",
            ]
        );
        // Quoted keys, comments, block scalars, lists and CRLF line ends.
        let text = "# header\r\n\"tasks\":\r\n  'web':   # the web\r\n    \"command\": |\r\n      nginx\r\n      -q\r\n    expectedExitCodes:\r\n    - 0\r\n    - 1\r\n    # restart: never\r\n    restart: nope\r\n";
        assert_eq!(
            errs(text),
            [
                "t.yaml:11:5: tasks.web.restart: unknown value 'nope' (expected always, on-failure, never)"
            ]
        );
        // Explicit document start, deeper indentation, tabs after colons.
        let text = "%YAML 1.2\n---\ntasks:\n      web:\n            command:\tx\n            bogus:\t1\n...\n";
        assert_eq!(
            errs(text),
            ["t.yaml:6:13: tasks.web.bogus: unknown key 'bogus'"]
        );
        // Unicode before the key counts as one column per character.
        let text = "tasks:\n  web: {command: \"é\", x: 1}\n";
        assert_eq!(errs(text), ["t.yaml:2:23: tasks.web.x: unknown key 'x'"]);
        // Multi-line flow mapping.
        let text = "tasks: {\n  web: {\n    command: x,\n    nope: 1\n  }\n}\n";
        assert_eq!(
            errs(text),
            ["t.yaml:4:5: tasks.web.nope: unknown key 'nope'"]
        );
    }

    #[test]
    fn syntax_errors_use_serde_location() {
        let e = errs("tasks:\n  web:\n    command: x\n   bad: 1\n");
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("t.yaml:4:4: did not find expected key"),
            "{}",
            e[0]
        );
        assert!(!e[0].contains("at line 4 column 4"), "{}", e[0]);
        let e = errs("tasks:\n  web: {command: x\n");
        assert!(e[0].starts_with("t.yaml:3:1: "), "{}", e[0]);
        let e = errs("tasks:\n  web:\n    command: x\n  web:\n    command: y\n");
        assert_eq!(e, ["t.yaml:4:3: tasks: duplicate entry with key \"web\""]);
        let e = errs("a: 1\n---\nb: 2\n");
        assert_eq!(
            e,
            [
                "t.yaml:1:1: deserializing from YAML containing more than one document is not supported"
            ]
        );
        let e = errs("tasks: *nowhere\n");
        assert!(e[0].starts_with("t.yaml:1:8: unknown anchor"), "{}", e[0]);
    }

    #[test]
    fn plain_scalars_resolve_like_serde_yaml() {
        let samples = [
            "",
            "~",
            "null",
            "Null",
            "NULL",
            "nULL",
            "true",
            "True",
            "TRUE",
            "tRUE",
            "false",
            "yes",
            "no",
            "on",
            "0",
            "-0",
            "+0",
            "7",
            "+7",
            "-7",
            "007",
            "-007",
            "+007",
            "08",
            "0.5",
            "00.5",
            "1.50",
            "-1.50",
            "+1.5",
            "++1",
            "+-1",
            "-+1",
            "1e3",
            "1E-3",
            ".5",
            "5.",
            "0x1F",
            "0x1f",
            "-0x1F",
            "+0x1F",
            "0x-1",
            "0x+1",
            "0x",
            "0xG",
            "0o17",
            "0o18",
            "-0o17",
            "0b101",
            "-0b101",
            "0b2",
            ".inf",
            "-.inf",
            "+.inf",
            ".Inf",
            ".NaN",
            ".nan",
            "+.nan",
            "nan",
            "inf",
            "infinity",
            "1_000",
            "18446744073709551615",
            "-9223372036854775808",
            "9223372036854775808",
            "-9223372036854775809",
            "1e400",
            "0x8000000000000000",
            "abc",
            "1 2",
            "12abc",
        ];
        for s in samples {
            let serde = match serde_yaml::from_str::<Value>(s) {
                Ok(Value::String(_)) => None,
                Ok(v) => Some(v),
                // Integers beyond 64 bits: serde_yaml refuses the whole file.
                Err(_) => continue,
            };
            assert_eq!(resolve_plain(s), serde, "{s:?}");
        }
    }

    #[test]
    fn messages_stay_on_one_line() {
        let e = errs(
            "tasks:\n  \"a\\nb\": {command: x}\n  web:\n    \"x\\ny\": 1\n    restart: \"so\\nme\"\n",
        );
        assert_eq!(
            e,
            [
                "t.yaml:2:3: tasks.a\\nb: invalid task name 'a\\nb' (use letters, digits, '_', '.' and '-')",
                "t.yaml:3:3: tasks.web: missing key 'command'",
                "t.yaml:4:5: tasks.web.x\\ny: unknown key 'x\\ny'",
                "t.yaml:5:5: tasks.web.restart: unknown value 'so\\nme' (expected always, on-failure, never)",
            ]
        );
        let long = "x".repeat(100);
        let e = errs(&format!("tasks:\n  web:\n    command: x\n    {long}: 1\n"));
        assert_eq!(
            e,
            [format!(
                "t.yaml:4:5: tasks.web.{0}...: unknown key '{0}...'",
                "x".repeat(60)
            )]
        );
        let e = errs("tasks:\n  \"a\\nb\": {}\n  \"a\\nb\": {}\n");
        assert_eq!(e, ["t.yaml:3:3: tasks: duplicate entry with key \"a\\nb\""]);
    }

    #[test]
    fn strip_mark_keeps_context() {
        assert_eq!(strip_mark("problem at line 3 column 4"), "problem");
        assert_eq!(
            strip_mark("problem at line 3 column 4, while parsing x at line 1 column 1"),
            "problem, while parsing x at line 1 column 1"
        );
        assert_eq!(strip_mark("problem at position 7"), "problem");
        assert_eq!(strip_mark("look at this"), "look at this");
        assert_eq!(strip_mark("at line"), "at line");
    }

    #[test]
    fn load_reads_the_file() {
        let dir = std::env::temp_dir().join(format!("tm-validate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("taskmaster.yaml");
        std::fs::write(&path, "tasks:\n  a:\n    command: run\n    stdout: a.log\n").unwrap();
        let c = load(&path, false).unwrap();
        assert_eq!(c.path, path);
        assert_eq!(c.tasks["a"].stdout, Some(dir.join("a.log")));

        std::fs::write(&path, b"tasks:\n  a: {command: \"\xff\"}\n").unwrap();
        let e = load(&path, false).unwrap_err();
        assert_eq!(
            e.errors,
            [format!("{}:2:17: not valid UTF-8 text", path.display())]
        );

        let missing = dir.join("missing.yaml");
        let e = load(&missing, false).unwrap_err();
        assert_eq!(
            e.errors,
            [format!(
                "cannot read {}: No such file or directory",
                missing.display()
            )]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn example_is_valid() {
        let c = ok(crate::config::EXAMPLE);
        assert!((3..=4).contains(&c.tasks.len()));
        assert!(c.tasks.values().any(|t| t.instances == 2));
        assert!(c.tasks.values().any(|t| !t.auto_launch));
        assert!(
            c.tasks
                .values()
                .all(|t| t.stdout.is_none() && t.stderr.is_none())
        );
        assert!(
            c.tasks
                .values()
                .all(|t| t.user.is_none() && t.working_directory.is_none())
        );
        assert!(
            c.tasks
                .values()
                .any(|t| t.argv.last().unwrap().contains(">&2"))
        );
        for t in c.tasks.values() {
            assert_eq!(t.argv[..2], ["sh", "-c"], "{}", t.name);
        }
    }

    /// A deterministic stand-in for fuzzing: many broken variants of a rich
    /// file must give `Ok` or `Err`, never a panic.
    #[test]
    fn never_panics() {
        let sample = "%YAML 1.2\n---\nsocket: s # c\ntasks:\n  'a': &x {command: \"x\\ty\", environment: {A: 007, \"B\": [1], C: *x}}\n  b:\n    command: |\n      run\n    environment:\n      - 1\n    ? complex\n    : value\n  c: [1, {2: 3}, 'it''s', \"\\u00e9\"]\n  d: !tag {umask: 0o7}\r\n  é: {command: x, stdout: y}\n...\n";
        let chars: Vec<char> = sample.chars().collect();
        let mut inputs = Vec::new();
        for i in 0..=chars.len() {
            inputs.push(chars[..i].iter().collect::<String>());
            inputs.push(chars[i..].iter().collect::<String>());
            let mut dropped = chars.clone();
            if i < dropped.len() {
                dropped.remove(i);
            }
            inputs.push(dropped.iter().collect());
        }
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let alphabet: Vec<char> = " \t\n\r:-?[]{},#&*!|>'\"%@`\\ab0é".chars().collect();
        for _ in 0..1500 {
            let mut v = chars.clone();
            for _ in 0..3 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed % v.len() as u64) as usize;
                v[at] = alphabet[((seed >> 32) % alphabet.len() as u64) as usize];
            }
            inputs.push(v.into_iter().collect());
        }
        inputs.push("[".repeat(100_000));
        inputs.push("{a: ".repeat(10_000));
        inputs.push((0..300).map(|i| format!("{}a:\n", " ".repeat(i))).collect());
        inputs.push("- ".repeat(10_000));
        for (i, input) in inputs.iter().enumerate() {
            let _ = try_parse(input, i % 2 == 0);
            let _ = Shadow::parse(input);
        }
    }

    #[test]
    fn shadow_survives_deep_nesting_alone() {
        // serde_yaml refuses these first; the shadow parser must cope anyway.
        let deep_flow = "[".repeat(50_000) + &"]".repeat(50_000);
        let s = Shadow::parse(&deep_flow);
        assert!(matches!(s.nodes[s.root], Shape::Other));
        let deep_block: String = (0..1000)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect();
        let s = Shadow::parse(&deep_block);
        assert!(matches!(s.nodes[s.root], Shape::Map(_)));
    }
}
