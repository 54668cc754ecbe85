//! Layer III Huffman decoding of the big-values pairs (ISO/IEC 11172-3 2.4.3.4.6), for the
//! screen's energy bound: two-level lookup tables built once from
//! [`huffman_tables`](crate::huffman_tables), and a bit reader that never panics.

use std::sync::OnceLock;

use crate::huffman_tables::{BIG, LINBITS, QUAD_A, QUAD_B};

/// Bits resolved by a table's first level; longer codes (up to 19 bits) take one more
/// lookup in a subtable of their 8-bit prefix.
const FIRST: u32 = 8;

/// A table entry: 0 is no code; a leaf is `len << 16 | x << 8 | y` (len ≥ 1); a link to a
/// subtable is `1 << 31 | width << 24 | offset`.
const LINK: u32 = 1 << 31;

/// The lookup tables of the 32 table numbers (empty for 0, 4 and 14).
pub(crate) struct Tables {
    tables: Vec<Vec<u32>>,
    /// Count1 tables A and B by their next 6 bits: `len << 4 | vwxy`.
    quads: [[u8; 64]; 2],
}

impl Tables {
    /// The tables, built at first use (about 20 KiB).
    pub(crate) fn get() -> &'static Tables {
        static TABLES: OnceLock<Tables> = OnceLock::new();
        TABLES.get_or_init(|| Tables {
            tables: BIG.iter().map(|(codes, dim)| build(codes, *dim)).collect(),
            quads: [quads(&QUAD_A), quads(&QUAD_B)],
        })
    }

    /// Decodes one big-values pair with table number `table` (0–31): the magnitudes
    /// `(x, y)` with their linbits, the sign bits read past. `None` where the bits hold no
    /// code of the table, or for table 0 (all pairs zero, no bits: the caller's case).
    #[inline]
    pub(crate) fn pair(&self, table: usize, r: &mut Reader) -> Option<(u32, u32)> {
        let t = self.tables.get(table)?;
        let peek = r.peek32();
        let mut e = *t.get((peek >> (32 - FIRST)) as usize)?;
        if e & LINK != 0 {
            let width = (e >> 24) & 0x1F;
            let offset = (e & 0xFF_FFFF) as usize;
            let rest = (peek << FIRST) >> (32 - width);
            e = *t.get(offset + rest as usize)?;
        }
        if e == 0 || e & LINK != 0 {
            return None;
        }
        r.skip(e >> 16);
        let linbits = LINBITS[table];
        let value = |v: u32, r: &mut Reader| {
            let v = if v == 15 && linbits > 0 {
                v + r.read(linbits)
            } else {
                v
            };
            if v != 0 {
                r.skip(1);
            }
            v
        };
        let x = value((e >> 8) & 0xFF, r);
        let y = value(e & 0xFF, r);
        Some((x, y))
    }

    /// Decodes one count1 quad with table B (else A): the bits `v w x y` of the values that
    /// are 1 (the others 0), their sign bits read past.
    #[inline]
    pub(crate) fn quad(&self, b: bool, r: &mut Reader) -> u32 {
        let e = self.quads[usize::from(b)][(r.peek32() >> 26) as usize];
        let ones = u32::from(e & 0xF);
        r.skip(u32::from(e >> 4) + ones.count_ones());
        ones
    }
}

/// A 6-bit lookup table of a count1 table (codes of 6 bits at most).
fn quads(codes: &[u32; 16]) -> [u8; 64] {
    let mut t = [0u8; 64];
    for (v, &c) in codes.iter().enumerate() {
        let (len, code) = (c >> 24, c & 0xFF_FFFF);
        let from = (code << (6 - len)) as usize;
        t[from..from + (1 << (6 - len))].fill((len << 4) as u8 | v as u8);
    }
    t
}

/// A two-level lookup table from `length << 24 | code` entries at `x · dim + y`.
fn build(codes: &[u32], dim: usize) -> Vec<u32> {
    let mut t = vec![0u32; 1 << FIRST];
    if dim == 0 {
        return t;
    }
    let entries: Vec<(u32, u32, u32)> = codes
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            (
                c >> 24,
                c & 0xFF_FFFF,
                (((i / dim) << 8) | (i % dim)) as u32,
            )
        })
        .collect();
    for &(len, code, xy) in entries.iter().filter(|e| e.0 <= FIRST) {
        let from = (code << (FIRST - len)) as usize;
        t[from..from + (1 << (FIRST - len))].fill(len << 16 | xy);
    }
    // Longer codes, by their first FIRST bits: one subtable each, as wide as its longest.
    let mut prefixes: Vec<u32> = entries
        .iter()
        .filter(|e| e.0 > FIRST)
        .map(|&(len, code, _)| code >> (len - FIRST))
        .collect();
    prefixes.sort_unstable();
    prefixes.dedup();
    for p in prefixes {
        let group: Vec<_> = entries
            .iter()
            .filter(|&&(len, code, _)| len > FIRST && code >> (len - FIRST) == p)
            .collect();
        let width = group.iter().map(|e| e.0 - FIRST).max().unwrap_or(0);
        let offset = t.len();
        t.resize(offset + (1 << width), 0);
        t[p as usize] = LINK | width << 24 | offset as u32;
        for &&(len, code, xy) in &group {
            let tail = len - FIRST;
            let rest = code & ((1 << tail) - 1);
            let from = offset + (rest << (width - tail)) as usize;
            t[from..from + (1 << (width - tail))].fill(len << 16 | xy);
        }
    }
    t
}

/// A big-endian bit reader; bits past the end of its bytes read as zeros.
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    /// The next bit, from the start of `data`.
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8], pos: usize) -> Self {
        Reader { data, pos }
    }

    /// The next 32 bits, not consumed.
    #[inline]
    pub(crate) fn peek32(&self) -> u32 {
        let i = self.pos / 8;
        let word = match self.data.get(i..i + 8) {
            Some(b) => u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            None => {
                let mut b = [0u8; 8];
                let tail = self.data.get(i..).unwrap_or(&[]);
                b[..tail.len().min(8)].copy_from_slice(&tail[..tail.len().min(8)]);
                u64::from_be_bytes(b)
            }
        };
        ((word << (self.pos % 8)) >> 32) as u32
    }

    #[inline]
    pub(crate) fn skip(&mut self, n: u32) {
        self.pos += n as usize;
    }

    /// The next `n` bits (at most 24), consumed.
    #[inline]
    pub(crate) fn read(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let v = self.peek32() >> (32 - n);
        self.pos += n as usize;
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::huffman_tables::{QUAD_A, QUAD_B};

    /// Every table is a prefix code: each code decodes to its own pair and length.
    #[test]
    fn every_code_decodes_to_its_pair() {
        let tables = Tables::get();
        for (n, (codes, dim)) in BIG.iter().enumerate() {
            for (i, &c) in codes.iter().enumerate() {
                let (len, code) = (c >> 24, c & 0xFF_FFFF);
                // The code, then zeros: linbits read 0 and signs are skipped.
                let bytes = (u64::from(code) << (64 - len)).to_be_bytes();
                let mut r = Reader::new(&bytes, 0);
                let (x, y) = tables.pair(n, &mut r).expect("a code of its table");
                assert_eq!((x as usize, y as usize), (i / dim, i % dim), "table {n}");
                let extra = |v: usize| u32::from(v != 0) + if v == 15 { LINBITS[n] } else { 0 };
                assert_eq!(
                    r.pos as u32,
                    len + extra(i / dim) + extra(i % dim),
                    "table {n}"
                );
            }
        }
        // The count1 tables are complete prefix codes too (Kraft's sum is one).
        for q in [QUAD_A, QUAD_B] {
            let kraft: f64 = q.iter().map(|c| 0.5f64.powi((c >> 24) as i32)).sum();
            assert!((kraft - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn a_reader_past_its_end_reads_zeros() {
        let mut r = Reader::new(&[0xFF], 4);
        assert_eq!(r.read(8), 0xF0);
        assert_eq!(r.peek32(), 0);
    }
}
