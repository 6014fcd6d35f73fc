//! Configuration parsing (`config::parse`): a realistic file, 10 000 tasks,
//! and hostile ~200 KB files (deep flow and block nesting, a billion-laughs
//! alias tree, a merge-key bomb) that must be refused in time linear in
//! what is read: the same loop runs `reload`, so this is how long `status`
//! can wait behind a hostile file. Run: `cargo bench --bench config`.

#[path = "common/timing.rs"]
mod timing;

use std::hint::black_box;
use std::path::Path;

fn time(name: &str, text: &str, accepted: bool) {
    let d = timing::median_of(
        || (),
        |()| {
            let r = taskmaster::config::parse(black_box(text), Path::new("/b/t.yaml"), false);
            assert_eq!(r.is_ok(), accepted, "{name}");
        },
    );
    timing::report(&format!("config: {name} ({} KB)", text.len() / 1000), d, 1);
}

fn main() {
    time("the example", taskmaster::config::EXAMPLE, true);
    let mut many = "tasks:\n".to_string();
    for i in 0..10_000 {
        many.push_str(&format!(
            "  t{i}: {{command: sleep {i}, instances: 2, restart: always, environment: {{A: '1', B: x}}}}\n"
        ));
    }
    time("10 000 tasks", &many, true);
    time("200 KB of '['", &"[".repeat(200_000), false);
    time(
        "200 KB of '{a: '",
        &format!("tasks: {}", "{a: ".repeat(50_000)),
        false,
    );
    let block: String = (0..630).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
    time("block nesting 630 levels", &block, false);
    time("200 KB of '- '", &"- ".repeat(100_000), false);
    let mut laughs = "x-0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n".to_string();
    for i in 1..4000 {
        laughs.push_str(&format!(
            "x-{i}: &a{i} [*a{0}, *a{0}, *a{0}, *a{0}, *a{0}]\n",
            i - 1
        ));
    }
    laughs.push_str("tasks:\n  t: {command: x, expectedExitCodes: *a3999}\n");
    time("billion laughs, 4000 levels", &laughs, false);
    let wide: Vec<String> = (0..5000).map(|i| format!("k{i}: 1")).collect();
    let mut merges = format!("x-base: &b {{{}}}\n", wide.join(", "));
    for i in 0..8000 {
        merges.push_str(&format!("x-{i}: {{<<: *b}}\n"));
    }
    merges.push_str("tasks: {}\n");
    time("merge bomb, 8000 x 5000 keys", &merges, false);
}
