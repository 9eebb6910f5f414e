//! Durations and byte sizes as written in `mediamtx.yml`, plus the serde helpers
//! used by the generated schema.
//!
//! Durations follow MediaMTX: Go duration syntax (`10s`, `200ms`, `1m30s`, `1.5h`)
//! with an optional leading day count (`1d`, `2d12h`). As an extension, a plain
//! number (or a string holding only digits) is a number of seconds.
//!
//! Sizes follow MediaMTX (which uses `bytefmt`): a number followed by a unit,
//! `B`, `K`/`KB`/`KiB`, `M`/`MB`/`MiB`, `G`/`GB`/`GiB`, `T`, `P`, `E` (case-insensitive),
//! all of them 1024-based (`1K` = 1024 bytes, `50M` = 52428800 bytes). As an extension,
//! a plain number (or a string holding only digits) is a number of bytes.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

const NANOS_PER_SEC: u128 = 1_000_000_000;
const DAY_NANOS: u128 = 86_400 * NANOS_PER_SEC;

/// Parses a duration string: `10s`, `200ms`, `1m30s`, `1.5h`, `1d`, `2d12h`, `0`.
/// A string made only of digits is a number of seconds.
pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    if s.is_empty() {
        return Err("empty duration".to_string());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = s
            .parse()
            .map_err(|_| format!("invalid duration \"{input}\": number too large"))?;
        return Ok(Duration::from_secs(secs));
    }
    if s.starts_with('-') {
        return Err(format!(
            "invalid duration \"{input}\": negative durations are not allowed"
        ));
    }
    let s = s.strip_prefix('+').unwrap_or(s);

    let mut total: u128 = 0;
    let mut rest = s;

    // MediaMTX extension: a leading integer number of days.
    let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
    if digits > 0 && rest[digits..].starts_with('d') {
        let days: u128 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration \"{input}\""))?;
        total = days
            .checked_mul(DAY_NANOS)
            .ok_or_else(|| format!("invalid duration \"{input}\": too large"))?;
        rest = &rest[digits + 1..];
    }

    while !rest.is_empty() {
        // number: digits [. digits]
        let int_len = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(|b| b.is_ascii_digit()).count();
            frac_part = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(format!(
                "invalid duration \"{input}\": expected a number followed by a unit (ns, us, ms, s, m, h, d)"
            ));
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3600 * NANOS_PER_SEC,
            "" => {
                return Err(format!(
                    "invalid duration \"{input}\": missing unit (ns, us, ms, s, m, h, d)"
                ))
            }
            other => {
                return Err(format!(
                    "invalid duration \"{input}\": unknown unit \"{other}\""
                ))
            }
        };
        let int_val: u128 = if int_part.is_empty() {
            0
        } else {
            int_part
                .parse()
                .map_err(|_| format!("invalid duration \"{input}\": number too large"))?
        };
        let mut value = int_val
            .checked_mul(unit_nanos)
            .ok_or_else(|| format!("invalid duration \"{input}\": too large"))?;
        if !frac_part.is_empty() {
            // Keep at most 18 fractional digits: more cannot matter at nanosecond precision.
            let frac = &frac_part[..frac_part.len().min(18)];
            let num: u128 = frac.parse().unwrap_or(0);
            let den: u128 = 10u128.pow(frac.len() as u32);
            value += num * unit_nanos / den;
        }
        total = total
            .checked_add(value)
            .ok_or_else(|| format!("invalid duration \"{input}\": too large"))?;
    }

    let secs = total / NANOS_PER_SEC;
    let nanos = (total % NANOS_PER_SEC) as u32;
    let secs: u64 = secs
        .try_into()
        .map_err(|_| format!("invalid duration \"{input}\": too large"))?;
    Ok(Duration::new(secs, nanos))
}

/// Formats a duration the way MediaMTX does: whole days as `Nd`, then Go's
/// `time.Duration` notation for the rest (`10s`, `1m30s`, `1h0m0s`, `200ms`).
/// A zero duration is `0s`.
pub fn format_duration(d: Duration) -> String {
    let total = d.as_nanos();
    if total == 0 {
        return "0s".to_string();
    }
    let days = total / DAY_NANOS;
    let rest = total % DAY_NANOS;
    let mut out = String::new();
    if days > 0 {
        out.push_str(&days.to_string());
        out.push('d');
    }
    if rest != 0 {
        out.push_str(&go_duration_string(rest));
    }
    out
}

/// Go's `time.Duration.String()` for a positive number of nanoseconds.
fn go_duration_string(nanos: u128) -> String {
    fn frac(value: u128, unit: u128) -> String {
        let int = value / unit;
        let mut rem = value % unit;
        if rem == 0 {
            return int.to_string();
        }
        let mut digits = String::new();
        let mut u = unit;
        while rem > 0 && u > 1 {
            u /= 10;
            digits.push(char::from(b'0' + (rem / u) as u8));
            rem %= u;
        }
        let digits = digits.trim_end_matches('0');
        format!("{int}.{digits}")
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}\u{b5}s", frac(nanos, 1_000));
    }
    if nanos < NANOS_PER_SEC {
        return format!("{}ms", frac(nanos, 1_000_000));
    }
    let hours = nanos / (3600 * NANOS_PER_SEC);
    let rem = nanos % (3600 * NANOS_PER_SEC);
    let minutes = rem / (60 * NANOS_PER_SEC);
    let rem = rem % (60 * NANOS_PER_SEC);
    let secs = frac(rem, NANOS_PER_SEC);
    if hours > 0 {
        format!("{hours}h{minutes}m{secs}s")
    } else if minutes > 0 {
        format!("{minutes}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

const SIZE_UNITS: [(&str, u32); 6] = [
    ("E", 60),
    ("P", 50),
    ("T", 40),
    ("G", 30),
    ("M", 20),
    ("K", 10),
];

/// Parses a byte size: `50M`, `1K`, `1.5MB`, `2GiB`, `512B`, `512` (bytes). 1024-based.
pub fn parse_size(input: &str) -> Result<u64, String> {
    let s = input.trim().to_ascii_uppercase();
    if s.is_empty() {
        return Err("empty size".to_string());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse()
            .map_err(|_| format!("invalid size \"{input}\": number too large"));
    }
    let idx = s
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| format!("invalid size \"{input}\""))?;
    let (num, unit) = s.split_at(idx);
    let num = num.trim();
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid size \"{input}\": \"{num}\" is not a number"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!(
            "invalid size \"{input}\": must be a positive number"
        ));
    }
    let shift = match unit {
        "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        "P" | "PB" | "PIB" => 50,
        "E" | "EB" | "EIB" => 60,
        _ => {
            return Err(format!(
                "invalid size \"{input}\": unknown unit \"{unit}\" (use B, K, M, G, T, P or E)"
            ))
        }
    };
    let bytes = value * (1u64 << shift) as f64;
    if bytes > u64::MAX as f64 {
        return Err(format!("invalid size \"{input}\": too large"));
    }
    Ok(bytes as u64)
}

/// Formats a byte size with the largest unit that represents it exactly (`50M`, `1K`, `1000B`).
pub fn format_size(bytes: u64) -> String {
    if bytes == 0 {
        return "0B".to_string();
    }
    for (unit, shift) in SIZE_UNITS {
        let mask = (1u64 << shift) - 1;
        if bytes >= (1u64 << shift) && bytes & mask == 0 {
            return format!("{}{}", bytes >> shift, unit);
        }
    }
    format!("{bytes}B")
}

/// Accepts a duration as a string (`"10s"`) or a plain number of seconds.
struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"10s\", \"200ms\", \"1m30s\" or \"1d\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_duration(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map(Duration::from_secs)
            .map_err(|_| E::custom("negative durations are not allowed"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        Duration::try_from_secs_f64(v).map_err(|_| E::custom(format!("invalid duration {v}")))
    }
}

/// Accepts a size as a string (`"50M"`) or a plain number of bytes.
struct SizeVisitor;

impl Visitor<'_> for SizeVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a size such as \"50M\", \"1K\" or a number of bytes")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        parse_size(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom("negative sizes are not allowed"))
    }
}

/// Newtype used to deserialize a [`Duration`] through [`DurationVisitor`].
pub(crate) struct DurationDe(pub Duration);

impl<'de> Deserialize<'de> for DurationDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DurationVisitor).map(DurationDe)
    }
}

/// Newtype used to deserialize a byte size through [`SizeVisitor`].
pub(crate) struct SizeDe(pub u64);

impl<'de> Deserialize<'de> for SizeDe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SizeVisitor).map(SizeDe)
    }
}

/// `#[serde(with = "ferrocast_conf::duration")]` for a [`Duration`] written as `"10s"`.
pub mod duration {
    use super::*;

    /// Writes the duration as a MediaMTX duration string.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    /// Reads a duration string (or a plain number of seconds).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        d.deserialize_any(DurationVisitor)
    }
}

/// `#[serde(with = "ferrocast_conf::size")]` for a byte count written as `"50M"`.
pub mod size {
    use super::*;

    /// Writes the size as a MediaMTX size string.
    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_size(*v))
    }

    /// Reads a size string (or a plain number of bytes).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        d.deserialize_any(SizeVisitor)
    }
}

// ---- helpers referenced by name from the schema macro ----

pub(crate) fn ser_plain<T: Serialize, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    v.serialize(s)
}

pub(crate) fn ser_duration<S: Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
    duration::serialize(v, s)
}

pub(crate) fn ser_size<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    size::serialize(v, s)
}

pub(crate) fn de_opt_plain<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

pub(crate) fn de_opt_duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    Ok(Option::<DurationDe>::deserialize(d)?.map(|v| v.0))
}

pub(crate) fn de_opt_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(Option::<SizeDe>::deserialize(d)?.map(|v| v.0))
}

/// Reads a value where YAML `null` (an empty value) means the type's default.
pub(crate) fn de_nullable<'de, T: Deserialize<'de> + Default, D: Deserializer<'de>>(
    d: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("200ms"), Ok(Duration::from_millis(200)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("2d12h"), Ok(Duration::from_secs(216000)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("5us"), Ok(Duration::from_micros(5)));
        assert_eq!(parse_duration("5\u{b5}s"), Ok(Duration::from_micros(5)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1.5").is_err());
        assert!(parse_duration("ten seconds").is_err());
    }

    #[test]
    fn durations_format_like_mediamtx() {
        let f = |s: &str| format_duration(parse_duration(s).expect("valid"));
        assert_eq!(f("10s"), "10s");
        assert_eq!(f("200ms"), "200ms");
        assert_eq!(f("1m30s"), "1m30s");
        assert_eq!(f("1h"), "1h0m0s");
        assert_eq!(f("1d"), "1d");
        assert_eq!(f("25h"), "1d1h0m0s");
        assert_eq!(f("1.5s"), "1.5s");
        assert_eq!(f("0s"), "0s");
        assert_eq!(f("5us"), "5\u{b5}s");
        for s in [
            "10s", "200ms", "1m30s", "1h0m0s", "1d", "1d1h0m0s", "1.5s", "2.25ms",
        ] {
            assert_eq!(f(s), s);
        }
    }

    #[test]
    fn sizes_parse_and_format() {
        assert_eq!(parse_size("50M"), Ok(50 * 1024 * 1024));
        assert_eq!(parse_size("1K"), Ok(1024));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("1KB"), Ok(1024));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("1.5M"), Ok(1536 * 1024));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert!(parse_size("").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("-1M").is_err());
        assert_eq!(format_size(50 * 1024 * 1024), "50M");
        assert_eq!(format_size(1024), "1K");
        assert_eq!(format_size(1000), "1000B");
        assert_eq!(format_size(0), "0B");
        assert_eq!(format_size(1536 * 1024), "1536K");
    }
}
