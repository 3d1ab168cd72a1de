//! SQL scripts: splitting text into statements that keep their original text and line numbers,
//! so errors can point at the statement that failed.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};

/// One statement of a script, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptStatement {
    /// The statement's text without the terminating `;`, from its first token (leading comments
    /// and blank lines dropped).
    pub text: String,
    /// 1-based line where the statement starts.
    pub line: usize,
}

impl ScriptStatement {
    /// The statement on one line, shortened to about `max_chars` characters, for error messages.
    pub fn summary(&self, max_chars: usize) -> String {
        let one_line = self.text.split_whitespace().collect::<Vec<_>>().join(" ");
        if one_line.chars().count() <= max_chars {
            one_line
        } else {
            let cut: String = one_line.chars().take(max_chars.saturating_sub(3)).collect();
            format!("{cut}...")
        }
    }
}

/// A script that cannot be split: an unterminated string, quoted identifier or comment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ScriptSyntaxError {
    /// 1-based line of the problem.
    pub line: usize,
    /// The tokenizer's description.
    pub message: String,
}

/// Splits `script` at top-level `;` (not inside strings, identifiers or comments). Statements
/// made only of comments or whitespace are dropped. `--` and `/* */` comments inside a statement
/// are kept in its text.
pub fn split_statements(script: &str) -> Result<Vec<ScriptStatement>, ScriptSyntaxError> {
    let tokens = Tokenizer::new(&GenericDialect {}, script)
        .with_unescape(false)
        .tokenize_with_location()
        .map_err(|e| ScriptSyntaxError {
            line: e.location.line as usize,
            message: e.message,
        })?;
    let offsets = LineOffsets::new(script);
    let mut statements = Vec::new();
    let mut start: Option<Location> = None;
    for token in &tokens {
        match &token.token {
            Token::Whitespace(_) => {}
            Token::SemiColon | Token::EOF => {
                if let Some(first) = start.take() {
                    let from = offsets.byte_offset(script, first);
                    let to = offsets.byte_offset(script, token.span.start);
                    statements.push(ScriptStatement {
                        text: script[from..to].trim_end().to_string(),
                        line: first.line as usize,
                    });
                }
            }
            _ => {
                start.get_or_insert(token.span.start);
            }
        }
    }
    // The tokenizer emits no EOF token: close a final statement that has no `;`.
    if let Some(first) = start {
        let from = offsets.byte_offset(script, first);
        statements.push(ScriptStatement {
            text: script[from..].trim_end().to_string(),
            line: first.line as usize,
        });
    }
    Ok(statements)
}

/// Byte offset of the start of each line, to turn tokenizer locations into string slices.
struct LineOffsets(Vec<usize>);

impl LineOffsets {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self(starts)
    }

    /// Converts a 1-based (line, character column) location to a byte offset into `text`.
    fn byte_offset(&self, text: &str, location: Location) -> usize {
        let line_start = self.0[(location.line as usize).saturating_sub(1)];
        let column = (location.column as usize).saturating_sub(1);
        text[line_start..]
            .char_indices()
            .nth(column)
            .map_or(text.len(), |(offset, _)| line_start + offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_top_level_semicolons_only() {
        let script = "-- header comment\nSELECT 'a;b' AS x;\n\n  SELECT \"c;d\" /* ; */ FROM t\n  WHERE y = 1;\n-- trailing\n";
        let statements = split_statements(script).unwrap();
        assert_eq!(
            statements,
            vec![
                ScriptStatement {
                    text: "SELECT 'a;b' AS x".into(),
                    line: 2
                },
                ScriptStatement {
                    text: "SELECT \"c;d\" /* ; */ FROM t\n  WHERE y = 1".into(),
                    line: 4
                },
            ]
        );
    }

    #[test]
    fn keeps_a_final_statement_without_semicolon_and_handles_unicode() {
        let statements = split_statements("SELECT 'é';;SELECT 2").unwrap();
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[0].text, "SELECT 'é'");
        assert_eq!(statements[1].text, "SELECT 2");
    }

    #[test]
    fn unterminated_string_is_an_error_with_line() {
        let err = split_statements("SELECT 1;\nSELECT 'oops").unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn summary_is_one_short_line() {
        let statement = ScriptStatement {
            text: "SELECT a,\n       b\nFROM some_long_table_name".into(),
            line: 1,
        };
        assert_eq!(
            statement.summary(100),
            "SELECT a, b FROM some_long_table_name"
        );
        assert_eq!(statement.summary(12), "SELECT a,...");
    }
}
