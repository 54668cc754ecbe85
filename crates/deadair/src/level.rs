//! Levels per 100-ms window and the runs of silent windows.

use mp3frame::{FrameHeader, Layer, MpegVersion};
use symphonia::core::audio::{AudioBufferRef, Signal};
use symphonia::core::codecs::{CodecParameters, Decoder, DecoderOptions, CODEC_TYPE_MP3};
use symphonia::core::formats::Packet;
use symphonia::default::codecs::MpaDecoder;

use crate::{Method, Report, Span, Threshold};

/// Windows per second (100 ms each, as broadcast silence detectors and loudness meters
/// commonly integrate).
const WINDOWS_PER_SECOND: u32 = 10;

pub(crate) struct Meter {
    threshold: Threshold,
    /// Mean square under which a window is silent.
    floor: f64,
    method: Method,
    decoder: Option<(FrameHeader, MpaDecoder)>,
    rate: u32,
    /// The open window: its sum of squares (channels averaged) and samples.
    sum: f64,
    len: u32,
    /// Where the open window starts, in seconds (the sample rate may change between
    /// frames, so time is kept in seconds).
    window_start: f64,
    /// Where the current run of silent windows began.
    run: Option<f64>,
    /// Whether the open window holds samples passed over as loud ([`Meter::skip`]).
    skipped: bool,
    /// Each window's start and verdict, kept for the tests that compare methods.
    #[cfg(any(test, feature = "internals"))]
    pub(crate) windows: Vec<(f64, Verdict)>,
    frames: u64,
    refused: u64,
    spans: Vec<Span>,
}

impl Meter {
    pub(crate) fn new(threshold: Threshold, method: Method) -> Self {
        Meter {
            threshold,
            floor: 10f64.powf(threshold.dbfs / 10.0),
            method,
            decoder: None,
            rate: 0,
            sum: 0.0,
            len: 0,
            window_start: 0.0,
            run: None,
            skipped: false,
            #[cfg(any(test, feature = "internals"))]
            windows: Vec::new(),
            frames: 0,
            refused: 0,
            spans: Vec::new(),
        }
    }

    /// Measures one audio frame.
    pub(crate) fn frame(&mut self, h: &FrameHeader, frame: &[u8]) {
        let spf = h.samples();
        if h.sample_rate != self.rate {
            self.close_window();
            self.rate = h.sample_rate;
        }
        self.frames += 1;
        let measured = match self.method {
            // The screen drives a decoding meter through `skip`, `prime` and this.
            Method::Decode | Method::Screened => self.decode(h, frame),
            Method::SideInfo => side_info_amplitude(h, frame).map(|a| {
                // A sine of peak `a` has mean square a²/2.
                let ms = a * a / 2.0;
                for _ in 0..spf {
                    self.add(ms);
                }
            }),
        };
        if measured.is_none() {
            // Unknown audio is not silence: end the run here.
            self.refused += 1;
            self.close_window();
            self.end_run(self.window_start);
            self.window_start += f64::from(spf) / f64::from(self.rate);
        }
    }

    /// Passes over one frame the screen found loud: its samples count, its windows are
    /// loud, and nothing is decoded.
    pub(crate) fn skip(&mut self, h: &FrameHeader) {
        if h.sample_rate != self.rate {
            self.close_window();
            self.rate = h.sample_rate;
        }
        self.frames += 1;
        let mut n = h.samples();
        // The same window edges as `add` would give, sample by sample.
        let per = (self.rate / WINDOWS_PER_SECOND).max(1);
        while n > 0 {
            let k = n.min(per.saturating_sub(self.len).max(1));
            self.len += k;
            self.sum = f64::INFINITY;
            self.skipped = true;
            n -= k;
            if self.len >= self.rate / WINDOWS_PER_SECOND {
                self.close_window();
            }
        }
    }

    /// Forgets the decoder's state, so that decoding restarts as at a new stream.
    pub(crate) fn reset_decoder(&mut self) {
        self.decoder = None;
    }

    /// Feeds one frame to the decoder and discards its audio: the frames before a
    /// candidate, so that the bit reservoir and the filter banks hold what a decoder that
    /// had read the whole stream would hold.
    pub(crate) fn prime(&mut self, h: &FrameHeader, frame: &[u8]) {
        let _ = self.decoded(h, frame, &mut [0f64; 1152]);
    }

    fn decode(&mut self, h: &FrameHeader, frame: &[u8]) -> Option<()> {
        let mut ms = [0f64; 1152];
        let n = self.decoded(h, frame, &mut ms)?;
        for &m in &ms[..n] {
            self.add(m);
        }
        Some(())
    }

    /// Decodes one frame into each sample's mean square over the channels; the samples.
    fn decoded(&mut self, h: &FrameHeader, frame: &[u8], ms: &mut [f64; 1152]) -> Option<usize> {
        if !self
            .decoder
            .as_ref()
            .is_some_and(|(f, _)| f.continues_with(h))
        {
            let mut params = CodecParameters::new();
            params
                .for_codec(CODEC_TYPE_MP3)
                .with_sample_rate(h.sample_rate);
            let dec = MpaDecoder::try_new(&params, &DecoderOptions::default()).ok()?;
            self.decoder = Some((*h, dec));
        }
        let (_, dec) = self.decoder.as_mut()?;
        let packet = Packet::new_from_slice(0, 0, u64::from(h.samples()), frame);
        let AudioBufferRef::F32(buf) = dec.decode(&packet).ok()? else {
            return None;
        };
        let channels = buf.spec().channels.count().max(1);
        let n = buf.frames();
        let scale = 1.0 / channels as f64;
        // Copied out so that `add` can borrow self; a frame is at most 1,152 samples.
        for c in 0..channels {
            for (m, &x) in ms.iter_mut().zip(&buf.chan(c)[..n.min(1152)]) {
                *m += f64::from(x) * f64::from(x) * scale;
            }
        }
        Some(n.min(1152))
    }

    /// One sample's mean square over the channels.
    #[inline]
    fn add(&mut self, ms: f64) {
        self.sum += ms;
        self.len += 1;
        if self.len >= self.rate / WINDOWS_PER_SECOND {
            self.close_window();
        }
    }

    /// Judges the open window by its level and opens the next.
    fn close_window(&mut self) {
        if self.len == 0 {
            return;
        }
        let end = self.window_start + f64::from(self.len) / f64::from(self.rate.max(1));
        let silent = self.sum / f64::from(self.len) < self.floor;
        #[cfg(any(test, feature = "internals"))]
        self.windows.push((
            self.window_start,
            match (self.skipped, silent) {
                (true, _) => Verdict::Skipped,
                (false, true) => Verdict::Silent,
                (false, false) => Verdict::Loud,
            },
        ));
        self.skipped = false;
        if silent {
            self.run.get_or_insert(self.window_start);
        } else {
            self.end_run(self.window_start);
        }
        self.window_start = end;
        self.sum = 0.0;
        self.len = 0;
    }

    fn end_run(&mut self, at: f64) {
        if let Some(start) = self.run.take() {
            if at - start > self.threshold.min_seconds {
                self.spans.push(Span {
                    start_s: start,
                    end_s: at,
                });
            }
        }
    }

    /// [`Meter::finish`], with each window's verdict.
    #[cfg(any(test, feature = "internals"))]
    pub(crate) fn finish_windows(mut self) -> (Report, Vec<(f64, Verdict)>) {
        self.close_window();
        let windows = std::mem::take(&mut self.windows);
        (self.finish(), windows)
    }

    pub(crate) fn finish(mut self) -> Report {
        self.close_window();
        let end = self.window_start;
        self.end_run(end);
        Report {
            spans: self.spans,
            frames: self.frames,
            seconds: end,
            refused: self.refused,
        }
    }
}

/// A window's verdict, as the tests see it.
#[cfg(any(test, feature = "internals"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Silent,
    Loud,
    /// Passed over by the screen (taken as loud without decoding).
    Skipped,
}

/// [`Method::SideInfo`]: the loudest granule's amplitude bounded from the side information
/// (ISO 11172-3 2.4.1.7, ISO 13818-3 2.4.1.7): a granule with no coded bits is silent;
/// otherwise a quantized value `q` decodes to `q^(4/3) * 2^((global_gain - 210) / 4)`
/// before scale factors, with `q <= 1` when `big_values` is 0 and taken as 2 otherwise.
/// `None` for Layers I and II.
fn side_info_amplitude(h: &FrameHeader, frame: &[u8]) -> Option<f64> {
    if h.layer != Layer::Layer3 {
        return None;
    }
    let crc = frame.get(1)? & 1 == 0;
    let mut bits = Bits::new(frame.get(4 + if crc { 2 } else { 0 }..)?);
    let nch = usize::from(h.channels);
    let mpeg1 = h.version == MpegVersion::Mpeg1;
    let (granules, head, tail) = if mpeg1 {
        (
            2,
            9 + if nch == 1 { 5 } else { 3 } + 4 * nch,
            4 + 1 + 22 + 3,
        )
    } else {
        (1, 8 + if nch == 1 { 1 } else { 2 }, 9 + 1 + 22 + 2)
    };
    bits.skip(head)?;
    let mut peak: f64 = 0.0;
    for _ in 0..granules * nch {
        let part2_3 = bits.read(12)?;
        let big_values = bits.read(9)?;
        let global_gain = bits.read(8)?;
        bits.skip(tail)?;
        if part2_3 == 0 {
            continue;
        }
        let q: f64 = if big_values == 0 { 1.0 } else { 2.0 };
        peak = peak.max(q.powf(4.0 / 3.0) * 2f64.powf((f64::from(global_gain) - 210.0) / 4.0));
    }
    Some(peak)
}

/// A big-endian bit reader over the side information.
struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits { data, at: 0 }
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        (self.at + n <= self.data.len() * 8).then(|| self.at += n)
    }

    fn read(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.at / 8)?;
            v = (v << 1) | u32::from((byte >> (7 - self.at % 8)) & 1);
            self.at += 1;
        }
        Some(v)
    }
}
