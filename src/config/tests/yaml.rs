//! The YAML layer alone: core-schema resolution, positions, merge keys,
//! duplicate keys, nesting limits, tabs after colons, shared aliases.

use crate::config::yaml::*;

fn keys(tree: &Tree, id: Id) -> Vec<String> {
    let Value::Map(m) = &tree.node(id).value else {
        panic!("not a map")
    };
    m.entries
        .iter()
        .map(|&(k, _)| match &tree.node(k).value {
            Value::Scalar(s) => s.text.clone(),
            _ => "?".into(),
        })
        .collect()
}

#[test]
fn core_schema() {
    assert_eq!(resolve("~"), Typed::Null);
    assert_eq!(resolve("True"), Typed::Bool(true));
    assert_eq!(resolve("yes"), Typed::Str("yes"));
    assert_eq!(resolve("007"), Typed::Int(7));
    assert_eq!(resolve("-12"), Typed::Int(-12));
    assert_eq!(resolve("0x1F"), Typed::Int(31));
    assert_eq!(resolve("0o17"), Typed::Int(15));
    assert_eq!(resolve("0o18"), Typed::Str("0o18"));
    assert_eq!(resolve("1.50"), Typed::Float(1.5));
    assert_eq!(resolve("1e3"), Typed::Float(1000.0));
    assert_eq!(resolve(".5"), Typed::Float(0.5));
    assert_eq!(resolve("5."), Typed::Float(5.0));
    assert_eq!(resolve("."), Typed::Str("."));
    assert_eq!(resolve("1e"), Typed::Str("1e"));
    assert_eq!(resolve("1_000"), Typed::Str("1_000"));
    assert_eq!(resolve("inf"), Typed::Str("inf"));
    assert_eq!(resolve("-.inf"), Typed::Float(f64::NEG_INFINITY));
    assert!(matches!(resolve(".nan"), Typed::Float(f) if f.is_nan()));
    assert_eq!(resolve(&"9".repeat(50)), Typed::Int(i128::MAX));
}

#[test]
fn positions_and_merge_keys() {
    let t = parse("a: &d {x: 1, y: 2}\nb:\n  <<: *d\n  y: 3\n  z: 4\n").unwrap();
    let root = t.root.unwrap();
    assert_eq!(keys(&t, root), ["a", "b"]);
    let Value::Map(m) = &t.node(root).value else {
        panic!()
    };
    let b = m.entries[1].1;
    assert_eq!(keys(&t, b), ["y", "z", "x"]);
    assert_eq!(t.node(m.entries[1].0).at, Pos { line: 2, col: 1 });
    let Value::Map(bm) = &t.node(b).value else {
        panic!()
    };
    // The merged `x` is where it was written.
    assert_eq!(t.node(bm.entries[2].0).at, Pos { line: 1, col: 8 });
    let t = parse("a: &a [1]\nb: {<<: [*a]}\nc: &c {<<: *c}\n").unwrap();
    let messages: Vec<String> = t.problems.iter().map(|p| p.1.clone()).collect();
    assert_eq!(
        messages,
        [
            "merge key '<<' expects a mapping or a list of mappings",
            "merge key '<<' names a mapping that contains it"
        ]
    );
}

#[test]
fn duplicates_are_dropped_and_kept_apart() {
    let t = parse("{a: 1, b: 2, a: 3, 1: x, '1': y, 0x1: z}").unwrap();
    let root = t.root.unwrap();
    assert_eq!(keys(&t, root), ["a", "b", "1", "1"]);
    let Value::Map(m) = &t.node(root).value else {
        panic!()
    };
    assert_eq!(m.duplicates.len(), 2);
    assert_eq!(t.node(m.duplicates[0]).at, Pos { line: 1, col: 14 });
}

#[test]
fn limits_and_errors() {
    let (at, message) = parse(&"[".repeat(100)).unwrap_err();
    assert_eq!(
        (at, message.as_str()),
        (Pos { line: 1, col: 65 }, "nested deeper than 64 levels")
    );
    let block: String = (0..100).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    let (at, message) = parse(&block).unwrap_err();
    assert_eq!(
        (at, message.as_str()),
        (Pos { line: 65, col: 65 }, "nested deeper than 64 levels")
    );
    // The scanner looks ahead and stops flow nesting at 256 on its own.
    let (at, message) = parse(&"[".repeat(200_000)).unwrap_err();
    assert_eq!(
        (at, message.as_str()),
        (Pos { line: 1, col: 256 }, "recursion limit exceeded")
    );
    let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
    assert!(parse(&ok).is_ok());
    assert_eq!(
        parse("a: 1\n---\nb: 2\n").unwrap_err(),
        (
            Pos { line: 2, col: 1 },
            "more than one document (keep one)".to_string()
        )
    );
    assert!(parse("").unwrap().root.is_none());
    assert_eq!(parse("a: *x").unwrap_err().0, Pos { line: 1, col: 4 });
}

fn scalar(t: &Tree, path: &[&str]) -> String {
    let mut id = t.root.unwrap();
    for name in path {
        let Value::Map(m) = &t.node(id).value else {
            panic!("{name}: not a map")
        };
        let found = m
            .entries
            .iter()
            .find(|&&(k, _)| matches!(&t.node(k).value, Value::Scalar(s) if s.text == *name));
        id = found.unwrap_or_else(|| panic!("{name}: no such key")).1;
    }
    match &t.node(id).value {
        Value::Scalar(s) => s.text.clone(),
        _ => panic!("not a scalar"),
    }
}

#[test]
fn a_tab_after_a_colon_separates() {
    let t = parse(
        "a:\tword\nb:\t\t-1\nc: {d:\tx}\ne:\t'q:\tq'\nf: \"r:\tr\"\ng: |\n  s:\ts\nh:\ti # c:\tc\n",
    )
    .unwrap();
    for (path, text) in [
        (&["a"][..], "word"),
        (&["b"], "-1"),
        (&["c", "d"], "x"),
        (&["e"], "q:\tq"),
        (&["f"], "r:\tr"),
        (&["g"], "s:\ts\n"),
        (&["h"], "i"),
    ] {
        assert_eq!(scalar(&t, path), text, "{path:?}");
    }
    // Where YAML refuses the tab, the error is where the value starts.
    assert_eq!(parse("a:\t- x\n").unwrap_err().0, Pos { line: 1, col: 4 });
    assert_eq!(parse("a:\tb: c\n").unwrap_err().0, Pos { line: 1, col: 5 });
}

#[test]
fn aliases_are_shared_not_copied() {
    // Each level doubles what a copying loader would build.
    let mut text = "a0: &a0 [x, x]\n".to_string();
    for i in 1..40 {
        text.push_str(&format!("a{i}: &a{i} [*a{}, *a{}]\n", i - 1, i - 1));
    }
    let t = parse(&text).unwrap();
    assert!(t.nodes.len() < 200);
}
