//! Pinned floating-point functions for seeded paths. The platform's `ln` and `powf`
//! come from its libm, which differs between C libraries, versions and CPU features
//! (an FMA variant rounds differently), and a trace must be the same on every machine.
//! These use only IEEE addition, subtraction, multiplication and division, which round
//! the same everywhere (Rust never fuses them), so they give the same bits everywhere.
//! They are accurate to about one unit in the last place, which is all a draw needs.

/// ln 2, split so that `e * LN2_HI` is exact for any exponent `e` of an f64 (its low
/// 32 bits are zero), and `LN2_LO` the rest; given by their bits, so no decimal
/// parsing stands between the source and the constant.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

/// 1/3, 1/5, ..., 1/25: the atanh series' coefficients, divided once at compile time
/// (the same correctly rounded quotients a run-time division gives). Twelve terms put
/// the series' truncation below 1e-18 of the result.
const INV_ODD: [f64; 12] = [
    1.0 / 3.0,
    1.0 / 5.0,
    1.0 / 7.0,
    1.0 / 9.0,
    1.0 / 11.0,
    1.0 / 13.0,
    1.0 / 15.0,
    1.0 / 17.0,
    1.0 / 19.0,
    1.0 / 21.0,
    1.0 / 23.0,
    1.0 / 25.0,
];

/// The natural logarithm of a finite `x > 0`; NaN for anything else.
pub fn ln(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 || x.is_infinite() {
        return f64::NAN;
    }
    // x = m * 2^e with m in [sqrt(1/2), sqrt(2)), by the bits (subnormals scaled first).
    let (mut bits, mut e) = (x.to_bits(), 0i64);
    if bits >> 52 == 0 {
        bits = (x * f64::from_bits(0x4350_0000_0000_0000)).to_bits(); // * 2^54
        e -= 54;
    }
    e += ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    // ln m = 2 atanh(f), f = (m - 1) / (m + 1), |f| < 0.172: a series in f^2 < 0.0295.
    let f = (m - 1.0) / (m + 1.0);
    let f2 = f * f;
    let mut series = 0.0;
    for c in INV_ODD.iter().rev() {
        series = series * f2 + c;
    }
    let ln_m = 2.0 * f + 2.0 * f * f2 * series;
    let e = e as f64;
    e * LN2_HI + (e * LN2_LO + ln_m)
}

/// e^y for a finite `y`; 0 below about -745, infinity above about 709.8.
pub fn exp(y: f64) -> f64 {
    if y.is_nan() {
        return f64::NAN;
    }
    if y > 709.8 {
        return f64::INFINITY;
    }
    if y < -745.2 {
        return 0.0;
    }
    // y = n ln 2 + r, |r| <= ln 2 / 2; e^r by its Taylor series, then times 2^n.
    let n = (y / std::f64::consts::LN_2 + if y < 0.0 { -0.5 } else { 0.5 }) as i64;
    let r = (y - n as f64 * LN2_HI) - n as f64 * LN2_LO;
    let mut sum = 1.0;
    for k in (1..=20).rev() {
        sum = 1.0 + sum * r / k as f64;
    }
    // 2^n in two steps, so that neither factor overflows or goes subnormal early.
    let half = n / 2;
    let pow2 = |k: i64| f64::from_bits(((k + 1023) as u64) << 52);
    sum * pow2(half) * pow2(n - half)
}

/// `base` to the power `exponent`, for `base > 0`: e^(exponent ln base).
pub fn pow(base: f64, exponent: f64) -> f64 {
    if base == 1.0 || exponent == 0.0 {
        return 1.0;
    }
    exp(exponent * ln(base))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    /// Within two units in the last place of the platform's libm, across the range a
    /// draw uses (1 - u for u in [0, 1), down to 2^-53) and beyond.
    #[test]
    fn ln_is_accurate() {
        let mut x = f64::MIN_POSITIVE / 1024.0;
        while x < 1e300 {
            for t in [x, x * 1.37, x * 1.41, x * 1.9999] {
                assert!(
                    ulps(ln(t), t.ln()) <= 2 || (ln(t) - t.ln()).abs() < 1e-300,
                    "ln({t}) = {} not {}",
                    ln(t),
                    t.ln()
                );
            }
            x *= 1.7;
        }
        for i in 0..100_000u64 {
            let u = ((i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            let t = 1.0 - u;
            let (a, b) = (ln(t), t.ln());
            assert!(ulps(a, b) <= 2 || (a - b).abs() <= 1e-17, "ln({t}) = {a} not {b}");
        }
        assert_eq!(ln(1.0), 0.0);
        assert!(ln(0.0).is_nan() && ln(-1.0).is_nan());
    }

    #[test]
    fn pow_is_accurate_for_zipf_weights() {
        for k in 1..=5000u32 {
            for s in [0.5, 0.99, 1.0, 1.2, 2.0, 3.7] {
                let (a, b) = (pow(f64::from(k), s), f64::from(k).powf(s));
                assert!((a - b).abs() <= b * 1e-14, "{k}^{s} = {a} not {b}");
            }
        }
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(1000.0), f64::INFINITY);
        assert_eq!(exp(-1000.0), 0.0);
    }

    /// The bits themselves, pinned: these must not change on any machine.
    #[test]
    fn the_bits_are_pinned() {
        assert_eq!(ln(0.5).to_bits(), 0xbfe6_2e42_fefa_39ef);
        let pinned: Vec<u64> = [0.123_456_789, 0.999_999_9, 3e-16].iter().map(|&x| ln(x).to_bits()).collect();
        let zipf: Vec<u64> =
            [(2.0, 1.0), (1000.0, 1.2), (77.0, 0.8)].iter().map(|&(b, s)| pow(b, s).to_bits()).collect();
        assert_eq!(pinned, PINNED_LN);
        assert_eq!(zipf, PINNED_POW);
    }

    const PINNED_LN: &[u64] = &[13835264914779626866, 13725520251716934559, 13853599198913490173];
    const PINNED_POW: &[u64] = &[4611686018427387904, 4660972884336213831, 4629742534118246562];
}
