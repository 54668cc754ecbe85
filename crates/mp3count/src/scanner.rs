//! The streaming frame counter.
//!
//! The scanner sees the file once, in chunks of any size, and keeps only a small window of
//! lookahead bytes: a frame body is skipped by counting, never copied. Every decision is made
//! at one absolute position from a fixed number of bytes there (asking for more until it has
//! them), which is what makes the result independent of how the input was split.
//!
//! Two modes:
//! - *search*: no frame is trusted. Every valid header is a candidate, kept (a few at a time)
//!   until the scan reaches its end: a compatible header there confirms it and starts *sync*.
//!   Tags are recognised where the previous frame (or tag) ended.
//! - *sync*: inside a trusted frame; at its end the frame is whole and counted, and a
//!   compatible header there continues the chain. Anything else drops back to search.

use crate::tags::{ape_mark, id3v2_len, APE_HEADER_LEN, ID3V1_LEN, ID3V2_HEADER_LEN};
use crate::xing::{parse_vbr_header, XingInfo, VBR_PREFIX_LEN};
use crate::Mp3Facts;
use mp3frame::{FrameHeader, HEADER_LEN};

/// The most lookahead any decision needs: the first frame's Xing and LAME fields.
const WINDOW: usize = VBR_PREFIX_LEN;

/// Unconfirmed candidates kept at once while searching; real audio rarely has more than one
/// false sync word per frame, and a cap keeps memory fixed on hostile input.
const MAX_CANDIDATES: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Frame {
    start: u64,
    hdr: FrameHeader,
    /// Its Xing/Info/VBRI tag, read only for candidates for the stream's first frame.
    vbr: Option<XingInfo>,
}

impl Frame {
    fn end(&self) -> u64 {
        self.start + u64::from(self.hdr.len)
    }
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Search,
    /// Inside this frame, which has been accepted and is counted once the scan reaches its end.
    Sync(Frame),
}

/// A decision needs this many bytes at the current position before it can be made.
struct Need(usize);

/// Counts the MPEG audio frames of a stream fed in chunks of any size; see [`Mp3Facts`].
///
/// Memory is fixed (a 180-byte window and at most 16 candidates), whatever the input.
#[derive(Debug)]
pub struct Mp3Scanner {
    /// Bytes fed so far.
    fed: u64,
    /// The not yet consumed bytes just before `fed`.
    win: [u8; WINDOW],
    win_len: usize,
    /// Bytes still to pass over (a frame body or a tag) before looking again.
    skip: u64,
    /// How many window bytes the next decision needs.
    need: usize,
    mode: Mode,
    candidates: Vec<Frame>,
    /// In search mode: where the last counted frame ended, moved on past the tags that follow
    /// it. A tag is only recognised right there, and a gap ending there was not junk.
    tag_end: u64,

    first_start: Option<u64>,
    /// The first counted frame, whose parameters the facts report.
    format: Option<FrameHeader>,
    header: Option<XingInfo>,
    last_end: u64,
    frames: u64,
    audio_bytes: u64,
    skipped_bytes: u64,
    resyncs: u32,
    kbps_min: u16,
    kbps_max: u16,
    /// The audio frames `first..end` whose bytes [`Mp3Scanner::locate`] asked for.
    wanted: Option<(u64, u64)>,
    located: Located,
}

/// Where audio frames `first..end` lie in the stream ([`Mp3Scanner::locate`]): `start` is the
/// first byte of frame `first`, `end` the byte after frame `end - 1`, so `start..end` holds
/// exactly those frames (and anything the scan skipped between them). Frame 0 is the first
/// audio frame, after any Xing/Info/VBRI header frame, as [`Mp3Facts::frames`] counts them.
/// `None` until the scan has counted that frame (or when the stream has no such frame).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Located {
    pub start: Option<u64>,
    pub end: Option<u64>,
}

impl Default for Mp3Scanner {
    fn default() -> Self {
        Self::new()
    }
}

impl Mp3Scanner {
    /// A scanner at the start of a stream.
    pub fn new() -> Self {
        Mp3Scanner {
            fed: 0,
            win: [0; WINDOW],
            win_len: 0,
            skip: 0,
            need: 1,
            mode: Mode::Search,
            candidates: Vec::with_capacity(MAX_CANDIDATES),
            tag_end: 0,
            first_start: None,
            format: None,
            header: None,
            last_end: 0,
            frames: 0,
            audio_bytes: 0,
            skipped_bytes: 0,
            resyncs: 0,
            kbps_min: 0,
            kbps_max: 0,
            wanted: None,
            located: Located::default(),
        }
    }

    /// Also find where audio frames `first..end` lie, in the same pass that counts them (a
    /// player given that byte range plays exactly those frames); read it with
    /// [`Mp3Scanner::located`] or [`Mp3Scanner::finish_located`]. Ask before the scan counts
    /// frame `first` ([`Mp3Scanner::frames_counted`]): before feeding, or once the stream's
    /// format is known ([`Mp3Scanner::format`]) if the frames wanted depend on it.
    pub fn locate(&mut self, first: u64, end: u64) {
        self.wanted = Some((first, end));
    }

    /// The header of the stream's first frame, once it is counted: version, layer, sample rate
    /// and samples per frame.
    pub fn format(&self) -> Option<FrameHeader> {
        self.format
    }

    /// Audio frames counted so far.
    pub fn frames_counted(&self) -> u64 {
        self.frames
    }

    /// What [`Mp3Scanner::locate`] found so far: a caller reading a prefix can stop once both
    /// ends are known. The last frame of a stream is only counted by [`Mp3Scanner::finish`].
    pub fn located(&self) -> Located {
        self.located
    }

    /// Scans the next bytes of the stream.
    pub fn feed(&mut self, mut data: &[u8]) {
        loop {
            if self.skip > 0 {
                let k = self.skip.min(data.len() as u64) as usize;
                self.skip -= k as u64;
                self.fed += k as u64;
                data = &data[k..];
                if self.skip > 0 {
                    return;
                }
            }
            if self.win_len == 0 && matches!(self.mode, Mode::Search) {
                let k = self.uneventful_prefix(data);
                self.fed += k as u64;
                data = &data[k..];
            }
            if self.win_len < self.need {
                let k = (self.need - self.win_len).min(data.len());
                self.win[self.win_len..self.win_len + k].copy_from_slice(&data[..k]);
                self.win_len += k;
                self.fed += k as u64;
                data = &data[k..];
                if self.win_len < self.need {
                    return;
                }
            }
            match self.step(false) {
                Ok(n) => self.consume(n),
                Err(Need(n)) => self.need = n,
            }
        }
    }

    /// Ends the stream. `total_len` is the file's length as the caller knows it; if it differs
    /// from the bytes fed (the file changed while being read), the bytes fed are what was
    /// measured, the difference counts as trailing and the end is not clean.
    pub fn finish(self, total_len: u64) -> Mp3Facts {
        self.finish_located(total_len).0
    }

    /// [`Mp3Scanner::finish`], and where the frames [`Mp3Scanner::locate`] asked for lie.
    pub fn finish_located(mut self, total_len: u64) -> (Mp3Facts, Located) {
        // Decide the rest with the bytes there are. In sync mode with nothing left the current
        // frame ends exactly here and still has to be counted.
        while self.skip == 0 && (self.win_len > 0 || matches!(self.mode, Mode::Sync(_))) {
            match self.step(true) {
                Ok(n) => self.consume(n),
                Err(_) => break, // not reached: at the end nothing waits for more bytes
            }
        }
        if matches!(self.mode, Mode::Search) {
            // A candidate that ends exactly at the end of the stream needs no next header.
            let fed = self.fed;
            let last = self
                .candidates
                .iter()
                .filter(|c| c.end() == fed)
                .min_by_key(|c| c.start);
            if let Some(c) = last.copied() {
                self.confirm(c);
                self.tag_end = fed;
            }
        }
        (self.facts(total_len), self.located)
    }

    /// The position of the window's first byte.
    fn at(&self) -> u64 {
        self.fed - self.win_len as u64
    }

    /// The first `n` window bytes, or fewer at the end of the stream.
    fn look(&self, n: usize, eof: bool) -> Result<&[u8], Need> {
        if self.win_len >= n {
            Ok(&self.win[..n])
        } else if eof {
            Ok(&self.win[..self.win_len])
        } else {
            Err(Need(n))
        }
    }

    /// Drops `n` bytes from the current position on: from the window, then from the input.
    fn consume(&mut self, n: u64) {
        let from_win = n.min(self.win_len as u64) as usize;
        self.win.copy_within(from_win..self.win_len, 0);
        self.win_len -= from_win;
        self.skip = n - from_win as u64;
        self.need = match self.mode {
            Mode::Search => 1,
            Mode::Sync(_) => HEADER_LEN,
        };
    }

    /// How many leading bytes of `data` a search would step over one at a time with no effect:
    /// only a sync byte, the `A` of an APE footer or the end of the tag chain matter.
    fn uneventful_prefix(&self, data: &[u8]) -> usize {
        let limit = match self.tag_end.checked_sub(self.fed) {
            Some(d) => d.min(data.len() as u64) as usize,
            None => data.len(),
        };
        data[..limit]
            .iter()
            .position(|&b| b == 0xFF || b == b'A')
            .unwrap_or(limit)
    }

    /// Makes the decision due at the current position; `Ok(n)` consumes `n` bytes.
    /// Nothing is changed before every byte the decision needs is there.
    fn step(&mut self, eof: bool) -> Result<u64, Need> {
        match self.mode {
            Mode::Sync(cur) => self.step_sync(cur, eof),
            Mode::Search => self.step_search(eof),
        }
    }

    fn step_sync(&mut self, cur: Frame, eof: bool) -> Result<u64, Need> {
        let at = self.at();
        let next = FrameHeader::parse(self.look(HEADER_LEN, eof)?);
        // The scan has reached the end of `cur`: it is whole.
        self.count(&cur);
        match next.filter(|n| cur.hdr.continues_with(n)) {
            Some(hdr) => {
                self.mode = Mode::Sync(Frame {
                    start: at,
                    hdr,
                    vbr: None,
                });
                Ok(u64::from(hdr.len))
            }
            None => {
                self.mode = Mode::Search;
                self.tag_end = at;
                Ok(0)
            }
        }
    }

    fn step_search(&mut self, eof: bool) -> Result<u64, Need> {
        let at = self.at();
        self.candidates.retain(|c| c.end() >= at);
        if at == self.tag_end {
            if let Some(len) = self.tag_here(eof)? {
                self.tag_end = at + len;
                self.candidates.clear();
                return Ok(len);
            }
        }
        match self.win[0] {
            0xFF => {
                if let Some(hdr) = FrameHeader::parse(self.look(HEADER_LEN, eof)?) {
                    return self.on_header(at, hdr, eof);
                }
            }
            b'A' if self.look(8, eof)? == b"APETAGEX" => {
                // An APE tag known only by its footer (APEv1 has no header): it belongs to the
                // chain if it starts where the chain ends.
                let footer = ape_mark(self.look(APE_HEADER_LEN, eof)?).filter(|m| !m.is_header);
                let end = at + APE_HEADER_LEN as u64;
                if footer.is_some_and(|m| end.checked_sub(m.tag_len) == Some(self.tag_end)) {
                    self.tag_end = end;
                    self.candidates.clear();
                    return Ok(APE_HEADER_LEN as u64);
                }
            }
            _ => {}
        }
        Ok(1)
    }

    /// A valid header at `at` while searching: it confirms a candidate ending here, or is one.
    fn on_header(&mut self, at: u64, hdr: FrameHeader, eof: bool) -> Result<u64, Need> {
        let confirmed = self
            .candidates
            .iter()
            .filter(|c| c.end() == at && c.hdr.continues_with(&hdr))
            .min_by_key(|c| c.start)
            .copied();
        if let Some(c) = confirmed {
            self.confirm(c);
            self.candidates.clear();
            self.mode = Mode::Sync(Frame {
                start: at,
                hdr,
                vbr: None,
            });
            return Ok(u64::from(hdr.len));
        }
        // A candidate for the stream's first frame may be the Xing header frame. Its bytes
        // are gone by the time it is confirmed, so its tag is read now.
        let vbr = if self.first_start.is_none() {
            let prefix = (hdr.len as usize).min(VBR_PREFIX_LEN);
            parse_vbr_header(&hdr, self.look(prefix, eof)?)
        } else {
            None
        };
        if self.candidates.len() < MAX_CANDIDATES {
            self.candidates.push(Frame {
                start: at,
                hdr,
                vbr,
            });
        }
        Ok(1)
    }

    /// The length of the tag that starts at the current position, if one does.
    fn tag_here(&self, eof: bool) -> Result<Option<u64>, Need> {
        Ok(match self.look(3, eof)? {
            b"ID3" => id3v2_len(self.look(ID3V2_HEADER_LEN, eof)?),
            b"TAG" => Some(ID3V1_LEN),
            b"APE" => ape_mark(self.look(APE_HEADER_LEN, eof)?)
                .filter(|m| m.is_header)
                .map(|m| m.tag_len),
            _ => None,
        })
    }

    /// Counts a candidate confirmed while searching, and the gap before it.
    fn confirm(&mut self, c: Frame) {
        if self.first_start.is_some() {
            self.skipped_bytes += c.start.saturating_sub(self.last_end);
            // Tags between frames (e.g. two files joined) are no loss of sync; junk is.
            if self.tag_end < c.start {
                self.resyncs = self.resyncs.saturating_add(1);
            }
        }
        self.count(&c);
    }

    /// Counts a whole frame: the stream's first frame may be the header frame, not audio.
    fn count(&mut self, f: &Frame) {
        self.last_end = f.end();
        if self.first_start.is_none() {
            self.first_start = Some(f.start);
            self.format = Some(f.hdr);
            if f.vbr.is_some() {
                self.header = f.vbr;
                return;
            }
        }
        if let Some((first, end)) = self.wanted {
            if self.frames == first {
                self.located.start = Some(f.start);
            }
            if self.frames + 1 == end {
                self.located.end = Some(f.end());
            }
        }
        let kbps = f.hdr.bitrate_kbps;
        if self.frames == 0 {
            (self.kbps_min, self.kbps_max) = (kbps, kbps);
        }
        self.kbps_min = self.kbps_min.min(kbps);
        self.kbps_max = self.kbps_max.max(kbps);
        self.frames += 1;
        self.audio_bytes += u64::from(f.hdr.len);
    }

    fn facts(&self, total_len: u64) -> Mp3Facts {
        let end = total_len.max(self.fed);
        let (Some(first), Some(format)) = (self.first_start, self.format) else {
            return Mp3Facts {
                leading_bytes: end,
                ..Mp3Facts::default()
            };
        };
        let header_mismatch = self
            .header
            .and_then(|h| h.frames)
            .is_some_and(|n| u64::from(n) != self.frames);
        Mp3Facts {
            frames: self.frames,
            sample_rate: format.sample_rate,
            samples_per_frame: format.samples(),
            channels: format.channels,
            version: Some(format.version),
            layer: Some(format.layer),
            audio_bytes: self.audio_bytes,
            leading_bytes: first,
            trailing_bytes: end - self.last_end,
            skipped_bytes: self.skipped_bytes,
            // In sync mode here the current frame runs past the end of the stream.
            clean_end: matches!(self.mode, Mode::Search)
                && total_len == self.fed
                && self.tag_end == self.fed,
            header: self.header,
            header_mismatch,
            bitrate_kbps_min: self.kbps_min,
            bitrate_kbps_max: self.kbps_max,
            resyncs: self.resyncs,
        }
    }
}
