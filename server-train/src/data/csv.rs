//! A minimal RFC 4180 line splitter for the MovieLens CSV files.
//!
//! Titles with commas are quoted (`"American President, The (1995)"`) and a quote inside a
//! quoted field is doubled. No MovieLens field spans lines, so a quote left open at the end
//! of the line is an error rather than a continuation.

use std::borrow::Cow;

use super::LineProblem;

/// The fields of one CSV line; unquoted fields borrow, unescaped quoted ones are owned.
pub fn split_csv(line: &str) -> Result<Vec<Cow<'_, str>>, LineProblem> {
    if !line.contains('"') {
        return Ok(line.split(',').map(Cow::Borrowed).collect());
    }
    let mut fields = Vec::new();
    let mut chars = line.char_indices().peekable();
    let mut start = 0usize;
    let mut quoted: Option<String> = None;
    while let Some((i, c)) = chars.next() {
        match (&mut quoted, c) {
            (Some(text), '"') => {
                if matches!(chars.peek(), Some((_, '"'))) {
                    text.push('"');
                    chars.next();
                } else {
                    // Closing quote: the field must end here.
                    let value = quoted.take().unwrap_or_default();
                    match chars.next() {
                        None => {
                            fields.push(Cow::Owned(value));
                            return Ok(fields);
                        }
                        Some((j, ',')) => {
                            fields.push(Cow::Owned(value));
                            start = j + 1;
                            if chars.peek().is_none() {
                                fields.push(Cow::Borrowed(""));
                                return Ok(fields);
                            }
                        }
                        Some(_) => {
                            return Err(LineProblem::BadValue {
                                field: "quoted field",
                                value: line.to_string(),
                                expected: "a comma or the line end after the closing quote",
                            });
                        }
                    }
                }
            }
            (Some(text), c) => text.push(c),
            (None, '"') if i == start => quoted = Some(String::new()),
            (None, ',') => {
                fields.push(Cow::Borrowed(&line[start..i]));
                start = i + 1;
            }
            (None, _) => {}
        }
    }
    if quoted.is_some() {
        return Err(LineProblem::UnterminatedQuote);
    }
    fields.push(Cow::Borrowed(&line[start..]));
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Vec<String> {
        split_csv(line)
            .expect("valid")
            .into_iter()
            .map(Cow::into_owned)
            .collect()
    }

    #[test]
    fn splits_quoted_titles_with_commas_and_doubled_quotes() {
        assert_eq!(
            split("1,Toy Story (1995),Comedy"),
            ["1", "Toy Story (1995)", "Comedy"]
        );
        assert_eq!(
            split("11,\"American President, The (1995)\",Comedy|Drama|Romance"),
            [
                "11",
                "American President, The (1995)",
                "Comedy|Drama|Romance"
            ]
        );
        assert_eq!(
            split("7,\"Say \"\"Hi\"\", Bob\",Drama"),
            ["7", "Say \"Hi\", Bob", "Drama"]
        );
        assert_eq!(split("a,\"b\""), ["a", "b"]);
        assert_eq!(split("a,\"b\","), ["a", "b", ""]);
        assert_eq!(split("a,,c"), ["a", "", "c"]);
        // A quote that does not open the field is literal.
        assert_eq!(split("a,b\"c,d"), ["a", "b\"c", "d"]);
    }

    #[test]
    fn rejects_unterminated_or_garbled_quotes() {
        assert!(matches!(
            split_csv("1,\"open title,Drama"),
            Err(LineProblem::UnterminatedQuote)
        ));
        assert!(split_csv("1,\"a\"b,Drama").is_err());
    }
}
