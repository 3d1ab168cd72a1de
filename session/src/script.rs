//! SQL scripts: splitting text into statements that keep their original text and line numbers,
//! so errors can point at the statement that failed, and `${name}` variables filled in first
//! (`ember submit --var name=value`).

use std::collections::HashMap;

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

/// `script` with every `${name}` replaced by `variables[name]`, as text (inside strings too,
/// as Spark SQL's and Hive's variables are). A name is a letter or `_`, then letters, digits,
/// `_` or `.`. A `$` not followed by `{` stays as written. Line numbers of the result are the
/// script's when no value spans lines.
///
/// # Errors
/// A `${name}` without a value, or a `${` without a valid name and `}`: the error names the
/// line.
pub fn substitute_variables(
    script: &str,
    variables: &HashMap<String, String>,
) -> Result<String, ScriptSyntaxError> {
    let mut out = String::with_capacity(script.len());
    let mut rest = script;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let line = script[..script.len() - rest.len() + start]
            .matches('\n')
            .count()
            + 1;
        let after = &rest[start + 2..];
        let name = after
            .find('}')
            .map(|end| &after[..end])
            .filter(|name| is_variable_name(name))
            .ok_or_else(|| ScriptSyntaxError {
                line,
                message: "`${` must start a variable `${name}`".to_string(),
            })?;
        let value = variables.get(name).ok_or_else(|| ScriptSyntaxError {
            line,
            message: format!("variable `${{{name}}}` has no value; pass --var {name}=VALUE"),
        })?;
        out.push_str(value);
        rest = &after[name.len() + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Whether `name` is a variable name: a letter or `_`, then letters, digits, `_` or `.`.
fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_replaced_as_text_and_missing_ones_named_with_their_line() {
        let variables: HashMap<String, String> = [("day", "2026-11-26"), ("t.name", "orders")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(
            substitute_variables(
                "SELECT * FROM ${t.name}\nWHERE d = '${day}' AND cost > $1 AND x = '$';",
                &variables
            )
            .unwrap(),
            "SELECT * FROM orders\nWHERE d = '2026-11-26' AND cost > $1 AND x = '$';"
        );
        let missing = substitute_variables("SELECT 1;\nSELECT ${month}", &variables).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "line 2: variable `${month}` has no value; pass --var month=VALUE"
        );
        for bad in ["SELECT ${", "SELECT ${1x}", "SELECT ${a b}"] {
            let error = substitute_variables(bad, &variables).unwrap_err();
            assert_eq!(error.line, 1, "{bad}");
        }
    }

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
