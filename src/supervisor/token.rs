//! mio tokens: a source kind in the low four bits and a slab key above.
//! Fixed sources (signals, timer, stdin, listener, console) use key 0 or a
//! small fixed key. Pure.

use mio::Token;

/// Every kind of source registered with the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Signals,
    Timer,
    Stdin,
    Listener,
    /// A child's stdout pipe; the key is the process's slab key.
    Stdout(usize),
    /// A child's stderr pipe.
    Stderr(usize),
    /// A control connection; the key is the connection's slab key.
    Conn(usize),
    /// The supervisor's own stdout (0) or stderr (1) became writable.
    Console(usize),
    /// The sd_notify datagram socket.
    Notify,
    /// The socket of a `tcp` or `http` check; the key is the process's.
    Probe(usize),
    /// The stdout pipe of a `command` check; the key is the process's.
    CheckOut(usize),
    /// The stderr pipe of a `command` check.
    CheckErr(usize),
    /// The metrics endpoint's listener.
    HttpListener,
    /// A metrics endpoint connection; the key is its slab key there.
    Http(usize),
    /// The pipe a streaming control connection's client attached; the key
    /// is the connection's.
    Pipe(usize),
}

const KIND_BITS: usize = 4;
const KIND_MASK: usize = (1 << KIND_BITS) - 1;

impl Source {
    /// The token this source is registered with.
    pub fn token(self) -> Token {
        let (key, kind) = match self {
            Source::Signals => (0, 0),
            Source::Timer => (0, 1),
            Source::Stdin => (0, 2),
            Source::Listener => (0, 3),
            Source::Stdout(k) => (k, 4),
            Source::Stderr(k) => (k, 5),
            Source::Conn(k) => (k, 6),
            Source::Console(k) => (k, 7),
            Source::Notify => (0, 8),
            Source::Probe(k) => (k, 9),
            Source::CheckOut(k) => (k, 10),
            Source::CheckErr(k) => (k, 11),
            Source::HttpListener => (0, 12),
            Source::Http(k) => (k, 13),
            Source::Pipe(k) => (k, 14),
        };
        Token(key << KIND_BITS | kind)
    }

    /// The source a token stands for; `None` for a token no source uses.
    pub fn decode(token: Token) -> Option<Source> {
        let key = token.0 >> KIND_BITS;
        Some(match (token.0 & KIND_MASK, key) {
            (0, 0) => Source::Signals,
            (1, 0) => Source::Timer,
            (2, 0) => Source::Stdin,
            (3, 0) => Source::Listener,
            (4, k) => Source::Stdout(k),
            (5, k) => Source::Stderr(k),
            (6, k) => Source::Conn(k),
            (7, k) => Source::Console(k),
            (8, 0) => Source::Notify,
            (9, k) => Source::Probe(k),
            (10, k) => Source::CheckOut(k),
            (11, k) => Source::CheckErr(k),
            (12, 0) => Source::HttpListener,
            (13, k) => Source::Http(k),
            (14, k) => Source::Pipe(k),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let keys = [0usize, 1, 7, 8, 9999, usize::MAX >> KIND_BITS];
        let mut all = vec![
            Source::Signals,
            Source::Timer,
            Source::Stdin,
            Source::Listener,
            Source::Notify,
            Source::HttpListener,
        ];
        for k in keys {
            all.extend([
                Source::Stdout(k),
                Source::Stderr(k),
                Source::Conn(k),
                Source::Console(k),
                Source::Probe(k),
                Source::CheckOut(k),
                Source::CheckErr(k),
                Source::Http(k),
                Source::Pipe(k),
            ]);
        }
        for s in all {
            assert_eq!(Source::decode(s.token()), Some(s), "{s:?}");
        }
    }

    #[test]
    fn fixed_kinds_reject_keys() {
        assert_eq!(Source::decode(Token(1 << KIND_BITS)), None);
        assert_eq!(Source::decode(Token(3 << KIND_BITS | 3)), None);
        assert_eq!(Source::decode(Token(1 << KIND_BITS | 8)), None);
        assert_eq!(Source::decode(Token(1 << KIND_BITS | 12)), None);
        assert_eq!(Source::decode(Token(15)), None);
    }
}
