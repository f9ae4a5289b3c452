//! Human durations such as `90s`, `10m`, `2h`, `90d` and `1h30m`.

use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as one or more `<number><unit>` parts, units `s`, `m`, `h`, `d`, `w`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Duration {
    secs: u64,
}

/// Why a duration did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationParseError(pub String);

impl fmt::Display for DurationParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration `{}`: write a number and a unit (s, m, h, d, w), e.g. `30m` or `1h30m`",
            self.0
        )
    }
}

impl std::error::Error for DurationParseError {}

impl Duration {
    /// A duration of this many seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Duration { secs }
    }

    /// Length in seconds.
    pub const fn as_secs(&self) -> u64 {
        self.secs
    }
}

impl FromStr for Duration {
    type Err = DurationParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DurationParseError(s.to_string());
        let mut total: u64 = 0;
        let mut digits = String::new();
        let mut parts = 0;
        for c in s.trim().chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit = match c {
                's' => 1,
                'm' => 60,
                'h' => 3_600,
                'd' => 86_400,
                'w' => 604_800,
                _ => return Err(err()),
            };
            let n: u64 = digits.parse().map_err(|_| err())?;
            total = n
                .checked_mul(unit)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(err)?;
            digits.clear();
            parts += 1;
        }
        if parts == 0 || !digits.is_empty() {
            return Err(err());
        }
        Ok(Duration { secs: total })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.secs;
        if rest == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^([0-9]+[smhdw])+$",
            "description": "A duration: one or more <number><unit> parts, units s, m, h, d, w.",
            "examples": ["30m", "2h", "1h30m", "90d"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        assert_eq!("90s".parse::<Duration>().unwrap().as_secs(), 90);
        assert_eq!("1h30m".parse::<Duration>().unwrap().as_secs(), 5_400);
        assert_eq!("90d".parse::<Duration>().unwrap().to_string(), "90d");
        assert_eq!("5400s".parse::<Duration>().unwrap().to_string(), "1h30m");
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "10", "m", "10x", "1h30", "-5m", "99999999999999999999d"] {
            assert!(bad.parse::<Duration>().is_err(), "{bad:?} should not parse");
        }
    }
}
