#![allow(clippy::unwrap_used)]

use super::chart::{self, BOTTOM, Chart, LEFT, RIGHT, Series, TOP, XAxis, YAxis};
use super::*;
use crate::metrics::SeriesPoint;
use crate::results::fixtures::{results, two_gates};

/// Every resource the page would load: `src`/`href` values in tags (other than `data:` and `#fragment`), and
/// `url(…)`/`@import` in `<style>` blocks and `style` attributes. Text between tags is not looked at: a URL in
/// the text (the target host) loads nothing.
fn external_refs(html: &str) -> Vec<String> {
    fn loads(value: &str) -> bool {
        let v = value.trim().to_ascii_lowercase();
        !(v.starts_with("data:") || v.starts_with('#'))
    }
    fn value_after(s: &str) -> String {
        let s = s.trim_start();
        match s.chars().next() {
            Some(q @ ('"' | '\'')) => s[1..].split(q).next().unwrap_or("").to_string(),
            _ => s
                .split(|c: char| c.is_whitespace() || c == '>' || c == ')')
                .next()
                .unwrap_or("")
                .to_string(),
        }
    }
    fn css_refs(css: &str, found: &mut Vec<String>) {
        let lower = css.to_ascii_lowercase();
        for key in ["url(", "@import"] {
            for (i, _) in lower.match_indices(key) {
                let mut v = value_after(&css[i + key.len()..]);
                if key == "@import" && v.to_ascii_lowercase().starts_with("url(") {
                    v = value_after(&v[4..]);
                }
                if loads(&v) {
                    found.push(format!("{key} {v}"));
                }
            }
        }
    }
    let mut found = Vec::new();
    let lower = html.to_ascii_lowercase();
    for (i, _) in lower.match_indices("<style") {
        let start = i + html[i..].find('>').unwrap() + 1;
        let end = lower[start..]
            .find("</style")
            .map_or(html.len(), |e| start + e);
        css_refs(&html[start..end], &mut found);
    }
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        let end = rest[i..].find('>').map_or(rest.len(), |e| i + e);
        let tag = &rest[i + 1..end];
        let low = tag.to_ascii_lowercase();
        for attr in ["src=", "href=", "srcset=", "action=", "poster="] {
            for (j, _) in low.match_indices(attr) {
                let before = low[..j].chars().last();
                if before.is_some_and(|c| c.is_whitespace() || c == ':')
                    && loads(&value_after(&tag[j + attr.len()..]))
                {
                    found.push(format!("{attr}{}", value_after(&tag[j + attr.len()..])));
                }
            }
        }
        if let Some(j) = low.find("style=") {
            css_refs(&value_after(&tag[j + 6..]), &mut found);
        }
        rest = &rest[(end + 1).min(rest.len())..];
    }
    found
}

/// The `points` of every `<polyline>` in `svg`.
fn polylines(svg: &str) -> Vec<Vec<(f64, f64)>> {
    svg.match_indices("<polyline")
        .map(|(i, _)| {
            let pts = &svg[i..];
            let start = pts.find("points=\"").unwrap() + 8;
            let end = start + pts[start..].find('"').unwrap();
            pts[start..end]
                .split(' ')
                .map(|xy| {
                    let (x, y) = xy.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect()
        })
        .collect()
}

/// The text of each `<td>` in `row`, tags inside removed and entities decoded.
fn cells(row: &str) -> Vec<String> {
    row.split("<td")
        .skip(1)
        .map(|c| {
            let inner = &c[c.find('>').unwrap() + 1..c.find("</td>").unwrap()];
            let mut text = String::new();
            let mut in_tag = false;
            for ch in inner.chars() {
                match ch {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            text.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&amp;", "&")
        })
        .collect()
}

/// The rows of the first table body in `html`.
fn body_rows(html: &str) -> Vec<&str> {
    let body = &html[html.find("<tbody>").unwrap()..html.find("</tbody>").unwrap()];
    body.split("<tr").skip(1).collect()
}

/// The part of `html` from the element with `id` to the end of its section.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id}"));
    let end = html[start..].find("</section>").unwrap();
    &html[start..start + end]
}

/// A point of the time series: 10 requests with 1 failure, percentiles from `p50`.
fn point(elapsed_s: f64, users: u64, p50: Option<f64>) -> SeriesPoint {
    SeriesPoint {
        timestamp: 1_735_787_045 + elapsed_s as u64,
        users,
        target_users: 0,
        requests: 10,
        failures: 1,
        rps: 10.0,
        failures_per_s: 1.0,
        p50_ms: p50,
        p95_ms: p50.map(|p| p * 2.0),
        p99_ms: p50.map(|p| p * 3.0),
        max_ms: p50.map(|p| p * 4.0),
        ..crate::results::fixtures::point(elapsed_s)
    }
}

#[test]
fn escape_handles_markup_quotes_and_control_characters() {
    assert_eq!(
        escape(r#"a<b&"c"'d'>"#),
        "a&lt;b&amp;&quot;c&quot;&#39;d&#39;&gt;"
    );
    assert_eq!(escape("x\ty\nz"), "x\ty\nz");
    assert_eq!(escape("nul\u{0}bell\u{7}"), "nul\u{FFFD}bell\u{FFFD}");
    assert_eq!(escape("plain ünïcode ✓"), "plain ünïcode ✓");
}

#[test]
fn a_script_named_request_appears_as_text() {
    let mut r = results("<b>shop</b>", two_gates(), false);
    r.requests[0].name = "<script>alert(1)</script>".into();
    r.failures[0].name = "<script>alert(1)</script>".into();
    r.failures[0].message = "body <img src=x onerror=alert(2)> & more".into();
    r.settings.host = "http://user:****@h.example/\"><svg onload=alert(3)>".into();
    r.scenario.file = "it's <here>.toml".into();
    let html = render(&r);
    assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("<svg onload"), "{html}");
    assert!(!html.contains("<b>shop"), "{html}");
    assert!(
        html.contains("<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"),
        "the name is shown as text in the tables"
    );
    assert!(html.contains("body &lt;img src=x onerror=alert(2)&gt; &amp; more"));
    assert!(html.contains("h.example/&quot;&gt;&lt;svg onload=alert(3)&gt;"));
    assert!(html.contains("<title>FAIL · &lt;b&gt;shop&lt;/b&gt; · loadgen report</title>"));
    assert!(html.contains("it&#39;s &lt;here&gt;.toml"));
    // And a Content-Security-Policy that would block a script that got through anyway.
    assert!(
        html.contains("content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\"")
    );
}

#[test]
fn the_reference_scanner_finds_what_would_be_loaded() {
    // Proof the check below can fail: each way a page loads something is caught…
    for bad in [
        r#"<img src="https://cdn.example/x.png">"#,
        r#"<script src=http://cdn.example/x.js></script>"#,
        r#"<link rel="stylesheet" href='//cdn.example/x.css'>"#,
        r#"<use xlink:href="http://cdn.example/s.svg#a"/>"#,
        r#"<img src="missing.png">"#,
        "<style>body{background:url( \"http://cdn.example/bg.png\" )}</style>",
        "<style>@import 'https://fonts.example/f.css';</style>",
        "<style>@import url(https://fonts.example/f.css);</style>",
        r#"<div style="background:url(https://x.example/i.png)"></div>"#,
    ] {
        assert!(!external_refs(bad).is_empty(), "{bad}");
    }
    // …and inline or textual ones are not.
    for fine in [
        r##"<link rel="icon" href="data:,"><a href="#gates">gates</a>"##,
        "<p>against https://example.com/ src=http://x url(http://y) @import z</p>",
        r#"<svg xmlns="http://www.w3.org/2000/svg"></svg>"#,
    ] {
        assert_eq!(external_refs(fine), Vec::<String>::new(), "{fine}");
    }
}

#[test]
fn the_report_loads_nothing_from_anywhere() {
    let mut r = results("shop", two_gates(), false);
    r.settings.host = "https://shop.example.com:8443".into();
    r.requests[0].name = "https://evil.example/x.js".into();
    r.failures[0].message =
        "see url(http://evil.example/a.png) @import 'https://evil.example/b.css'".into();
    r.time_series = (1..=5).map(|i| point(f64::from(i), 5, Some(2.0))).collect();
    let html = render(&r);
    assert_eq!(external_refs(&html), Vec::<String>::new());
    // The host is there, as text.
    assert!(html.contains("<code>https://shop.example.com:8443</code>"));
    // And no URL at all comes from the page itself (no namespace, no link): only the results' text has any.
    let mut plain = results("shop", two_gates(), false);
    plain.settings.host = "shop.example.com".into();
    plain.time_series = r.time_series.clone();
    assert!(!render(&plain).contains("://"));
    // No script of any kind, no font or image fetch.
    for banned in [
        "<script",
        "<iframe",
        "<object",
        "<embed",
        "@font-face",
        "<img",
        "<link rel=\"stylesheet\"",
    ] {
        assert!(!html.contains(banned), "{banned}");
    }
}

#[test]
fn the_report_has_every_section_and_fails_gates_first() {
    let mut gates = two_gates();
    gates.as_array_mut().unwrap().reverse(); // the failing gate second in the results
    let mut r = results("shop", gates, false);
    r.time_series = (1..=10)
        .map(|i| point(f64::from(i), i as u64 * 5, Some(f64::from(i))))
        .collect();
    let start = start_unix(&r).unwrap();
    r.failures[0].first_seen = Some(start + 2);
    r.failures[0].last_seen = Some(start + 75);
    let html = render(&r);
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(html.ends_with("</html>\n"));
    assert!(
        html.contains(
            "<header class=\"verdict fail\" role=\"banner\"><div class=\"word\">FAIL</div>"
        )
    );
    assert!(html.contains("1 of 2 gates failed"));
    for id in [
        "warnings",
        "run",
        "gates",
        "over-time",
        "requests",
        "distribution",
        "status-codes",
        "failures",
    ] {
        section(&html, id);
    }
    assert!(!html.contains("id=\"interrupted\""));
    // Warnings, prominent.
    assert!(
        section(&html, "warnings")
            .contains("<li>loadgen&#39;s own CPU reached 95% of 4 core(s)</li>")
    );
    // Failing gates first.
    let gates = section(&html, "gates");
    let fail = gates.find("badge fail").unwrap();
    let pass = gates.find("badge pass").unwrap();
    assert!(fail < pass, "{gates}");
    let rows: Vec<Vec<String>> = body_rows(gates).into_iter().map(cells).collect();
    assert_eq!(
        rows[0],
        ["FAIL", "all requests", "p95_ms", "< 500 ms", "612 ms"]
    );
    assert_eq!(
        rows[1],
        ["PASS", "home", "success_rate", ">= 99%", "100.00%"]
    );
    // The run.
    let run = section(&html, "run");
    for text in [
        "shop.toml",
        "http://127.0.0.1:8080",
        "50 (peak 50)",
        "50 users at 10/s",
        "10.0 s",
        "2025-01-02T03:04:05.678Z",
        "2025-01-02T03:04:15.678Z",
        "r-1",
        "0.1.0",
        "<dt>Interrupted</dt><dd>no</dd>",
    ] {
        assert!(run.contains(text), "{text} in {run}");
    }
    // Requests: every row, the Aggregated one last, console number format.
    let reqs = section(&html, "requests");
    let rows = body_rows(reqs);
    assert_eq!(rows.len(), 3, "{reqs}");
    assert_eq!(cells(rows[0])[1], "home");
    assert_eq!(cells(rows[1])[1..4], ["cart|add", "500", "10 (2.00%)"]);
    assert!(rows[2].starts_with(" class=\"total\">"), "{}", rows[2]);
    assert_eq!(
        cells(rows[2]),
        [
            "",
            "Aggregated",
            "1500",
            "10 (0.67%)",
            "150.00",
            "1.00",
            "50.0",
            "990",
            "12.0",
            "40.0",
            "612",
            "812",
            "900"
        ]
    );
    // Status codes per request.
    let codes = section(&html, "status-codes");
    assert!(codes.contains("<th class=\"n c2\">200</th><th class=\"n c5\">500</th>"));
    assert!(codes.contains("<td>cart|add</td><td class=\"n\">490</td><td class=\"n\">10</td>"));
    // Failures, with when they were seen.
    let failures = section(&html, "failures");
    assert_eq!(
        cells(body_rows(failures)[0])[..5],
        [
            "10",
            "POST",
            "cart|add",
            "status",
            "status 500 (expected 2xx)"
        ]
    );
    assert!(
        failures.contains("03:04:07 <span class=\"na\">+2s</span>"),
        "{failures}"
    );
    assert!(
        failures.contains("03:05:20 <span class=\"na\">+1m15s</span>"),
        "{failures}"
    );
    // Three charts over time, one distribution per request plus Aggregated.
    assert_eq!(section(&html, "over-time").matches("<svg").count(), 3);
    assert_eq!(section(&html, "distribution").matches("<svg").count(), 3);
    // Every chart is labelled for screen readers, with unique ids.
    let ids: Vec<&str> = html
        .match_indices("<title id=\"")
        .map(|(i, _)| &html[i + 11..i + 11 + html[i + 11..].find('"').unwrap()])
        .collect();
    assert_eq!(ids.len(), 6);
    let unique: BTreeSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    assert_eq!(html.matches("role=\"img\" aria-labelledby=").count(), 6);
    // The same results make the same page.
    assert_eq!(render(&r), html);
}

#[test]
fn interrupted_and_passing_verdicts() {
    let cut = render(&results("shop", two_gates(), true));
    assert!(cut.contains("<div class=\"word\">INTERRUPTED</div>"));
    assert!(section(&cut, "interrupted").contains("after 4.5 s of the planned 10.0 s"));
    assert!(cut.contains("<dt>Interrupted</dt><dd><strong class=\"c5\">yes"));

    let mut ok = results("shop", serde_json::json!([]), false);
    ok.generator.warnings.clear();
    // Without gates, a failed request fails the run: FAIL with the fixture's 10 failures, PASS without.
    let failing = render(&ok);
    assert!(
        failing.contains("<div class=\"word\">FAIL</div>"),
        "{failing}"
    );
    assert!(failing.contains("no gates; 10 of 1,500 requests failed"));
    ok.totals.failures = 0;
    let ok = render(&ok);
    assert!(
        ok.contains(
            "<header class=\"verdict pass\" role=\"banner\"><div class=\"word\">PASS</div>"
        )
    );
    assert!(ok.contains("No gates defined"));
    assert!(!ok.contains("id=\"warnings\""));
}

/// A run that did nothing: no requests, no time series, no gates.
fn empty() -> RunResults {
    let mut r = results("idle", serde_json::json!([]), false);
    r.requests.clear();
    r.failures.clear();
    r.generator.warnings.clear();
    let a = &mut r.aggregated;
    a.requests = 0;
    a.failures = 0;
    a.min_ms = None;
    a.mean_ms = None;
    a.max_ms = None;
    a.percentiles_ms = None;
    a.status_codes.clear();
    r.totals.requests = 0;
    r.totals.failures = 0;
    r
}

#[test]
fn an_empty_run_renders_every_section() {
    let html = render(&empty());
    let over = section(&html, "over-time");
    assert_eq!(over.matches("<svg").count(), 3);
    assert_eq!(over.matches("no data points").count(), 2);
    assert!(over.contains("no timed requests"));
    assert!(!over.contains("<polyline") && !over.contains("<circle"));
    let reqs = section(&html, "requests");
    assert!(
        reqs.contains("<td>Aggregated</td><td class=\"n\">0</td><td class=\"n\">0 (0.00%)</td>")
    );
    assert_eq!(
        reqs.matches("<td class=\"n\"><span class=\"na\">N/A</span></td>")
            .count(),
        8
    );
    assert!(
        section(&html, "distribution")
            .contains("<h3>Aggregated</h3><div class=\"nodata\">no requests</div>")
    );
    assert!(section(&html, "status-codes").contains("No responses."));
    assert!(section(&html, "failures").contains("No failures."));
    assert!(section(&html, "gates").contains("No gates defined"));
    assert!(html.contains("<b>N/A</b>"), "the p50 tile");
}

#[test]
fn one_point_and_null_percentiles() {
    let mut r = empty();
    r.time_series = vec![point(1.0, 3, Some(5.0))];
    let one = render(&r);
    let over = section(&one, "over-time");
    assert!(
        !over.contains("<polyline"),
        "one point is a dot, not a line"
    );
    assert_eq!(
        over.matches("<circle").count(),
        6,
        "rps, failures/s, p50, p95, p99, users"
    );

    r.time_series = (1..=4).map(|i| point(f64::from(i), 3, None)).collect();
    let nulls = render(&r);
    let latency = &nulls[nulls.find("id=\"ts-latency-t\"").unwrap()..];
    let latency = &latency[..latency.find("</svg>").unwrap()];
    assert!(latency.contains("no timed requests"));
    assert!(!latency.contains("<polyline") && !latency.contains("<circle"));
    // The other charts still draw their lines.
    assert_eq!(section(&nulls, "over-time").matches("<polyline").count(), 3);

    // A gap in the middle splits the line in two.
    r.time_series = (1..=7)
        .map(|i| point(f64::from(i), 3, (i != 4).then_some(2.0)))
        .collect();
    let gap = render(&r);
    let latency = &gap[gap.find("id=\"ts-latency-t\"").unwrap()..];
    let latency = &latency[..latency.find("</svg>").unwrap()];
    assert_eq!(
        polylines(latency).len(),
        6,
        "two runs for each of p50, p95, p99"
    );
}

#[test]
fn a_request_without_requests_gets_no_chart() {
    let mut r = results("shop", two_gates(), false);
    let q = &mut r.requests[1];
    q.requests = 0;
    q.failures = 0;
    q.percentiles_ms = None;
    q.min_ms = None;
    q.mean_ms = None;
    q.max_ms = None;
    let html = render(&r);
    let dist = section(&html, "distribution");
    assert!(dist.contains("<h3>POST cart|add</h3><div class=\"nodata\">no requests</div>"));
    assert_eq!(dist.matches("<svg").count(), 2, "home and Aggregated");
    // Failed before sending: requests but nothing timed.
    r.requests[1].requests = 3;
    let html = render(&r);
    assert!(
        section(&html, "distribution")
            .contains("no timed requests (every request failed before it was sent)")
    );
}

#[test]
fn the_distribution_is_drawn_from_the_histogram() {
    let mut r = results("shop", two_gates(), false);
    let mut h = crate::metrics::new_histogram();
    for v in 1..=1_000u64 {
        h.record(v).unwrap(); // 1 µs to 1 ms, each exact at 3 significant digits
    }
    r.requests[0].hdr = crate::results::Hist::of_some(&h);
    r.requests[0].ttfb_hdr = crate::results::Hist::of_some(&h);
    let html = render(&r);
    let dist = section(&html, "distribution");
    let home = &dist[dist.find("GET home").unwrap()..];
    let home = &home[..home.find("</figure>").unwrap()];
    assert!(home.contains(">response time</text>") && home.contains(">time to headers</text>"));
    assert!(!home.contains("reported percentiles only"));
    // 1,000 values: three nines, labelled like HdrHistogram's plots.
    for label in [">0%<", ">50%<", ">90%<", ">99%<", ">99.9%<"] {
        assert!(home.contains(label), "{label}");
    }
    assert!(!home.contains(">99.99%<"));
    let line = &polylines(home)[1]; // drawn first-on-top: [time to headers, response time]
    assert!(
        line.windows(2).all(|w| w[1].0 > w[0].0 && w[1].1 <= w[0].1),
        "rises left to right"
    );
    assert_eq!(
        line.last().unwrap().1,
        TOP,
        "the largest value (1 ms) is the top of the axis"
    );
    assert!(home.contains(">1.0</text>"), "{home}");
    // Without a histogram (a file written before they were stored), the reported percentiles are drawn.
    let cart = &dist[dist.find("POST cart|add").unwrap()..];
    assert!(cart[..cart.find("</figure>").unwrap()].contains("reported percentiles only"));
}

#[test]
fn a_known_series_fills_the_plot_area() {
    let c = Chart {
        id: "t".into(),
        title: "t".into(),
        desc: "d".into(),
        width: 600.0,
        height: 250.0,
        x: XAxis::Elapsed { max_s: 10.0 },
        y: YAxis::PerSecond,
        series: vec![Series {
            label: "requests/s".into(),
            color: "#000",
            dashed: false,
            points: vec![(0.0, Some(0.0)), (5.0, Some(40.0)), (10.0, Some(100.0))],
        }],
        empty: "none",
        marks: Vec::new(),
    };
    let svg = c.render();
    let line = &polylines(&svg)[0];
    assert_eq!(line[0], (LEFT, 250.0 - BOTTOM), "0 at the bottom left");
    assert_eq!(
        line[2],
        (600.0 - RIGHT, TOP),
        "the maximum at the top right"
    );
    let mid_y = 250.0 - BOTTOM - 0.4 * (250.0 - BOTTOM - TOP);
    assert!((line[1].1 - mid_y).abs() < 0.06, "{line:?}");
    for tick in [
        ">0</text>",
        ">20</text>",
        ">100</text>",
        ">4s</text>",
        ">10s</text>",
    ] {
        assert!(svg.contains(tick), "{tick} in {svg}");
    }
    assert!(svg.contains(">per second</text>") && svg.contains(">elapsed time</text>"));
    assert!(svg.contains("<title id=\"t-t\">t</title><desc id=\"t-d\">d</desc>"));
}

#[test]
fn axes_cope_with_huge_and_tiny_values() {
    assert_eq!(chart::y_range(100.0, false), (100.0, 20.0));
    assert_eq!(chart::y_range(0.0, false), (1.0, 0.2));
    assert_eq!(chart::y_range(3.0, true), (3.0, 1.0));
    let (top, step) = chart::y_range(0.3, false);
    assert!((top - 0.3).abs() < 1e-9 && (step - 0.1).abs() < 1e-9);
    // Ten minutes in ms is shown in seconds, with short labels.
    let c = Chart {
        id: "h".into(),
        title: "h".into(),
        desc: String::new(),
        width: 600.0,
        height: 250.0,
        x: XAxis::Elapsed { max_s: 3_600.0 },
        y: YAxis::Ms,
        series: vec![Series {
            label: "p99".into(),
            color: "#000",
            dashed: false,
            points: vec![(60.0, Some(1.0)), (3_600.0, Some(600_000.0))],
        }],
        empty: "none",
        marks: Vec::new(),
    };
    let svg = c.render();
    assert!(
        svg.contains(">s</text>") && svg.contains(">600</text>"),
        "{svg}"
    );
    assert!(!svg.contains("600000"));
    assert!(
        svg.contains(">1h</text>") && svg.contains(">30m</text>"),
        "{svg}"
    );
    assert_eq!(polylines(&svg)[0][1].1, TOP);
    assert_eq!(chart::elapsed_label(90), "1m30s");
    assert_eq!(chart::elapsed_label(3_900), "1h5m");
}

#[test]
fn a_one_hour_run_stays_small_and_keeps_its_spikes() {
    let mut points: Vec<(f64, Option<f64>)> =
        (1..=3_600).map(|i| (f64::from(i), Some(10.0))).collect();
    points[1_234].1 = Some(500.0);
    let kept = chart::decimate(&points, chart::MAX_POINTS);
    assert!(kept.len() <= chart::MAX_POINTS + 2, "{}", kept.len());
    assert!(kept.contains(&(1_235.0, Some(500.0))), "the spike survives");
    assert!(kept.windows(2).all(|w| w[1].0 > w[0].0), "in time order");

    let mut r = results("soak", two_gates(), false);
    r.duration_s = 3_600.0;
    r.time_series = (1..=3_600)
        .map(|i| point(f64::from(i), 100, Some(5.0 + f64::from(i % 17))))
        .collect();
    let html = render(&r);
    assert!(html.len() < 400_000, "{} bytes", html.len());
    for line in polylines(section(&html, "over-time")) {
        assert!(line.len() <= chart::MAX_POINTS + 2, "{}", line.len());
    }
    assert!(html.contains("3600 intervals, drawn as the lowest and highest value"));
}

#[test]
fn stage_boundaries_are_marked_and_an_arrival_rate_gets_its_iterations_chart() {
    let mut r = results("staged", serde_json::json!([]), false);
    r.duration_s = 60.0;
    r.settings.stages = [(10.0, 50), (20.0, 50), (0.0, 200), (30.0, 0)]
        .iter()
        .map(|&(d, u)| crate::report::StageInfo {
            duration_s: d,
            users: u,
            spawn_rate: None,
        })
        .collect();
    let html = render(&r);
    let over = section(&html, "over-time");
    // Stage 2 at 10 s; stages 3 (a 0 s step) and 4 both start at 30 s: one mark.
    assert_eq!(
        over.matches("<g class=\"marks\">").count(),
        3,
        "one group per chart"
    );
    assert_eq!(over.matches(">stage 2</text>").count(), 3);
    assert_eq!(over.matches(">stage 3/4</text>").count(), 3);
    assert!(!over.contains("ts-iterations"));

    r.settings.stages.clear();
    r.settings.arrival = Some(crate::report::ArrivalInfo {
        stages: vec![crate::report::RateStageInfo {
            duration_s: 0.0,
            rate: 100.0,
        }],
        queue_timeout_s: 1.0,
        planned_iterations: 6000,
    });
    let html = render(&r);
    let over = section(&html, "over-time");
    assert!(
        over.contains("id=\"ts-iterations-t\""),
        "the iterations chart"
    );
    assert!(over.contains("started/s") && over.contains("dropped/s"));
    assert!(
        !over.contains("class=\"marks\""),
        "one stage of 0 s: nothing to mark"
    );
}

#[test]
fn a_merged_series_of_a_long_run_is_drawn_over_its_whole_span() {
    // A 24-hour soak: the series was merged down to 3,600 points of 24 s each.
    let mut r = results("soak", two_gates(), false);
    r.duration_s = 86_400.0;
    r.time_series = (1..=3_600)
        .map(|i| point(f64::from(i) * 24.0, 100, Some(5.0)))
        .collect();
    let html = render(&r);
    let over_time = section(&html, "over-time");
    assert!(
        over_time.contains("3600 intervals of one to 24 seconds (older seconds merged) over 1day"),
        "{}",
        &over_time[..over_time.len().min(2_000)]
    );
    for line in polylines(over_time) {
        assert!(line.len() <= chart::MAX_POINTS + 2, "{}", line.len());
        let last = line.last().unwrap().0;
        assert!(
            last > 1_070.0,
            "the line reaches the right end of the plot: {last}"
        );
    }
}

#[test]
fn an_aborted_run_and_a_skipped_gate_are_shown() {
    let mut gates = two_gates();
    gates.as_array_mut().unwrap().push(serde_json::json!({
        "scope": "admin", "metric": "p95_ms", "op": "<", "threshold": 300.0, "measured": null,
        "passed": true, "skipped": "request not run: left out by --exclude-tags admin"
    }));
    let mut r = results("shop", gates, false);
    let gate: crate::gates::GateResult = serde_json::from_value(two_gates()[0].clone()).unwrap();
    r.aborted = Some(crate::verdict::Aborted { gate, at_s: 12.0 });
    let html = render(&r);
    assert!(html.contains("<div class=\"word\">FAIL</div>"), "{html}");
    let alert = section(&html, "aborted");
    assert!(
        alert.contains(
            "Gate p95_ms &lt; 500 ms for all requests failed at 12.0 s (measured 612 ms)"
        ),
        "{alert}"
    );
    assert!(
        html.contains("<span class=\"badge skip\">SKIP</span></td><td>admin</td>"),
        "{html}"
    );
    assert!(html.contains("skipped: request not run: left out by --exclude-tags admin"));
}
