//! Counting frames in bytes that something else reads: a `Read` adaptor around the scanner.

use std::io::{self, Read};

use crate::{Mp3Facts, Mp3Scanner};

/// A `Read` that passes its inner reader's bytes through unchanged and counts their frames on
/// the way, so one pass over a file can feed an upload or a hash and measure it too.
///
/// ```
/// # let mut frame = vec![0x55u8; 417];
/// # frame[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
/// # let stream = frame.repeat(2);
/// let mut reader = mp3count::CountingReader::new(&stream[..]);
/// let mut copy = Vec::new();
/// reader.read_to_end(&mut copy)?;
/// assert_eq!(copy, stream);
/// assert_eq!(reader.finish().frames, 2);
/// # use std::io::Read;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct CountingReader<R> {
    inner: R,
    scanner: Mp3Scanner,
    read: u64,
}

impl<R: Read> CountingReader<R> {
    /// Wraps `inner`; nothing is read until the adaptor is.
    pub fn new(inner: R) -> Self {
        CountingReader {
            inner,
            scanner: Mp3Scanner::new(),
            read: 0,
        }
    }

    /// Bytes passed through so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// The facts of the bytes read so far, taken as the whole stream: read to the end first
    /// for the whole file's facts.
    pub fn finish(self) -> Mp3Facts {
        self.scanner.finish(self.read)
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.scanner.feed(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most 7 bytes per call, as a socket might.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(7).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn passes_bytes_through_and_counts_like_scan_reader() {
        let mut frame = vec![0x55u8; 417];
        frame[..4].copy_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
        let mut stream = frame.repeat(5);
        stream.extend_from_slice(&frame[..50]);
        let mut reader = CountingReader::new(Trickle(&stream));
        let mut copy = Vec::new();
        reader.read_to_end(&mut copy).unwrap();
        assert_eq!(copy, stream);
        assert_eq!(reader.bytes_read(), stream.len() as u64);
        let facts = reader.finish();
        assert_eq!(facts, crate::scan_reader(&stream[..]).unwrap());
        assert_eq!((facts.frames, facts.trailing_bytes), (5, 50));
    }
}
