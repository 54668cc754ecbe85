use super::read::{index, write, CHUNK};
use super::*;
use archive_model::joins::{joins, Placed};
use store::memory::InMemoryArchive;
use store::Archive as _;

use mp3frame::info_tag::{tag_frame, Gapless, Toc};
use mp3frame::FrameHeader;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn t0() -> DateTime<Utc> {
    t("2026-11-26T10:00:00Z")
}

/// A 10-s segment of 400 frames (25 ms each) starting `after_ms` after 10:00.
fn placed(file: &str, after_ms: i64) -> Placed {
    Placed {
        file: file.into(),
        blob: format!("26-11-2026/{file}"),
        pod: file[..1].into(),
        day: t0().date_naive(),
        start: t0() + TimeDelta::milliseconds(after_ms),
        duration_us: 10_000_000,
        frames: Some(400),
        frame_exact: None,
    }
}

fn at(s: f64) -> DateTime<Utc> {
    t0() + micros(s)
}

#[test]
fn a_gap_between_pieces_is_reported_beyond_the_manifests_threshold() {
    // a: 0–10 s; b: 11–21 s (1 s apart: name noise, no gap); c: 25–35 s (a 4-s gap).
    let joined = joins(vec![
        placed("a.mp3", 0),
        placed("b.mp3", 11_000),
        placed("c.mp3", 25_000),
    ]);
    let p = plan(&joined, at(5.0), at(30.0), &[]).unwrap();
    assert_eq!(p.pieces.len(), 3);
    assert_eq!(
        p.gaps,
        [ExportGap {
            start: at(21.0),
            end: at(25.0)
        }]
    );
    assert_eq!(p.gaps[0].seconds(), 4.0);
    let text = describe_gaps(&p.gaps, chrono_tz::Tz::UTC);
    assert!(
        text.contains("10:00:21.000Z .. 2026-11-26T10:00:25.000Z") && text.contains("4.000 s"),
        "{text}"
    );
}

#[test]
fn uncovered_edges_of_the_range_are_gaps() {
    let joined = joins(vec![placed("a.mp3", 2_000)]);
    // Starts 2 s before the archive, ends 3 s after it.
    let p = plan(&joined, at(0.0), at(15.0), &[]).unwrap();
    assert_eq!(
        p.gaps,
        [
            ExportGap {
                start: at(0.0),
                end: at(2.0)
            },
            ExportGap {
                start: at(12.0),
                end: at(15.0)
            }
        ]
    );
    assert_eq!((p.head_s, p.tail_s), (0.0, 0.0));
    // Within a frame of the edges: no gap.
    let p = plan(&joined, at(1.99), at(12.01), &[]).unwrap();
    assert!(p.gaps.is_empty(), "{:?}", p.gaps);
}

#[test]
fn a_range_with_nothing_archived_or_backwards_is_an_error() {
    let joined = joins(vec![placed("a.mp3", 0)]);
    let e = plan(&joined, at(20.0), at(30.0), &[]).unwrap_err();
    assert!(e.contains("nothing is archived"), "{e}");
    let e = plan(&joined, at(20.0), at(30.0), &["x.mp3".into()]).unwrap_err();
    assert!(e.contains("1 segments of the original job"), "{e}");
    let e = plan(&joined, at(5.0), at(5.0), &[]).unwrap_err();
    assert!(e.contains("is not after"), "{e}");
}

#[test]
fn the_cut_is_frame_exact_and_the_rest_is_trimmed_by_the_header() {
    let joined = joins(vec![placed("a.mp3", 0)]);
    // 2.010 s is 10 ms into frame 80; 4.985 s is 15 ms before the end of frame 199.
    let p = plan(&joined, at(2.010), at(4.985), &[]).unwrap();
    let a = &p.pieces[0];
    assert_eq!((a.first_frame, a.end_frame), (80, 200));
    assert_eq!((a.start, a.end()), (at(2.0), at(5.0)));
    assert!((p.head_s - 0.010).abs() < 1e-9 && (p.tail_s - 0.015).abs() < 1e-9);
    // On frame boundaries nothing is trimmed and no extra frame is taken.
    let p = plan(&joined, at(2.0), at(5.0), &[]).unwrap();
    assert_eq!((p.pieces[0].first_frame, p.pieces[0].end_frame), (80, 200));
    assert_eq!((p.head_s, p.tail_s), (0.0, 0.0));
}

// MPEG-2 Layer III, 32 kbps, 22.05 kHz, mono: 104-byte frames of 576 samples, as recorded.
const WORD: [u8; 4] = [0xFF, 0xF3, 0x40, 0xC4];
const LEN: usize = 104;

/// A blob as ffmpeg writes one: an ID3v2 tag, an Info header frame, then `frames` frames whose
/// bodies carry their index.
fn blob(frames: usize) -> Vec<u8> {
    blob_tagged(frames, 20)
}

/// [`blob`] with an ID3v2 tag of `tag` bytes after its header (cover art can be megabytes).
fn blob_tagged(frames: usize, tag: usize) -> Vec<u8> {
    let mut b = b"ID3\x04\x00\x00".to_vec();
    // The size in four 7-bit bytes ("syncsafe").
    b.extend((0..4).rev().map(|i| ((tag >> (7 * i)) & 0x7F) as u8));
    b.resize(10 + tag, 0);
    let g = Gapless {
        frames: frames as u32,
        audio_bytes: (frames * LEN) as u32,
        encoder_delay: 0,
        padding: 0,
        vbr: false,
    };
    b.extend_from_slice(&tag_frame(WORD, &g, &Toc::linear()).unwrap());
    for i in 0..frames {
        let mut f = vec![0u8; LEN];
        f[..4].copy_from_slice(&WORD);
        f[4] = 150;
        f[20..28].copy_from_slice(&(i as u64).to_be_bytes());
        b.extend_from_slice(&f);
    }
    b
}

fn frame_no(frame: &[u8]) -> u64 {
    u64::from_be_bytes(frame[20..28].try_into().unwrap())
}

#[tokio::test]
async fn frames_are_copied_exactly_with_warm_up_and_the_header_declares_the_cut() {
    let archive = InMemoryArchive::new("s");
    // Over a chunk, so frames straddle the reads.
    let big = 12_000;
    assert!((big * LEN) as u64 > CHUNK);
    for (name, frames) in [("26-11-2026/a.mp3", big), ("26-11-2026/b.mp3", 400)] {
        archive
            .put_small(name, blob(frames), "audio/mpeg")
            .await
            .unwrap();
    }
    let frame_s: f64 = 576.0 / 22_050.0;
    let mk = |file: &str, frames: u64, start: DateTime<Utc>| Placed {
        duration_us: (frames as f64 * frame_s * 1e6).round() as i64,
        frames: Some(frames),
        frame_exact: None,
        start,
        ..placed(file, 0)
    };
    let a_len = micros(big as f64 * frame_s);
    let joined = joins(vec![
        mk("a.mp3", big as u64, t0()),
        mk("b.mp3", 400, t0() + a_len),
    ]);
    // From 5 ms into frame 11,000 of a to 100 frames into b less 12 ms.
    let from = t0() + micros(11_000.0 * frame_s + 0.005);
    let to = t0() + a_len + micros(100.0 * frame_s - 0.012);
    let p = plan(&joined, from, to, &[]).unwrap();
    let spans: Vec<_> = p
        .pieces
        .iter()
        .map(|p| (p.first_frame, p.end_frame))
        .collect();
    assert_eq!(spans, [(11_000, big as u64), (0, 100)]);

    let indexed = index(&archive, &p).await.unwrap();
    // As many frames before the first as the delay field can declare: (4095 + 529 − 110) ÷ 576.
    assert_eq!((indexed[0].warm_up, indexed[0].frames), (7, 1_007));
    let mut out = Vec::new();
    let w = write(&archive, &p, &indexed, &mut out).await.unwrap();
    assert_eq!((w.frames, w.bytes as usize), (1_107, out.len()));

    let tag = FrameHeader::parse(&out).unwrap();
    let (head, frames) = out.split_at(tag.len as usize);
    assert!(mp3frame::info_tag::is_tag_frame(head));
    let numbers: Vec<u64> = frames.chunks(LEN).map(frame_no).collect();
    let want: Vec<u64> = (10_993..big as u64).chain(0..100).collect();
    assert_eq!(numbers, want, "frames in order, none twice, none missing");
    assert!(frames.chunks(LEN).all(|f| f[..4] == WORD && f.len() == LEN));
    // Delay: 7 warm-up frames and 5 ms (110 samples), less the decoder's 529. Padding: 12 ms
    // (265 samples) plus 529.
    assert_eq!(
        (w.encoder_delay, w.padding, w.late_samples),
        (7 * 576 + 110 - 529, 265 + 529, 0)
    );
    assert_eq!(
        w.samples,
        1_107 * 576 - u64::from(w.encoder_delay) - u64::from(w.padding)
    );

    // A row claiming more frames than its blob holds is an error naming the blob.
    let joined = joins(vec![mk("b.mp3", 500, t0())]);
    let p = plan(&joined, t0(), t0() + micros(450.0 * frame_s), &[]).unwrap();
    let e = index(&archive, &p).await.unwrap_err();
    assert!(
        e.contains("26-11-2026/b.mp3") && e.contains("after 400 audio frames"),
        "{e}"
    );
}

#[tokio::test]
async fn a_range_from_the_first_frame_starts_late_by_the_decoders_delay() {
    let archive = InMemoryArchive::new("s");
    archive
        .put_small("26-11-2026/b.mp3", blob(400), "audio/mpeg")
        .await
        .unwrap();
    let frame_s: f64 = 576.0 / 22_050.0;
    let joined = joins(vec![Placed {
        duration_us: (400.0 * frame_s * 1e6).round() as i64,
        ..placed("b.mp3", 0)
    }]);
    let p = plan(&joined, t0(), t0() + micros(10.0 * frame_s), &[]).unwrap();
    let indexed = index(&archive, &p).await.unwrap();
    let mut out = Vec::new();
    let w = write(&archive, &p, &indexed, &mut out).await.unwrap();
    // No frame before the first to skip: a gapless decoder drops its own 529 samples anyway.
    assert_eq!(
        (w.warm_up_frames, w.encoder_delay, w.late_samples),
        (0, 0, 529)
    );
}

#[tokio::test]
async fn an_id3v2_tag_longer_than_a_chunk_is_stepped_over() {
    let archive = InMemoryArchive::new("s");
    let tag = (CHUNK + CHUNK / 2) as usize;
    let bytes = blob_tagged(300, tag);
    archive
        .put_small("26-11-2026/b.mp3", bytes.clone(), "audio/mpeg")
        .await
        .unwrap();
    let frame_s: f64 = 576.0 / 22_050.0;
    let joined = joins(vec![Placed {
        duration_us: (300.0 * frame_s * 1e6).round() as i64,
        frames: Some(300),
        frame_exact: None,
        ..placed("b.mp3", 0)
    }]);
    let p = plan(
        &joined,
        t0() + micros(200.0 * frame_s),
        t0() + micros(300.0 * frame_s),
        &[],
    )
    .unwrap();
    let indexed = index(&archive, &p).await.unwrap();
    let tag_frame_len = FrameHeader::parse(&bytes[10 + tag..]).unwrap().len as u64;
    let first_audio = (10 + tag) as u64 + tag_frame_len;
    // From frame 200, less 8 warm-up frames: (4095 + 529) ÷ 576, nothing of frame 200 cut.
    assert_eq!(indexed[0].start, first_audio + 192 * LEN as u64);
    assert_eq!(indexed[0].end, bytes.len() as u64);
}

/// `--pod`: where both replicas' recordings are archived (they recorded different audio),
/// the export of one pod holds only its own recordings, joined among themselves, and its
/// own gaps; without it, the day's playback (one of them at each moment).
#[tokio::test]
async fn one_replicas_recordings_are_exported_with_its_own_gaps() {
    let archive = InMemoryArchive::new("hope");
    let settings = crate::testkit::settings(std::path::Path::new("/x"));
    let row = |pod: &str, after_s: i64| {
        let start = t0() + TimeDelta::seconds(after_s);
        store::SegmentRow {
            row_key: archive_model::rows::row_key(start, pod),
            file_name: format!("{pod}_{}.mp3", start.format("%Y%m%dT%H%M%S")),
            pod: Some(pod.into()),
            audio_start_ms: Some(start.timestamp_millis()),
            duration_us: Some(10_000_000),
            frames: Some(400),
            ..Default::default()
        }
    };
    // pod-a recorded 0-20 s and 30-40 s; pod-b 5-35 s.
    for r in [row("pod-a", 0), row("pod-a", 10), row("pod-a", 30)] {
        archive.insert_row(&r).await.unwrap();
    }
    for r in [row("pod-b", 5), row("pod-b", 15), row("pod-b", 25)] {
        archive.insert_row(&r).await.unwrap();
    }
    let (from, to) = (at(0.0), at(40.0));
    let all = plan_from_rows(&archive, &settings.read_side(), from, to, None)
        .await
        .unwrap();
    assert!(all.gaps.is_empty(), "{:?}", all.gaps);
    let a = plan_from_rows(&archive, &settings.read_side(), from, to, Some("pod-a"))
        .await
        .unwrap();
    assert!(a.pieces.iter().all(|p| p.pod == "pod-a"), "{:?}", a.pieces);
    assert_eq!(a.pieces.len(), 3);
    assert_eq!(
        a.gaps,
        [ExportGap {
            start: at(20.0),
            end: at(30.0)
        }]
    );
    let b = plan_from_rows(&archive, &settings.read_side(), from, to, Some("pod-b"))
        .await
        .unwrap();
    assert!(b.pieces.iter().all(|p| p.pod == "pod-b"));
    assert_eq!(b.gaps.len(), 2, "before 5 s and after 35 s: {:?}", b.gaps);
    assert!(
        plan_from_rows(&archive, &settings.read_side(), from, to, Some("pod-c"))
            .await
            .is_err()
    );
}
