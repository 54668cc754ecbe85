//! Two MD5s in one pass: a blob's (its header, then a range of the recording) and the
//! range's alone, which a frame-exact upload needs both of (the blob's is checked against the
//! service's, the range's goes in the row as `sourceMd5`). MD5 states do not compose, so both
//! are computed; but each MD5 step waits for the one before it, and a core left with one chain
//! of dependent additions and rotations is mostly idle. Two independent chains, the two
//! digests' blocks compressed step by step side by side, take about 1.8 ms per MB for both
//! against 2.9–3.5 ms for md-5's assembly backend run twice (docs/benchmarks.md).
//!
//! The result is plain MD5 (RFC 1321), checked against the `md-5` crate in the tests.

/// The sine-derived constants of RFC 1321.
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

const INIT: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

type Block = [u8; 64];

#[inline(always)]
fn ff(b: u32, c: u32, d: u32) -> u32 {
    d ^ (b & (c ^ d))
}
#[inline(always)]
fn gg(b: u32, c: u32, d: u32) -> u32 {
    c ^ (d & (b ^ c))
}
#[inline(always)]
fn hh(b: u32, c: u32, d: u32) -> u32 {
    b ^ c ^ d
}
#[inline(always)]
fn ii(b: u32, c: u32, d: u32) -> u32 {
    c ^ (b | !d)
}

#[inline(always)]
fn words(block: &Block) -> [u32; 16] {
    let mut m = [0u32; 16];
    for (i, w) in m.iter_mut().enumerate() {
        *w = u32::from_le_bytes([
            block[4 * i],
            block[4 * i + 1],
            block[4 * i + 2],
            block[4 * i + 3],
        ]);
    }
    m
}

/// One MD5 step on the registers `$a $b $c $d` (the first is the one it replaces).
macro_rules! step {
    ($f:ident, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:expr, $s:expr) => {
        $a = $b.wrapping_add(
            $a.wrapping_add($f($b, $c, $d))
                .wrapping_add($m)
                .wrapping_add($k)
                .rotate_left($s),
        )
    };
}

/// The 64 steps of one block, written out so every rotation and word index is a constant:
/// `$lane!(function, step, word, rotation)` for each, in order.
macro_rules! rounds {
    ($lane:ident) => {
        $lane!(ff, 0, 0, 7);
        $lane!(ff, 1, 1, 12);
        $lane!(ff, 2, 2, 17);
        $lane!(ff, 3, 3, 22);
        $lane!(ff, 4, 4, 7);
        $lane!(ff, 5, 5, 12);
        $lane!(ff, 6, 6, 17);
        $lane!(ff, 7, 7, 22);
        $lane!(ff, 8, 8, 7);
        $lane!(ff, 9, 9, 12);
        $lane!(ff, 10, 10, 17);
        $lane!(ff, 11, 11, 22);
        $lane!(ff, 12, 12, 7);
        $lane!(ff, 13, 13, 12);
        $lane!(ff, 14, 14, 17);
        $lane!(ff, 15, 15, 22);
        $lane!(gg, 16, 1, 5);
        $lane!(gg, 17, 6, 9);
        $lane!(gg, 18, 11, 14);
        $lane!(gg, 19, 0, 20);
        $lane!(gg, 20, 5, 5);
        $lane!(gg, 21, 10, 9);
        $lane!(gg, 22, 15, 14);
        $lane!(gg, 23, 4, 20);
        $lane!(gg, 24, 9, 5);
        $lane!(gg, 25, 14, 9);
        $lane!(gg, 26, 3, 14);
        $lane!(gg, 27, 8, 20);
        $lane!(gg, 28, 13, 5);
        $lane!(gg, 29, 2, 9);
        $lane!(gg, 30, 7, 14);
        $lane!(gg, 31, 12, 20);
        $lane!(hh, 32, 5, 4);
        $lane!(hh, 33, 8, 11);
        $lane!(hh, 34, 11, 16);
        $lane!(hh, 35, 14, 23);
        $lane!(hh, 36, 1, 4);
        $lane!(hh, 37, 4, 11);
        $lane!(hh, 38, 7, 16);
        $lane!(hh, 39, 10, 23);
        $lane!(hh, 40, 13, 4);
        $lane!(hh, 41, 0, 11);
        $lane!(hh, 42, 3, 16);
        $lane!(hh, 43, 6, 23);
        $lane!(hh, 44, 9, 4);
        $lane!(hh, 45, 12, 11);
        $lane!(hh, 46, 15, 16);
        $lane!(hh, 47, 2, 23);
        $lane!(ii, 48, 0, 6);
        $lane!(ii, 49, 7, 10);
        $lane!(ii, 50, 14, 15);
        $lane!(ii, 51, 5, 21);
        $lane!(ii, 52, 12, 6);
        $lane!(ii, 53, 3, 10);
        $lane!(ii, 54, 10, 15);
        $lane!(ii, 55, 1, 21);
        $lane!(ii, 56, 8, 6);
        $lane!(ii, 57, 15, 10);
        $lane!(ii, 58, 6, 15);
        $lane!(ii, 59, 13, 21);
        $lane!(ii, 60, 4, 6);
        $lane!(ii, 61, 11, 10);
        $lane!(ii, 62, 2, 15);
        $lane!(ii, 63, 9, 21);
    };
}

/// Step `$i` on registers `$r0..$r3`: which register it replaces turns with the step.
macro_rules! on {
    ($f:ident, $i:expr, $r0:ident, $r1:ident, $r2:ident, $r3:ident, $m:expr, $s:expr) => {
        match $i % 4 {
            0 => step!($f, $r0, $r1, $r2, $r3, $m, K[$i], $s),
            1 => step!($f, $r3, $r0, $r1, $r2, $m, K[$i], $s),
            2 => step!($f, $r2, $r3, $r0, $r1, $m, K[$i], $s),
            _ => step!($f, $r1, $r2, $r3, $r0, $m, K[$i], $s),
        }
    };
}

/// One block into each of two states, their steps side by side.
#[rustfmt::skip]
fn compress2(sa: &mut [u32; 4], ba: &Block, sb: &mut [u32; 4], bb: &Block) {
    let (ma, mb) = (words(ba), words(bb));
    let [mut a0, mut a1, mut a2, mut a3] = *sa;
    let [mut b0, mut b1, mut b2, mut b3] = *sb;
    macro_rules! both {
        ($f:ident, $i:expr, $g:expr, $s:expr) => {
            on!($f, $i, a0, a1, a2, a3, ma[$g], $s);
            on!($f, $i, b0, b1, b2, b3, mb[$g], $s);
        };
    }
    rounds!(both);
    for (s, r) in sa.iter_mut().zip([a0, a1, a2, a3]) {
        *s = s.wrapping_add(r);
    }
    for (s, r) in sb.iter_mut().zip([b0, b1, b2, b3]) {
        *s = s.wrapping_add(r);
    }
}

/// One block into one state.
#[rustfmt::skip]
fn compress1(sa: &mut [u32; 4], ba: &Block) {
    let ma = words(ba);
    let [mut a0, mut a1, mut a2, mut a3] = *sa;
    macro_rules! one {
        ($f:ident, $i:expr, $g:expr, $s:expr) => {
            on!($f, $i, a0, a1, a2, a3, ma[$g], $s);
        };
    }
    rounds!(one);
    for (s, r) in sa.iter_mut().zip([a0, a1, a2, a3]) {
        *s = s.wrapping_add(r);
    }
}

/// One MD5 in progress: its state, the bytes of a block not yet complete, its length.
#[derive(Clone)]
struct Lane {
    state: [u32; 4],
    pending: Block,
    pending_len: usize,
    len: u64,
}

impl Lane {
    fn new() -> Self {
        Lane {
            state: INIT,
            pending: [0; 64],
            pending_len: 0,
            len: 0,
        }
    }

    /// Takes from `data` what completes the pending block: that block once complete.
    fn complete(&mut self, data: &mut &[u8]) -> Option<Block> {
        self.len += data.len() as u64;
        if self.pending_len == 0 {
            return None;
        }
        let take = (64 - self.pending_len).min(data.len());
        self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&data[..take]);
        self.pending_len += take;
        *data = &data[take..];
        (self.pending_len == 64).then(|| {
            self.pending_len = 0;
            self.pending
        })
    }

    /// Keeps what is left of `data` after its whole blocks.
    fn keep_tail(&mut self, data: &[u8]) {
        let tail = &data[data.len() / 64 * 64..];
        self.pending[self.pending_len..self.pending_len + tail.len()].copy_from_slice(tail);
        self.pending_len += tail.len();
    }

    fn finalize(mut self) -> [u8; 16] {
        let bits = self.len.wrapping_mul(8);
        let mut block = [0u8; 64];
        block[..self.pending_len].copy_from_slice(&self.pending[..self.pending_len]);
        block[self.pending_len] = 0x80;
        if self.pending_len >= 56 {
            compress1(&mut self.state, &block);
            block = [0; 64];
        }
        block[56..].copy_from_slice(&bits.to_le_bytes());
        compress1(&mut self.state, &block);
        let mut out = [0u8; 16];
        for (o, s) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&s.to_le_bytes());
        }
        out
    }
}

fn blocks(data: &[u8]) -> impl Iterator<Item = &Block> {
    data.chunks_exact(64)
        .map(|c| <&Block>::try_from(c).expect("chunks of 64"))
}

/// Two MD5s computed together, each fed its own bytes.
#[derive(Clone)]
pub struct Md5Pair {
    a: Lane,
    b: Lane,
}

impl Default for Md5Pair {
    fn default() -> Self {
        Self::new()
    }
}

impl Md5Pair {
    pub fn new() -> Self {
        Md5Pair {
            a: Lane::new(),
            b: Lane::new(),
        }
    }

    /// Feeds `a` to the first MD5 and `b` to the second (either may be empty), their whole
    /// blocks compressed two at a time.
    pub fn update(&mut self, mut a: &[u8], mut b: &[u8]) {
        let first_a = self.a.complete(&mut a);
        let first_b = self.b.complete(&mut b);
        {
            let mut from_a = first_a.iter().chain(blocks(a));
            let mut from_b = first_b.iter().chain(blocks(b));
            loop {
                match (from_a.next(), from_b.next()) {
                    (Some(x), Some(y)) => compress2(&mut self.a.state, x, &mut self.b.state, y),
                    (Some(x), None) => {
                        compress1(&mut self.a.state, x);
                        from_a.for_each(|x| compress1(&mut self.a.state, x));
                        break;
                    }
                    (None, Some(y)) => {
                        compress1(&mut self.b.state, y);
                        from_b.for_each(|y| compress1(&mut self.b.state, y));
                        break;
                    }
                    (None, None) => break,
                }
            }
        }
        self.a.keep_tail(a);
        self.b.keep_tail(b);
    }

    /// The two digests: of every byte fed as `a`, and of every byte fed as `b`.
    pub fn finalize(self) -> ([u8; 16], [u8; 16]) {
        (self.a.finalize(), self.b.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::{Digest, Md5};

    fn md5(bytes: &[u8]) -> [u8; 16] {
        Md5::digest(bytes).into()
    }

    #[test]
    fn known_digests() {
        let (a, b) = Md5Pair::new().finalize();
        assert_eq!(a, md5(b""));
        assert_eq!(b, md5(b""));
        let mut pair = Md5Pair::new();
        pair.update(b"hello world", b"");
        let (a, b) = pair.finalize();
        assert_eq!(a, md5(b"hello world"));
        assert_eq!(b, md5(b""));
    }

    #[test]
    fn equals_md5_for_every_length_and_split() {
        let data: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        // The second digest over the bytes after a header of `skip`, as a frame-exact upload
        // feeds them, in chunks of many sizes.
        let mut seed = 7u64;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize % n
        };
        for len in (0..200).chain([4095, 4096, 4097, 5000]) {
            for skip in [0, 1, 55, 56, 63, 64, 65, 130] {
                let skip = skip.min(len);
                let mut pair = Md5Pair::new();
                let mut at = 0;
                while at < len {
                    let n = (1 + next(300)).min(len - at);
                    let chunk = &data[at..at + n];
                    let from = skip.saturating_sub(at).min(n);
                    pair.update(chunk, &chunk[from..]);
                    at += n;
                }
                let (a, b) = pair.clone().finalize();
                assert_eq!(a, md5(&data[..len]), "len {len} skip {skip}");
                assert_eq!(b, md5(&data[skip..len]), "len {len} skip {skip}");
            }
        }
    }
}
