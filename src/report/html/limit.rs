//! Issue 21 item 3: the HTML report's section for a limit search (`run --find-limit`): the answer in a line,
//! every step judged, and what failed at the step that ended it. Shown only when the results have a `limit`.

use std::fmt::Write as _;

use super::{escape, gate_row, opt_ms};
use crate::results::limit::{Limit, fmt_level};

/// The section, after the gates.
pub(super) fn section(s: &mut String, l: &Limit) {
    let _ = write!(
        s,
        "<section id=\"limit\"><h2>Limit search</h2><p><strong>{}</strong></p><p>{} from {} by {} to {}, \
         each held {:.0} s and judged on that part alone.</p><div class=\"scroll\"><table class=\"gates\">\
         <thead><tr><th>Result</th><th>Stage</th><th class=\"n\">Level</th><th class=\"n\">Requests</th>\
         <th class=\"n\">Failures</th><th class=\"n\">req/s</th><th class=\"n\">p95 (ms)</th></tr></thead><tbody>",
        escape(&l.line()),
        escape(&l.unit),
        fmt_level(l.start),
        fmt_level(l.step),
        fmt_level(l.max),
        l.hold_s
    );
    for st in &l.steps {
        let (class, word) = if st.passed {
            ("pass", "PASS")
        } else {
            ("fail", "FAIL")
        };
        let _ = write!(
            s,
            "<tr{}><td><span class=\"badge {class}\">{word}</span></td><td>stage {}</td><td class=\"n\">{} {}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}</td><td class=\"n\">{}</td></tr>",
            if st.passed { "" } else { " class=\"failed\"" },
            st.stage,
            fmt_level(st.level),
            escape(&l.unit),
            st.requests,
            st.failures,
            st.rps,
            opt_ms(st.p95_ms)
        );
    }
    s.push_str("</tbody></table></div>");
    if !l.failed_gates.is_empty() {
        s.push_str(
            "<h3>Failed at the last step</h3><div class=\"scroll\"><table class=\"gates\"><thead><tr><th>Result</th>\
             <th>Scope</th><th>Metric</th><th class=\"n\">Target</th><th class=\"n\">Measured</th></tr></thead><tbody>",
        );
        for g in &l.failed_gates {
            gate_row(s, g);
        }
        s.push_str("</tbody></table></div>");
    }
    if !l.endpoints.is_empty() || !l.failure_kinds.is_empty() {
        s.push_str("<ul>");
        for e in &l.endpoints {
            let _ = write!(
                s,
                "<li>{}: {} of {} requests failed (p95 {} ms)</li>",
                escape(&e.name),
                e.failures,
                e.requests,
                opt_ms(e.p95_ms)
            );
        }
        if !l.failure_kinds.is_empty() {
            let kinds: Vec<String> = l
                .failure_kinds
                .iter()
                .map(|(k, n)| format!("{}: {n}", escape(k)))
                .collect();
            let _ = write!(s, "<li>failures by kind: {}</li>", kinds.join(", "));
        }
        s.push_str("</ul>");
    }
    for g in &l.generator {
        let _ = write!(
            s,
            "<p class=\"c5\">loadgen was the limit: {}</p>",
            escape(g)
        );
    }
    s.push_str("</section>\n");
}
