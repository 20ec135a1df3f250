//! Text that came from outside (a scenario line, a file name, a value) made safe to show on a terminal or in a
//! log: control characters are escaped and very long text is cut.
//!
//! A scenario file, a data file or a path can hold anything: an ESC byte that recolours or clears the user's
//! terminal, a NUL, a bidirectional override that makes a line read differently from what it is (the "Trojan
//! Source" trick), or a 10 MB line. Everything an error prints goes through here, at the edge, so that no message
//! has to remember it: [`crate::scenario::ScenarioError`] renders its snippet with [`snippet`], and
//! [`crate::print_error`] passes every line through [`terminal_line`].

use std::borrow::Cow;

/// The longest line an error prints, in characters: a longer one keeps its start and its end around an
/// ellipsis.
pub const MAX_LINE: usize = 2000;

/// A snippet line of at most this many characters is shown whole.
pub const SNIPPET_WHOLE: usize = 200;

/// Characters of a longer snippet line shown on each side of the caret; the rest is cut (`…`).
pub const SNIPPET_SIDE: usize = 80;

/// The escaped form of `c` when it must not reach a terminal as is: C0 and C1 controls, DEL, and the Unicode
/// format characters that reorder or break lines (bidirectional overrides and isolates, marks, line and
/// paragraph separators, the BOM). `None` for a character shown as itself. A tab is shown as four spaces.
pub fn escape(c: char) -> Option<String> {
    let special = c.is_control()
        || matches!(
            c,
            '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        );
    if !special {
        return None;
    }
    Some(match c {
        '\t' => "    ".to_string(),
        c if (c as u32) < 0x80 => format!("\\x{:02x}", c as u32),
        c => format!("\\u{{{:x}}}", c as u32),
    })
}

/// `s` with every character [`escape`] names escaped, newlines included.
pub fn escape_all(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| escape(c).is_some()) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match escape(c) {
            Some(e) => out.push_str(&e),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// `s` cut to at most `max` characters (plus the ellipsis): its start and its end, with ` … ` between.
pub fn clip(s: &str, max: usize) -> Cow<'_, str> {
    let max = max.max(2);
    // Cheap first test: a string of at most `max` bytes has at most `max` characters.
    if s.len() <= max || s.chars().count() <= max {
        return Cow::Borrowed(s);
    }
    let head = max * 2 / 3;
    let tail = max - head;
    let head_end = s.char_indices().nth(head).map_or(s.len(), |(i, _)| i);
    let tail_start = s
        .char_indices()
        .rev()
        .nth(tail.saturating_sub(1))
        .map_or(head_end, |(i, _)| i.max(head_end));
    Cow::Owned(format!("{} … {}", &s[..head_end], &s[tail_start..]))
}

/// One line of an error message as the terminal gets it: escaped (see [`escape`]) and cut to [`MAX_LINE`]
/// characters.
pub fn terminal_line(line: &str) -> Cow<'_, str> {
    match clip(line, MAX_LINE) {
        Cow::Borrowed(b) => escape_all(b),
        Cow::Owned(o) => Cow::Owned(escape_all(&o).into_owned()),
    }
}

/// Text of several lines as the terminal gets it: each line through [`terminal_line`], the line breaks kept.
pub fn terminal_text(text: &str) -> Cow<'_, str> {
    let clean = |l: &str| matches!(terminal_line(l), Cow::Borrowed(_));
    if text.split('\n').all(clean) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.split('\n')
            .map(terminal_line)
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// A source line as a snippet shows it, and the padding that puts a caret under character `column` (1-based;
/// past the end means just after the last character). The line is escaped (see [`escape`]) and, when it is
/// longer than [`SNIPPET_WHOLE`] characters, cut to [`SNIPPET_SIDE`] characters on each side of the caret, an
/// ellipsis marking each cut; the padding follows the escapes, so the caret stays under the character it points
/// at. Its output is bounded whatever the line: at most `SNIPPET_WHOLE` characters of it (or
/// `2 * SNIPPET_SIDE + 1`), each at most 10 characters once escaped.
pub fn snippet(line: &str, column: usize) -> (String, String) {
    let caret = column.saturating_sub(1);
    let whole = line.chars().take(SNIPPET_WHOLE + 1).count() <= SNIPPET_WHOLE;
    let (first, last) = if whole {
        (0, SNIPPET_WHOLE)
    } else {
        (
            caret.saturating_sub(SNIPPET_SIDE),
            caret.saturating_add(SNIPPET_SIDE),
        )
    };
    let mut shown = String::new();
    let mut pad = String::new();
    if first > 0 {
        shown.push('…');
        pad.push(' ');
    }
    let mut chars = line.chars().enumerate().skip(first);
    for (i, c) in chars.by_ref() {
        let piece = escape(c).unwrap_or_else(|| c.to_string());
        if i < caret {
            pad.extend(std::iter::repeat_n(' ', piece.chars().count()));
        }
        shown.push_str(&piece);
        if i >= last {
            break;
        }
    }
    if chars.next().is_some() {
        shown.push('…');
    }
    (shown, pad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn controls_are_escaped_and_plain_text_is_borrowed() {
        assert_eq!(
            escape_all("a\x1b[31mb\0c\u{9b}d\u{202e}e\n"),
            "a\\x1b[31mb\\x00c\\u{9b}d\\u{202e}e\\x0a"
        );
        assert!(matches!(escape_all("plain ünïcode"), Cow::Borrowed(_)));
        assert_eq!(escape_all("a\tb"), "a    b");
    }

    #[test]
    fn clip_keeps_the_start_and_the_end() {
        let long = format!("start{}end", "x".repeat(10_000));
        let c = clip(&long, 100);
        assert!(
            c.starts_with("start") && c.ends_with("end") && c.contains(" … "),
            "{c}"
        );
        assert!(c.chars().count() <= 103, "{}", c.chars().count());
        assert!(matches!(clip("short", 100), Cow::Borrowed(_)));
        // Multi-byte characters are never split.
        let wide = "é".repeat(5000);
        assert!(clip(&wide, 10).chars().count() <= 13);
    }

    #[test]
    fn a_snippet_keeps_its_caret_under_the_character() {
        let (shown, pad) = snippet("a\x1bbc", 3);
        assert_eq!(shown, "a\\x1bbc");
        // `a` then the four characters of `\x1b`: the caret is under `b`.
        assert_eq!(pad, "     ");
        assert_eq!(&shown[pad.len()..pad.len() + 1], "b");
    }

    #[test]
    fn a_long_line_is_cut_around_the_caret() {
        let line = format!("{}X{}", "a".repeat(10_000_000), "b".repeat(10_000_000));
        let (shown, pad) = snippet(&line, 10_000_001);
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        assert!(shown.chars().count() <= 2 * SNIPPET_SIDE + 3);
        assert_eq!(shown.chars().nth(pad.chars().count()), Some('X'));
    }

    #[test]
    fn a_line_of_up_to_snippet_whole_characters_is_shown_whole() {
        let line = format!("{}X", "a".repeat(SNIPPET_WHOLE - 1));
        let (shown, pad) = snippet(&line, SNIPPET_WHOLE);
        assert_eq!(shown, line);
        assert_eq!(pad.len(), SNIPPET_WHOLE - 1);
        let longer = format!("{line}b");
        let (shown, _) = snippet(&longer, SNIPPET_WHOLE);
        assert!(shown.starts_with('…') && shown.ends_with("Xb"), "{shown}");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Whatever the line and the column: no panic, no control character, a bounded length, a short line
        /// shown whole, and the caret under the first character of the one it points at (escaped or not).
        #[test]
        fn snippets_are_bounded_and_clean(line in "\\PC{0,300}|[\\x00-\\x20\\x7f-\\u{a0}\\u{202a}-\\u{202e}a-z]{0,300}", column in 0usize..400) {
            let (shown, pad) = snippet(&line, column);
            prop_assert!(shown.chars().all(|c| escape(c).is_none()), "{:?}", shown);
            prop_assert!(pad.chars().all(|c| c == ' '));
            prop_assert!(shown.chars().count() <= SNIPPET_WHOLE.max(2 * SNIPPET_SIDE + 1) * 10 + 2);
            let n = line.chars().count();
            if n <= SNIPPET_WHOLE {
                prop_assert_eq!(&shown, &escape_all(&line));
            }
            let caret = column.saturating_sub(1);
            if caret < n {
                let want = line.chars().nth(caret).unwrap();
                let at: String = shown.chars().skip(pad.chars().count()).collect();
                let expected = escape(want).unwrap_or_else(|| want.to_string());
                prop_assert!(at.starts_with(&expected), "{:?} / {:?} / {:?}", shown, pad, expected);
            }
        }

        #[test]
        fn terminal_lines_are_bounded_and_clean(s in "\\PC{0,3000}|[\\x00-\\x20\\x7f-\\u{a0}a-z]{0,3000}") {
            let t = terminal_line(&s);
            prop_assert!(t.chars().all(|c| escape(c).is_none()));
            // Each kept character escapes to at most 10.
            prop_assert!(t.chars().count() <= (MAX_LINE + 3) * 10);
        }
    }
}
