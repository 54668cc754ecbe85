//! The two powers of dequantization (ISO/IEC 11172-3 2.4.3.4.7) the energy bound of
//! [`crate::spectrum`] needs per value and per band, by table and bit arithmetic instead of
//! `powf`: a quantized magnitude's `q^(8/3)` (never above the true value, so sums stay lower
//! bounds) and `2^(k/4)` for the gains.

/// `q^(8/3)`: a quantized magnitude's squared value before gains; exact below 16 (the
/// values without linbits), above it at most 2 dB low (`q^(2/3)` taken at the power of two
/// below `q`), which keeps the sum a lower bound without a cube root per value.
#[inline]
pub(crate) fn pow83(q: u32) -> f64 {
    #[allow(clippy::excessive_precision)]
    const SMALL: [f64; 16] = [
        0.0,
        1.0,
        6.3496042078727974,
        18.720754407467133,
        40.317473596635935,
        73.10044345532164,
        118.86938096020653,
        179.30597979112557,
        256.0,
        350.46664558470013,
        464.15888336127773,
        598.4765806330926,
        754.7735215321619,
        934.362943511729,
        1138.5220037784857,
        1368.4954490040145,
    ];
    /// `2^(2k/3)`.
    #[allow(clippy::excessive_precision)]
    const POW23: [f64; 14] = [
        1.0,
        1.5874010519681994,
        2.5198420997897464,
        4.0,
        6.3496042078727974,
        10.079368399158986,
        16.0,
        25.398416831491197,
        40.317473596635935,
        64.0,
        101.59366732596479,
        161.26989438654374,
        256.0,
        406.3746693038589,
    ];
    match SMALL.get(q as usize) {
        Some(&v) => v,
        None => {
            let log2 = (31 - q.leading_zeros()) as usize;
            let q = f64::from(q);
            q * q * POW23[log2.min(13)]
        }
    }
}

/// `2^(k/4)`.
#[inline]
pub(crate) fn exp2_quarter(k: i32) -> f64 {
    const FRAC: [f64; 4] = [
        1.0,
        1.189_207_115_002_721,
        std::f64::consts::SQRT_2,
        1.681_792_830_507_429,
    ];
    let whole = k.div_euclid(4);
    let frac = FRAC[k.rem_euclid(4) as usize];
    // Gains span about 2^−150 to 2^23: well inside f64's exponents.
    f64::from_bits(((whole + 1023) as u64) << 52) * frac
}
