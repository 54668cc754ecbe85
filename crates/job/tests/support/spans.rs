//! Interval arithmetic on the broadcast time axis (seconds): spans are `(start, end)`.
#![allow(dead_code)]

/// Sorted and disjoint: what the other functions expect of their `merged` arguments.
pub fn merge(spans: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut v: Vec<(f64, f64)> = spans.iter().copied().filter(|(a, b)| b > a).collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Seconds held by merged spans.
pub fn measure(merged: &[(f64, f64)]) -> f64 {
    merged.iter().map(|(a, b)| b - a).sum()
}

/// Seconds two lists of merged spans hold in common.
pub fn overlap(a: &[(f64, f64)], b: &[(f64, f64)]) -> f64 {
    let mut total = 0.0;
    for (a0, a1) in a {
        for (b0, b1) in b {
            total += (a1.min(*b1) - a0.max(*b0)).max(0.0);
        }
    }
    total
}

/// Parts of `lo..hi` not in `merged`.
pub fn gaps_in(merged: &[(f64, f64)], lo: f64, hi: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut at = lo;
    for &(a, b) in merged {
        if b <= at {
            continue;
        }
        if a >= hi {
            break;
        }
        if a > at {
            out.push((at, a.min(hi)));
        }
        at = at.max(b);
    }
    if at < hi {
        out.push((at, hi));
    }
    out
}
