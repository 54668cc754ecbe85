//! Cross-correlation of real signals, directly or by FFT (overlap-save), with a small radix-2
//! FFT: the sizes here (2^14–2^18 points) take milliseconds, not worth a dependency.

use std::f64::consts::PI;

#[derive(Debug, Clone, Copy, Default)]
struct C {
    re: f64,
    im: f64,
}

impl C {
    fn mul(self, o: C) -> C {
        C {
            re: self.re * o.re - self.im * o.im,
            im: self.re * o.im + self.im * o.re,
        }
    }
    fn conj(self) -> C {
        C {
            re: self.re,
            im: -self.im,
        }
    }
}

/// A radix-2 FFT of one power-of-two size, with its twiddle factors: stage `h` (butterflies
/// `h` apart) uses `twiddles[h..2h]`, contiguous.
struct Fft {
    n: usize,
    twiddles: Vec<C>,
}

impl Fft {
    fn new(n: usize) -> Fft {
        debug_assert!(n.is_power_of_two());
        let mut twiddles = vec![C::default(); n.max(2)];
        let mut h = 1;
        while h < n {
            for k in 0..h {
                let a = -PI * k as f64 / h as f64;
                twiddles[h + k] = C {
                    re: a.cos(),
                    im: a.sin(),
                };
            }
            h *= 2;
        }
        Fft { n, twiddles }
    }

    /// In place; `inverse` without the 1/n scaling.
    fn run(&self, buf: &mut [C], inverse: bool) {
        let n = self.n;
        debug_assert_eq!(buf.len(), n);
        let bits = n.trailing_zeros();
        if bits == 0 {
            return;
        }
        for i in 0..n {
            let j = i.reverse_bits() >> (usize::BITS - bits);
            if j > i {
                buf.swap(i, j);
            }
        }
        let mut h = 1;
        while h < n {
            let tw = &self.twiddles[h..2 * h];
            for block in buf.chunks_exact_mut(2 * h) {
                let (lo, hi) = block.split_at_mut(h);
                for ((x, y), w) in lo.iter_mut().zip(hi.iter_mut()).zip(tw) {
                    let w = if inverse { w.conj() } else { *w };
                    let t = y.mul(w);
                    *y = C {
                        re: x.re - t.re,
                        im: x.im - t.im,
                    };
                    *x = C {
                        re: x.re + t.re,
                        im: x.im + t.im,
                    };
                }
            }
            h *= 2;
        }
    }
}

/// `c[k] = Σ_i p[i] · x[k + i]` for every `k` in `0..=x.len() - p.len()` (empty when `x` is
/// shorter than `p` or `p` is empty).
///
/// By FFT (overlap-save) unless small. Real inputs are packed two to a complex transform:
/// the first block with the probe (their spectra separate by conjugate symmetry), later blocks
/// in pairs (correlation with a real probe is linear, so `(x1 + i x2) ⋆ p = x1 ⋆ p + i x2 ⋆ p`).
pub(crate) fn correlate(p: &[f64], x: &[f64]) -> Vec<f64> {
    if p.is_empty() || x.len() < p.len() {
        return Vec::new();
    }
    let lags = x.len() - p.len() + 1;
    if p.len().saturating_mul(lags) <= 1 << 16 {
        return (0..lags)
            .map(|k| p.iter().zip(&x[k..]).map(|(a, b)| a * b).sum())
            .collect();
    }
    let n = if x.len() <= 8 * p.len() {
        x.len().next_power_of_two()
    } else {
        (4 * p.len()).next_power_of_two()
    };
    let fft = Fft::new(n);
    let step = n - p.len() + 1;
    let scale = 1.0 / n as f64;
    let real = |start: usize, i: usize| x.get(start + i).copied().unwrap_or(0.0);
    let mut out = vec![0.0; lags];
    let mut buf = vec![C::default(); n];

    // First block, packed with the probe.
    for (i, d) in buf.iter_mut().enumerate() {
        *d = C {
            re: real(0, i),
            im: p.get(i).copied().unwrap_or(0.0),
        };
    }
    fft.run(&mut buf, false);
    let z = buf.clone();
    let mut pf = vec![C::default(); n];
    for k in 0..n {
        let zk = z[k];
        let zc = z[(n - k) % n].conj();
        let xk = C {
            re: (zk.re + zc.re) / 2.0,
            im: (zk.im + zc.im) / 2.0,
        };
        // (zk - zc) / 2i
        pf[k] = C {
            re: (zk.im - zc.im) / 2.0,
            im: -(zk.re - zc.re) / 2.0,
        };
        buf[k] = xk.mul(pf[k].conj());
    }
    fft.run(&mut buf, true);
    let take = step.min(lags);
    for (o, c) in out[..take].iter_mut().zip(&buf) {
        *o = c.re * scale;
    }

    // Later blocks, two at a time.
    let mut start = step;
    while start < lags {
        let second = start + step;
        for (i, d) in buf.iter_mut().enumerate() {
            *d = C {
                re: real(start, i),
                im: if second < lags { real(second, i) } else { 0.0 },
            };
        }
        fft.run(&mut buf, false);
        for (d, q) in buf.iter_mut().zip(&pf) {
            *d = d.mul(q.conj());
        }
        fft.run(&mut buf, true);
        for (j, c) in buf[..step].iter().enumerate() {
            if let Some(o) = out.get_mut(start + j) {
                *o = c.re * scale;
            }
            if second < lags {
                if let Some(o) = out.get_mut(second + j) {
                    *o = c.im * scale;
                }
            }
        }
        start = second + step;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fft_matches_direct_correlation() {
        let mut s = 7u64;
        let mut rnd = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) as f64 / (1u64 << 31) as f64 - 0.5
        };
        let x: Vec<f64> = (0..40_000).map(|_| rnd()).collect();
        let p: Vec<f64> = x[12_345..12_345 + 3000].to_vec();
        let c = correlate(&p, &x);
        assert_eq!(c.len(), 40_000 - 3000 + 1);
        for k in [0, 1, 999, 12_345, 20_000, c.len() - 1] {
            let direct: f64 = p.iter().zip(&x[k..]).map(|(a, b)| a * b).sum();
            assert!((c[k] - direct).abs() < 1e-6, "{k}: {} vs {direct}", c[k]);
        }
        let best = (0..c.len()).max_by(|&i, &j| c[i].total_cmp(&c[j])).unwrap();
        assert_eq!(best, 12_345);
        // Many blocks (x much longer than 8 probes), odd block count.
        let p2 = x[30_001..30_301].to_vec();
        let c2 = correlate(&p2, &x);
        for k in [0, 5, 1200, 1201, 2400, 30_001, c2.len() - 1] {
            let direct: f64 = p2.iter().zip(&x[k..]).map(|(a, b)| a * b).sum();
            assert!((c2[k] - direct).abs() < 1e-6, "{k}: {} vs {direct}", c2[k]);
        }
        assert!(correlate(&p, &x[..10]).is_empty());
        assert!(correlate(&[], &x).is_empty());
    }
}
