//! Durations (`500ms`, `2s`, `10m`, `1h`) and sizes (`512MiB`, `8GiB`, `8GB`).
//!
//! Both are strings in the file so people read them at a glance; in the JSON
//! Schema they carry the custom formats `duration` and `size`, which the
//! checker ([`super::check`]) validates with the parsers below — one
//! definition of what is accepted.

use std::fmt;
use std::time::{Duration as StdDuration, SystemTime, UNIX_EPOCH};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written `500ms`, `2s`, `1.5s`, `10m`, `1h` (or combined: `1m30s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub StdDuration);

/// A size in bytes written `512MiB`, `8GiB`, `8GB`, `100KB` or a plain number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Size(pub u64);

/// The grammar of a duration, which [`parse_duration`] implements and the
/// JSON Schema states as [`DURATION_PATTERN`]:
///
/// ```text
/// duration := "0" | (number unit)+
/// number   := digits ("." digits)? | "." digits
/// unit     := "ms" | "s" | "m" | "h" | "d"
/// ```
///
/// at most 10⁹ seconds in all, no spaces.
pub const DURATION_PATTERN: &str = r"^(0|(([0-9]+(\.[0-9]+)?|\.[0-9]+)(ms|s|m|h|d))+)$";

/// Longest duration accepted, in seconds.
const MAX_DURATION_SECS: f64 = 1e9;

/// Parse a duration (grammar: [`DURATION_PATTERN`]); the error says what is
/// accepted.
pub fn parse_duration(s: &str) -> Result<StdDuration, String> {
    if s.is_empty() {
        return Err("an empty duration".into());
    }
    if s == "0" {
        return Ok(StdDuration::ZERO);
    }
    let b = s.as_bytes();
    let digits = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut total = 0f64;
    let mut i = 0;
    while i < b.len() {
        let start = i;
        i = digits(i);
        let whole = i > start;
        if i < b.len() && b[i] == b'.' {
            let frac = i + 1;
            i = digits(frac);
            if i == frac {
                return Err(format!(
                    "`{s}` is not a duration: a `.` needs digits after it"
                ));
            }
        } else if !whole {
            return Err(format!("`{s}` is not a duration"));
        }
        let n: f64 = s[start..i]
            .parse()
            .map_err(|_| format!("`{s}` is not a duration"))?;
        let unit_start = i;
        while i < b.len() && b[i].is_ascii_alphabetic() {
            i += 1;
        }
        let scale = match &s[unit_start..i] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            "" => return Err(format!("`{s}` has no unit (use ms, s, m, h or d)")),
            other => {
                return Err(format!(
                    "`{s}`: unknown unit `{other}` (use ms, s, m, h or d)"
                ));
            }
        };
        total += n * scale;
        if !total.is_finite() || total > MAX_DURATION_SECS {
            return Err(format!("`{s}` is too long"));
        }
    }
    StdDuration::try_from_secs_f64(total).map_err(|_| format!("`{s}` is too long"))
}

/// Parse a size; the error says what is accepted.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let num_len = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let n: f64 = t[..num_len]
        .parse()
        .map_err(|_| format!("`{s}` is not a size"))?;
    let scale: f64 = match t[num_len..].trim() {
        "" | "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("`{s}`: unknown unit `{other}`")),
    };
    let bytes = n * scale;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(format!("`{s}` is too large"));
    }
    Ok(bytes as u64)
}

/// The accepted duration forms, for help texts.
pub const DURATION_HELP: &str = "write a duration like `500ms`, `2s`, `10m`, `1h` or `1d`";
/// The accepted size forms, for help texts.
pub const SIZE_HELP: &str = "write a size like `512MiB`, `8GiB` or `8GB`";

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms == 0 {
            write!(f, "0s")
        } else if ms.is_multiple_of(3_600_000) {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 4] = [
            ("TiB", 1 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ];
        for (unit, scale) in UNITS {
            if self.0 >= scale && self.0.is_multiple_of(scale) {
                return write!(f, "{}{unit}", self.0 / scale);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .map(Duration)
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_size(&s).map(Size).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "duration",
            "pattern": DURATION_PATTERN,
            "description": "A duration: 500ms, 2s, 10m, 1h.",
            "examples": ["2s", "10m"]
        })
    }
}

impl JsonSchema for Size {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Size".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "size",
            "pattern": "^[0-9]+(\\.[0-9]+)?\\s*(B|KB|kB|MB|GB|TB|KiB|MiB|GiB|TiB)?$",
            "description": "A size: 512MiB, 8GiB, 8GB.",
            "examples": ["10MiB"]
        })
    }
}

/// Exponential backoff: `initial` doubled for each `attempt` after the
/// first (1-based), capped at `max`. Restarts and Ollama retries both wait
/// this way.
pub fn backoff(initial: StdDuration, max: StdDuration, attempt: u32) -> StdDuration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
    initial.saturating_mul(factor).min(max)
}

/// A byte count for people, rounded: `512B`, `1.5KiB`, `12.8MiB`, `79.6GiB`.
/// ([`Size`]'s `Display` is the exact form the file accepts.)
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b}B")
    } else {
        format!("{v:.1}{}", UNITS[i])
    }
}

// ---- times (RFC 3339, UTC, milliseconds) ----

/// `2026-11-26T12:34:56.789Z`.
pub fn format_time(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, dd) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Parse what [`format_time`] writes.
pub fn parse_time(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 24 || b[23] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let days = days_from_civil(num(0..4)?, num(5..7)?, num(8..10)?);
    let secs = days * 86_400 + num(11..13)? * 3600 + num(14..16)? * 60 + num(17..19)?;
    let millis = num(20..23)?;
    let d =
        StdDuration::from_secs(u64::try_from(secs).ok()?) + StdDuration::from_millis(millis as u64);
    Some(UNIX_EPOCH + d)
}

// Howard Hinnant's civil-calendar algorithms.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_without_overflow() {
        let (i, m) = (StdDuration::from_secs(1), StdDuration::from_secs(30));
        assert_eq!(backoff(i, m, 1), i);
        assert_eq!(backoff(i, m, 3), StdDuration::from_secs(4));
        assert_eq!(backoff(i, m, 10), m);
        assert_eq!(backoff(i, m, u32::MAX), m);
    }

    #[test]
    fn human_bytes_rounds_to_one_decimal() {
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(1536), "1.5KiB");
        assert_eq!(human_bytes(13_421_773), "12.8MiB");
    }

    #[test]
    fn time_round_trips() {
        let t = UNIX_EPOCH + StdDuration::from_millis(1_764_160_496_789);
        let s = format_time(t);
        assert_eq!(s, "2025-11-26T12:34:56.789Z");
        assert_eq!(parse_time(&s), Some(t));
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("500ms").unwrap(),
            StdDuration::from_millis(500)
        );
        assert_eq!(parse_duration("2s").unwrap(), StdDuration::from_secs(2));
        assert_eq!(parse_duration("1m30s").unwrap(), StdDuration::from_secs(90));
        assert_eq!(parse_duration("1h").unwrap(), StdDuration::from_secs(3600));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("10 parsecs").is_err());
        assert_eq!(Duration(StdDuration::from_secs(600)).to_string(), "10m");
    }

    /// One grammar: the parser and the schema's pattern agree on every case.
    #[test]
    fn the_parser_and_the_schema_pattern_agree() {
        let schema = serde_json::json!({"type": "string", "pattern": DURATION_PATTERN});
        let accepted = [
            "0",
            "500ms",
            "2s",
            ".5s",
            "1.5s",
            "0.25h",
            "10m",
            "1h",
            "1d",
            "1d12h",
            "1m30s",
            "1h2m3s4ms",
            "0s",
            "999999999s",
        ];
        let rejected = [
            "",
            " 2s",
            "2s ",
            "2",
            "5.s",
            ".s",
            "s",
            "1.2.3s",
            "10 parsecs",
            "1w",
            "2S",
            "-1s",
            "1e3s",
            "1m 30s",
            "00",
            "1000000001s",
            "99999999999999999999h",
        ];
        for a in accepted {
            assert!(parse_duration(a).is_ok(), "parser refuses {a:?}");
            assert!(
                jsonschema::is_valid(&schema, &a.into()),
                "pattern refuses {a:?}"
            );
        }
        for r in rejected {
            assert!(parse_duration(r).is_err(), "parser accepts {r:?}");
            // The pattern cannot count seconds: the length limit is the parser's.
            if !r.starts_with("1000000001") && !r.starts_with("9999") {
                assert!(
                    !jsonschema::is_valid(&schema, &r.into()),
                    "pattern accepts {r:?}"
                );
            }
        }
        assert_eq!(
            parse_duration(".5s").unwrap(),
            StdDuration::from_millis(500)
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("8GB").unwrap(), 8_000_000_000);
        assert_eq!(parse_size("8GiB").unwrap(), 8 << 30);
        assert!(parse_size("8 potatoes").is_err());
        assert_eq!(Size(10 << 20).to_string(), "10MiB");
    }
}
