//! Issue 31: how often the job's comparison rule would take two different recordings for the
//! same audio, per kind of audio, and how it treats true and misplaced alignments.
//!
//! ```text
//! cargo run --release -p align --example false_acceptance -- [--probes N] [--true-probes M]
//!     [--seed S] [--only KIND,KIND] [--music-dir DIR] [--keep DIR] [--periodicity]
//! ```
//!
//! Kinds: music, music-beat, music-real, speech, tone, jingle, jingle-same, periodic.
//! `--periodicity` also tests every disagreement's later window against itself (a proposed
//! rule: content that repeats within the search cannot disagree); `FA_DEBUG=1` prints every
//! clear alignment.
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
//! A probe is one checkpoint of `crates/job/src/compare.rs`: a window of `A` (the file) from
//! `c - 0.5` to `c + 3.5` s and a 3-s window of the other file from `c - offset`, cut at frame
//! boundaries as the job cuts them (two frames of margin), then
//! `align::align(a, b, Search { expected_offset_s, tolerance_s: 0.5, probe_s: 2.4, .. })`;
//! it AGREES when a clear alignment comes back with `confidence >= 0.5` within 40 ms of the
//! predicted offset. Otherwise the job's silence check (`deadair`, 100-ms windows below
//! −50 dBFS, ≥ 80 % of the window) says what the job makes of it: both hold sound → it
//! disagrees; one silent → one-silent; both silent.
//!
//! Three sets of probes, for each kind and format:
//! 1. **different**: `A` of one recording against `B` of another of the same kind, at a
//!    random predicted offset (an agreement is a false acceptance; for the kinds marked
//!    "common" both recordings hold the same material, e.g. the same tone);
//! 2. **true**: `A` and `B` of one recording at the true offset;
//! 3. **misplaced**: the same, predicted 0.1–0.5 s off the truth (either way): caught when it
//!    does not agree.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use align::{Alignment, FrameRef, Method, Search};

/// Seconds of the later window (compare.rs `PROBE_S`).
const PROBE_S: f64 = 3.0;
/// Search around the predicted offset (compare.rs `TOLERANCE_S`).
const TOLERANCE_S: f64 = 0.5;
/// compare.rs `OFFSET_SLACK_MS`.
const SLACK_MS: f64 = 40.0;
/// alignments.rs `MIN_CONFIDENCE`.
const MIN_CONFIDENCE: f64 = 0.5;
/// The job's default `SILENCE_DBFS`.
const SILENCE_DBFS: f64 = -50.0;
/// `--periodicity`: test each disagreement's later window against itself.
static PERIODICITY: AtomicBool = AtomicBool::new(false);
/// A window is periodic when it correlates with itself this well ≥ 20 ms away.
const PERIODIC_SELF: f64 = 0.9;
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
    /// Silences of `a` and `b` ([`silences`]).
    sa: Vec<(f64, f64)>,
    sb: Vec<(f64, f64)>,
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

/// What the job makes of one checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    Agrees,
    Disagrees,
    OneSilent,
    BothSilent,
}

struct Checked {
    look: Look,
    /// A disagreement whose later window repeats itself (`--periodicity`).
    periodic: bool,
    found: Option<Alignment>,
    /// The true offset there (if the two hold the same recording), ms.
    truth_ms: Option<f64>,
    took: Duration,
}

/// Spans of silence of a whole file as the job's check sees them (100-ms windows below
/// −50 dBFS, at least 0.5 s long), seconds from its first audio frame.
fn silences(bytes: &[u8]) -> Vec<(f64, f64)> {
    let report = deadair::detect(
        bytes,
        deadair::Threshold {
            min_seconds: 0.5,
            dbfs: SILENCE_DBFS,
        },
    );
    report.spans.iter().map(|s| (s.start_s, s.end_s)).collect()
}

/// compare.rs `silent` on the window `from..to` of a file: silent for at least 80 % of it,
/// counting the file's silences clipped to the window that still last 0.5 s. (The job runs
/// `deadair` on the window's bytes; the file's silences are found once here, which differs
/// only in the window's first frame or two, decoded without their bit reservoir.)
fn silent(spans: &[(f64, f64)], from: f64, to: f64) -> bool {
    let silent: f64 = spans
        .iter()
        .map(|&(s, e)| e.min(to) - s.max(from))
        .filter(|&d| d >= 0.5)
        .sum();
    silent >= 0.8 * (to - from)
}

/// compare.rs `checkpoint`: `file`'s window around `c`, `with`'s from `c - offset`.
#[allow(clippy::too_many_arguments)]
fn checkpoint(
    file: (&[u8], &[FrameRef], &[(f64, f64)]),
    with: (&[u8], &[FrameRef], &[(f64, f64)]),
    frame_s: f64,
    c: f64,
    offset: f64,
    true_offset: Option<f64>,
) -> Checked {
    let (a, a_start, a_end) = window(
        file.0,
        file.1,
        frame_s,
        c - TOLERANCE_S,
        c + PROBE_S + TOLERANCE_S,
    )
    .expect("a window");
    let (b, b_start, b_end) =
        window(with.0, with.1, frame_s, c - offset, c - offset + PROBE_S).expect("b window");
    let expected_s = b_start + offset - a_start;
    let search = Search {
        expected_offset_s: Some(expected_s),
        tolerance_s: TOLERANCE_S,
        probe_s: PROBE_S * 0.8,
        ..Search::default()
    };
    let t = Instant::now();
    let found = align::align(a, b, &search);
    let took = t.elapsed();
    let agrees = found.is_some_and(|f| {
        f.confidence >= MIN_CONFIDENCE && (f.offset_ms - expected_s * 1000.0).abs() <= SLACK_MS
    });
    if std::env::var_os("FA_DEBUG").is_some() {
        if let Some(f) = found {
            eprintln!(
                "c {c:.3} offset {offset:.3} expected {:.1} found {:.1} conf {:.2} peak {:.4} second {:.4} {:?} truth {:?}",
                expected_s * 1000.0,
                f.offset_ms,
                f.confidence,
                f.peak,
                f.second_peak,
                f.method,
                true_offset.map(|o| (b_start + o - a_start) * 1000.0)
            );
        }
    }
    let look = if agrees {
        Look::Agrees
    } else {
        match (
            silent(file.2, a_start, a_end),
            silent(with.2, b_start, b_end),
        ) {
            (true, true) => Look::BothSilent,
            (false, false) => Look::Disagrees,
            _ => Look::OneSilent,
        }
    };
    // The proposed rule: a window whose content correlates with itself (≥ 20 ms away, within
    // the search's reach) as well as PERIODIC_SELF cannot disagree.
    let periodic = look == Look::Disagrees
        && PERIODICITY.load(Ordering::Relaxed)
        && align::measure_audio(
            b,
            b,
            &Search {
                expected_offset_s: Some(0.0),
                ..search
            },
        )
        .is_some_and(|m| m.second_peak >= PERIODIC_SELF);
    Checked {
        look,
        periodic,
        found,
        truth_ms: true_offset.map(|o| (b_start + o - a_start) * 1000.0),
        took,
    }
}

#[derive(Default)]
struct Tally {
    n: usize,
    agrees: usize,
    none: usize,
    /// A clear alignment with confidence ≥ 0.5, wherever it was found.
    confident: usize,
    disagrees: usize,
    /// Disagreements whose later window is periodic.
    periodic: usize,
    one_silent: usize,
    both_silent: usize,
    /// Clear alignments within 40 ms of the truth: their confidences.
    at_truth: Vec<f64>,
    /// Largest |found − truth| among those, ms.
    max_error_ms: f64,
    max_conf: f64,
    /// Clear alignments by method: copy, plain, whitened.
    methods: [usize; 3],
    /// Agreements by method.
    agree_methods: [usize; 3],
    took: Duration,
}

impl Tally {
    fn add(&mut self, c: &Checked) {
        self.n += 1;
        self.took += c.took;
        match c.look {
            Look::Agrees => self.agrees += 1,
            Look::Disagrees => {
                self.disagrees += 1;
                self.periodic += usize::from(c.periodic);
            }
            Look::OneSilent => self.one_silent += 1,
            Look::BothSilent => self.both_silent += 1,
        }
        match c.found {
            None => self.none += 1,
            Some(f) => {
                let m = match f.method {
                    Method::Copy => 0,
                    Method::Audio => 1,
                    Method::AudioWhitened => 2,
                };
                self.methods[m] += 1;
                if c.look == Look::Agrees {
                    self.agree_methods[m] += 1;
                }
                self.max_conf = self.max_conf.max(f.confidence);
                if f.confidence >= MIN_CONFIDENCE {
                    self.confident += 1;
                }
                if let Some(t) = c.truth_ms {
                    if (f.offset_ms - t).abs() <= SLACK_MS {
                        self.at_truth.push(f.confidence);
                        self.max_error_ms = self.max_error_ms.max((f.offset_ms - t).abs());
                    }
                }
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
    kind: String,
    common: bool,
    format: &'static str,
    different: Tally,
    truth: Tally,
    misplaced: Tally,
    /// Misplaced probes whose clear alignment was at the true offset.
    misplaced_found_truth: usize,
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
                sa: silences(&a),
                sb: silences(&b),
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
        kind: kind.name.to_owned(),
        common: kind.common,
        format: format.name,
        different: Tally::default(),
        truth: Tally::default(),
        misplaced: Tally::default(),
        misplaced_found_truth: 0,
    };
    // Where a window of A may start, and one of B (both whole inside the files).
    let a_range = |e: &Encoded| (TOLERANCE_S + 0.1, e.len_a() - PROBE_S - TOLERANCE_S - 0.1);
    let b_range = |e: &Encoded| (0.1, e.len_b() - PROBE_S - 0.1);
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
            (&ea.a, &ea.fa, &ea.sa),
            (&eb.b, &eb.fb, &eb.sb),
            ea.frame_s,
            c,
            c - cb,
            None,
        );
        cell.different.add(&checked);
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
            (&e.a, &e.fa, &e.sa),
            (&e.b, &e.fb, &e.sb),
            e.frame_s,
            c,
            e.off,
            Some(e.off),
        );
        cell.truth.add(&checked);
        let delta = rng.range(0.1, 0.5) * if rng.f() < 0.5 { -1.0 } else { 1.0 };
        let c = rng.range(lo, hi);
        let checked = checkpoint(
            (&e.a, &e.fa, &e.sa),
            (&e.b, &e.fb, &e.sb),
            e.frame_s,
            c,
            e.off + delta,
            Some(e.off),
        );
        if checked.look != Look::Agrees && checked.truth_ms.is_some() {
            if let (Some(f), Some(t)) = (checked.found, checked.truth_ms) {
                if (f.offset_ms - t).abs() <= SLACK_MS {
                    cell.misplaced_found_truth += 1;
                }
            }
        }
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
    PERIODICITY.store(args.iter().any(|a| a == "--periodicity"), Ordering::Relaxed);
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
            eprintln!(
                "{} / {}: {:.1?} ({} probes; align {:.1} ms mean)",
                kind.key,
                format.name,
                t.elapsed(),
                cell.different.n + cell.truth.n + cell.misplaced.n,
                (cell.different.took + cell.truth.took + cell.misplaced.took).as_secs_f64()
                    * 1000.0
                    / (cell.different.n + cell.truth.n + cell.misplaced.n).max(1) as f64
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

fn print_tables(cells: &mut [Cell]) {
    println!("\n### Different recordings, true and misplaced alignments\n");
    println!(
        "| kind | format | different: probes | accepted (rate, 95 % upper) | clear / conf ≥ 0.5 / None | \
         true: probes | accepted | None | confidence p5 / p50 / p95 | misplaced: caught | \
         found at the truth |"
    );
    println!("|---|---|---:|---|---|---:|---:|---:|---|---:|---:|");
    for c in cells.iter_mut() {
        let d = &c.different;
        let t = &mut c.truth;
        let m = &c.misplaced;
        let pct = |k: usize, n: usize| 100.0 * k as f64 / n.max(1) as f64;
        let accepted = format!(
            "{}{} ({:.2} %, ≤ {:.2} %)",
            d.agrees,
            if c.common { " (common)" } else { "" },
            pct(d.agrees, d.n),
            100.0 * upper95(d.agrees, d.n)
        );
        let clear = d.n - d.none;
        let (p5, p50, p95) = (
            percentile(&mut t.at_truth, 0.05),
            percentile(&mut t.at_truth, 0.5),
            percentile(&mut t.at_truth, 0.95),
        );
        println!(
            "| {} | {} | {} | {accepted} | {clear} / {} / {} | {} | {:.1} % | {:.1} % | {} | {:.1} % | {} |",
            c.kind,
            c.format,
            d.n,
            d.confident,
            d.none,
            t.n,
            pct(t.agrees, t.n),
            pct(t.none, t.n),
            if p50.is_nan() {
                "—".to_owned()
            } else {
                format!("{p5:.2} / {p50:.2} / {p95:.2}")
            },
            pct(m.n - m.agrees, m.n),
            c.misplaced_found_truth,
        );
    }
    println!("\n### What the job makes of a checkpoint that does not agree (compare.rs `Look`)\n");
    println!(
        "| kind | format | different: disagrees / one silent / both silent | different: clear by copy / plain / whitened (accepted) | different: max confidence | true: disagrees / one silent / both silent | true: clear by copy / plain / whitened | max offset error at the truth ms | align ms (mean, wall) |"
    );
    println!("|---|---|---|---|---:|---|---|---:|---:|");
    let by = |t: &Tally, accepted: bool| {
        let m = t.methods;
        let a = t.agree_methods;
        if accepted {
            format!(
                "{} / {} / {} ({} / {} / {})",
                m[0], m[1], m[2], a[0], a[1], a[2]
            )
        } else {
            format!("{} / {} / {}", m[0], m[1], m[2])
        }
    };
    let dis = |t: &Tally| {
        if PERIODICITY.load(Ordering::Relaxed) {
            format!("{} ({} periodic)", t.disagrees, t.periodic)
        } else {
            t.disagrees.to_string()
        }
    };
    for c in cells.iter() {
        let (d, t, m) = (&c.different, &c.truth, &c.misplaced);
        let n = d.n + t.n + m.n;
        println!(
            "| {} | {} | {} / {} / {} | {} | {:.2} | {} / {} / {} | {} | {:.2} | {:.1} |",
            c.kind,
            c.format,
            dis(d),
            d.one_silent,
            d.both_silent,
            by(d, true),
            d.max_conf,
            dis(t),
            t.one_silent,
            t.both_silent,
            by(t, false),
            t.max_error_ms,
            (d.took + t.took + m.took).as_secs_f64() * 1000.0 / n.max(1) as f64
        );
    }
}
