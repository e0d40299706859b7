//! Python's `repr()` of `str` and `str(list_of_str)`.
//!
//! ReLLa renders the history as `f"{list_of_strings}"`, so the prompt text the LLM was tuned
//! on contains Python's quoting (`'...'`, or `"..."` around a title with an apostrophe). The
//! same bytes must come out of Rust, or the tokens differ from the reference prompts.

/// Non-printable code points at or above U+00A0 per Python 3.11 (Unicode 14) `str.isprintable`:
/// the assigned ones of categories Zs (but the space), Zl, Zp, Cc, Cf and Co. Made with
/// `unicodedata.category` over all code points. Unassigned code points (category Cn), which
/// Python also escapes, are kept as they are: the table would depend on the Python version.
const NON_PRINTABLE: &[(u32, u32)] = &[
    (0xA0, 0xA0),
    (0xAD, 0xAD),
    (0x600, 0x605),
    (0x61C, 0x61C),
    (0x6DD, 0x6DD),
    (0x70F, 0x70F),
    (0x890, 0x891),
    (0x8E2, 0x8E2),
    (0x1680, 0x1680),
    (0x180E, 0x180E),
    (0x2000, 0x200F),
    (0x2028, 0x202F),
    (0x205F, 0x2064),
    (0x2066, 0x206F),
    (0x3000, 0x3000),
    (0xE000, 0xF8FF),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x13438),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
    (0xF0000, 0xFFFFD),
    (0x100000, 0x10FFFD),
];

/// Whether Python would print `c` as is inside a `repr` (ASCII rules plus the table above).
fn is_printable(c: char) -> bool {
    let cp = u32::from(c);
    if cp < 0x20 || (0x7F..0xA0).contains(&cp) {
        return false;
    }
    if cp < 0xA0 {
        return true;
    }
    NON_PRINTABLE
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_err()
}

/// `repr(s)` as CPython writes it: single quotes unless `s` holds `'` and no `"`; backslash,
/// the chosen quote, `\t`, `\n`, `\r` escaped; other non-printables as `\xNN`, `\uNNNN` or
/// `\UNNNNNNNN` (lower-case hex); printable non-ASCII (é, 日本) kept.
pub fn python_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_printable(c) => out.push(c),
            c => {
                let cp = u32::from(c);
                let escaped = if cp < 0x100 {
                    format!("\\x{cp:02x}")
                } else if cp < 0x10000 {
                    format!("\\u{cp:04x}")
                } else {
                    format!("\\U{cp:08x}")
                };
                out.push_str(&escaped);
            }
        }
    }
    out.push(quote);
    out
}

/// `str(list_of_str)`: `[` + the reprs joined by `", "` + `]`.
pub fn python_list_repr(items: &[String]) -> String {
    let mut out = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&python_str_repr(item));
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (input, expected) pairs. The expected strings were printed by CPython 3.11.7 with
    /// `repr(t)` for each input `t`, then turned into Rust literals by a small script
    /// (non-ASCII non-printables written as `\u{..}`).
    #[test]
    fn str_repr_matches_cpython() {
        let cases = [
            ("Toy Story (1995)", "'Toy Story (1995)'"),
            ("Schindler's List (1993)", "\"Schindler's List (1993)\""),
            ("Say \"Hi\"", "'Say \"Hi\"'"),
            ("It's \"quoted\"", "'It\\'s \"quoted\"'"),
            ("back\\slash", "'back\\\\slash'"),
            ("tab\there", "'tab\\there'"),
            ("new\nline", "'new\\nline'"),
            ("cr\rx", "'cr\\rx'"),
            ("bell\u{7}", "'bell\\x07'"),
            ("del\u{7f}", "'del\\x7f'"),
            ("c1\u{85}", "'c1\\x85'"),
            ("Misérables, Les (1995)", "'Misérables, Les (1995)'"),
            ("nbsp\u{a0}x", "'nbsp\\xa0x'"),
            ("soft\u{ad}hyphen", "'soft\\xadhyphen'"),
            ("zw\u{200b}sp", "'zw\\u200bsp'"),
            ("line\u{2028}sep", "'line\\u2028sep'"),
            ("ideo\u{3000}sp", "'ideo\\u3000sp'"),
            ("emoji 😀", "'emoji 😀'"),
            ("bom\u{feff}", "'bom\\ufeff'"),
            ("priv\u{e000}", "'priv\\ue000'"),
            ("tag\u{e0041}", "'tag\\U000e0041'"),
            ("", "''"),
            ("'", "\"'\""),
            ("\"", "'\"'"),
            ("''\"", "'\\'\\'\"'"),
            ("日本語", "'日本語'"),
            ("\u{0}nul", "'\\x00nul'"),
            ("a'b\\c\"d", "'a\\'b\\\\c\"d'"),
        ];
        for (input, expected) in cases {
            assert_eq!(python_str_repr(input), expected, "input {input:?}");
        }
    }

    /// `repr([...])` outputs from CPython 3.11.7.
    #[test]
    fn list_repr_matches_cpython() {
        assert_eq!(python_list_repr(&[]), "[]");
        assert_eq!(python_list_repr(&["a".to_string()]), "['a']");
        let items = [
            "0. Toy Story (1995) (5 stars)".to_string(),
            "2. Schindler's List (1993) (5 stars)".to_string(),
        ];
        assert_eq!(
            python_list_repr(&items),
            "['0. Toy Story (1995) (5 stars)', \"2. Schindler's List (1993) (5 stars)\"]"
        );
    }

    #[test]
    fn printable_table_is_sorted_and_disjoint() {
        for pair in NON_PRINTABLE.windows(2) {
            assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0);
        }
    }
}
