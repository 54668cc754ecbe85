//! Reading an export's frames from the archive and writing the MP3: blobs are read with
//! [`ArchiveRead::read_blob_range`] in chunks of at most [`CHUNK`] bytes, so memory stays at a
//! couple of chunks however long the range is.
//!
//! Each blob is read twice: once to find the byte span of the frames wanted (walking frame
//! headers from the blob's start, as the frame counter counted them), once to copy that span
//! after the header frame, which must come first and holds the byte count.

use std::collections::VecDeque;
use std::io::Write;

use mp3frame::info_tag::{self, Gapless, Toc, DECODER_DELAY, MAX_DELAY};
use mp3frame::FrameHeader;

use super::{ExportPlan, Piece};
use store::ArchiveRead;

/// The most bytes asked of the archive at once.
pub const CHUNK: u64 = 1024 * 1024;

/// Junk tolerated between two frames before a blob is declared unreadable.
const MAX_RESYNC: u64 = 64 * 1024;

/// Frames before the first one wanted that the warm-up may take (the delay field allows at most
/// 8 of 576 samples).
const WARM_UP_MAX: usize = 8;

/// The byte span of one piece's frames in its blob.
#[derive(Debug, Clone, PartialEq)]
pub struct Indexed {
    pub piece: Piece,
    /// Bytes `start..end` of the blob hold the frames to copy (warm-up included).
    pub start: u64,
    pub end: u64,
    /// Frames copied: the piece's, and for the first piece the warm-up before them.
    pub frames: u64,
    pub warm_up: u64,
    /// The header word of the first frame copied.
    pub header: [u8; 4],
    pub kbps_min: u16,
    pub kbps_max: u16,
}

/// What [`write`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// Audio frames after the header frame, and all bytes written.
    pub frames: u64,
    pub bytes: u64,
    pub encoder_delay: u16,
    pub padding: u16,
    pub warm_up_frames: u64,
    /// Samples a gapless decoder plays: frames × samples per frame − delay − padding.
    pub samples: u64,
    pub sample_rate: u32,
    /// Samples the output starts after `from`: the decoder's 529 could not be covered by
    /// earlier frames (the range starts at the first frame of the archive or after a gap).
    pub late_samples: u64,
}

/// One audio frame as the walk meets it.
struct Frame {
    index: u64,
    offset: u64,
    header: FrameHeader,
    word: [u8; 4],
}

/// A blob's frames in order, read a chunk at a time.
struct Walker<'a> {
    archive: &'a dyn ArchiveRead,
    blob: &'a str,
    buf: Vec<u8>,
    /// Blob offset of `buf[0]`.
    buf_at: u64,
    eof: bool,
    pos: u64,
    next_index: u64,
    reference: Option<FrameHeader>,
}

impl<'a> Walker<'a> {
    fn new(archive: &'a dyn ArchiveRead, blob: &'a str) -> Self {
        Walker {
            archive,
            blob,
            buf: Vec::new(),
            buf_at: 0,
            eof: false,
            pos: 0,
            next_index: 0,
            reference: None,
        }
    }

    /// Makes `buf` hold the blob from `pos` to `upto` where the blob reaches that far. The
    /// bytes before `pos` are dropped before a chunk is added (not at every frame, which would
    /// move the buffer once per frame), so it never holds much more than two chunks.
    async fn fill(&mut self, upto: u64) -> Result<(), String> {
        while !self.eof && self.buf_at + (self.buf.len() as u64) < upto {
            if self.pos > self.buf_at {
                let drop = ((self.pos - self.buf_at) as usize).min(self.buf.len());
                self.buf.drain(..drop);
                // Past what was read (a long ID3v2 tag skipped): read on from `pos`.
                self.buf_at = if self.buf.is_empty() {
                    self.pos
                } else {
                    self.buf_at + drop as u64
                };
            }
            let at = self.buf_at + self.buf.len() as u64;
            let got = self
                .archive
                .read_blob_range(self.blob, at, CHUNK)
                .await
                .map_err(|e| e.to_string())?;
            self.eof = (got.len() as u64) < CHUNK;
            self.buf.extend_from_slice(&got);
        }
        Ok(())
    }

    fn bytes(&self, at: u64, len: usize) -> Option<&[u8]> {
        let from = usize::try_from(at.checked_sub(self.buf_at)?).ok()?;
        self.buf.get(from..from + len)
    }

    /// The next audio frame, or `None` at the end of the blob's whole frames. The stream's
    /// first frame is confirmed by the header where it ends (or the blob's end), and skipped
    /// when it is a Xing/Info/VBRI header frame, as the frame counter has it; ID3v2 tags are
    /// stepped over.
    async fn next(&mut self) -> Result<Option<Frame>, String> {
        let mut skipped = 0u64;
        loop {
            self.fill(self.pos + 64).await?;
            if self.reference.is_none() {
                if let Some(tag) = self.bytes(self.pos, 10).and_then(id3v2_len) {
                    self.pos += tag;
                    continue;
                }
            }
            let Some(head) = self.bytes(self.pos, 4) else {
                return Ok(None);
            };
            let candidate = FrameHeader::parse(head)
                .filter(|h| self.reference.is_none_or(|r| r.continues_with(h)));
            if let Some(h) = candidate {
                let len = u64::from(h.len);
                self.fill(self.pos + len + 4).await?;
                let Some(frame) = self.bytes(self.pos, h.len as usize) else {
                    return Ok(None); // cut short: a killed writer's last frame
                };
                let next_ok = match self.bytes(self.pos + len, 4) {
                    Some(next) => FrameHeader::parse(next).is_some_and(|n| h.continues_with(&n)),
                    None => true,
                };
                if self.reference.is_some() || next_ok {
                    let word = [frame[0], frame[1], frame[2], frame[3]];
                    let offset = self.pos;
                    let first = self.reference.is_none();
                    let tag = first && info_tag::is_tag_frame(frame);
                    self.reference = Some(h);
                    self.pos += len;
                    if tag {
                        continue;
                    }
                    self.next_index += 1;
                    return Ok(Some(Frame {
                        index: self.next_index - 1,
                        offset,
                        header: h,
                        word,
                    }));
                }
            }
            self.pos += 1;
            skipped += 1;
            if skipped > MAX_RESYNC {
                return Err(format!(
                    "blob {}: no MP3 frame in {MAX_RESYNC} bytes after byte {}",
                    self.blob,
                    self.pos - skipped
                ));
            }
        }
    }
}

/// An ID3v2 tag's whole length from its 10-byte header (footer included).
fn id3v2_len(b: &[u8]) -> Option<u64> {
    if &b[..3] != b"ID3" || b[6..10].iter().any(|&x| x & 0x80 != 0) {
        return None;
    }
    let size = b[6..10]
        .iter()
        .fold(0u64, |acc, &x| (acc << 7) | u64::from(x));
    let footer = if b[5] & 0x10 != 0 { 10 } else { 0 };
    Some(10 + size + footer)
}

/// Finds the byte span of each piece's frames. The first piece also takes frames before its
/// first one, so that the decoder decodes that one as the recording's own decode does (its bit
/// reservoir, the transform's overlap, the filter bank's history; see `warm_up`), as far as
/// the blob has them and the LAME tag's 12-bit delay allows.
pub async fn index(archive: &dyn ArchiveRead, plan: &ExportPlan) -> Result<Vec<Indexed>, String> {
    let mut out: Vec<Indexed> = Vec::with_capacity(plan.pieces.len());
    for (i, piece) in plan.pieces.iter().enumerate() {
        let mut walk = Walker::new(archive, &piece.blob);
        let mut before: VecDeque<Frame> = VecDeque::with_capacity(WARM_UP_MAX + 1);
        let mut found: Option<Indexed> = None;
        while let Some(f) = walk.next().await? {
            if f.index < piece.first_frame {
                if before.len() == WARM_UP_MAX {
                    before.pop_front();
                }
                before.push_back(f);
                continue;
            }
            let kbps = f.header.bitrate_kbps;
            let end = f.offset + u64::from(f.header.len);
            let at = match &mut found {
                Some(at) => at,
                None => {
                    let warm = if i == 0 {
                        warm_up(&before, &f, plan.head_s)
                    } else {
                        0
                    };
                    let start = before
                        .len()
                        .checked_sub(warm)
                        .and_then(|k| before.get(k))
                        .map_or(&f, |w| w);
                    found.insert(Indexed {
                        piece: piece.clone(),
                        start: start.offset,
                        end,
                        frames: warm as u64,
                        warm_up: warm as u64,
                        header: start.word,
                        kbps_min: kbps,
                        kbps_max: kbps,
                    })
                }
            };
            at.end = end;
            at.frames += 1;
            at.kbps_min = at.kbps_min.min(kbps);
            at.kbps_max = at.kbps_max.max(kbps);
            if f.index + 1 >= piece.end_frame {
                break;
            }
        }
        let got = found.filter(|f| f.frames - f.warm_up == piece.end_frame - piece.first_frame);
        let Some(got) = got else {
            return Err(format!(
                "blob {} ends after {} audio frames; its row says it holds {} (frames {}..{} wanted)",
                piece.blob, walk.next_index, piece.frames, piece.first_frame, piece.end_frame
            ));
        };
        if let Some(first) = out.first() {
            let (a, b) = (
                FrameHeader::parse(&first.header),
                FrameHeader::parse(&got.header),
            );
            if !a.zip(b).is_some_and(|(a, b)| a.continues_with(&b)) {
                return Err(format!(
                    "blob {} is not in the format of blob {} (sample rate, channels or layer \
                     differ): one MP3 cannot hold both",
                    got.piece.blob, first.piece.blob
                ));
            }
        }
        out.push(got);
    }
    Ok(out)
}

/// How many of the frames `before` the first wanted frame `f` to take as warm-up: as many as
/// the LAME tag's delay can declare (with the part of `f` before `from`), up to
/// [`WARM_UP_MAX`].
///
/// Enough for `f`'s `main_data_begin` is not enough: `f` also overlaps the frame before it in
/// the transform, the synthesis filter bank carries about a frame of history, and those frames
/// lean on their own reservoirs. Measured on the kill-replace fixture (32 kbit/s, 576 samples a
/// frame): with 3 warm-up frames (`main_data_begin` plus one) the first two frames played
/// differed from the recording's own decode by up to 318 and 27 (of 32,767); with 7, every
/// sample is the same. The budget is 7 or 8 frames of 576 samples, 3 or 4 of 1152 (less
/// the part of `f` before `from`).
fn warm_up(before: &VecDeque<Frame>, f: &Frame, head_s: f64) -> usize {
    let spf = u64::from(f.header.samples());
    let head = head_samples(head_s, f.header.sample_rate, spf);
    let budget = (u64::from(MAX_DELAY + DECODER_DELAY) - head) / spf;
    before.len().min(budget as usize)
}

fn head_samples(head_s: f64, rate: u32, spf: u64) -> u64 {
    ((head_s * f64::from(rate)).round().max(0.0) as u64).min(spf - 1)
}

/// Writes the header frame and then every indexed span to `out`, reading at most [`CHUNK`]
/// bytes at a time.
pub async fn write(
    archive: &dyn ArchiveRead,
    plan: &ExportPlan,
    indexed: &[Indexed],
    out: &mut (dyn Write + Send),
) -> Result<Written, String> {
    let first = indexed.first().ok_or("nothing to write")?;
    let header = FrameHeader::parse(&first.header).ok_or("the first frame has no header")?;
    let spf = u64::from(header.samples());
    let frames: u64 = indexed.iter().map(|i| i.frames).sum();
    let audio_bytes: u64 = indexed.iter().map(|i| i.end - i.start).sum();
    let head = first.warm_up * spf + head_samples(plan.head_s, header.sample_rate, spf);
    let tail = head_samples(plan.tail_s, header.sample_rate, spf);
    let late = u64::from(DECODER_DELAY).saturating_sub(head);
    let (frames32, bytes32) = (u32::try_from(frames), u32::try_from(audio_bytes));
    let (Ok(frames32), Ok(bytes32)) = (frames32, bytes32) else {
        return Err(format!(
            "{frames} frames, {audio_bytes} bytes: more than an MP3 header can count (4 GiB)"
        ));
    };
    let gapless = Gapless::window_spf(frames32, spf as u32, head + late, frames * spf - tail)
        .ok_or_else(|| format!("the range is too short to export ({frames} frames)"))?;
    let gapless = Gapless {
        audio_bytes: bytes32,
        vbr: indexed
            .iter()
            .any(|i| i.kbps_min != first.kbps_min || i.kbps_max != first.kbps_min),
        ..gapless
    };
    let tag_len = u64::from(
        info_tag::tag_frame(first.header, &gapless, &Toc::linear())
            .map_err(|e| e.to_string())?
            .len() as u32,
    );
    let toc = toc(indexed, frames, tag_len, tag_len + audio_bytes);
    let tag = info_tag::tag_frame(first.header, &gapless, &toc).map_err(|e| e.to_string())?;
    let io = |e: std::io::Error| format!("writing the export: {e}");
    out.write_all(&tag).map_err(io)?;
    // Pieces follow each other frame to frame. Where the next piece is the same recorder's next
    // file, its first frames' reservoir lies in the frames just written, as in the recording.
    // Where a replica switch joins two recordings mid-file, the reservoir of the first frames
    // after the join points into the other replica's frames: for replicas that re-encode, a
    // decoder decodes those frames from the wrong bits, a click of up to 3 frames at 32 kbit/s
    // (measured in tests/export_fixtures.rs: the first 3 frames after the kill-replace switch
    // differ from the recording's own decode by up to 15,491 of 32,767, every later sample is
    // the same); for `-c copy` replicas the frames before are the same source frames, and
    // nothing is heard. No warm-up can be declared there: a LAME tag trims only the ends.
    for i in indexed {
        let mut at = i.start;
        while at < i.end {
            let len = (i.end - at).min(CHUNK);
            let bytes = archive
                .read_blob_range(&i.piece.blob, at, len)
                .await
                .map_err(|e| e.to_string())?;
            if bytes.len() as u64 != len {
                return Err(format!(
                    "blob {} changed while exported: {} bytes at {at}, {len} expected",
                    i.piece.blob,
                    bytes.len()
                ));
            }
            out.write_all(&bytes).map_err(io)?;
            at += len;
        }
    }
    out.flush().map_err(io)?;
    Ok(Written {
        frames,
        bytes: tag_len + audio_bytes,
        encoder_delay: gapless.encoder_delay,
        padding: gapless.padding,
        warm_up_frames: first.warm_up,
        samples: frames * spf - u64::from(gapless.encoder_delay) - u64::from(gapless.padding),
        sample_rate: header.sample_rate,
        late_samples: late,
    })
}

/// The seek table, interpolated within each piece (exact at the pieces' edges; within one
/// recording's constant bitrate, to a byte per frame).
fn toc(indexed: &[Indexed], frames: u64, tag_len: u64, total: u64) -> Toc {
    let at = Toc::sample_frames(frames);
    let mut positions = [0u64; 100];
    for (p, &frame) in positions.iter_mut().zip(&at) {
        let (mut frames_before, mut bytes_before) = (0u64, tag_len);
        for i in indexed {
            if frame < frames_before + i.frames {
                let into = frame - frames_before;
                *p = bytes_before + (i.end - i.start) * into / i.frames.max(1);
                break;
            }
            frames_before += i.frames;
            bytes_before += i.end - i.start;
        }
    }
    Toc::from_positions(&positions, total)
}
