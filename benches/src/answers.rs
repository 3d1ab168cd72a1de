//! Comparing a TPC-H query result with its expected answer, under the rules of
//! `tests/data/tpch/README.md`: numbers within 0.01 absolute or 1e-6 relative, text trimmed, dates
//! with or without a time part, rows in order unless the query's ORDER BY can tie.
//!
//! Shared by the correctness tests (`tests/tpch.rs` includes this file) and the benchmark runner.

/// Checks `actual_csv` (`ember sql --format csv` output, header first) against `expected`
/// (an answer file: pipe-delimited, header first) for TPC-H query number `query`.
pub fn check_answer(query: usize, actual_csv: &[u8], expected: &str) -> Result<(), String> {
    let total_order = !PARTIALLY_ORDERED_QUERIES.contains(&query);
    let actual = read_csv_rows(actual_csv).map_err(|e| format!("unreadable CSV result: {e}"))?;
    compare(&actual, &read_answer_rows(expected), total_order)
}

/// Queries whose ORDER BY can tie (on revenue or price), so rows with equal keys may come in any
/// order: these compare as multisets. All others must match row by row.
const PARTIALLY_ORDERED_QUERIES: [usize; 4] = [3, 10, 11, 18];

/// Numbers match within this absolute difference...
const ABSOLUTE_TOLERANCE: f64 = 0.01;
/// ...or this relative difference.
const RELATIVE_TOLERANCE: f64 = 1e-6;

/// Rows of an answer file: pipe-delimited, header first, no quoting. An empty line is a row
/// (a single NULL column, as in q17 at SF 0.01).
fn read_answer_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .skip(1)
        .map(|line| line.split('|').map(str::to_string).collect())
        .collect()
}

/// Rows of `ember sql --format csv` output (the header is dropped).
fn read_csv_rows(text: &[u8]) -> Result<Vec<Vec<String>>, csv::Error> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text)
        .records()
        .map(|record| Ok(record?.iter().map(str::to_string).collect()))
        .collect()
}

/// Rows must match in order; with `total_order` false, rows that differ only in order still
/// match when they are equal as multisets.
fn compare(
    actual: &[Vec<String>],
    expected: &[Vec<String>],
    total_order: bool,
) -> Result<(), String> {
    if actual.len() != expected.len() {
        return Err(format!(
            "{} rows, expected {}",
            actual.len(),
            expected.len()
        ));
    }
    let first_difference = actual
        .iter()
        .zip(expected)
        .position(|(a, e)| !rows_match(a, e));
    let Some(index) = first_difference else {
        return Ok(());
    };
    let mismatch = Err(format!(
        "row {} is {:?}, expected {:?}",
        index + 1,
        actual[index],
        expected[index]
    ));
    if total_order {
        return mismatch;
    }
    let mut sorted_actual = actual.to_vec();
    let mut sorted_expected = expected.to_vec();
    sorted_actual.sort();
    sorted_expected.sort();
    if sorted_actual
        .iter()
        .zip(&sorted_expected)
        .all(|(a, e)| rows_match(a, e))
    {
        return Ok(());
    }
    mismatch
}

fn rows_match(actual: &[String], expected: &[String]) -> bool {
    actual.len() == expected.len() && actual.iter().zip(expected).all(|(a, e)| cells_match(a, e))
}

fn cells_match(actual: &str, expected: &str) -> bool {
    let (actual, expected) = (actual.trim(), expected.trim());
    if actual == expected || strip_midnight(actual) == strip_midnight(expected) {
        return true;
    }
    match (actual.parse::<f64>(), expected.parse::<f64>()) {
        (Ok(a), Ok(e)) => {
            let difference = (a - e).abs();
            difference <= ABSOLUTE_TOLERANCE || difference <= RELATIVE_TOLERANCE * e.abs()
        }
        _ => false,
    }
}

/// A date may be rendered with or without a midnight time part.
fn strip_midnight(text: &str) -> &str {
    text.trim_end_matches("T00:00:00")
        .trim_end_matches(" 00:00:00")
}

#[cfg(test)]
#[test]
fn comparison_rules() {
    assert!(cells_match("25.575154", "25.575154611454693"));
    assert!(cells_match("1995-03-05T00:00:00", "1995-03-05"));
    assert!(cells_match("a text ", "a text"));
    assert!(!cells_match("1.5", "1.6"));
    assert!(!cells_match("ASIA", "EUROPE"));
    let rows = |items: &[&str]| {
        items
            .iter()
            .map(|r| vec![r.to_string()])
            .collect::<Vec<_>>()
    };
    assert!(compare(&rows(&["b", "a"]), &rows(&["a", "b"]), false).is_ok());
    assert!(compare(&rows(&["b", "a"]), &rows(&["a", "b"]), true).is_err());
    assert!(compare(&rows(&["a", "c"]), &rows(&["a", "b"]), false).is_err());
    assert!(compare(&rows(&["a"]), &rows(&["a", "b"]), true).is_err());
}
