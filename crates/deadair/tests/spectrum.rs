//! The energy bound of `spectrum.rs` against symphonia's decoded samples, and its Huffman
//! reading against each granule's `part2_3_length`.

use std::path::{Path, PathBuf};
use std::process::Command;

use mp3frame::FrameHeader;
use symphonia::core::audio::{AudioBufferRef, Signal};
use symphonia::core::codecs::{CodecParameters, Decoder, DecoderOptions, CODEC_TYPE_MP3};
use symphonia::core::formats::Packet;
use symphonia::default::codecs::MpaDecoder;

use deadair::internals::{is_header_frame, Spectrum, Splitter};

/// The audio frames of a whole file.
fn frames(data: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
    let mut out = Vec::new();
    let mut s = Splitter::new();
    let mut push = |h: &FrameHeader, f: &[u8]| out.push((*h, f.to_vec()));
    s.feed(data, &mut push);
    s.finish(&mut push);
    if out.first().is_some_and(|(h, f)| is_header_frame(h, f)) {
        out.remove(0);
    }
    out
}

/// Each frame's decoded mean square per sample and channel.
fn decoded(frames: &[(FrameHeader, Vec<u8>)]) -> Vec<f64> {
    let h = frames[0].0;
    let mut params = CodecParameters::new();
    params
        .for_codec(CODEC_TYPE_MP3)
        .with_sample_rate(h.sample_rate);
    let mut dec = MpaDecoder::try_new(&params, &DecoderOptions::default()).expect("a decoder");
    frames
        .iter()
        .map(|(h, f)| {
            let packet = Packet::new_from_slice(0, 0, u64::from(h.samples()), f);
            let Ok(AudioBufferRef::F32(buf)) = dec.decode(&packet) else {
                return f64::NAN;
            };
            let nch = buf.spec().channels.count();
            let mut sum = 0.0;
            for c in 0..nch {
                sum += buf
                    .chan(c)
                    .iter()
                    .map(|&x| f64::from(x).powi(2))
                    .sum::<f64>();
            }
            sum / (nch * buf.frames()).max(1) as f64
        })
        .collect()
}

/// Each frame's bound read whole, and where each granule's reading stopped.
fn bounds(frames: &[(FrameHeader, Vec<u8>)]) -> (Vec<f64>, Vec<(usize, usize)>) {
    let mut s = Spectrum::new();
    let e = frames
        .iter()
        .map(|(h, f)| s.energy(h, f, f64::INFINITY).unwrap_or(f64::NAN))
        .collect();
    (e, s.stops)
}

/// `seconds` of a lavfi source, encoded by LAME.
fn encode(dir: &Path, name: &str, src: &str, rate: &str, ac: &str, ar: &str) -> PathBuf {
    let out = dir.join(format!("{name}-{rate}.mp3"));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", src])
        .args([
            "-t",
            "20",
            "-ac",
            ac,
            "-ar",
            ar,
            "-c:a",
            "libmp3lame",
            "-b:a",
            rate,
        ])
        .arg(&out)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "ffmpeg made no {}", out.display());
    out
}

fn steady_signals(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for (name, src) in [
        ("sine", "aevalsrc=0.5*sin(2*PI*440*t):s=44100"),
        ("pink", "anoisesrc=color=pink:amplitude=0.1:r=44100:seed=3"),
        (
            "white",
            "anoisesrc=color=white:amplitude=0.01:r=44100:seed=4",
        ),
    ] {
        files.push(encode(dir, name, src, "128k", "2", "44100"));
        files.push(encode(dir, name, src, "32k", "1", "22050"));
    }
    files
}

#[test]
fn parseval_holds_on_steady_signals() {
    let dir = std::env::temp_dir().join(format!("deadair-parseval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("make a temporary folder");
    for path in steady_signals(&dir) {
        let data = std::fs::read(&path).expect("read");
        let f = frames(&data);
        let d = decoded(&f);
        let (e, _) = bounds(&f);
        // Skip the first frames (the decoder's start) and compare the totals.
        let dsum: f64 = d[10..].iter().sum();
        let esum: f64 = e[10..].iter().sum();
        let at = path.display();
        let mut worst = f64::INFINITY;
        for k in 10..f.len() - 1 {
            // The decoder's delay (529 samples) spreads a frame over two outputs.
            let out = (d[k] + d[k + 1]) / 2.0;
            worst = worst.min(out / e[k].max(1e-30));
        }
        let worst_db = 10.0 * worst.log10();
        eprintln!(
            "{at}: decoded/bound {:.4} overall, {worst_db:.2} dB at worst",
            dsum / esum
        );
        // Exact where every value is below 16; values with linbits are taken up to 2 dB
        // low (`pow83`).
        let ratio = dsum / esum;
        assert!((0.99..1.59).contains(&ratio), "{at}: {ratio}");
        assert!(
            worst_db > -3.0,
            "{at}: a frame {worst_db:.2} dB under its bound"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every MP3 under `fixtures/` (one level of folders).
fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut files = Vec::new();
    for dir in std::fs::read_dir(&root).expect("read fixtures/").flatten() {
        for f in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if f.path().extension().is_some_and(|e| e == "mp3") {
                files.push(f.path());
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_granule_ends_where_its_length_says() {
    let dir = std::env::temp_dir().join(format!("deadair-lengths-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("make a temporary folder");
    let mut files = fixtures();
    files.extend(steady_signals(&dir));
    let (mut granules, mut exact) = (0usize, 0usize);
    for path in &files {
        let data = std::fs::read(path).expect("read");
        let (_, stops) = bounds(&frames(&data));
        granules += stops.len();
        exact += stops.iter().filter(|(stop, end)| stop == end).count();
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("{exact} of {granules} granules read to exactly their length");
    assert!(granules > 50_000, "{granules}");
    // A granule read at a file's first frames may reach before the reservoir; none else.
    assert!(granules - exact <= files.len() * 2, "{exact} of {granules}");
}
