//! Parsing a SQL statement without letting its text overflow the stack.
//!
//! sqlparser reads a chain of binary operators (`a OR b OR ...`, `1 + 1 + ...`) in a loop, so its
//! recursion limit (DataFusion's `sql_parser.recursion_limit`) does not bound how deep the
//! expression it builds is; everything after it (planning, optimizing, displaying, dropping the
//! tree, evaluating it) recurses once per level, and 8000 `OR`s overflowed the stack of the
//! process. So a statement is parsed, measured and, when too deep, dropped on a thread of its own
//! with a large stack ([`PARSE_STACK`], reserved address space rather than memory), and only a
//! statement whose expressions nest at most [`MAX_EXPRESSION_DEPTH`] levels goes on to be planned.
//! DuckDB has the same limit, with the same default.

use std::ops::ControlFlow;

use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SessionContext;
use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::{CopyToSource, Statement};
use datafusion::sql::sqlparser::ast::{Expr, Visit, Visitor};

use crate::error::{EmberError, Result};

/// The deepest nesting of expressions a statement may have: each operand of a chain of binary
/// operators is a level (`a OR b OR c` nests 3 deep). Subqueries nest within the parser's own
/// recursion limit.
pub const MAX_EXPRESSION_DEPTH: usize = 1000;

/// The stack of the thread that parses, measures and (when too deep) drops a statement: a debug
/// build dropped the tree of a chain of two million terms (8 MB of text) within it. Address
/// space, not memory: the system commits only the pages the thread touches.
const PARSE_STACK: usize = 256 << 20;

/// The logical plan of the one statement in `sql`, as `state` plans it
/// (`SessionState::create_logical_plan`), once its depth is checked.
pub async fn plan_statement(state: &SessionState, sql: &str) -> Result<LogicalPlan> {
    let statement = parse_statement(state, sql)?;
    Ok(state.statement_to_plan(statement).await?)
}

/// `sql` (one statement) as a DataFrame of `context`, as `SessionContext::sql` plans it, once
/// its depth is checked.
pub async fn sql(context: &SessionContext, sql: &str) -> Result<DataFrame> {
    let plan = plan_statement(&context.state(), sql).await?;
    Ok(context.execute_logical_plan(plan).await?)
}

/// The one statement in `sql`, in `state`'s dialect, failing when its expressions nest deeper
/// than [`MAX_EXPRESSION_DEPTH`].
fn parse_statement(state: &SessionState, sql: &str) -> Result<Statement> {
    std::thread::scope(|scope| {
        let parse = || {
            let dialect = state.config().options().sql_parser.dialect;
            let statement = state.sql_to_statement(sql, &dialect)?;
            if !nests_within(&statement, MAX_EXPRESSION_DEPTH) {
                return Err(EmberError::TooDeep {
                    limit: MAX_EXPRESSION_DEPTH,
                });
            }
            Ok(statement)
        };
        std::thread::Builder::new()
            .name("ember-parse".to_string())
            .stack_size(PARSE_STACK)
            .spawn_scoped(scope, parse)
            .map_err(|error| {
                DataFusionError::ResourcesExhausted(format!(
                    "cannot start a parser thread: {error}"
                ))
            })?
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Whether the expressions of `statement` nest at most `limit` levels.
fn nests_within(statement: &Statement, limit: usize) -> bool {
    let mut depth = Depth { current: 0, limit };
    let flow = match statement {
        Statement::Statement(statement) => statement.visit(&mut depth),
        Statement::CopyTo(copy) => match &copy.source {
            CopyToSource::Query(query) => query.visit(&mut depth),
            CopyToSource::Relation(_) => ControlFlow::Continue(()),
        },
        Statement::Explain(explain) => {
            return nests_within(&explain.statement, limit);
        }
        Statement::CreateExternalTable(_) | Statement::Reset(_) => ControlFlow::Continue(()),
    };
    flow.is_continue()
}

/// Counts the nesting of the expressions it visits, and stops the visit beyond `limit` (so the
/// visit itself recurses at most `limit` levels).
struct Depth {
    current: usize,
    limit: usize,
}

impl Depth {
    fn enter(&mut self) -> ControlFlow<()> {
        self.current += 1;
        if self.current > self.limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    fn leave(&mut self) -> ControlFlow<()> {
        self.current -= 1;
        ControlFlow::Continue(())
    }
}

impl Visitor for Depth {
    type Break = ();

    fn pre_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
        self.enter()
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<()> {
        self.leave()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    fn chain(operator: &str, terms: usize) -> String {
        format!("SELECT {}", vec!["1"; terms].join(operator))
    }

    /// Plans at the limit need more stack than a test thread's 2 MiB in a debug build (as the
    /// `ember` binary's threads have), so the test runs on a thread with more.
    #[test]
    fn statements_nest_at_most_the_limit() {
        std::thread::Builder::new()
            .stack_size(16 << 20)
            .spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap()
                    .block_on(check_the_limit())
            })
            .unwrap()
            .join()
            .unwrap();
    }

    async fn check_the_limit() {
        let state = SessionContext::new().state();
        let deepest = chain(" + ", MAX_EXPRESSION_DEPTH);
        assert!(plan_statement(&state, &deepest).await.is_ok());
        // A left-deep chain of n terms nests n levels: n - 1 operators and the last operand.
        for sql in [
            chain(" + ", MAX_EXPRESSION_DEPTH + 1),
            chain(" OR ", 8000),
            chain(" + ", 200_000),
            format!("COPY ({}) TO 'x.parquet'", chain(" * ", 5000)),
            format!("EXPLAIN {}", chain(" - ", 5000)),
        ] {
            let error = plan_statement(&state, &sql).await.unwrap_err().to_string();
            assert!(
                error.contains(&format!("nest deeper than {MAX_EXPRESSION_DEPTH} levels")),
                "{error}"
            );
        }
    }
}
