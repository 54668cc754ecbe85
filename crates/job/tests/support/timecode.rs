//! The fixtures' time code read back from a recording: a port of `decode` in
//! `scripts/record-fixtures-timecode.py` (see its docstring and `fixtures/README.md`), so a
//! test can place any MP3 the job produced on the broadcast time axis without Python.
//!
//! Keep it in step with the script: the manifests' `broadcast_start_s` come from there, and
//! tests compare the two.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

pub const SR: f64 = 22050.0;
const BASE: f64 = 300.0;
const STEP: f64 = 20.0;
const MOD: i64 = 256;
const GAP: f64 = 0.05;
// 4 ms: at least 1.2 periods of the lowest tone, so a block inside the tone is never quiet.
const BLOCK: usize = 88;
const SAMPLES_PER_FRAME: usize = 576;
// LAME's priming plus the decoder's delay in a recorder's first file; the first tone region
// starts after it (and two more frames whose reservoir is still filling).
const FIRST_FILE_HEAD: usize = 1105;

#[derive(Debug, Clone, Default)]
pub struct Decoded {
    /// Decoded samples, none skipped (`frames × 576`).
    pub samples: usize,
    /// Broadcast time of sample 0 and of the last sample, in seconds.
    pub start: Option<f64>,
    pub end: Option<f64>,
    /// Second boundaries that placed the file.
    pub boundaries: usize,
    /// Each run of consistent boundaries (within 30 ms): the broadcast time it places sample 0
    /// at, and how many boundaries it holds. Audio played continuously is one run; a step
    /// between runs is audio skipped (up) or heard again (down).
    pub runs: Vec<(f64, usize)>,
    pub problems: Vec<String>,
}

/// All samples of `path` as ffmpeg decodes them with nothing skipped at the start: sample `j`
/// is then sample `j` of the file's frames, which is what the time axis counts.
pub fn read_pcm(path: &Path) -> Vec<i16> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-flags2", "+skip_manual", "-i"])
        .arg(path)
        .args(["-f", "s16le", "-ac", "1", "-ar", "22050", "-"])
        .output()
        .expect("run ffmpeg (the time code is read from its PCM)");
    out.stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Decodes `path`; `hint` (an expected broadcast second, e.g. from the name) picks the wrap of
/// the code, which repeats every 256 s.
pub fn decode(path: &Path, hint: Option<f64>) -> Decoded {
    decode_pcm(&read_pcm(path), hint)
}

pub fn decode_pcm(pcm: &[i16], hint: Option<f64>) -> Decoded {
    let n = pcm.len();
    let mut res = Decoded {
        samples: n,
        ..Decoded::default()
    };
    if n < SR as usize / 4 {
        res.problems.push("too short to decode".into());
        return res;
    }
    let nblocks = n / BLOCK;
    let peaks: Vec<i32> = (0..nblocks)
        .map(|k| {
            pcm[k * BLOCK..(k + 1) * BLOCK]
                .iter()
                .map(|&v| i32::from(v).abs())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut sorted = peaks.clone();
    sorted.sort_unstable();
    let amp = f64::from(sorted[(0.9 * (sorted.len() - 1) as f64) as usize]);
    if amp < 1000.0 {
        res.problems.push("no tone found (silent file?)".into());
        return res;
    }
    let thr = 0.25 * amp;
    let quiet: Vec<bool> = peaks.iter().map(|&p| f64::from(p) < thr).collect();

    // Only quiet runs wholly inside the file have both edges, and only gap-sized ones are
    // second boundaries.
    let mut gaps: Vec<(f64, usize, usize)> = Vec::new();
    let mut k = 0;
    while k < nblocks {
        if !quiet[k] {
            k += 1;
            continue;
        }
        let g0 = k;
        while k < nblocks && quiet[k] {
            k += 1;
        }
        let g1 = k - 1;
        let length = ((g1 - g0 + 1) * BLOCK) as f64 / SR;
        if g0 == 0 || k >= nblocks {
            continue;
        }
        if !(0.02..=0.09).contains(&length) {
            if length > 0.09 {
                res.problems
                    .push(format!("silence of {length:.3} s at sample {}", g0 * BLOCK));
            }
            continue;
        }
        let centre = (g0 + g1 + 1) * BLOCK / 2;
        let lo = (g0 * BLOCK).saturating_sub(2 * BLOCK);
        let hi = n.min((g1 + 3) * BLOCK);
        let (mut left, mut right) = (None, None);
        for (i, &v) in pcm.iter().enumerate().take(hi).skip(lo) {
            if f64::from(i32::from(v).abs()) >= thr {
                if i < centre {
                    left = Some(i);
                } else if right.is_none() {
                    right = Some(i);
                }
            }
        }
        if let (Some(l), Some(r)) = (left, right) {
            gaps.push(((l + 1 + r) as f64 / 2.0, l + 1, r));
        }
    }

    // Tone regions: before the first gap, between gaps, after the last one.
    let mut edges: Vec<(usize, usize)> = vec![(0, 0)];
    edges.extend(gaps.iter().map(|g| (g.1, g.2)));
    edges.push((n, n));
    let margin = (0.005 * SR) as usize;
    let codes: Vec<Option<i64>> = (0..edges.len() - 1)
        .map(|i| {
            let mut r0 = edges[i].1;
            let r1 = edges[i + 1].0;
            if i == 0 {
                r0 = r0.max(FIRST_FILE_HEAD + 2 * SAMPLES_PER_FRAME);
            }
            let r0 = r0 + margin;
            let r1 = r1.checked_sub(margin)?;
            if r1 < r0 || r1 - r0 < (0.04 * SR) as usize {
                return None;
            }
            let mid = (r0 + r1) / 2;
            let half = ((r1 - r0) / 2).min((0.15 * SR) as usize);
            code_of(tone_frequency(&pcm[mid - half..mid + half], amp)?)
        })
        .collect();

    let mut estimates: Vec<f64> = Vec::new();
    for (gi, &(centre, _, _)) in gaps.iter().enumerate() {
        let before = codes[gi];
        let after = codes[gi + 1].or(before.map(|b| (b + 1) % MOD));
        let Some(after) = after else { continue };
        if let Some(b) = before {
            if (b + 1) % MOD != after {
                res.problems.push(format!(
                    "code jumps {b} -> {after} at sample {}",
                    centre as i64
                ));
            }
        }
        let boundary = centre - GAP / 2.0 * SR;
        let mut est = after as f64 - boundary / SR;
        match hint {
            Some(h) => est += MOD as f64 * ((h - est) / MOD as f64).round(),
            None if est < -1.0 => est += MOD as f64,
            None => {}
        }
        estimates.push(est);
    }
    res.boundaries = estimates.len();
    if estimates.is_empty() {
        res.problems
            .push("no complete second boundary inside the file".into());
        return res;
    }
    let mut runs: Vec<Vec<f64>> = Vec::new();
    for est in estimates {
        match runs.last_mut() {
            Some(run) if (est - median(run)).abs() <= 0.03 => run.push(est),
            _ => runs.push(vec![est]),
        }
    }
    if runs.len() > 1 {
        res.problems
            .push(format!("{} runs of consistent time code", runs.len()));
    }
    res.runs = runs.iter().map(|r| (median(r), r.len())).collect();
    res.start = Some(median(&runs[0]));
    res.end = Some(median(&runs[runs.len() - 1]) + (n - 1) as f64 / SR);
    res
}

/// Frequency from upward zero crossings, with hysteresis against noise near zero.
fn tone_frequency(seg: &[i16], amp: f64) -> Option<f64> {
    let h = 0.1 * amp;
    let mut ups = Vec::new();
    let mut below = false;
    let mut prev: Option<f64> = None;
    for (i, &v) in seg.iter().enumerate() {
        let v = f64::from(v);
        if v < -h {
            below = true;
        } else if below && v >= 0.0 {
            if let Some(p) = prev.filter(|&p| p < 0.0) {
                ups.push(i as f64 - 1.0 + (-p) / (v - p));
                below = false;
            }
        }
        prev = Some(v);
    }
    if ups.len() < 4 {
        return None;
    }
    Some((ups.len() - 1) as f64 * SR / (ups[ups.len() - 1] - ups[0]))
}

fn code_of(freq: f64) -> Option<i64> {
    let code = ((freq - BASE) / STEP).round() as i64;
    ((0..MOD).contains(&code) && (freq - (BASE + STEP * code as f64)).abs() < 0.3 * STEP)
        .then_some(code)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

/// Seconds at the start of an MP3 that hold no broadcast audio: a freshly started encoder
/// (a recorder's first file) opens with LAME's priming, 1105 samples (its delay 576 plus the
/// decoder's 529, 50.1 ms) before the first sample the recorder received. Later files of one
/// encoder, and `-c copy` files, start with real audio.
///
/// The LAME tag cannot tell them apart: a killed recorder's first file keeps a placeholder tag
/// (delay 0) and a finalised last file says delay 3567. The bit reservoir can: a fresh encoder
/// has nothing to borrow from, so its first frame's `main_data_begin` is 0, while a running
/// one borrows (every continued file in the fixtures does).
pub fn priming_s(mp3: &[u8]) -> f64 {
    let Some(f) = align::frames(mp3).into_iter().next() else {
        return 0.0;
    };
    let frame = &mp3[f.offset..f.offset + f.len];
    let layer3 = (frame[1] >> 1) & 3 == 1;
    let side = if frame[1] & 1 == 0 { 6 } else { 4 };
    if !layer3 || frame.len() < side + 2 {
        return 0.0;
    }
    // 9 bits in MPEG-1 (1152 samples a frame), 8 in MPEG-2 and 2.5.
    let main_data_begin = if f.samples == 1152 {
        u16::from(frame[side]) << 1 | u16::from(frame[side + 1] >> 7)
    } else {
        u16::from(frame[side])
    };
    if main_data_begin == 0 {
        FIRST_FILE_HEAD as f64 / SR
    } else {
        0.0
    }
}
