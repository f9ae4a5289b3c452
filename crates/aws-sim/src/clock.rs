//! Simulated time: real time plus a manual offset, and how long each pending phase lasts.

use serde::{Deserialize, Serialize};

/// Durations of pending phases, in milliseconds. All default to short but non-zero values so clients
/// exercise their polling; set them to 0 for instant transitions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct Durations {
    /// EC2 instance pending → running.
    pub instance_start_ms: u64,
    /// EC2 instance stopping → stopped (and shutting-down → terminated).
    pub instance_stop_ms: u64,
    /// Instance running → SSM agent online.
    pub ssm_online_ms: u64,
    /// An SSM command InProgress → Success.
    pub ssm_command_ms: u64,
    /// EC2 image pending → available (CreateImage).
    pub image_create_ms: u64,
    /// EC2 image copy pending → available (CopyImage).
    pub image_copy_ms: u64,
    /// WorkSpace PENDING → AVAILABLE.
    pub workspace_start_ms: u64,
    /// WorkSpaces image PENDING → AVAILABLE (the WorkSpace is SUSPENDED meanwhile).
    pub workspace_image_ms: u64,
    /// AppStream image builder PENDING → RUNNING, and STOPPING → STOPPED.
    pub builder_start_ms: u64,
    /// AppStream image CREATING/COPYING → AVAILABLE (the builder SNAPSHOTTING meanwhile).
    pub appstream_image_ms: u64,
    /// How long DescribeWorkspaces still shows a WorkSpace's state from before a Start, Stop or
    /// Reboot (eventual consistency; AWS documents no figure).
    pub state_lag_ms: u64,
    /// A running AppStream fleet's instances replaced after UpdateFleet changed its image.
    pub fleet_replace_ms: u64,
    /// A VM Import task (ImportImage) active → completed.
    pub vm_import_ms: u64,
}

impl Default for Durations {
    fn default() -> Self {
        Durations {
            instance_start_ms: 200,
            instance_stop_ms: 200,
            ssm_online_ms: 100,
            ssm_command_ms: 100,
            image_create_ms: 300,
            image_copy_ms: 300,
            workspace_start_ms: 300,
            workspace_image_ms: 300,
            builder_start_ms: 300,
            appstream_image_ms: 300,
            state_lag_ms: 100,
            fleet_replace_ms: 300,
            vm_import_ms: 300,
        }
    }
}

impl Durations {
    /// Every phase instant.
    pub fn instant() -> Durations {
        Durations {
            instance_start_ms: 0,
            instance_stop_ms: 0,
            ssm_online_ms: 0,
            ssm_command_ms: 0,
            image_create_ms: 0,
            image_copy_ms: 0,
            workspace_start_ms: 0,
            workspace_image_ms: 0,
            builder_start_ms: 0,
            appstream_image_ms: 0,
            state_lag_ms: 0,
            fleet_replace_ms: 0,
            vm_import_ms: 0,
        }
    }
}

/// Milliseconds since the Unix epoch, plus the offset set through `/_sim/advance`.
pub fn now_ms(offset_ms: u64) -> u64 {
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    u64::try_from(real)
        .unwrap_or(u64::MAX)
        .saturating_add(offset_ms)
}

/// RFC 3339 (UTC, milliseconds) for a time in ms since the epoch.
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{d:02}T{h:02}:{m:02}:{s:02}.{:03}Z",
        ms % 1000
    )
}

/// Parse an RFC 3339 UTC time (`2026-03-01T12:00:00Z`, optional fraction) to ms since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, sec) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let frac_ms = match s.get(19..20) {
        Some(".") => {
            let digits: String = s[20..].chars().take_while(char::is_ascii_digit).collect();
            let padded = format!("{digits:0<3}");
            padded[..3].parse::<i64>().ok()?
        }
        _ => 0,
    };
    let (y2, m2) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(((days * 86_400 + h * 3600 + mi * 60 + sec) * 1000) + frac_ms).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        for s in [
            "1970-01-01T00:00:00.000Z",
            "2026-03-01T12:34:56.789Z",
            "2000-02-29T23:59:59.000Z",
        ] {
            assert_eq!(rfc3339(parse_rfc3339(s).unwrap()), s);
        }
        assert_eq!(
            parse_rfc3339("2026-03-01T12:34:56Z"),
            parse_rfc3339("2026-03-01T12:34:56.000Z")
        );
    }
}
