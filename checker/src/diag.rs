//! Diagnostics for bad input: file, line and column, what was expected, and a hint,
//! rendered the way rustc and cargo do.

use std::fmt;
use std::ops::Range;

#[derive(Clone, Debug, PartialEq, Eq)]
/// An error in an input file, located: the file, line and column, what is wrong,
/// and how to fix it.
pub struct Diagnostic {
    /// The file.
    pub path: String,
    /// 1-based line and column of the start of the offending text.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// The source line, and the 0-based character range to underline in it.
    pub snippet: Option<(String, Range<usize>)>,
    /// How to fix it, if there is a suggestion.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic pointing at byte range `span` of `src`.
    pub fn at(path: &str, src: &str, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        let start = span.start.min(src.len());
        let line_start = src[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = src[start..].find('\n').map_or(src.len(), |i| start + i);
        let line_text = src[line_start..line_end].trim_end_matches('\r').to_string();
        let line = src[..start].matches('\n').count() + 1;
        let col0 = src[line_start..start].chars().count();
        let end = span.end.clamp(start, line_end);
        let width = src[start..end].chars().count().max(1);
        Diagnostic {
            path: path.to_string(),
            line,
            column: col0 + 1,
            message: message.into(),
            snippet: Some((line_text, col0..col0 + width)),
            help: None,
        }
    }

    /// A diagnostic about a whole file (no position known): line 1, column 1.
    pub fn file(path: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic { path: path.to_string(), line: 1, column: 1, message: message.into(), snippet: None, help: None }
    }

    /// The same diagnostic with `help` saying how to fix it.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
}

/// `text` safe to print on a terminal: control characters other than a line break
/// (ESC, BEL, a carriage return...) become visible escapes such as `\u{1b}`, so a file
/// cannot clear the screen or retitle the window through a message about it. A tab
/// becomes a space, keeping a snippet's underline in place.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\n') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push('\n'),
            '\t' => out.push(' '),
            c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "error: {}", printable(&self.message))?;
        let gutter = " ".repeat(self.line.to_string().len());
        write!(f, "{gutter}--> {}:{}:{}", printable(&self.path), self.line, self.column)?;
        if let Some((text, range)) = &self.snippet {
            writeln!(f)?;
            writeln!(f, "{gutter} |")?;
            writeln!(f, "{} | {}", self.line, printable(text))?;
            write!(f, "{gutter} | {}{}", " ".repeat(range.start), "^".repeat(range.len()))?;
        }
        if let Some(help) = &self.help {
            writeln!(f)?;
            write!(f, "{gutter} = help: {}", printable(help))?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for cand in candidates {
        let d = edit_distance(&word.to_lowercase(), &cand.to_lowercase());
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    best.filter(|&(d, c)| d <= (c.len().max(word.len()) / 3).max(1)).map(|(_, c)| c)
}

/// Edit distance where swapping two neighbouring letters counts once ("optimal string
/// alignment"), so `dsit` is one step from `dist`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * w + j] + 1).min(d[i * w + j - 1] + 1).min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = best;
        }
    }
    d[a.len() * w + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_at_line_and_column() {
        let src = "a = 1\nnodes = \"five\"\n";
        let d = Diagnostic::at("x.toml", src, 14..20, "bad");
        assert_eq!((d.line, d.column), (2, 9));
        let text = d.to_string();
        assert!(text.contains("--> x.toml:2:9"), "{text}");
        assert!(text.contains("        ^^^^^^"), "{text}");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let src = "name = \"\u{1b}[2J\u{7}x\"\n";
        let d = Diagnostic::at("x\u{1b}.toml", src, 7..12, "bad \u{1b}]0;title\u{7}");
        let text = d.to_string();
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
        assert!(text.contains("\\u{1b}[2J"), "{text}");
        assert_eq!(printable("plain\nlines"), "plain\nlines");
    }

    #[test]
    fn suggests_close_names() {
        assert_eq!(closest("parition", ["partition", "crash"]), Some("partition"));
        assert_eq!(closest("zzz", ["partition", "crash"]), None);
        assert_eq!(closest("dsit", ["dist", "value", "min"]), Some("dist"));
        assert_eq!(edit_distance("ab", "ba"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
