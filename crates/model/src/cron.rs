//! The cron expressions of the `DeploymentWindow` rule: six or seven fields (seconds, minutes,
//! hours, day-of-month, month, day-of-week, optional year) in the Quartz syntax AWS documents,
//! evaluated in an IANA time zone. A time is inside the window when every field matches it.

use chrono::{Datelike, TimeZone, Timelike};
use chrono_tz::Tz;

/// A set of small numbers, one bit each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bits(u64);

impl Bits {
    fn has(self, n: u32) -> bool {
        n < 64 && self.0 & (1 << n) != 0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfMonth {
    /// `?`: the day-of-week field decides.
    Unspecified,
    Days(Bits),
    /// `L` or `L-n`: the last day of the month, or n days before it.
    Last {
        before: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DayOfWeek {
    /// `?`: the day-of-month field decides.
    Unspecified,
    /// 1 = Sunday … 7 = Saturday.
    Days(Bits),
    /// `nL`: the last such weekday of the month.
    Last(u32),
    /// `n#k`: the k-th such weekday of the month.
    Nth(u32, u32),
}

/// A parsed deployment window: when deployments are allowed, in which time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentWindow {
    seconds: Bits,
    minutes: Bits,
    hours: Bits,
    day_of_month: DayOfMonth,
    months: Bits,
    day_of_week: DayOfWeek,
    /// Inclusive ranges of years with their step; empty for any year.
    years: Vec<(i32, i32, i32)>,
    zone: Tz,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One value of a field: a number, or a name where the field has names (`JAN`, `MON`).
fn value(text: &str, field: &str, lo: u32, hi: u32, names: &[&str]) -> Result<u32, String> {
    let upper = text.to_ascii_uppercase();
    let number = match names.iter().position(|n| *n == upper) {
        Some(i) => i as u32 + lo,
        None => text
            .parse::<u32>()
            .map_err(|_| format!("'{text}' is not a valid value for the {field} field"))?,
    };
    if number < lo || number > hi {
        return Err(format!(
            "{number} is out of range for the {field} field ({lo}-{hi})"
        ));
    }
    Ok(number)
}

/// A list field: `*`, `a`, `a-b`, with `/step`, separated by commas.
fn bits(text: &str, field: &str, lo: u32, hi: u32, names: &[&str]) -> Result<Bits, String> {
    let mut set = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: u32 =
                    step.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        format!("'{item}' has an invalid step in the {field} field")
                    })?;
                (range, step)
            }
            None => (item, 1),
        };
        let (from, to) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (
                value(a, field, lo, hi, names)?,
                value(b, field, lo, hi, names)?,
            )
        } else {
            let start = value(range, field, lo, hi, names)?;
            // `a/n` runs from a to the end of the field.
            (start, if item.contains('/') { hi } else { start })
        };
        if from > to {
            return Err(format!("'{item}' is an empty range in the {field} field"));
        }
        // A step as large as the type stops after one value instead of wrapping.
        let mut n = Some(from);
        while let Some(value) = n.filter(|v| *v <= to) {
            set |= 1 << value;
            n = value.checked_add(step);
        }
    }
    Ok(Bits(set))
}

fn day_of_month(text: &str) -> Result<DayOfMonth, String> {
    if text == "?" {
        return Ok(DayOfMonth::Unspecified);
    }
    if let Some(rest) = text.strip_prefix('L') {
        let before = match rest.strip_prefix('-') {
            Some(n) => value(n, "day-of-month", 0, 30, &[])?,
            None if rest.is_empty() => 0,
            None => return Err(format!("'{text}' is not a valid day-of-month")),
        };
        return Ok(DayOfMonth::Last { before });
    }
    if text.contains('W') {
        return Err(format!(
            "'{text}': the W (nearest weekday) form of the day-of-month field is not supported by this server"
        ));
    }
    Ok(DayOfMonth::Days(bits(text, "day-of-month", 1, 31, &[])?))
}

fn day_of_week(text: &str) -> Result<DayOfWeek, String> {
    const FIELD: &str = "day-of-week";
    if text == "?" {
        return Ok(DayOfWeek::Unspecified);
    }
    if let Some(day) = text.strip_suffix('L') {
        let day = if day.is_empty() {
            7
        } else {
            value(day, FIELD, 1, 7, &WEEKDAYS)?
        };
        return Ok(DayOfWeek::Last(day));
    }
    if let Some((day, nth)) = text.split_once('#') {
        let day = value(day, FIELD, 1, 7, &WEEKDAYS)?;
        let nth = value(nth, FIELD, 1, 5, &[])?;
        return Ok(DayOfWeek::Nth(day, nth));
    }
    Ok(DayOfWeek::Days(bits(text, FIELD, 1, 7, &WEEKDAYS)?))
}

fn years(text: &str) -> Result<Vec<(i32, i32, i32)>, String> {
    if text == "*" {
        return Ok(Vec::new());
    }
    let mut ranges = Vec::new();
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (
                range,
                step.parse::<i32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("'{item}' has an invalid step in the year field"))?,
            ),
            None => (item, 1),
        };
        let year = |t: &str| {
            t.parse::<i32>()
                .ok()
                .filter(|y| (1970..=2199).contains(y))
                .ok_or_else(|| format!("'{t}' is not a year between 1970 and 2199"))
        };
        let (from, to) = match range.split_once('-') {
            Some((a, b)) => (year(a)?, year(b)?),
            None if range == "*" => (1970, 2199),
            None => (
                year(range)?,
                if item.contains('/') {
                    2199
                } else {
                    year(range)?
                },
            ),
        };
        ranges.push((from, to, step));
    }
    Ok(ranges)
}

impl DeploymentWindow {
    /// Parses a `Cron` expression and an optional `TimeZone` (an IANA name; UTC when absent).
    pub fn parse(cron: &str, time_zone: Option<&str>) -> Result<Self, String> {
        let fields: Vec<&str> = cron.split_whitespace().collect();
        if !(6..=7).contains(&fields.len()) {
            return Err(format!(
                "The cron expression '{cron}' has {} fields; it needs 6 or 7 (seconds, minutes, hours, day-of-month, month, day-of-week, and optionally year)",
                fields.len()
            ));
        }
        let zone = match time_zone {
            None => Tz::UTC,
            Some(name) => name.parse::<Tz>().map_err(|_| {
                format!("'{name}' is not a time zone (use an IANA name such as Europe/Berlin)")
            })?,
        };
        let mut day_of_month = day_of_month(fields[3])?;
        let mut day_of_week = day_of_week(fields[5])?;
        // AWS's cron takes `?` in one of the two day fields; a `*` beside a specific value
        // means the same, and two specific values cannot both hold.
        match (&day_of_month, &day_of_week, fields[3], fields[5]) {
            (DayOfMonth::Unspecified, DayOfWeek::Unspecified, ..) => {
                return Err(format!(
                    "The cron expression '{cron}' leaves both day-of-month and day-of-week unspecified (?); give one of them"
                ))
            }
            (DayOfMonth::Unspecified, ..) | (_, DayOfWeek::Unspecified, ..) => {}
            (_, _, "*", _) => day_of_month = DayOfMonth::Unspecified,
            (_, _, _, "*") => day_of_week = DayOfWeek::Unspecified,
            _ => {
                return Err(format!(
                    "The cron expression '{cron}' specifies both day-of-month and day-of-week; use ? in one of them"
                ))
            }
        }
        Ok(Self {
            seconds: bits(fields[0], "seconds", 0, 59, &[])?,
            minutes: bits(fields[1], "minutes", 0, 59, &[])?,
            hours: bits(fields[2], "hours", 0, 23, &[])?,
            day_of_month,
            months: bits(fields[4], "month", 1, 12, &MONTHS)?,
            day_of_week,
            years: match fields.get(6) {
                Some(text) => years(text)?,
                None => Vec::new(),
            },
            zone,
        })
    }

    /// Whether `at_ms` (Unix milliseconds) is inside the window.
    pub fn is_open(&self, at_ms: i64) -> bool {
        let Some(local) = self.zone.timestamp_millis_opt(at_ms).single() else {
            return false;
        };
        self.seconds.has(local.second()) && self.minute_matches(&local)
    }

    /// The first instant at or after `from_ms` inside the window, looking no further than
    /// `horizon_ms` ahead.
    pub fn next_open(&self, from_ms: i64, horizon_ms: i64) -> Option<i64> {
        let first_minute = from_ms.div_euclid(60_000) * 60_000;
        let mut minute = first_minute;
        while minute <= from_ms + horizon_ms {
            let local = self.zone.timestamp_millis_opt(minute).single()?;
            if self.minute_matches(&local) {
                let second = (0..60)
                    .filter(|s| self.seconds.has(*s))
                    .map(|s| minute + i64::from(s) * 1000)
                    .find(|at| *at >= from_ms - from_ms.rem_euclid(1000));
                if let Some(at) = second {
                    return Some(at.max(from_ms));
                }
            }
            minute += 60_000;
        }
        None
    }

    fn minute_matches(&self, local: &chrono::DateTime<Tz>) -> bool {
        let year = local.year();
        let month = local.month();
        let day = local.day();
        let days_in_month = days_in_month(year, month);
        // chrono's Sunday is 0 from Sunday; cron's Sunday is 1.
        let weekday = local.weekday().num_days_from_sunday() + 1;
        let day_matches = match &self.day_of_month {
            DayOfMonth::Unspecified => true,
            DayOfMonth::Days(days) => days.has(day),
            DayOfMonth::Last { before } => days_in_month.checked_sub(*before) == Some(day),
        };
        let weekday_matches = match &self.day_of_week {
            DayOfWeek::Unspecified => true,
            DayOfWeek::Days(days) => days.has(weekday),
            DayOfWeek::Last(wanted) => *wanted == weekday && day + 7 > days_in_month,
            DayOfWeek::Nth(wanted, nth) => *wanted == weekday && (day - 1) / 7 + 1 == *nth,
        };
        let year_matches = self.years.is_empty()
            || self
                .years
                .iter()
                .any(|(from, to, step)| (*from..=*to).contains(&year) && (year - from) % step == 0);
        self.minutes.has(local.minute())
            && self.hours.has(local.hour())
            && self.months.has(month)
            && day_matches
            && weekday_matches
            && year_matches
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    chrono::NaiveDate::from_ymd_opt(next_year, next_month, 1)
        .and_then(|d| d.pred_opt())
        .map_or(31, |d| d.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-02T10:30:00Z, a Wednesday.
    const WEDNESDAY_10_30_UTC: i64 = 1_796_207_400_000;

    #[test]
    fn a_window_of_working_hours_is_open_inside_them_and_closed_outside() {
        let window = DeploymentWindow::parse("* * 9-17 ? * MON-FRI *", None).unwrap();
        assert!(window.is_open(WEDNESDAY_10_30_UTC));
        let evening = WEDNESDAY_10_30_UTC + 8 * 3_600_000;
        assert!(!window.is_open(evening));
        // The next opening after Wednesday evening is Thursday 09:00.
        let thursday_9 = WEDNESDAY_10_30_UTC + (22 * 60 + 30) * 60_000;
        assert_eq!(window.next_open(evening, 2 * 86_400_000), Some(thursday_9));
    }

    #[test]
    fn a_window_is_read_in_its_time_zone() {
        // 10:30 UTC is 19:30 in Tokyo: outside 9-17 there, inside it in UTC.
        let tokyo = DeploymentWindow::parse("* * 9-17 ? * *", Some("Asia/Tokyo")).unwrap();
        assert!(!tokyo.is_open(WEDNESDAY_10_30_UTC));
        let berlin = DeploymentWindow::parse("* * 9-17 ? * *", Some("Europe/Berlin")).unwrap();
        assert!(berlin.is_open(WEDNESDAY_10_30_UTC));
    }

    #[test]
    fn last_and_nth_weekday_forms_pick_the_right_days() {
        // 2026-12-02 is the first Wednesday of December.
        let first_wednesday = DeploymentWindow::parse("* * * ? * 4#1", None).unwrap();
        assert!(first_wednesday.is_open(WEDNESDAY_10_30_UTC));
        let last_wednesday = DeploymentWindow::parse("* * * ? * WEDL", None).unwrap();
        assert!(!last_wednesday.is_open(WEDNESDAY_10_30_UTC));
        let last_day = DeploymentWindow::parse("* * * L * ?", None).unwrap();
        assert!(!last_day.is_open(WEDNESDAY_10_30_UTC));
        assert!(last_day.is_open(WEDNESDAY_10_30_UTC + 29 * 86_400_000));
    }

    #[test]
    fn malformed_expressions_are_refused_with_the_reason() {
        for (cron, zone, words) in [
            ("* * *", None, "needs 6 or 7"),
            ("* * 25 ? * *", None, "out of range"),
            ("* * * 1 * MON", None, "both day-of-month and day-of-week"),
            (
                "* * * ? * ?",
                None,
                "both day-of-month and day-of-week unspecified",
            ),
            ("* * * 15W * ?", None, "not supported"),
            ("* * * ? * *", Some("Mars/Olympus"), "not a time zone"),
            ("1/4294967295 * 99 ? * *", None, "out of range"),
        ] {
            let error = DeploymentWindow::parse(cron, zone).unwrap_err();
            assert!(error.contains(words), "{cron}: {error}");
        }
    }
}
