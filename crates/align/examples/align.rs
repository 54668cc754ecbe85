//! `cargo run --release -p align --example align -- A.mp3 B.mp3 [EXPECTED_S [TOLERANCE_S]]`:
//! aligns B on A's timeline (copy, then audio) and prints the result and how long it took.

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: align A.mp3 B.mp3 [EXPECTED_OFFSET_S [TOLERANCE_S]]");
        std::process::exit(2);
    }
    let a = std::fs::read(&args[0]).expect("read A");
    let b = std::fs::read(&args[1]).expect("read B");
    let mut search = align::Search::default();
    if let Some(e) = args.get(2) {
        search.expected_offset_s = Some(e.parse().expect("EXPECTED_S"));
    }
    if let Some(t) = args.get(3) {
        search.tolerance_s = t.parse().expect("TOLERANCE_S");
    }
    let t = Instant::now();
    let fa = align::frames(&a);
    let fb = align::frames(&b);
    let t_frames = t.elapsed();
    let t = Instant::now();
    let copy = align::align_copy(&a, &b);
    let t_copy = t.elapsed();
    let t = Instant::now();
    let audio = align::align_audio_with(&a, &b, &search);
    let t_audio = t.elapsed();
    println!("frames: A {} B {} ({t_frames:.2?})", fa.len(), fb.len());
    println!("copy:  {copy:?} ({t_copy:.2?})");
    println!("audio: {audio:?} ({t_audio:.2?})");
    if audio.is_none() {
        let raw = align::measure_audio(&a, &b, &search);
        println!("raw measurement (not clear): {raw:?}");
        if let Some(r) = raw {
            println!("residual ratio {:.2}", r.residual_ratio());
        }
    }
}
