//! The model statements Ember adds to SQL, recognised from the token stream before DataFusion
//! parses a statement (its parser has no `MODEL` statements):
//!
//! ```sql
//! CREATE [OR REPLACE] MODEL name OPTIONS (model_type = 'kmeans', k = 8, features = ['x', 'y']) AS query
//! SHOW MODELS
//! DESCRIBE MODEL name          -- or DESC MODEL name
//! DROP MODEL [IF EXISTS] name
//! ```
//!
//! Also finds the calls of `ml_predict`, `ml_evaluate` and `ml_predict_value` in any statement,
//! whose models must be loaded before DataFusion plans it.

use std::collections::BTreeMap;

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};
use ember_mllib::OptionValue;

use crate::error::{EmberError, Result};

/// How deep option lists may nest: a list of lists (per-column splits) is the deepest any
/// option takes.
const MAX_LIST_NESTING: usize = 8;

/// A model statement.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelStatement {
    /// `CREATE [OR REPLACE] MODEL`.
    Create {
        /// The model's name.
        name: String,
        /// `OR REPLACE` was given.
        or_replace: bool,
        /// `model_type`.
        model_type: String,
        /// The other options.
        options: BTreeMap<String, OptionValue>,
        /// The training query's text.
        query: String,
    },
    /// `SHOW MODELS`.
    Show,
    /// `DESCRIBE MODEL`.
    Describe {
        /// The model's name.
        name: String,
    },
    /// `DROP MODEL`.
    Drop {
        /// The model's name.
        name: String,
        /// `IF EXISTS` was given.
        if_exists: bool,
    },
}

/// The model statement `sql` is, `None` when it is another statement.
pub fn parse_model_statement(sql: &str) -> Result<Option<ModelStatement>> {
    let tokens = significant_tokens(sql)?;
    let mut cursor = Cursor {
        tokens: &tokens,
        next: 0,
    };
    let statement = if cursor.word("create") {
        let or_replace = cursor.word("or") && cursor.expect_word("replace")?;
        if !cursor.word("model") {
            return Ok(None);
        }
        let name = cursor.name()?;
        cursor.expect_word("options")?;
        let mut options = cursor.options()?;
        cursor.expect_word("as")?;
        let start = cursor.location()?;
        let query = sql[offset_of(sql, start)..]
            .trim()
            .trim_end_matches(';')
            .to_string();
        let model_type = match options.remove("model_type") {
            Some(OptionValue::Text(model_type)) => model_type.to_ascii_lowercase(),
            Some(other) => return Err(syntax(format!("model_type must be a string, got {other}"))),
            None => return Err(syntax("OPTIONS must include model_type".to_string())),
        };
        ModelStatement::Create {
            name,
            or_replace,
            model_type,
            options,
            query,
        }
    } else if cursor.word("show") {
        if !cursor.word("models") {
            return Ok(None);
        }
        ModelStatement::Show
    } else if cursor.word("describe") || cursor.word("desc") {
        if !cursor.word("model") {
            return Ok(None);
        }
        ModelStatement::Describe {
            name: cursor.name()?,
        }
    } else if cursor.word("drop") {
        if !cursor.word("model") {
            return Ok(None);
        }
        let if_exists = cursor.word("if") && cursor.expect_word("exists")?;
        ModelStatement::Drop {
            name: cursor.name()?,
            if_exists,
        }
    } else {
        return Ok(None);
    };
    if !matches!(&statement, ModelStatement::Create { .. }) {
        cursor.end()?;
    }
    Ok(Some(statement))
}

/// The ML function calls of a statement: `(function, model, table)` of each `ml_predict` /
/// `ml_evaluate` call whose arguments are string literals, and the model of each
/// `ml_predict_value` call.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MlCalls {
    /// `ml_predict('model', 'table')`.
    pub predict: Vec<(String, String)>,
    /// `ml_evaluate('model', 'table')`.
    pub evaluate: Vec<(String, String)>,
    /// `ml_predict_value('model', ...)`.
    pub predict_value: Vec<String>,
}

impl MlCalls {
    /// Every model named.
    pub fn models(&self) -> impl Iterator<Item = &String> {
        self.predict
            .iter()
            .chain(&self.evaluate)
            .map(|(model, _)| model)
            .chain(&self.predict_value)
    }
}

/// Finds the ML function calls in `sql`.
pub fn find_ml_calls(sql: &str) -> Result<MlCalls> {
    let tokens = significant_tokens(sql)?;
    let mut calls = MlCalls::default();
    for (index, token) in tokens.iter().enumerate() {
        let Token::Word(word) = &token.token else {
            continue;
        };
        let function = word.value.to_ascii_lowercase();
        let text = |offset: usize| match tokens.get(index + offset).map(|t| &t.token) {
            Some(Token::SingleQuotedString(text)) => Some(text.clone()),
            _ => None,
        };
        let is = |offset: usize, expected: Token| {
            tokens.get(index + offset).map(|t| &t.token) == Some(&expected)
        };
        if !is(1, Token::LParen) {
            continue;
        }
        match function.as_str() {
            "ml_predict" | "ml_evaluate" => {
                if let (Some(model), true, Some(table)) = (text(2), is(3, Token::Comma), text(4)) {
                    let list = if function == "ml_predict" {
                        &mut calls.predict
                    } else {
                        &mut calls.evaluate
                    };
                    list.push((model, table));
                }
            }
            "ml_predict_value" => calls.predict_value.extend(text(2)),
            _ => {}
        }
    }
    Ok(calls)
}

fn significant_tokens(sql: &str) -> Result<Vec<TokenWithSpan>> {
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .map_err(|error| syntax(error.to_string()))?;
    Ok(tokens
        .into_iter()
        .filter(|token| !matches!(token.token, Token::Whitespace(_)))
        .collect())
}

/// The byte offset of a 1-based (line, column in characters) location in `sql`.
fn offset_of(sql: &str, location: Location) -> usize {
    let mut line = 1;
    let mut column = 1;
    for (offset, character) in sql.char_indices() {
        if line == location.line && column == location.column {
            return offset;
        }
        if character == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    sql.len()
}

fn syntax(reason: String) -> EmberError {
    EmberError::ModelSql(format!("syntax error in model statement: {reason}"))
}

/// Reads tokens left to right.
struct Cursor<'a> {
    tokens: &'a [TokenWithSpan],
    next: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next).map(|t| &t.token)
    }

    /// Consumes the next token if it is the word `expected` (any case).
    fn word(&mut self, expected: &str) -> bool {
        let found =
            matches!(self.peek(), Some(Token::Word(w)) if w.value.eq_ignore_ascii_case(expected));
        if found {
            self.next += 1;
        }
        found
    }

    fn expect_word(&mut self, expected: &str) -> Result<bool> {
        if self.word(expected) {
            Ok(true)
        } else {
            Err(syntax(format!(
                "expected {}, found {}",
                expected.to_ascii_uppercase(),
                self.found()
            )))
        }
    }

    fn expect(&mut self, expected: Token) -> Result<()> {
        if self.peek() == Some(&expected) {
            self.next += 1;
            Ok(())
        } else {
            Err(syntax(format!(
                "expected {expected}, found {}",
                self.found()
            )))
        }
    }

    fn found(&self) -> String {
        self.peek().map_or_else(
            || "the end of the statement".to_string(),
            |t| format!("'{t}'"),
        )
    }

    fn location(&self) -> Result<Location> {
        self.tokens
            .get(self.next)
            .map(|t| t.span.start)
            .ok_or_else(|| syntax("expected a query after AS".to_string()))
    }

    /// A model name: letters, digits and underscores.
    fn name(&mut self) -> Result<String> {
        match self.peek() {
            Some(Token::Word(word)) => {
                let name = word.value.clone();
                self.next += 1;
                Ok(name)
            }
            _ => Err(syntax(format!(
                "expected a model name, found {}",
                self.found()
            ))),
        }
    }

    /// `( key = value [, key = value]* )`.
    fn options(&mut self) -> Result<BTreeMap<String, OptionValue>> {
        self.expect(Token::LParen)?;
        let mut options = BTreeMap::new();
        loop {
            let key = match self.peek() {
                Some(Token::Word(word)) => word.value.to_ascii_lowercase(),
                _ => {
                    return Err(syntax(format!(
                        "expected an option name, found {}",
                        self.found()
                    )))
                }
            };
            self.next += 1;
            self.expect(Token::Eq)?;
            let value = self.value(0)?;
            if options.insert(key.clone(), value).is_some() {
                return Err(syntax(format!("option {key} is given twice")));
            }
            match self.peek() {
                Some(Token::Comma) => self.next += 1,
                Some(Token::RParen) => {
                    self.next += 1;
                    return Ok(options);
                }
                _ => {
                    return Err(syntax(format!(
                        "expected ',' or ')', found {}",
                        self.found()
                    )))
                }
            }
        }
    }

    /// A number, string, `true`/`false` or `[value, ...]`, inside `depth` lists. Lists nest at
    /// most [`MAX_LIST_NESTING`] deep, so no input can make this recursion overflow the stack.
    fn value(&mut self, depth: usize) -> Result<OptionValue> {
        let negative = self.peek() == Some(&Token::Minus);
        if negative {
            self.next += 1;
        }
        let value = match self.peek().cloned() {
            Some(Token::Number(text, _)) => {
                let number: f64 = text
                    .parse()
                    .map_err(|_| syntax(format!("'{text}' is not a number")))?;
                OptionValue::Number(if negative { -number } else { number })
            }
            Some(Token::SingleQuotedString(text)) if !negative => OptionValue::Text(text),
            Some(Token::Word(word)) if !negative && word.value.eq_ignore_ascii_case("true") => {
                OptionValue::Bool(true)
            }
            Some(Token::Word(word)) if !negative && word.value.eq_ignore_ascii_case("false") => {
                OptionValue::Bool(false)
            }
            Some(Token::LBracket) if !negative => {
                if depth == MAX_LIST_NESTING {
                    return Err(syntax(format!(
                        "option lists nest at most {MAX_LIST_NESTING} deep"
                    )));
                }
                self.next += 1;
                let mut items = Vec::new();
                while self.peek() != Some(&Token::RBracket) {
                    items.push(self.value(depth + 1)?);
                    if self.peek() == Some(&Token::Comma) {
                        self.next += 1;
                    } else if self.peek() != Some(&Token::RBracket) {
                        return Err(syntax(format!(
                            "expected ',' or ']', found {}",
                            self.found()
                        )));
                    }
                }
                OptionValue::List(items)
            }
            _ => {
                return Err(syntax(format!(
                    "expected an option value, found {}",
                    self.found()
                )))
            }
        };
        self.next += 1;
        Ok(value)
    }

    /// Only an optional `;` may follow.
    fn end(&mut self) -> Result<()> {
        if self.peek() == Some(&Token::SemiColon) {
            self.next += 1;
        }
        match self.peek() {
            None | Some(Token::EOF) => Ok(()),
            Some(_) => Err(syntax(format!("unexpected {} at the end", self.found()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_lists_nest_a_bounded_depth() {
        let create = |value: &str| {
            parse_model_statement(&format!(
                "CREATE MODEL m OPTIONS (model_type = 'kmeans', splits = {value}) AS SELECT 1"
            ))
        };
        assert!(create("[[1, 2], [3]]").is_ok());
        let deep = format!("{}1{}", "[".repeat(8), "]".repeat(8));
        assert!(create(&deep).is_ok());
        // 50,000 nested lists overflowed the stack before.
        for depth in [9, 50_000] {
            let error = create(&"[".repeat(depth)).unwrap_err().to_string();
            assert!(
                error.contains("option lists nest at most 8 deep"),
                "{error}"
            );
        }
    }

    #[test]
    fn parses_create_model_with_options_and_query() {
        let sql = "create or replace MODEL churn OPTIONS (model_type = 'Logistic_Regression', \
                   label = 'churned', reg_param = 0.5, max_iter = -1, standardize = true, \
                   features = ['a', 'b'])\nAS SELECT a, b, churned FROM t;";
        let Some(ModelStatement::Create {
            name,
            or_replace,
            model_type,
            options,
            query,
        }) = parse_model_statement(sql).unwrap()
        else {
            panic!("a CREATE MODEL")
        };
        assert_eq!((name.as_str(), or_replace), ("churn", true));
        assert_eq!(model_type, "logistic_regression");
        assert_eq!(query, "SELECT a, b, churned FROM t");
        assert_eq!(options["reg_param"], OptionValue::Number(0.5));
        assert_eq!(options["max_iter"], OptionValue::Number(-1.0));
        assert_eq!(options["standardize"], OptionValue::Bool(true));
        assert_eq!(
            options["features"],
            OptionValue::List(vec![
                OptionValue::Text("a".into()),
                OptionValue::Text("b".into())
            ])
        );
    }

    #[test]
    fn other_statements_and_errors() {
        assert_eq!(
            parse_model_statement("SHOW MODELS").unwrap(),
            Some(ModelStatement::Show)
        );
        assert_eq!(
            parse_model_statement("drop model if exists m;").unwrap(),
            Some(ModelStatement::Drop {
                name: "m".into(),
                if_exists: true
            })
        );
        assert_eq!(parse_model_statement("SELECT 1").unwrap(), None);
        assert_eq!(
            parse_model_statement("CREATE TABLE t AS SELECT 1").unwrap(),
            None
        );
        assert_eq!(parse_model_statement("SHOW TABLES").unwrap(), None);
        let error =
            parse_model_statement("CREATE MODEL m OPTIONS (k = 3) AS SELECT 1").unwrap_err();
        assert_eq!(
            error.to_string(),
            "syntax error in model statement: OPTIONS must include model_type"
        );
        let error = parse_model_statement("CREATE MODEL m OPTIONS (k 3) AS SELECT 1").unwrap_err();
        assert_eq!(
            error.to_string(),
            "syntax error in model statement: expected =, found '3'"
        );
    }

    #[test]
    fn finds_ml_calls() {
        let calls = find_ml_calls(
            "SELECT ml_predict_value('m1', a), x FROM ml_predict('m2', 't') -- ml_predict('no', 'no')\n\
             UNION ALL SELECT * FROM ML_EVALUATE('m3', 'SELECT 1')",
        )
        .unwrap();
        assert_eq!(calls.predict, vec![("m2".to_string(), "t".to_string())]);
        assert_eq!(
            calls.evaluate,
            vec![("m3".to_string(), "SELECT 1".to_string())]
        );
        assert_eq!(calls.predict_value, vec!["m1".to_string()]);
    }
}
