//! The HAR 1.2 file as serde reads it: only the fields the importer uses, every other field ignored, optional
//! ones defaulted (Chromium, Firefox and the HAR specification differ in what they always write).

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(super) struct HarFile {
    pub log: Log,
}

#[derive(Debug, Deserialize)]
pub(super) struct Log {
    #[serde(default)]
    pub pages: Vec<Page>,
    pub entries: Vec<Entry>,
    #[serde(default)]
    pub creator: Option<Creator>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Creator {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Page {
    pub id: String,
    #[serde(default)]
    pub title: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct Entry {
    #[serde(default)]
    pub pageref: Option<String>,
    #[serde(rename = "startedDateTime")]
    pub started: String,
    /// Milliseconds from start to end (-1 or absent: unknown).
    #[serde(default)]
    pub time: Option<f64>,
    pub request: Request,
    pub response: Response,
}

#[derive(Debug, Deserialize)]
pub(super) struct Request {
    pub method: String,
    pub url: String,
    #[serde(default)]
    pub headers: Vec<Header>,
    #[serde(rename = "postData", default)]
    pub post_data: Option<PostData>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Header {
    pub name: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct PostData {
    #[serde(rename = "mimeType", default)]
    pub mime_type: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub params: Vec<Param>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Param {
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Response {
    /// 0 when the browser got no answer (blocked, aborted).
    #[serde(default)]
    pub status: i64,
    #[serde(default)]
    pub headers: Vec<Header>,
    #[serde(default)]
    pub content: Content,
    #[serde(rename = "redirectURL", default)]
    pub redirect_url: String,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Content {
    #[serde(rename = "mimeType", default)]
    pub mime_type: String,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub encoding: Option<String>,
}

/// `startedDateTime` (ISO 8601: `2026-12-05T00:42:12.993Z`, `...+01:00`) as milliseconds since the Unix epoch.
pub(super) fn parse_time(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) && !t.is_empty() {
            t.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23
    {
        return None;
    }
    let mut i = 19;
    let mut frac = 0.0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        frac = format!("0.{}", s.get(start..i)?).parse().ok()?;
    }
    let offset_min = match s.get(i..)? {
        "Z" | "z" | "" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) => {
            let m = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if tz.starts_with('-') { -m } else { m }
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs as f64 * 1000.0 + frac * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_with_fractions_and_offsets() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_time("1970-01-01T00:00:01.250Z"), Some(1250.0));
        assert_eq!(
            parse_time("2026-12-05T01:42:12.993+01:00"),
            parse_time("2026-12-05T00:42:12.993Z")
        );
        // 2026-12-05T00:42:12Z, from `date -d ... +%s`.
        assert_eq!(
            parse_time("2026-12-05T00:42:12Z"),
            Some(1_796_431_332_000.0)
        );
        for bad in [
            "",
            "yesterday",
            "2026-13-05T00:00:00Z",
            "2026-12-05T00:00:00+1",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
