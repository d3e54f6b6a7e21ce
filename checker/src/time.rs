//! Virtual time. Time is an integer count of nanoseconds since the run started; it is
//! never a float, so two runs of one seed agree to the nanosecond on any machine.

use std::fmt;

/// A point in virtual time, in nanoseconds since the start of the run.
pub type Time = u64;

/// Nanoseconds in a microsecond.
pub const NANOS_PER_MICRO: u64 = 1_000;
/// Nanoseconds in a millisecond.
pub const NANOS_PER_MILLI: u64 = 1_000_000;
/// Nanoseconds in a second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A span of virtual time in nanoseconds, parsed from strings such as `"250ms"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub u64);

impl Dur {
    /// No time at all.
    pub const ZERO: Dur = Dur(0);
    /// `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Dur {
        Dur(ms * NANOS_PER_MILLI)
    }
    /// `s` seconds.
    pub const fn from_secs(s: u64) -> Dur {
        Dur(s * NANOS_PER_SEC)
    }
    /// The duration in nanoseconds.
    pub const fn nanos(self) -> u64 {
        self.0
    }

    /// Parses `"10s"`, `"250ms"`, `"1.5s"`, `"40us"`, `"2m"`, `"100ns"`.
    pub fn parse(text: &str) -> Result<Dur, String> {
        let s = text.trim();
        let split =
            s.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(|| dur_hint(text, "it has no unit"))?;
        let (num, unit) = s.split_at(split);
        let scale = match unit.trim() {
            "ns" => 1,
            "us" | "µs" => NANOS_PER_MICRO,
            "ms" => NANOS_PER_MILLI,
            "s" => NANOS_PER_SEC,
            "m" | "min" => 60 * NANOS_PER_SEC,
            "h" => 3600 * NANOS_PER_SEC,
            other => return Err(dur_hint(text, &format!("`{other}` is not a unit"))),
        };
        let well_formed = num.split('.').count() <= 2
            && num.split('.').all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
        let ns = match parse_scaled_wide(num, scale) {
            Some(ns) => ns,
            // Digits too many even for u128 are a duration too long, not a typo.
            None if well_formed => u128::MAX,
            None => return Err(dur_hint(text, "the number is not valid")),
        };
        if ns > DUR_NS_MAX as u128 {
            return Err(dur_hint(text, "it is longer than a day (24h), the most any duration may be"));
        }
        Ok(Dur(ns as u64))
    }
}

/// The longest duration a scenario or command may give (a day): the sum of any two
/// stays far from `u64::MAX` nanoseconds, so virtual time cannot wrap.
pub const DUR_NS_MAX: u64 = 24 * 3600 * NANOS_PER_SEC;

fn dur_hint(text: &str, why: &str) -> String {
    format!(
        "invalid duration \"{text}\": {why}; write a number and a unit (ns, us, ms, s, m, h), e.g. \"250ms\", \"1.5s\" or \"2m\""
    )
}

/// Parses a decimal such as `1.25` and multiplies it by `scale` exactly, in integers.
pub(crate) fn parse_scaled(num: &str, scale: u64) -> Option<u64> {
    parse_scaled_wide(num, scale).and_then(|v| u64::try_from(v).ok())
}

/// [`parse_scaled`] in u128: `None` only for a malformed number (or one past u128).
fn parse_scaled_wide(num: &str, scale: u64) -> Option<u128> {
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return None;
    }
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if frac.contains('.') {
        return None;
    }
    let mut value: u128 = int.parse::<u128>().ok()?.checked_mul(scale as u128)?;
    let mut unit = scale as u128;
    for digit in frac.chars() {
        unit /= 10;
        value += digit.to_digit(10)? as u128 * unit;
    }
    if !frac.is_empty() && unit == 0 && frac.chars().any(|c| c != '0') {
        return None; // finer than the unit can hold
    }
    Some(value)
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&fmt_time(self.0))
    }
}

/// Formats nanoseconds with the largest unit that keeps it exact to three decimals.
pub fn fmt_time(ns: u64) -> String {
    let (unit, scale) = if ns >= NANOS_PER_SEC {
        ("s", NANOS_PER_SEC)
    } else if ns >= NANOS_PER_MILLI {
        ("ms", NANOS_PER_MILLI)
    } else if ns >= NANOS_PER_MICRO {
        ("us", NANOS_PER_MICRO)
    } else {
        return format!("{ns}ns");
    };
    let whole = ns / scale;
    let frac = (ns % scale) * 1000 / scale;
    if frac == 0 {
        format!("{whole}{unit}")
    } else {
        let s = format!("{whole}.{frac:03}");
        format!("{}{unit}", s.trim_end_matches('0'))
    }
}

/// A probability as an integer count of parts per million, parsed from `"1%"`, `"0.5%"`
/// or `"250ppm"`. Integer ratios keep draws exact across machines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ppm(pub u32);

/// One in parts per million: 1,000,000.
pub const PPM_ONE: u32 = 1_000_000;

impl Ppm {
    /// Reads a rate such as `"0.5%"` or `"200ppm"`; the error says what is wrong and how to write it.
    pub fn parse(text: &str) -> Result<Ppm, String> {
        let s = text.trim();
        let hint = |why: &str| {
            format!(
                "invalid rate \"{text}\": {why}; write a percentage or parts per million, e.g. \"1%\", \"0.5%\" or \"200ppm\""
            )
        };
        let value = if let Some(num) = s.strip_suffix('%') {
            parse_scaled(num.trim(), 10_000).ok_or_else(|| hint("the number is not valid"))?
        } else if let Some(num) = s.strip_suffix("ppm") {
            parse_scaled(num.trim(), 1).ok_or_else(|| hint("the number is not valid"))?
        } else {
            return Err(hint("it has no `%` or `ppm`"));
        };
        if value > PPM_ONE as u64 {
            return Err(hint("it is more than 100%"));
        }
        Ok(Ppm(value as u32))
    }
}

impl fmt::Display for Ppm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(100) {
            let pct = format!("{}.{:04}", self.0 / 10_000, self.0 % 10_000);
            write!(f, "{}%", pct.trim_end_matches('0').trim_end_matches('.'))
        } else {
            write!(f, "{}ppm", self.0)
        }
    }
}

// Scenario files write durations and rates as strings: "10s", "1%".

impl<'de> serde::Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        Dur::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl<'de> serde::Deserialize<'de> for Ppm {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        Ppm::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(Dur::parse("10s"), Ok(Dur(10 * NANOS_PER_SEC)));
        assert_eq!(Dur::parse("1.5s"), Ok(Dur(1_500 * NANOS_PER_MILLI)));
        assert_eq!(Dur::parse("250ms"), Ok(Dur(250 * NANOS_PER_MILLI)));
        assert_eq!(Dur::parse("40us"), Ok(Dur(40_000)));
        assert_eq!(Dur::parse("2m"), Ok(Dur(120 * NANOS_PER_SEC)));
        assert!(Dur::parse("10").unwrap_err().contains("no unit"));
        assert!(Dur::parse("10x").unwrap_err().contains("`x` is not a unit"));
        assert!(Dur::parse("1.2.3s").is_err());
        assert!(Dur::parse("0.5ns").is_err());
    }

    #[test]
    fn formats_durations() {
        assert_eq!(fmt_time(1_500 * NANOS_PER_MILLI), "1.5s");
        assert_eq!(fmt_time(3 * NANOS_PER_MILLI), "3ms");
        assert_eq!(fmt_time(999), "999ns");
    }

    #[test]
    fn parses_rates() {
        assert_eq!(Ppm::parse("1%"), Ok(Ppm(10_000)));
        assert_eq!(Ppm::parse("0.5%"), Ok(Ppm(5_000)));
        assert_eq!(Ppm::parse("200ppm"), Ok(Ppm(200)));
        assert!(Ppm::parse("101%").is_err());
        assert!(Ppm::parse("0.1").is_err());
        assert_eq!(Ppm(5_000).to_string(), "0.5%");
    }
}
