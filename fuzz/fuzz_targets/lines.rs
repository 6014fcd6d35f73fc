//! Fuzzes the line splitter of child output: any byte stream, fed in any
//! chunking, gives exactly the lines of splitting it in one go, and no line
//! is longer than `MAX_LINE`. And the `logs` ring: skipping the lines of a
//! chunk that `Ring::make_ready` counts keeps the same lines as pushing all.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taskmaster::logs::lines::{Lines, MAX_LINE, split_all};
use taskmaster::logs::ring::Ring;

fuzz_target!(|input: &[u8]| {
    // The first bytes choose the chunk sizes; the rest is the stream. Each
    // size byte is scaled so that chunks both below and far above MAX_LINE
    // occur, and the stream is stretched by repeating it so lines longer than
    // MAX_LINE are reachable from small inputs.
    let Some((&n_sizes, rest)) = input.split_first() else {
        return;
    };
    let n_sizes = usize::from(n_sizes % 16) + 1;
    if rest.len() < n_sizes + 1 {
        return;
    }
    let (sizes, rest) = rest.split_at(n_sizes);
    let (&repeat, body) = rest.split_first().expect("length checked");
    let mut data = Vec::new();
    for _ in 0..=usize::from(repeat % 8).pow(3) * 16 {
        data.extend_from_slice(body);
        if data.len() > 2 * MAX_LINE + 64 {
            break;
        }
    }
    let chunk = |i: usize| -> usize {
        let s = usize::from(sizes[i % sizes.len()]);
        match s % 4 {
            0 => s / 4 + 1,
            1 => (s / 4 + 1) * 64,
            2 => MAX_LINE - 2 + s % 5,
            _ => (s / 4 + 1) * 1024,
        }
    };

    let whole = split_all(&data);
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut l = Lines::default();
    let mut rest = &data[..];
    let mut i = 0;
    while !rest.is_empty() {
        let n = chunk(i).min(rest.len());
        l.feed(&rest[..n], |line| got.push(line.to_vec()));
        assert!(l.pending() <= MAX_LINE, "held more than a line");
        rest = &rest[n..];
        i += 1;
    }
    l.finish(|line| got.push(line.to_vec()));
    assert_eq!(l.pending(), 0);
    assert_eq!(got, whole);
    for line in &whole {
        assert!(line.len() <= MAX_LINE);
        assert!(!line.contains(&b'\n'));
    }
    // Nothing is lost: the lines plus the newlines that ended them are the
    // stream, byte for byte (cut lines carry no newline).
    let newlines = data.iter().filter(|&&b| b == b'\n').count();
    let kept: usize = whole.iter().map(Vec::len).sum();
    assert_eq!(kept + newlines, data.len());

    // The ring, over a stream long enough to fill it many times, in
    // chunks up to four times its size.
    let mut big = Vec::new();
    while !body.is_empty() && big.len() < 160_000 {
        big.extend_from_slice(body);
    }
    let (mut all, mut some) = (Ring::default(), Ring::default());
    let (mut la, mut ls) = (Lines::default(), Lines::default());
    let mut rest = &big[..];
    let mut i = 0;
    while !rest.is_empty() {
        let n = (chunk(i) * 4).min(rest.len());
        let c = &rest[..n];
        la.feed(c, |line| all.push(0, 0, false, line));
        let mut skip = some.make_ready(c);
        ls.feed(c, |line| match skip {
            0 => some.push(0, 0, false, line),
            _ => skip -= 1,
        });
        assert_eq!((all.len(), all.bytes()), (some.len(), some.bytes()));
        rest = &rest[n..];
        i += 1;
    }
    assert_eq!(all.last(usize::MAX), some.last(usize::MAX));
});
