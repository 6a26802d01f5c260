//! Calendar forms of epoch milliseconds (the wire formats need several); pure arithmetic.

/// A UTC date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: i64,
    pub day: i64,
    pub hour: i64,
    pub minute: i64,
    pub second: i64,
    pub millis: i64,
    /// 0 = Sunday.
    pub weekday: i64,
}

impl Civil {
    pub fn from_ms(ms: i64) -> Self {
        let secs = ms.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Howard Hinnant's civil-from-days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        Self {
            year: yoe + era * 400 + i64::from(month <= 2),
            month,
            day,
            hour: rem / 3600,
            minute: rem % 3600 / 60,
            second: rem % 60,
            millis: ms.rem_euclid(1000),
            weekday: (days + 4).rem_euclid(7),
        }
    }

    /// Epoch milliseconds of a date and time (days-from-civil).
    pub fn to_ms(&self) -> i64 {
        let y = self.year - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y.rem_euclid(400);
        let mp = (self.month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + self.day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        ((days * 86_400 + self.hour * 3600 + self.minute * 60 + self.second) * 1000) + self.millis
    }
}

/// `YYYY-MM-DDTHH:MMZ`, the guide's approval `expires`.
pub fn iso_minutes(ms: i64) -> String {
    let c = Civil::from_ms(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, S3's and CloudTrail's timestamps.
pub fn iso_millis(ms: i64) -> String {
    let c = Civil::from_ms(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.millis
    )
}

/// `YYYY-MM-DDTHH:MM:SSZ`, IAM's and CloudTrail's `eventTime`.
pub fn iso_seconds(ms: i64) -> String {
    let c = Civil::from_ms(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Parses ISO 8601 in the forms policies and APIs use: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SSZ`,
/// with optional fractional seconds and a `Z` or `±HH:MM` offset.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let mut c = Civil {
        year: num(0..4)?,
        month: num(5..7)?,
        day: num(8..10)?,
        hour: 0,
        minute: 0,
        second: 0,
        millis: 0,
        weekday: 0,
    };
    let mut offset_ms = 0;
    if b.len() > 10 {
        if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 16 || b[13] != b':' {
            return None;
        }
        c.hour = num(11..13)?;
        c.minute = num(14..16)?;
        let mut i = 16;
        if b.get(i) == Some(&b':') {
            c.second = num(17..19)?;
            i = 19;
        }
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            i = start;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            let frac = s.get(start..i)?;
            if frac.is_empty() {
                return None;
            }
            c.millis = format!("{frac:0<3}").get(..3)?.parse().ok()?;
        }
        match s.get(i..)? {
            "Z" | "z" => {}
            rest if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
                let h: i64 = rest.get(1..3)?.parse().ok()?;
                let m: i64 = rest.get(4..6)?.parse().ok()?;
                let sign = if rest.starts_with('-') { -1 } else { 1 };
                offset_ms = sign * (h * 3600 + m * 60) * 1000;
            }
            _ => return None,
        }
    }
    let valid = (1..=12).contains(&c.month)
        && (1..=31).contains(&c.day)
        && c.hour < 24
        && c.minute < 60
        && c.second < 61;
    valid.then(|| c.to_ms() - offset_ms)
}

/// `YYYYMMDDTHHMMSSZ`, SigV4's `X-Amz-Date`.
pub fn amz_date(ms: i64) -> String {
    let c = Civil::from_ms(ms);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Parses `YYYYMMDDTHHMMSSZ`.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let c = Civil {
        year: num(0..4)?,
        month: num(4..6)?,
        day: num(6..8)?,
        hour: num(9..11)?,
        minute: num(11..13)?,
        second: num(13..15)?,
        millis: 0,
        weekday: 0,
    };
    let valid = (1..=12).contains(&c.month)
        && (1..=31).contains(&c.day)
        && c.hour < 24
        && c.minute < 60
        && c.second < 61;
    valid.then(|| c.to_ms())
}

/// `Wed, 12 Oct 2009 17:50:00 GMT`, HTTP's `Last-Modified`.
pub fn http_date(ms: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = Civil::from_ms(ms);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[c.weekday as usize],
        c.day,
        MONTHS[(c.month - 1) as usize],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_the_wire_forms() {
        assert_eq!(iso_minutes(1_467_922_920_000), "2016-07-07T20:22Z");
        assert_eq!(iso_minutes(0), "1970-01-01T00:00Z");
        assert_eq!(iso_millis(1_255_369_830_123), "2009-10-12T17:50:30.123Z");
        assert_eq!(
            http_date(1_255_369_800_000),
            "Mon, 12 Oct 2009 17:50:00 GMT"
        );
        assert_eq!(amz_date(1_440_938_160_000), "20150830T123600Z");
        assert_eq!(iso_seconds(1_434_568_340_000), "2015-06-17T19:12:20Z");
    }

    #[test]
    fn amz_dates_round_trip_and_garbage_is_refused() {
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160_000));
        for ms in [0, 951_782_400_000, 1_767_225_599_000] {
            assert_eq!(parse_amz_date(&amz_date(ms)), Some(ms));
        }
        for bad in [
            "",
            "20151330T123600Z",
            "2015-08-30T12:36",
            "20150830T123600",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn iso8601_forms_parse_to_the_same_instant() {
        let t = 1_434_568_340_000;
        assert_eq!(parse_iso8601("2015-06-17T19:12:20Z"), Some(t));
        assert_eq!(parse_iso8601("2015-06-17T19:12:20.000Z"), Some(t));
        assert_eq!(parse_iso8601("2015-06-17T21:12:20+02:00"), Some(t));
        assert_eq!(parse_iso8601("2015-06-17T19:12Z"), Some(t - 20_000));
        assert_eq!(parse_iso8601("2015-06-17"), Some(t - 69_140_000));
        assert_eq!(parse_iso8601("2015-06-17T19:12:20.5Z"), Some(t + 500));
        for bad in [
            "",
            "2015-13-01",
            "2015-06-17T",
            "2015-06-17T19:12:20",
            "x015-06-17",
            "2015-06-17T19:12:20.Z",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }
}
