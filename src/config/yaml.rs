//! YAML text to a tree of positioned nodes, from `saphyr-parser`'s events.
//! Every node knows its line and column and, for a scalar, its text as
//! written and whether it was plain. An alias is the id of the node it
//! names (shared, never copied); a merge key (`<<: *base`) copies the
//! entries of the merged mappings that the mapping does not set itself,
//! within a budget. Nesting deeper than [`MAX_DEPTH`] stops the parse at
//! once, so time stays linear in the text read. It never looks at what the
//! keys mean.

use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, ScalarStyle};

/// Index of a node in [`Tree::nodes`].
pub type Id = usize;

/// Deepest accepted nesting of collections.
pub const MAX_DEPTH: usize = 64;

/// The most mapping entries merge keys may copy in one file.
pub const MAX_MERGED: usize = 1_000_000;

/// A 1-based line and column (in characters), as editors count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// The start of the file.
pub const START: Pos = Pos { line: 1, col: 1 };

/// A message and where in the text it applies.
pub type Message = (Pos, String);

/// A scalar as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// The text after quotes and escapes are undone (block scalars folded).
    pub text: String,
    /// Unquoted, so the core schema decides its type.
    pub plain: bool,
}

/// A mapping: entries in file order, merged ones after them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Map {
    /// (key, value) node pairs, every key once.
    pub entries: Vec<(Id, Id)>,
    /// Keys written a second time in this mapping; their entries are dropped.
    pub duplicates: Vec<Id>,
    /// How many of `entries` were written in the mapping itself; the rest
    /// came through merge keys.
    pub own: usize,
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(Scalar),
    Seq(Vec<Id>),
    Map(Map),
}

/// One node of the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub at: Pos,
    /// A tag other than the core schema's, as written (`!flag`).
    pub tag: Option<String>,
    pub value: Value,
}

/// What a scalar stands for under the YAML 1.2 core schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Typed<'a> {
    Null,
    Bool(bool),
    /// Saturated at the ends of `i128`.
    Int(i128),
    Float(f64),
    Str(&'a str),
}

/// A parsed document.
#[derive(Debug, Default)]
pub struct Tree {
    pub nodes: Vec<Node>,
    /// `None` for a file without content.
    pub root: Option<Id>,
    /// Problems found while building (merge keys), with where they are.
    pub problems: Vec<Message>,
}

impl<'a> Typed<'a> {
    /// The string, when a string.
    pub fn str(self) -> Option<&'a str> {
        match self {
            Typed::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl Node {
    /// What it stands for, when it is an untagged scalar.
    pub fn typed(&self) -> Option<Typed<'_>> {
        match (&self.value, &self.tag) {
            (Value::Scalar(s), None) if s.plain => Some(resolve(&s.text)),
            (Value::Scalar(s), None) => Some(Typed::Str(&s.text)),
            _ => None,
        }
    }
}

impl Tree {
    /// The node `id`.
    pub fn node(&self, id: Id) -> &Node {
        &self.nodes[id]
    }

    /// What node `id` stands for, when it is an untagged scalar.
    pub fn typed(&self, id: Id) -> Option<Typed<'_>> {
        self.nodes[id].typed()
    }
}

/// saphyr-parser's refusal of a tab as the only white space between a ':'
/// and a plain value (`key:<TAB>word`), which YAML allows.
const TAB_AFTER_COLON: &str = "':' must be followed by a valid YAML whitespace";

/// Parses `text`; fails with the position and message of the first syntax
/// error, of nesting beyond [`MAX_DEPTH`], or of a second document.
pub fn parse(text: &str) -> Result<Tree, Message> {
    match build(text) {
        Err((_, m)) if m == TAB_AFTER_COLON => {}
        done => return done.map(|b| b.tree),
    }
    // The tabs right after each ':' become spaces: one character for one,
    // so every position stays. Those that were inside a quoted or block
    // scalar are text, not separation: they are put back for a last parse.
    let mut tabs = tabs_after_colons(text);
    let mut bytes = text.as_bytes().to_vec();
    for &(_, i) in &tabs {
        bytes[i] = b' ';
    }
    let b = build(std::str::from_utf8(&bytes).expect("a space for a tab"))?;
    let before = tabs.len();
    tabs.retain(|&(n, i)| {
        let k = b.verbatim.partition_point(|s| s.start <= n);
        let text = k > 0 && n < b.verbatim[k - 1].end;
        if text {
            bytes[i] = b'\t';
        }
        !text
    });
    if tabs.len() == before {
        return Ok(b.tree);
    }
    build(std::str::from_utf8(&bytes).expect("a tab for a space")).map(|b| b.tree)
}

/// The character and byte offsets of the tabs in the blanks right after
/// each ':'.
fn tabs_after_colons(text: &str) -> Vec<(usize, usize)> {
    let mut tabs = Vec::new();
    let mut after_colon = false;
    for (n, (i, c)) in text.char_indices().enumerate() {
        match c {
            '\t' if after_colon => tabs.push((n, i)),
            ' ' if after_colon => {}
            _ => after_colon = c == ':',
        }
    }
    tabs
}

fn build(text: &str) -> Result<Builder, Message> {
    let mut b = Builder::default();
    let mut documents = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            let m = e.marker();
            (pos(m.line(), m.col()), e.info().to_string())
        })?;
        let at = pos(span.start.line(), span.start.col());
        match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err((at, "more than one document (keep one)".to_string()));
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                if style != ScalarStyle::Plain {
                    b.verbatim.push(span.start.index()..span.end.index());
                }
                let forced_str = tag
                    .as_ref()
                    .is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
                let plain = style == ScalarStyle::Plain && !forced_str;
                let text = text.into_owned();
                let id = b.add(at, anchor, tag, Value::Scalar(Scalar { text, plain }));
                b.finish(id);
            }
            Event::Alias(anchor) => {
                let id = *b
                    .anchors
                    .get(&anchor)
                    .ok_or((at, "unknown anchor".to_string()))?;
                b.finish(id);
            }
            Event::SequenceStart(anchor, tag) => {
                b.start(at, anchor, tag, Value::Seq(Vec::new()))?
            }
            Event::MappingStart(anchor, tag) => {
                b.start(at, anchor, tag, Value::Map(Map::default()))?;
            }
            Event::SequenceEnd | Event::MappingEnd => b.close()?,
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }
    Ok(b)
}

fn pos(line: usize, col0: usize) -> Pos {
    Pos {
        line: line.max(1),
        col: col0 + 1,
    }
}

/// A collection being read.
struct Open {
    id: Id,
    /// In a mapping, the key read and waiting for its value.
    key: Option<Id>,
}

#[derive(Default)]
struct Builder {
    tree: Tree,
    open: Vec<Open>,
    anchors: HashMap<usize, Id>,
    merged: usize,
    /// Where quoted and block scalars are, in characters, in file order.
    verbatim: Vec<std::ops::Range<usize>>,
}

/// How mapping keys are told apart: by type and value, as YAML does.
#[derive(Debug, PartialEq, Eq, Hash)]
enum KeyId<'a> {
    Null,
    Bool(bool),
    Int(i128),
    Float(u64),
    Str(&'a str),
    /// Tagged scalars and collections: only equal to themselves.
    Node(Id),
}

/// A node's tag as the parser gives it.
type RawTag<'a> = Option<std::borrow::Cow<'a, saphyr_parser::Tag>>;

impl Builder {
    /// A new node, under its anchor (0 for none); core schema tags dropped.
    fn add(&mut self, at: Pos, anchor: usize, tag: RawTag, value: Value) -> Id {
        let tag = tag.and_then(|t| (!t.is_yaml_core_schema()).then(|| t.to_string()));
        self.tree.nodes.push(Node { at, tag, value });
        let id = self.tree.nodes.len() - 1;
        if anchor != 0 {
            self.anchors.insert(anchor, id);
        }
        id
    }

    /// Opens a collection; fails past [`MAX_DEPTH`].
    fn start(&mut self, at: Pos, anchor: usize, tag: RawTag, value: Value) -> Result<(), Message> {
        if self.open.len() >= MAX_DEPTH {
            return Err((at, format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let id = self.add(at, anchor, tag, value);
        self.open.push(Open { id, key: None });
        Ok(())
    }

    /// Attaches the complete node `id` to the collection being read.
    fn finish(&mut self, id: Id) {
        let Some(open) = self.open.last_mut() else {
            self.tree.root = Some(id);
            return;
        };
        match &mut self.tree.nodes[open.id].value {
            Value::Seq(items) => items.push(id),
            Value::Map(map) => match open.key.take() {
                None => open.key = Some(id),
                Some(key) => map.entries.push((key, id)),
            },
            Value::Scalar(_) => unreachable!("only collections are open"),
        }
    }

    /// Closes the collection being read (a mapping's merge keys resolved).
    fn close(&mut self) -> Result<(), Message> {
        if let Some(open) = self.open.pop() {
            self.finish(open.id);
            self.merge(open.id)?;
        }
        Ok(())
    }

    fn key_id(nodes: &[Node], id: Id) -> KeyId<'_> {
        match nodes[id].typed() {
            Some(Typed::Null) => KeyId::Null,
            Some(Typed::Bool(b)) => KeyId::Bool(b),
            Some(Typed::Int(i)) => KeyId::Int(i),
            Some(Typed::Float(f)) => KeyId::Float(f.to_bits()),
            Some(Typed::Str(s)) => KeyId::Str(s),
            None => KeyId::Node(id),
        }
    }

    fn is_merge_key(&self, id: Id) -> bool {
        let node = &self.tree.nodes[id];
        matches!(&node.value, Value::Scalar(s) if node.tag.is_none() && s.plain && s.text == "<<")
    }

    /// Drops duplicate keys of mapping `id` and adds the entries its merge
    /// keys bring that it does not set itself. Fails when merge keys copy
    /// more than [`MAX_MERGED`] entries in all.
    fn merge(&mut self, id: Id) -> Result<(), Message> {
        let Value::Map(map) = &mut self.tree.nodes[id].value else {
            return Ok(());
        };
        let written = std::mem::take(&mut map.entries);
        let mut seen = HashSet::with_capacity(written.len());
        let mut entries = Vec::with_capacity(written.len());
        let mut duplicates = Vec::new();
        let mut sources = Vec::new();
        for (k, v) in written {
            if self.is_merge_key(k) {
                sources.push((k, v));
            } else if !seen.insert(Self::key_id(&self.tree.nodes, k)) {
                duplicates.push(k);
            } else {
                entries.push((k, v));
            }
        }
        let own = entries.len();
        for (k, v) in sources {
            let maps: Vec<Id> = match &self.tree.nodes[v].value {
                Value::Seq(items) => items.clone(),
                _ => vec![v],
            };
            for m in maps {
                let at = self.tree.nodes[k].at;
                let problem = if m == id || self.open.iter().any(|o| o.id == m) {
                    "merge key '<<' names a mapping that contains it"
                } else if let Value::Map(source) = &self.tree.nodes[m].value {
                    if self.merged + source.entries.len() > MAX_MERGED {
                        let message = format!("merge keys copy more than {MAX_MERGED} entries");
                        return Err((at, message));
                    }
                    self.merged += source.entries.len();
                    for &(mk, mv) in &source.entries {
                        if seen.insert(Self::key_id(&self.tree.nodes, mk)) {
                            entries.push((mk, mv));
                        }
                    }
                    continue;
                } else {
                    "merge key '<<' expects a mapping or a list of mappings"
                };
                self.tree.problems.push((at, problem.to_string()));
            }
        }
        self.tree.nodes[id].value = Value::Map(Map {
            entries,
            duplicates,
            own,
        });
        Ok(())
    }
}

/// The value of a plain scalar under the YAML 1.2 core schema.
pub fn resolve(t: &str) -> Typed<'_> {
    match t {
        "" | "~" | "null" | "Null" | "NULL" => return Typed::Null,
        "true" | "True" | "TRUE" => return Typed::Bool(true),
        "false" | "False" | "FALSE" => return Typed::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Typed::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Typed::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Typed::Float(f64::NAN),
        _ => {}
    }
    let int = |digits: &str, radix: u32, negative: bool| {
        let ok = !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix));
        ok.then(|| {
            let n = i128::from_str_radix(digits, radix).unwrap_or(i128::MAX);
            Typed::Int(if negative { -n } else { n })
        })
    };
    if let Some(h) = t.strip_prefix("0x") {
        return int(h, 16, false).unwrap_or(Typed::Str(t));
    }
    if let Some(o) = t.strip_prefix("0o") {
        return int(o, 8, false).unwrap_or(Typed::Str(t));
    }
    let (negative, unsigned) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if let Some(i) = int(unsigned, 10, negative) {
        return i;
    }
    // Past the sign, Rust's float syntax is the core schema's but for its
    // spellings of infinity and NaN, which start with a letter.
    if unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && let Ok(f) = t.parse::<f64>()
    {
        return Typed::Float(f);
    }
    Typed::Str(t)
}
