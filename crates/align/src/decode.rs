//! Decoding a run of frames to mono PCM with symphonia's MP3 decoder, fed our own frames as
//! packets (no format reader: nothing is trimmed, see `docs/alignment.md`).
//!
//! Sample `j` of the output for frames `first..last` is sample `first * samples_per_frame + j`
//! of the whole file in "no skip" numbering: the decoder's output for frame `i` is samples
//! `i * spf .. (i + 1) * spf`, the encoder delay and the decoder's own 529-sample delay
//! included, which is how `fixtures/` time-codes files (`ffmpeg -flags2 +skip_manual`).

use std::ops::Range;

use symphonia::core::audio::{AudioBufferRef, Signal};
use symphonia::core::codecs::{CodecParameters, Decoder, DecoderOptions, CODEC_TYPE_MP3};
use symphonia::core::formats::Packet;
use symphonia::default::codecs::MpaDecoder;

use crate::frames::FrameRef;

/// Frames decoded (and thrown away) before the wanted ones: the bit reservoir reaches back
/// up to 511 bytes (5 frames at 32 kbit/s MPEG-1, 3 at 32 kbit/s MPEG-2) and the synthesis
/// filter bank and IMDCT overlap carry one more frame of state.
pub(crate) const WARM_UP_FRAMES: usize = 8;

/// RMS (full scale 1.0) under which audio counts as silence (−60 dBFS).
pub(crate) const SILENCE_RMS: f64 = 1e-3;

pub(crate) struct Pcm {
    /// Mono samples (the channels' mean), `spf` per frame.
    pub samples: Vec<f32>,
}

/// Decodes `frames[range]` of `data`. A frame the decoder refuses (not Layer III, or broken)
/// becomes `spf` zeros, so that the timeline stays exact.
pub(crate) fn decode(data: &[u8], frames: &[FrameRef], range: Range<usize>) -> Pcm {
    let mut samples = Vec::new();
    decode_each(data, frames, range, |s| samples.extend_from_slice(s));
    Pcm { samples }
}

/// Decodes `frames[range]` of `data` frame by frame, handing `each` the mono samples of each
/// (exactly `spf` of them: zeros for a frame the decoder refuses). Returns the frames run
/// through the decoder, warm-up included.
pub(crate) fn decode_each(
    data: &[u8],
    frames: &[FrameRef],
    range: Range<usize>,
    mut each: impl FnMut(&[f32]),
) -> u64 {
    let end = range.end.min(frames.len());
    let start = range.start.min(end);
    let warm_start = start.saturating_sub(WARM_UP_FRAMES);
    let Some(first) = frames.get(warm_start) else {
        return 0;
    };
    let spf = first.samples as usize;
    let mut params = CodecParameters::new();
    params
        .for_codec(CODEC_TYPE_MP3)
        .with_sample_rate(first.sample_rate);
    let mut decoder = MpaDecoder::try_new(&params, &DecoderOptions::default()).ok();
    let mut mono = Vec::with_capacity(spf);
    for (i, f) in frames[warm_start..end].iter().enumerate() {
        let keep = warm_start + i >= start;
        mono.clear();
        if let Some(dec) = decoder.as_mut() {
            let packet = Packet::new_from_slice(0, (i * spf) as u64, spf as u64, f.bytes(data));
            if let Ok(AudioBufferRef::F32(buf)) = dec.decode(&packet) {
                if keep {
                    let channels = buf.spec().channels.count();
                    let n = buf.frames().min(spf);
                    let scale = 1.0 / channels.max(1) as f32;
                    mono.extend(
                        (0..n).map(|t| (0..channels).map(|c| buf.chan(c)[t]).sum::<f32>() * scale),
                    );
                }
            }
        }
        if keep {
            mono.resize(spf, 0.0);
            each(&mono);
        }
    }
    (end - warm_start) as u64
}

impl Pcm {
    /// Whether the samples are all below [`SILENCE_RMS`].
    pub(crate) fn is_silent(&self) -> bool {
        let energy: f64 = self.samples.iter().map(|v| f64::from(*v).powi(2)).sum();
        energy <= self.samples.len() as f64 * SILENCE_RMS * SILENCE_RMS
    }
}
