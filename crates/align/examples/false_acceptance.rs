//! Issue 31: how often the job's comparison rule would take two different recordings for the
//! same audio, per kind of audio, and how it treats true and misplaced alignments.
//!
//! ```text
//! cargo run --release -p align --example false_acceptance -- [--probes N] [--true-probes M]
//!     [--seed S] [--only KIND,KIND] [--music-dir DIR] [--keep DIR]
//! ```
//!
//! Kinds: music, music-beat, music-real, speech, tone, jingle, jingle-same, periodic.
//! `FA_DEBUG=1` prints every accepted different-recording probe.
//!
//! Material is made at run time into a temporary folder: sources are synthesized here (music
//! from random notes, chords and a sampled drum kit; a steady tone; jingles; click tracks and
//! square waves) or by `espeak-ng` (speech), or cut from real music (`--music-dir`, default
//! Debian's `asc-music`, `/usr/share/games/asc/music`, skipped when absent), and encoded by
//! ffmpeg/libmp3lame as the replicas are: 22.05 kHz mono 32 kbit/s (the fixtures) and
//! 44.1 kHz stereo 128 kbit/s (production). Each recording is encoded twice, `A` from its
//! start and `B` from `off` s into it, so `B`'s audio lies exactly `off` s later on `A`'s
//! timeline (both start with the same LAME priming).
//!
//! A probe is one `checkpoint()` of `crates/job/src/compare.rs`, rule for rule: a window of
//! `A` (the file) from `c - 0.5` to `c + 3.5` s and a 3-s window of the other file from
//! `c - offset`, cut at frame boundaries as the job cuts them (two frames of margin), searched
//! with `Search { expected_offset_s, tolerance_s: 0.5, probe_s: 2.4, min_overlap_s: 1.0 }`.
//! It AGREES when
//! 1. (the *align* prong) `align::align` returns a clear alignment with
//!    `confidence >= MIN_CONFIDENCE` (0.5) within `OFFSET_SLACK_MS` (40 ms) of the predicted
//!    offset, or
//! 2. (the *peak* prong) `align::measure_audio`'s best correlation lies within 40 ms of the
//!    predicted offset with `peak >= SAME_PEAK` (0.95).
//!
//! Where one window decides a comparison (an overlap shorter than two windows), the align
//! prong also needs the alignment's `peak >= ONE_WINDOW_PEAK` (0.85): counted as *one window*.
//!
//! Otherwise the job's silence check (`deadair` on each window's bytes, 100-ms windows below
//! −50 dBFS, ≥ 80 % of the window) decides: both silent, one silent, or, both sounding,
//! DISAGREES when nothing was measured or the measured peak is below `DIFFERENT_PEAK` (0.5),
//! else UNSURE. (`align::align` is `align_copy`, else `measure_audio` kept when clear: the
//! example measures once and derives both prongs from it, as the job's two calls would.)
//!
//! Three sets of probes, for each kind and format:
//! 1. **different**: `A` of one recording against `B` of another of the same kind, at a
//!    random predicted offset (an agreement is a false acceptance; for the kinds marked
//!    "common" both recordings hold the same material, e.g. the same tone). Every accepted
//!    one is also tried at a second window at the same predicted offset, 3 s later (or
//!    earlier), as a comparison's second window would be;
//! 2. **true**: `A` and `B` of one recording at the true offset;
//! 3. **misplaced**: the same, predicted 0.1–0.5 s off the truth (either way): caught when it
//!    does not agree.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use align::{Alignment, FrameRef, Method, Search};

// The job's constants, named as in `crates/job/src/compare.rs` (and `alignments.rs`,
// `settings.rs`): keep them equal to the job's.

/// compare.rs `PROBE_S`: seconds of the other file's window.
const PROBE_S: f64 = 3.0;
/// compare.rs `TOLERANCE_S`: the search around the predicted offset.
const TOLERANCE_S: f64 = 0.5;
/// compare.rs `OFFSET_SLACK_MS`.
const OFFSET_SLACK_MS: f64 = 40.0;
/// alignments.rs `MIN_CONFIDENCE` (the align prong).
const MIN_CONFIDENCE: f64 = 0.5;
/// compare.rs `SAME_PEAK` (the peak prong).
const SAME_PEAK: f64 = 0.95;
/// compare.rs `DIFFERENT_PEAK`.
const DIFFERENT_PEAK: f64 = 0.5;
/// compare.rs `ONE_WINDOW_PEAK`: what the align prong also needs where one window decides.
const ONE_WINDOW_PEAK: f64 = 0.85;
/// The job's default `SILENCE_DBFS`.
const SILENCE_DBFS: f64 = -50.0;
/// Seconds of each source recording.
const LEN_S: f64 = 24.0;
/// Rate of the synthesized sources.
const RATE: u32 = 44_100;

/// SplitMix64: small, seedable, good enough for drawing probes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[0, 1)`.
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Uniform in `[-1, 1)`.
    fn noise(&mut self) -> f32 {
        (2.0 * self.f() - 1.0) as f32
    }
}

/// The replicas' two encodings.
struct Format {
    name: &'static str,
    args: &'static [&'static str],
}

const FORMATS: [Format; 2] = [
    Format {
        name: "22.05k mono 32k",
        args: &["-ar", "22050", "-ac", "1", "-b:a", "32k"],
    },
    Format {
        name: "44.1k stereo 128k",
        args: &["-ar", "44100", "-ac", "2", "-b:a", "128k"],
    },
];

/// One source recording: a WAV file, and its group (recordings of one group hold the same
/// audio: chunks of one real track are not paired as "different").
struct Source {
    wav: PathBuf,
    group: usize,
}

struct Kind {
    key: &'static str,
    name: &'static str,
    /// Different recordings hold the same material (the same tone, the same jingle).
    common: bool,
    sources: Vec<Source>,
}

/// A recording encoded in one format: `A` from its start, `B` from `off` s into it.
struct Encoded {
    a: Vec<u8>,
    fa: Vec<FrameRef>,
    b: Vec<u8>,
    fb: Vec<FrameRef>,
    off: f64,
    frame_s: f64,
    group: usize,
}

impl Encoded {
    fn len_a(&self) -> f64 {
        self.fa.len() as f64 * self.frame_s
    }
    fn len_b(&self) -> f64 {
        self.fb.len() as f64 * self.frame_s
    }
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ffmpeg() -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-loglevel", "error", "-nostdin", "-y"]);
    c
}

fn write_wav(path: &Path, x: &[f32]) {
    let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-9);
    let scale = if peak > 0.9 { 0.9 / peak } else { 1.0 };
    let data_len = (x.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + x.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(RATE * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for v in x {
        let s = (v * scale * 32767.0).round().clamp(-32768.0, 32767.0) as i16;
        out.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, out).expect("write wav");
}

/// Adds `sample` to `x` from time `at` (s), scaled by `gain`.
fn mix(x: &mut [f32], at: f64, sample: &[f32], gain: f32) {
    let i0 = (at * f64::from(RATE)).round() as usize;
    for (k, v) in sample.iter().enumerate() {
        if let Some(o) = x.get_mut(i0 + k) {
            *o += gain * v;
        }
    }
}

/// A decaying harmonic note.
fn note(freq: f64, dur: f64, decay: f64, partials: &[f64]) -> Vec<f32> {
    let n = (dur * f64::from(RATE)) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(RATE);
            let attack = (t / 0.005).min(1.0);
            let release = ((dur - t) / 0.02).clamp(0.0, 1.0);
            let s: f64 = partials
                .iter()
                .enumerate()
                .map(|(h, a)| a * (2.0 * std::f64::consts::PI * freq * (h + 1) as f64 * t).sin())
                .sum();
            (s * attack * release * (-decay * t).exp()) as f32
        })
        .collect()
}

/// A drum machine's samples: the same for every piece.
struct Drums {
    kick: Vec<f32>,
    snare: Vec<f32>,
    hat: Vec<f32>,
}

impl Drums {
    fn new() -> Self {
        let r = f64::from(RATE);
        let mut rng = Rng(0xD2);
        let mut phase = 0.0;
        let kick = (0..(0.25 * r) as usize)
            .map(|i| {
                let t = i as f64 / r;
                phase += 2.0 * std::f64::consts::PI * (50.0 + 100.0 * (-t * 30.0).exp()) / r;
                (phase.sin() * (-t * 18.0).exp()) as f32
            })
            .collect();
        let snare = (0..(0.2 * r) as usize)
            .map(|i| {
                let t = i as f64 / r;
                (0.6 * f64::from(rng.noise()) * (-t * 22.0).exp()
                    + 0.4 * (2.0 * std::f64::consts::PI * 185.0 * t).sin() * (-t * 30.0).exp())
                    as f32
            })
            .collect();
        let mut prev = 0.0f32;
        let hat = (0..(0.05 * r) as usize)
            .map(|i| {
                let t = i as f64 / r;
                let n = rng.noise();
                let hp = n - prev;
                prev = n;
                hp * 0.5 * (-t * 70.0).exp() as f32
            })
            .collect();
        Drums { kick, snare, hat }
    }
}

/// A piece of "music": a melody of random notes of a major scale on eighths, a triad a bar,
/// and the drum machine (kick on 1 and 3, snare on 2 and 4, hi-hat on eighths).
fn music(seed: u64, bpm: f64, drums: &Drums, melody_gain: f32, seconds: f64) -> Vec<f32> {
    let mut rng = Rng(seed);
    let mut x = vec![0.0f32; (seconds * f64::from(RATE)) as usize];
    let root = 196.0 * 2f64.powf(rng.below(12) as f64 / 12.0);
    let scale = [0, 2, 4, 5, 7, 9, 11];
    let pitch = |degree: i64| {
        let (oct, d) = (degree.div_euclid(7), degree.rem_euclid(7) as usize);
        root * 2f64.powf(oct as f64 + scale[d] as f64 / 12.0)
    };
    let beat = 60.0 / bpm;
    let partials = [1.0, 0.5, 0.3, 0.15];
    let mut t = 0.0;
    let mut step = 0usize;
    while t < seconds {
        if step % 8 == 0 {
            let d = rng.below(7) as i64;
            for k in [0, 2, 4] {
                let n = note(pitch(d + k - 7), 4.0 * beat, 1.0, &partials);
                mix(&mut x, t, &n, 0.12 * melody_gain);
            }
        }
        if rng.f() < 0.75 {
            let n = note(
                pitch(rng.below(10) as i64),
                beat * if rng.f() < 0.3 { 1.0 } else { 0.5 },
                rng.range(3.0, 6.0),
                &partials,
            );
            mix(&mut x, t, &n, 0.3 * melody_gain);
        }
        match step % 8 {
            0 | 4 => mix(&mut x, t, &drums.kick, 0.5),
            2 | 6 => mix(&mut x, t, &drums.snare, 0.35),
            _ => {}
        }
        mix(&mut x, t, &drums.hat, 0.25);
        t += beat / 2.0;
        step += 1;
    }
    x
}

/// A steady tone at a random phase.
fn tone(seed: u64, freq: f64, seconds: f64) -> Vec<f32> {
    let phase = Rng(seed).range(0.0, 2.0 * std::f64::consts::PI);
    (0..(seconds * f64::from(RATE)) as usize)
        .map(|i| {
            (0.3 * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(RATE) + phase).sin())
                as f32
        })
        .collect()
}

/// A jingle (a noise swoosh, then five notes, the last held), repeated every 3–4 s, the loop
/// started `phase` (0..1) into its period.
fn jingle(seed: u64, phase: f64, seconds: f64) -> Vec<f32> {
    let mut rng = Rng(seed);
    let period = rng.range(3.0, 4.0);
    let r = f64::from(RATE);
    let mut one = vec![0.0f32; (period * r) as usize];
    let mut lp = 0.0f32;
    let swoosh: Vec<f32> = (0..(0.3 * r) as usize)
        .map(|i| {
            let t = i as f64 / r;
            lp += 0.2 * (rng.noise() - lp);
            lp * (std::f64::consts::PI * t / 0.3).sin() as f32
        })
        .collect();
    mix(&mut one, 0.0, &swoosh, 1.5);
    let root = 330.0 * 2f64.powf(rng.below(12) as f64 / 12.0);
    let penta = [0, 2, 4, 7, 9, 12, 14, 16];
    for k in 0..5 {
        let f = root * 2f64.powf(penta[rng.below(penta.len())] as f64 / 12.0);
        let dur = if k == 4 { 0.8 } else { 0.2 };
        let n = note(f, dur, 3.0, &[1.0, 0.4, 0.2]);
        mix(&mut one, 0.25 + 0.2 * k as f64, &n, 0.35);
    }
    let shift = (phase * one.len() as f64) as usize;
    (0..(seconds * r) as usize)
        .map(|i| one[(i + shift) % one.len()])
        .collect()
}

/// A click track (3-ms 2-kHz blips) at `bpm`, or a square wave at `square_hz`.
fn periodic(seed: u64, bpm: Option<f64>, square_hz: Option<f64>, seconds: f64) -> Vec<f32> {
    let r = f64::from(RATE);
    let start = Rng(seed).f();
    let n = (seconds * r) as usize;
    match (bpm, square_hz) {
        (Some(bpm), _) => {
            let period = 60.0 / bpm;
            let click = note(2000.0, 0.003, 0.0, &[1.0]);
            let mut x = vec![0.0f32; n];
            let mut t = start * period;
            while t < seconds {
                mix(&mut x, t, &click, 0.8);
                t += period;
            }
            x
        }
        (None, Some(f)) => (0..n)
            .map(|i| {
                let cycles = i as f64 / r * f + start;
                if cycles.fract() < 0.5 {
                    0.2
                } else {
                    -0.2
                }
            })
            .collect(),
        _ => unreachable!(),
    }
}

const WORDS: &str = "the a of and to in is was for on that with as at by it from this be \
    are have has had not but or an they we you he she his her their our will would can could \
    new news today night morning weather rain sun wind cold warm city council people year \
    time week day station music program minister government water river road train bus \
    school children market price money bank street house family team game match player goal \
    north south east west coast island mountain forest valley village country world report \
    police fire hospital doctor health work job company business plan project bridge tunnel \
    airport flight ship harbour summer winter spring autumn evening hour minute second first \
    last next long short high low big small old young good bad great little open close start \
    finish said says told asked expected announced approved opened closed reached";

/// Random sentences of common words, about `words` of them.
fn text(seed: u64, words: usize) -> String {
    let list: Vec<&str> = WORDS.split_whitespace().collect();
    let mut rng = Rng(seed);
    let mut out = String::new();
    let mut in_sentence = 0;
    for _ in 0..words {
        out.push_str(list[rng.below(list.len())]);
        in_sentence += 1;
        if in_sentence > 5 && rng.f() < 0.15 {
            out.push_str(". ");
            in_sentence = 0;
        } else {
            out.push(' ');
        }
    }
    out
}

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The kinds of audio and their source recordings, written into `dir`.
fn kinds(dir: &Path, music_dir: &Path, only: &[String]) -> Vec<Kind> {
    let wanted = |key: &str| only.is_empty() || only.iter().any(|o| o == key);
    let seconds = LEN_S + 0.5;
    let mut out = Vec::new();
    let mut kind = |key: &'static str,
                    name: &'static str,
                    common: bool,
                    make: &mut dyn FnMut(&Path) -> Vec<Source>| {
        if wanted(key) {
            let d = dir.join(key);
            std::fs::create_dir_all(&d).expect("mkdir");
            let sources = make(&d);
            if sources.len() >= 2 {
                out.push(Kind {
                    key,
                    name,
                    common,
                    sources,
                });
            } else {
                eprintln!("skipped {key}: no material");
            }
        }
    };
    let synth = |d: &Path, i: usize, x: Vec<f32>| {
        let wav = d.join(format!("{i}.wav"));
        write_wav(&wav, &x);
        Source { wav, group: i }
    };
    let drums = Drums::new();
    kind("music", "music (synthetic, own tempo)", false, &mut |d| {
        (0..6)
            .map(|i| {
                let bpm = Rng(100 + i as u64).range(90.0, 140.0);
                synth(d, i, music(1 + i as u64, bpm, &drums, 1.0, seconds))
            })
            .collect()
    });
    kind(
        "music-beat",
        "music (same drums, same 120 bpm, drums loud)",
        false,
        &mut |d| {
            (0..6)
                .map(|i| synth(d, i, music(11 + i as u64, 120.0, &drums, 0.35, seconds)))
                .collect()
        },
    );
    kind("music-real", "music (asc-music tracks)", false, &mut |d| {
        let mut tracks: Vec<PathBuf> = std::fs::read_dir(music_dir)
            .map(|r| r.filter_map(|e| Some(e.ok()?.path())).collect())
            .unwrap_or_default();
        tracks.retain(|p| p.extension().is_some_and(|e| e == "mp3" || e == "ogg"));
        tracks.sort();
        let mut sources = Vec::new();
        for (t, track) in tracks.iter().enumerate() {
            for (k, at) in [30.0, 120.0, 210.0].into_iter().enumerate() {
                let wav = d.join(format!("{t}-{k}.wav"));
                run(ffmpeg()
                    .args(["-ss", &format!("{at}"), "-t", &format!("{seconds}"), "-i"])
                    .arg(track)
                    .args(["-ar", "44100"])
                    .arg(&wav));
                sources.push(Source { wav, group: t });
            }
        }
        sources
    });
    kind(
        "speech",
        "speech (espeak-ng, different texts)",
        false,
        &mut |d| {
            if !have("espeak-ng", "--version") {
                return Vec::new();
            }
            let voices = [
                "en-us", "en-gb", "en-us+f3", "en-gb+m3", "en+f2", "en-us+m7",
            ];
            voices
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let wav = d.join(format!("{i}.wav"));
                    run(Command::new("espeak-ng")
                        .args(["-v", v, "-s", "165", "-w"])
                        .arg(&wav)
                        .arg(text(200 + i as u64, 120)));
                    Source { wav, group: i }
                })
                .collect()
        },
    );
    kind(
        "tone",
        "1 kHz tone vs the same tone (common)",
        true,
        &mut |d| {
            (0..4)
                .map(|i| synth(d, i, tone(300 + i as u64, 1000.0, seconds)))
                .collect()
        },
    );
    kind("jingle", "jingle loop vs another jingle", false, &mut |d| {
        (0..6)
            .map(|i| synth(d, i, jingle(400 + i as u64, 0.0, seconds)))
            .collect()
    });
    kind(
        "jingle-same",
        "jingle loop vs the same jingle (common)",
        true,
        &mut |d| {
            (0..4)
                .map(|i| synth(d, i, jingle(400, i as f64 * 0.29, seconds)))
                .collect()
        },
    );
    kind(
        "periodic",
        "clicks 100-140 bpm / squares 200-330 Hz, other periods",
        false,
        &mut |d| {
            let clicks = [100.0, 120.0, 128.0, 140.0].map(|b| (Some(b), None));
            let squares = [200.0, 250.0, 330.0].map(|f| (None, Some(f)));
            clicks
                .into_iter()
                .chain(squares)
                .enumerate()
                .map(|(i, (bpm, sq))| synth(d, i, periodic(500 + i as u64, bpm, sq, seconds)))
                .collect()
        },
    );
    out
}

fn encode(wav: &Path, skip: f64, seconds: f64, format: &Format, out: &Path) -> Vec<u8> {
    run(ffmpeg()
        .args([
            "-ss",
            &format!("{skip:.6}"),
            "-t",
            &format!("{seconds:.6}"),
            "-i",
        ])
        .arg(wav)
        .args(["-c:a", "libmp3lame"])
        .args(format.args)
        .arg(out));
    std::fs::read(out).expect("read mp3")
}

/// A window of an encoded file from `from_s` to `to_s` of its audio, cut as the job cuts it
/// (`alignments::window_span`: whole frames, two frames of margin each side): the bytes and
/// the time of its first frame.
fn window<'a>(
    bytes: &'a [u8],
    fr: &[FrameRef],
    frame_s: f64,
    from_s: f64,
    to_s: f64,
) -> Option<(&'a [u8], f64, f64)> {
    let i0 = if from_s <= 0.0 {
        0
    } else {
        ((from_s / frame_s).floor() as i64 - 2).max(0) as usize
    };
    let i1 = (((to_s / frame_s).ceil() as i64 + 2).max(0) as usize).min(fr.len());
    if i0 >= i1 {
        return None;
    }
    let (first, last) = (fr[i0], fr[i1 - 1]);
    Some((
        &bytes[first.offset..last.offset + last.len],
        i0 as f64 * frame_s,
        i1 as f64 * frame_s,
    ))
}

/// What the job makes of one checkpoint (compare.rs `Look`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    Agrees,
    Disagrees,
    BothSilent,
    OneSilent,
    Unsure,
}

/// Which of compare.rs's two rules made a checkpoint agree (the align prong is tried first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prong {
    /// `align::align`: a clear alignment, `confidence >= MIN_CONFIDENCE`, at the offset.
    Align,
    /// `align::measure_audio`: the best correlation at the offset, `peak >= SAME_PEAK`.
    Peak,
}

struct Checked {
    look: Look,
    prong: Option<Prong>,
    /// It would agree also where one window decides (`ONE_WINDOW_PEAK`).
    one_window: bool,
    /// What `align::align` returns: a clear alignment, anywhere in the search.
    found: Option<Alignment>,
    /// What `align::measure_audio` returns: the best correlation, however weak.
    measured: Option<Alignment>,
    /// The predicted offset on `A`'s window's timeline, ms.
    expected_ms: f64,
    /// The true offset there (if the two hold the same recording), ms.
    truth_ms: Option<f64>,
    took: Duration,
}

impl Checked {
    fn near(f: Option<Alignment>, at_ms: f64) -> Option<Alignment> {
        f.filter(|f| (f.offset_ms - at_ms).abs() <= OFFSET_SLACK_MS)
    }
}

/// compare.rs `silent`: `deadair` on the window's bytes, silent below `SILENCE_DBFS` for at
/// least 80 % of it.
fn silent(bytes: &[u8]) -> bool {
    let report = deadair::detect(
        bytes,
        deadair::Threshold {
            min_seconds: 0.5,
            dbfs: SILENCE_DBFS,
        },
    );
    let silent: f64 = report.spans.iter().map(|s| s.seconds()).sum();
    report.seconds > 0.0 && silent >= 0.8 * report.seconds
}

/// compare.rs `checkpoint`: `file`'s window around `c`, `with`'s from `c - offset`.
fn checkpoint(
    file: (&[u8], &[FrameRef]),
    with: (&[u8], &[FrameRef]),
    frame_s: f64,
    c: f64,
    offset: f64,
    true_offset: Option<f64>,
) -> Checked {
    let (a, a_start, _) = window(
        file.0,
        file.1,
        frame_s,
        c - TOLERANCE_S,
        c + PROBE_S + TOLERANCE_S,
    )
    .expect("a window");
    let (b, b_start, _) =
        window(with.0, with.1, frame_s, c - offset, c - offset + PROBE_S).expect("b window");
    let expected_s = b_start + offset - a_start;
    let search = Search {
        expected_offset_s: Some(expected_s),
        tolerance_s: TOLERANCE_S,
        probe_s: PROBE_S * 0.8,
        min_overlap_s: (PROBE_S * 0.8).min(1.0),
    };
    let at_offset = |f: &Alignment| (f.offset_ms - expected_s * 1000.0).abs() <= OFFSET_SLACK_MS;
    let t = Instant::now();
    // `align::align(a, b, &search)` is `align_copy(a, b)`, else `measure_audio` when clear.
    let measured = align::measure_audio(a, b, &search);
    let found = align::align_copy(a, b).or_else(|| measured.filter(Alignment::is_clear));
    let took = t.elapsed();
    let prong = if found.is_some_and(|f| f.confidence >= MIN_CONFIDENCE && at_offset(&f)) {
        Some(Prong::Align)
    } else if measured.is_some_and(|m| at_offset(&m) && m.peak >= SAME_PEAK) {
        Some(Prong::Peak)
    } else {
        None
    };
    let one_window = match prong {
        Some(Prong::Peak) => true,
        Some(Prong::Align) => {
            found.is_some_and(|f| f.method == Method::Copy || f.peak >= ONE_WINDOW_PEAK)
        }
        None => false,
    };
    let look = if prong.is_some() {
        Look::Agrees
    } else {
        match (silent(a), silent(b)) {
            (true, true) => Look::BothSilent,
            (true, false) | (false, true) => Look::OneSilent,
            (false, false) if measured.is_none_or(|m| m.peak < DIFFERENT_PEAK) => Look::Disagrees,
            (false, false) => Look::Unsure,
        }
    };
    Checked {
        look,
        prong,
        one_window,
        found,
        measured,
        expected_ms: expected_s * 1000.0,
        truth_ms: true_offset.map(|o| (b_start + o - a_start) * 1000.0),
        took,
    }
}

#[derive(Default)]
struct Tally {
    n: usize,
    agrees: usize,
    /// Agreements that also pass where one window decides.
    one_window: usize,
    by_align: usize,
    by_peak: usize,
    disagrees: usize,
    unsure: usize,
    one_silent: usize,
    both_silent: usize,
    /// `measure_audio` found nothing to correlate.
    none: usize,
    /// `align` returned a clear alignment (anywhere in the search).
    clear: usize,
    /// Accepted probes: the prong, `align`'s confidence (NaN: none), the measured peak.
    accepted: Vec<(Prong, f64, f64)>,
    /// The highest confidence of a clear alignment within 40 ms of the prediction.
    max_conf_at_offset: f64,
    /// The highest measured peak within 40 ms of the prediction.
    max_peak_at_offset: f64,
    /// Within 40 ms of the truth: `align`'s confidences and the measured peaks.
    conf_at_truth: Vec<f64>,
    peak_at_truth: Vec<f64>,
    /// Largest |measured − truth| among those, ms.
    max_error_ms: f64,
    /// Clear alignments by method: copy, plain, whitened.
    methods: [usize; 3],
    took: Duration,
}

impl Tally {
    fn add(&mut self, c: &Checked) {
        self.n += 1;
        self.took += c.took;
        match c.look {
            Look::Agrees => self.agrees += 1,
            Look::Disagrees => self.disagrees += 1,
            Look::Unsure => self.unsure += 1,
            Look::OneSilent => self.one_silent += 1,
            Look::BothSilent => self.both_silent += 1,
        }
        self.one_window += usize::from(c.one_window);
        match c.prong {
            Some(Prong::Align) => self.by_align += 1,
            Some(Prong::Peak) => self.by_peak += 1,
            None => {}
        }
        if let Some(p) = c.prong {
            self.accepted.push((
                p,
                c.found.map_or(f64::NAN, |f| f.confidence),
                c.measured.map_or(f64::NAN, |m| m.peak),
            ));
        }
        if c.measured.is_none() {
            self.none += 1;
        }
        if let Some(f) = c.found {
            self.clear += 1;
            self.methods[match f.method {
                Method::Copy => 0,
                Method::Audio => 1,
                Method::AudioWhitened => 2,
            }] += 1;
        }
        if let Some(f) = Checked::near(c.found, c.expected_ms) {
            self.max_conf_at_offset = self.max_conf_at_offset.max(f.confidence);
        }
        if let Some(m) = Checked::near(c.measured, c.expected_ms) {
            self.max_peak_at_offset = self.max_peak_at_offset.max(m.peak);
        }
        if let Some(t) = c.truth_ms {
            if let Some(f) = Checked::near(c.found, t) {
                self.conf_at_truth.push(f.confidence);
            }
            if let Some(m) = Checked::near(c.measured, t) {
                self.peak_at_truth.push(m.peak);
                self.max_error_ms = self.max_error_ms.max((m.offset_ms - t).abs());
            }
        }
    }
}

/// One-sided 95 % upper bound of a binomial rate, `k` of `n` (Clopper–Pearson; ≈ 3/n when
/// `k` = 0, the rule of three).
fn upper95(k: usize, n: usize) -> f64 {
    if n == 0 {
        return 1.0;
    }
    if k >= n {
        return 1.0;
    }
    let cdf = |p: f64| -> f64 {
        // P(X <= k), in logs.
        let (lp, lq) = (p.ln(), (1.0 - p).ln());
        let mut log_c = 0.0; // ln C(n, 0)
        let mut sum = 0.0;
        for i in 0..=k {
            if i > 0 {
                log_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
            }
            sum += (log_c + i as f64 * lp + (n - i) as f64 * lq).exp();
        }
        sum
    };
    let (mut lo, mut hi) = (k as f64 / n as f64, 1.0);
    for _ in 0..80 {
        let mid = 0.5 * (lo + hi);
        if cdf(mid) > 0.05 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i]
}

struct Cell {
    key: &'static str,
    kind: String,
    common: bool,
    format: &'static str,
    different: Tally,
    /// Accepted different-recording probes tried at a second window at the same predicted
    /// offset: how many, and how many of those agreed again.
    second_tried: usize,
    second_agreed: usize,
    truth: Tally,
    misplaced: Tally,
}

fn measure(
    kind: &Kind,
    format: &Format,
    dir: &Path,
    rng: &mut Rng,
    probes: usize,
    true_probes: usize,
) -> Cell {
    let encoded: Vec<Encoded> = kind
        .sources
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let off = rng.range(1.5, 6.0);
            let a = encode(
                &s.wav,
                0.0,
                LEN_S,
                format,
                &dir.join(format!("{}-{i}-a.mp3", kind.key)),
            );
            let b = encode(
                &s.wav,
                off,
                LEN_S - off,
                format,
                &dir.join(format!("{}-{i}-b.mp3", kind.key)),
            );
            let (fa, fb) = (align::frames(&a), align::frames(&b));
            let first = fa[0];
            Encoded {
                frame_s: f64::from(first.samples) / f64::from(first.sample_rate),
                a,
                fa,
                b,
                fb,
                off,
                group: s.group,
            }
        })
        .collect();
    let mut cell = Cell {
        key: kind.key,
        kind: kind.name.to_owned(),
        common: kind.common,
        format: format.name,
        different: Tally::default(),
        second_tried: 0,
        second_agreed: 0,
        truth: Tally::default(),
        misplaced: Tally::default(),
    };
    // Where a window of A may start, and one of B (both whole inside the files).
    let a_range = |e: &Encoded| (TOLERANCE_S + 0.1, e.len_a() - PROBE_S - TOLERANCE_S - 0.1);
    let b_range = |e: &Encoded| (0.1, e.len_b() - PROBE_S - 0.1);
    let debug = std::env::var_os("FA_DEBUG").is_some();
    for _ in 0..probes {
        let i = rng.below(encoded.len());
        let others: Vec<usize> = (0..encoded.len())
            .filter(|&j| j != i && (kind.common || encoded[j].group != encoded[i].group))
            .collect();
        let j = others[rng.below(others.len())];
        let (ea, eb) = (&encoded[i], &encoded[j]);
        let (alo, ahi) = a_range(ea);
        let (blo, bhi) = b_range(eb);
        let c = rng.range(alo, ahi);
        let cb = rng.range(blo, bhi);
        let checked = checkpoint(
            (&ea.a, &ea.fa),
            (&eb.b, &eb.fb),
            ea.frame_s,
            c,
            c - cb,
            None,
        );
        cell.different.add(&checked);
        if checked.look == Look::Agrees {
            // A comparison's next window: the same offset, 3 s on (or back).
            let step = if c + PROBE_S <= ahi && cb + PROBE_S <= bhi {
                PROBE_S
            } else {
                -PROBE_S
            };
            let again = (c + step >= alo && cb + step >= blo).then(|| {
                checkpoint(
                    (&ea.a, &ea.fa),
                    (&eb.b, &eb.fb),
                    ea.frame_s,
                    c + step,
                    c - cb,
                    None,
                )
            });
            if let Some(again) = &again {
                cell.second_tried += 1;
                cell.second_agreed += usize::from(again.look == Look::Agrees);
            }
            if debug {
                eprintln!(
                    "{} / {}: recordings {i} and {j}, c {c:.3} offset {:.3}: {:?} confidence {:?} peak {:?} second peak {:?} ({:?}); next window {:?}",
                    kind.key,
                    format.name,
                    c - cb,
                    checked.prong,
                    checked.found.map(|f| f.confidence),
                    checked.measured.map(|m| m.peak),
                    checked.measured.map(|m| m.second_peak),
                    checked.measured.map(|m| m.method),
                    again.map(|a| a.look),
                );
            }
        }
    }
    for _ in 0..true_probes {
        let e = &encoded[rng.below(encoded.len())];
        let (alo, ahi) = a_range(e);
        let (blo, bhi) = b_range(e);
        // c inside A's range with c - off inside B's (with room for a 0.5-s misplacement).
        let lo = alo.max(blo + e.off + 0.5);
        let hi = ahi.min(bhi + e.off - 0.5);
        let c = rng.range(lo, hi);
        let checked = checkpoint(
            (&e.a, &e.fa),
            (&e.b, &e.fb),
            e.frame_s,
            c,
            e.off,
            Some(e.off),
        );
        cell.truth.add(&checked);
        let delta = rng.range(0.1, 0.5) * if rng.f() < 0.5 { -1.0 } else { 1.0 };
        let c = rng.range(lo, hi);
        let checked = checkpoint(
            (&e.a, &e.fa),
            (&e.b, &e.fb),
            e.frame_s,
            c,
            e.off + delta,
            Some(e.off),
        );
        cell.misplaced.add(&checked);
    }
    cell
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let probes: usize = value("--probes").map_or(1000, |v| v.parse().expect("--probes N"));
    let true_probes: usize =
        value("--true-probes").map_or(250, |v| v.parse().expect("--true-probes N"));
    let seed: u64 = value("--seed").map_or(31, |v| v.parse().expect("--seed S"));
    let only: Vec<String> = value("--only")
        .map(|v| v.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let music_dir = PathBuf::from(
        value("--music-dir").unwrap_or_else(|| "/usr/share/games/asc/music".to_owned()),
    );
    if !have("ffmpeg", "-version") {
        eprintln!("needs ffmpeg (with libmp3lame) on PATH");
        std::process::exit(2);
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = value("--keep").map_or_else(|| tmp.path().to_owned(), PathBuf::from);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let started = Instant::now();
    let kinds = kinds(&dir, &music_dir, &only);
    eprintln!("sources made in {:.1?}", started.elapsed());
    let mut rng = Rng(seed);
    let mut cells = Vec::new();
    for kind in &kinds {
        for format in &FORMATS {
            let t = Instant::now();
            let cell = measure(kind, format, &dir, &mut rng, probes, true_probes);
            let n = cell.different.n + cell.truth.n + cell.misplaced.n;
            eprintln!(
                "{} / {}: {:.1?} ({n} probes; measure {:.1} ms mean); different accepted {} of {}",
                kind.key,
                format.name,
                t.elapsed(),
                (cell.different.took + cell.truth.took + cell.misplaced.took).as_secs_f64()
                    * 1000.0
                    / n.max(1) as f64,
                cell.different.agrees,
                cell.different.n,
            );
            cells.push(cell);
        }
    }
    print_tables(&mut cells);
    println!(
        "\nprobes: {probes} different + {true_probes} true + {true_probes} misplaced per kind and \
         format, seed {seed}; wall time {:.1?}",
        started.elapsed()
    );
}

fn pct(k: usize, n: usize) -> f64 {
    100.0 * k as f64 / n.max(1) as f64
}

fn print_tables(cells: &mut [Cell]) {
    println!(
        "\n### Different recordings (a checkpoint that agrees is a false Same for its window)\n"
    );
    println!(
        "| kind | format | probes | accepted (95 % upper) | on one window | by align / by peak | accepted: confidence / peak | accepted again at a 2nd window | at the predicted offset, max: confidence / peak | not accepted: disagrees / unsure / one silent / both silent | clear / none |"
    );
    println!("|---|---|---:|---|---|---|---|---|---|---|---|");
    for c in cells.iter() {
        let d = &c.different;
        let accepted = if c.common {
            format!("{} (common: true audio)", d.agrees)
        } else {
            format!(
                "{} ({:.2} %, ≤ {:.2} %)",
                d.agrees,
                pct(d.agrees, d.n),
                100.0 * upper95(d.agrees, d.n)
            )
        };
        let detail = if d.accepted.is_empty() {
            "—".to_owned()
        } else {
            let mut v: Vec<String> = d
                .accepted
                .iter()
                .take(6)
                .map(|(p, conf, peak)| {
                    format!(
                        "{}{conf:.2} / {peak:.3}",
                        if *p == Prong::Peak { "peak: " } else { "" }
                    )
                })
                .collect();
            if d.accepted.len() > 6 {
                v.push("…".to_owned());
            }
            v.join("; ")
        };
        println!(
            "| {} | {} | {} | {accepted} | {} | {} / {} | {detail} | {} | {:.2} / {:.3} | {} / {} / {} / {} | {} / {} |",
            c.kind,
            c.format,
            d.n,
            d.one_window,
            d.by_align,
            d.by_peak,
            if c.second_tried == 0 {
                "—".to_owned()
            } else {
                format!("{} of {}", c.second_agreed, c.second_tried)
            },
            d.max_conf_at_offset,
            d.max_peak_at_offset,
            d.disagrees,
            d.unsure,
            d.one_silent,
            d.both_silent,
            d.clear,
            d.none,
        );
    }
    println!("\n### True and misplaced alignments\n");
    println!(
        "| kind | format | true: probes | accepted (align / peak) | on one window | unsure / disagrees / one silent / both silent | confidence at the truth p5 / p50 | peak at the truth p5 / p50 | misplaced 0.1–0.5 s: caught | caught as unsure / disagrees / silent | measure ms (mean, wall) |"
    );
    println!("|---|---|---:|---|---|---|---|---|---|---|---:|");
    for c in cells.iter_mut() {
        let (d, m) = (&c.different, &c.misplaced);
        let n = d.n + c.truth.n + m.n;
        let took = (d.took + c.truth.took + m.took).as_secs_f64() * 1000.0 / n.max(1) as f64;
        let t = &mut c.truth;
        let q = |v: &mut Vec<f64>, digits: usize| {
            if v.is_empty() {
                "—".to_owned()
            } else {
                let (p5, p50) = (percentile(v, 0.05), percentile(v, 0.5));
                format!("{p5:.digits$} / {p50:.digits$}")
            }
        };
        let conf = q(&mut t.conf_at_truth, 2);
        let peak = q(&mut t.peak_at_truth, 3);
        println!(
            "| {} | {} | {} | {:.1} % ({} / {}) | {:.1} % | {} / {} / {} / {} | {conf} | {peak} | {:.1} % | {} / {} / {} | {took:.1} |",
            c.kind,
            c.format,
            t.n,
            pct(t.agrees, t.n),
            t.by_align,
            t.by_peak,
            pct(t.one_window, t.n),
            t.unsure,
            t.disagrees,
            t.one_silent,
            t.both_silent,
            pct(m.n - m.agrees, m.n),
            m.unsure,
            m.disagrees,
            m.one_silent + m.both_silent,
        );
    }
    println!("\n### Per kind, both formats\n");
    println!("| kind | different: accepted / probes (95 % upper) | on one window | by align / by peak | true: accepted | on one window | misplaced: caught |");
    println!("|---|---|---|---|---|---|---|");
    let mut keys: Vec<&str> = cells.iter().map(|c| c.key).collect();
    keys.dedup();
    for key in keys {
        let of: Vec<&Cell> = cells.iter().filter(|c| c.key == key).collect();
        let sum = |f: &dyn Fn(&Cell) -> usize| of.iter().map(|c| f(c)).sum::<usize>();
        let (k, n) = (sum(&|c| c.different.agrees), sum(&|c| c.different.n));
        let (ta, tn) = (sum(&|c| c.truth.agrees), sum(&|c| c.truth.n));
        let (ma, mn) = (sum(&|c| c.misplaced.agrees), sum(&|c| c.misplaced.n));
        println!(
            "| {} | {k} / {n} ({}) | {} | {} / {} | {:.1} % | {:.1} % | {:.1} % |",
            of[0].kind,
            if of[0].common {
                "common: true audio".to_owned()
            } else {
                format!("≤ {:.2} %", 100.0 * upper95(k, n))
            },
            sum(&|c| c.different.one_window),
            sum(&|c| c.different.by_align),
            sum(&|c| c.different.by_peak),
            pct(ta, tn),
            pct(sum(&|c| c.truth.one_window), tn),
            pct(mn - ma, mn),
        );
    }
}
