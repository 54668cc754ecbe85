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

/// The whole run's samples: what [`is_silent`]'s early stop is checked against.
#[cfg(test)]
pub(crate) struct Pcm {
    /// Mono samples (the channels' mean), `spf` per frame.
    pub samples: Vec<f32>,
}

/// Decodes `frames[range]` of `data`. A frame the decoder refuses (not Layer III, or broken)
/// becomes `spf` zeros, so that the timeline stays exact.
#[cfg(test)]
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
    decode_while(data, frames, range, |s| {
        each(s);
        true
    })
}

/// [`decode_each`], stopping after the first frame for which `each` returns `false`.
fn decode_while(
    data: &[u8],
    frames: &[FrameRef],
    range: Range<usize>,
    mut each: impl FnMut(&[f32]) -> bool,
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
            if !each(&mono) {
                return (i + 1) as u64;
            }
        }
    }
    (end - warm_start) as u64
}

/// Whether `frames[range]` of `data` decode to silence: [`Pcm::is_silent`] of
/// [`decode`]'s samples, decoding only until their energy exceeds what the whole run may hold
/// (the energy only grows, and the run's length is known: `spf` samples a frame), so sounding
/// audio costs the warm-up and a frame or two instead of the whole run.
pub(crate) fn is_silent(data: &[u8], frames: &[FrameRef], range: Range<usize>) -> bool {
    let end = range.end.min(frames.len());
    let start = range.start.min(end);
    let Some(first) = frames.get(start.saturating_sub(WARM_UP_FRAMES)) else {
        return true;
    };
    let samples = (end - start) * first.samples as usize;
    let most = samples as f64 * SILENCE_RMS * SILENCE_RMS;
    let mut energy = 0.0f64;
    decode_while(data, frames, start..end, |s| {
        // Sample by sample, in order: the very sum `Pcm::is_silent` takes.
        for v in s {
            energy += f64::from(*v).powi(2);
        }
        energy <= most
    });
    energy <= most
}

#[cfg(test)]
impl Pcm {
    /// Whether the samples are all below [`SILENCE_RMS`].
    pub(crate) fn is_silent(&self) -> bool {
        let energy: f64 = self.samples.iter().map(|v| f64::from(*v).powi(2)).sum();
        energy <= self.samples.len() as f64 * SILENCE_RMS * SILENCE_RMS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames::frames;

    /// The early stop changes no answer: over every fixture's files (tones, speech, dead air,
    /// digital silence), runs of every length and place agree with the whole run's decode.
    #[test]
    fn is_silent_stops_early_with_the_whole_runs_answer() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        let (mut silent, mut heard) = (0, 0);
        for scenario in ["dead-air", "fallback-silence", "copy-clock"] {
            let mut files: Vec<_> = std::fs::read_dir(root.join(scenario))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "mp3"))
                .collect();
            files.sort();
            for path in files.iter().take(3) {
                let data = std::fs::read(path).unwrap();
                let fr = frames(&data);
                for start in (0..fr.len()).step_by(37) {
                    for len in [0, 1, 5, 80] {
                        let run = start..start + len;
                        let whole = decode(&data, &fr, run.clone()).is_silent();
                        assert_eq!(is_silent(&data, &fr, run), whole, "{path:?} {start} {len}");
                        if len > 0 {
                            if whole {
                                silent += 1;
                            } else {
                                heard += 1;
                            }
                        }
                    }
                }
            }
        }
        assert!(silent > 0 && heard > 0, "silent {silent}, heard {heard}");
    }
}
