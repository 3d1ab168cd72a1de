//! Mutation fuzzing of what users hand Ember: SQL text (through the library, in-process) and
//! Parquet files (through the `ember` binary, one process each). Every case must end with a
//! result or an error: no panic, abort or hang. Seeded, so a failure names a case that can be
//! replayed; the saved-model and protocol-frame fuzzing lives beside its decoders in
//! `ember-mllib` (`mllib/src/fuzz.rs`).

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ember::Session;
use futures::FutureExt;

use crate::common::{ember_binary, run_ember, stderr};

/// How many times the default cases to run: `FUZZ_SCALE` (default 1), for a longer run by hand
/// (`FUZZ_SCALE=10 cargo test --test main fuzz::`; `FUZZ_KEEP=DIR` keeps the Parquet files that
/// failed there).
fn scale() -> usize {
    std::env::var("FUZZ_SCALE")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1)
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (which must not be 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Statements the SQL fuzz mutates, over the tables [`SQL_TABLES`] creates.
const SQL_SEEDS: &[&str] = &[
    "SELECT a, b, s FROM t WHERE a > 1 ORDER BY a",
    "SELECT s, count(*), sum(b), avg(a) FROM t GROUP BY s HAVING count(*) > 0",
    "SELECT t.a, u.c FROM t JOIN u ON t.a = u.a WHERE u.c IS NOT NULL",
    "SELECT a, sum(b) OVER (PARTITION BY s ORDER BY a ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t",
    "WITH w AS (SELECT a, b * 2 AS d FROM t) SELECT max(d) FROM w WHERE a IN (SELECT a FROM u)",
    "SELECT CASE WHEN a % 2 = 0 THEN 'even' ELSE upper(s) END, CAST(b AS DECIMAL(20, 2)) FROM t",
    "SELECT a FROM t UNION ALL SELECT a FROM u EXCEPT SELECT 3",
    "SELECT concat(s, '-', CAST(a AS VARCHAR)), length(s), substr(s, 1, 2) FROM t LIMIT 3 OFFSET 1",
    "SELECT a, coalesce(NULL, a) FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.a = t.a)",
    "SELECT date_trunc('day', TIMESTAMP '2024-02-29 10:00:00') + INTERVAL '1' MONTH, a / 0.5 FROM t",
    "SELECT x, count(*) FROM p GROUP BY x ORDER BY 2 DESC",
    "SELECT p.x, t.s FROM p LEFT JOIN t ON p.x = t.a WHERE p.y BETWEEN 0.1 AND 10 ORDER BY 1",
    "SELECT array_agg(a ORDER BY a), approx_distinct(s), stddev(b) FROM t",
    "SELECT regexp_replace(s, '[a-c]', 'z'), a << 2, abs(-a), round(b, 1) FROM t",
    "EXPLAIN SELECT a FROM t WHERE s LIKE 'a%' AND b >= 1.5",
];

/// What the SQL seeds read: two small tables and a Parquet file.
const SQL_TABLES: &[&str] = &[
    "CREATE TABLE t AS SELECT * FROM (VALUES (1, 1.5, 'a'), (2, -0.5, 'b'), (3, NULL, 'ab'), \
     (4, 1e10, NULL)) AS v(a, b, s)",
    "CREATE TABLE u AS SELECT * FROM (VALUES (1, 'x'), (3, NULL), (5, 'z')) AS v(a, c)",
];

/// Tokens a mutation inserts or substitutes: keywords, operators, edge-case literals.
const SQL_VOCABULARY: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "HAVING",
    "JOIN",
    "LEFT JOIN",
    "ON",
    "UNION ALL",
    "(",
    ")",
    ",",
    "*",
    "+",
    "-",
    "/",
    "%",
    "=",
    "<",
    ">=",
    "<>",
    "||",
    "AND",
    "OR",
    "NOT",
    "NULL",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "CAST(",
    "AS",
    "BIGINT",
    "DOUBLE",
    "DECIMAL(38, 37)",
    "VARCHAR",
    "0",
    "-1",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551616",
    "1e308",
    "1e400",
    "0.0",
    "''",
    "'x'",
    "a",
    "b",
    "s",
    "t",
    "u",
    "count(*)",
    "sum(",
    "avg(",
    "min(",
    "max(",
    "OVER (",
    "PARTITION BY",
    "DISTINCT",
    "LIMIT",
    "OFFSET",
    "IN",
    "EXISTS",
    "BETWEEN",
    "LIKE",
    "'%'",
    "[",
    "]",
    "{",
    "}",
    ";",
    "EXPLAIN",
    "WITH",
    "VALUES",
    "INTERVAL '1' DAY",
    "DATE '2020-02-30'",
    "TIMESTAMP '9999-12-31 23:59:59'",
    "ARRAY[1, 2]",
    "make_array(",
    "named_struct(",
    "unnest(",
    "::",
    "$1",
    "?",
    "ml_predict(",
];

/// A statement made from `seed` by a few token edits: deleting, duplicating, swapping,
/// substituting or inserting tokens from [`SQL_VOCABULARY`].
fn mutate_sql(seed: &str, rng: &mut Rng) -> String {
    let mut tokens = sql_tokens(seed);
    // Mostly one edit: more edits rarely leave a statement that plans.
    for _ in 0..1 + rng.below(2) * rng.below(3) {
        let at = rng.below(tokens.len().max(1));
        match rng.below(5) {
            0 if tokens.len() > 1 => {
                tokens.remove(at);
            }
            1 => {
                let end = (at + 1 + rng.below(4)).min(tokens.len());
                let span: Vec<String> = tokens[at..end].to_vec();
                tokens.splice(end..end, span);
            }
            2 => {
                let other = rng.below(tokens.len().max(1));
                tokens.swap(at, other);
            }
            3 => tokens[at] = rng.pick(SQL_VOCABULARY).to_string(),
            _ => tokens.insert(at, rng.pick(SQL_VOCABULARY).to_string()),
        }
    }
    tokens.join(" ")
}

/// `sql` cut into tokens: words and numbers, quoted strings, two-character operators, and
/// single characters.
fn sql_tokens(sql: &str) -> Vec<String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        let c = chars[at];
        let start = at;
        if c.is_whitespace() {
            at += 1;
            continue;
        }
        if c.is_alphanumeric() || c == '_' || c == '.' {
            while at < chars.len() && (chars[at].is_alphanumeric() || "_.".contains(chars[at])) {
                at += 1;
            }
        } else if c == '\'' {
            at += 1;
            while at < chars.len() && chars[at] != '\'' {
                at += 1;
            }
            at = (at + 1).min(chars.len());
        } else if at + 1 < chars.len()
            && ["<=", ">=", "<>", "!=", "||", "<<", "::"]
                .contains(&chars[at..at + 2].iter().collect::<String>().as_str())
        {
            at += 2;
        } else {
            at += 1;
        }
        tokens.push(chars[start..at].iter().collect());
    }
    tokens
}

/// Cases of the SQL fuzz: about 10 s in a debug build.
const SQL_CASES: usize = 1500;

/// The longest a case may take before it counts as a hang (debug build, loaded machine).
const CASE_LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_sql_ends_in_a_result_or_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let parquet = write_seed_parquet(dir.path());
    let session = Session::builder().master("local[2]").build().unwrap();
    for table in SQL_TABLES {
        session.sql(table).await.unwrap().collect().await.unwrap();
    }
    session
        .register_table("p", &parquet.display().to_string())
        .await
        .unwrap();
    for seed in SQL_SEEDS {
        let frame = session.sql(seed).await.expect(seed);
        frame.collect().await.expect(seed);
    }
    let mut rng = Rng(0x05ee_d5a1);
    let (mut answered, mut refused) = (0, 0);
    let mut panicked = Vec::new();
    let cases = SQL_CASES * scale();
    for case in 0..cases {
        let seed = *rng.pick(SQL_SEEDS);
        let query = mutate_sql(seed, &mut rng);
        let run = async {
            let frame = session.sql(&query).await?;
            frame.collect().await.map_err(ember::EmberError::from)
        };
        let outcome = tokio::time::timeout(CASE_LIMIT, AssertUnwindSafe(run).catch_unwind()).await;
        match outcome {
            Err(_) => panic!("case {case} ran past {CASE_LIMIT:?}: {query}"),
            Ok(Err(_)) => panicked.push(format!("case {case}: {query}")),
            Ok(Ok(Ok(_))) => answered += 1,
            Ok(Ok(Err(_))) => refused += 1,
        }
    }
    eprintln!("{cases} mutated statements: {answered} answered, {refused} refused");
    assert!(
        panicked.is_empty(),
        "{} statements panicked:\n{}",
        panicked.len(),
        panicked.join("\n")
    );
    // Mutations that keep a statement valid must still run, or the fuzz tests only the parser.
    assert!(answered > cases / 20, "only {answered} ran");
}

/// A program using `Session` gets an error naming the file, not a panic, when the Parquet
/// reader panics on a corrupt page mid-scan (a file the Parquet fuzz found; `ember sql` checks
/// the same in `cli::a_library_panic_on_a_corrupt_file_fails_the_statement_not_the_process`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_panic_mid_scan_is_an_error_naming_the_file() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/corrupt/dictionary_page_missing.parquet");
    let session = Session::builder().master("local[2]").build().unwrap();
    let query = format!(
        "SELECT count(*), sum(x), max(y), min(s) FROM '{}'",
        file.display()
    );
    let frame = session.sql(&query).await.unwrap();
    let error = AssertUnwindSafe(frame.collect())
        .catch_unwind()
        .await
        .expect("collect() panicked")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("dictionary_page_missing.parquet") && error.contains("corrupt file"),
        "{error}"
    );
}

/// Writes `seed.parquet`: two row groups of `x BIGINT, y DOUBLE, s VARCHAR` with nulls, written
/// by `ember sql` itself.
fn write_seed_parquet(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("seed.parquet");
    let copy = format!(
        "COPY (SELECT v AS x, CASE WHEN v % 7 = 0 THEN NULL ELSE v / 3.0 END AS y, \
         repeat(CAST(v % 5 AS VARCHAR), 3) AS s FROM generate_series(1, 400) AS g(v)) \
         TO '{}' STORED AS PARQUET OPTIONS (max_row_group_size 200)",
        file.display()
    );
    let written = run_ember(dir, ["sql", "-q", "--master", "local[1]", "-e", &copy]);
    assert!(written.status.success(), "{}", stderr(&written));
    file
}

/// Cases of the Parquet fuzz, one `ember` process each: about 20 s in a debug build.
const PARQUET_CASES: usize = 150;

#[test]
fn mutated_parquet_files_are_read_or_refused_without_crashing() {
    let dir = tempfile::tempdir().unwrap();
    let seed = std::fs::read(write_seed_parquet(dir.path())).unwrap();
    let mut rng = Rng(0xf11e_5eed);
    let (mut read, mut refused) = (0, 0);
    let mut failed = Vec::new();
    let cases = PARQUET_CASES * scale();
    for case in 0..cases {
        let bytes = mutate_bytes(&seed, &mut rng);
        let name = format!("case-{case}.parquet");
        let file = dir.path().join(&name);
        std::fs::write(&file, &bytes).unwrap();
        let query = format!(
            "SELECT count(*), sum(x), max(y), min(s) FROM '{}'",
            file.display()
        );
        let mut child = Command::new(ember_binary())
            .current_dir(dir.path())
            .args(["sql", "-q", "--master", "local[2]", "-e", &query])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > CASE_LIMIT {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("case {case} ran past {CASE_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let output = child.wait_with_output().unwrap();
        let message = String::from_utf8_lossy(&output.stderr);
        // Read (0), or refused (1) with an error naming the file (after the report of a
        // reader's panic that was contained); a signal, another code, an error that does not
        // name the file, or a panic only `ember sql`'s last guard caught (an internal error)
        // is a failure.
        let error = message.lines().find(|line| line.starts_with("error: "));
        match (output.status.code(), error) {
            (Some(0), _) => read += 1,
            (Some(1), Some(error))
                if error.contains(&name) && !error.contains("internal error") =>
            {
                refused += 1
            }
            _ => {
                if let Some(keep) = std::env::var_os("FUZZ_KEEP") {
                    let kept = Path::new(&keep).join(format!("case-{case}.parquet"));
                    std::fs::copy(&file, kept).unwrap();
                }
                failed.push(format!("case {case}: {}: {message}", output.status));
            }
        }
        std::fs::remove_file(&file).unwrap();
    }
    eprintln!("{cases} mutated Parquet files: {read} read, {refused} refused naming the file");
    assert!(
        failed.is_empty(),
        "{} of {cases} mutated files crashed `ember sql`, made a library panic, or were refused \
         without naming the file:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// `seed` with a few edits: bytes flipped (more often in the footer, where the counts and
/// offsets are), a footer integer set to an edge value, or the file cut short.
fn mutate_bytes(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = bytes.len();
        if len < 16 {
            break;
        }
        let footer_start = len.saturating_sub(600);
        let at = match rng.below(3) {
            0 => rng.below(len),
            _ => footer_start + rng.below(len - footer_start),
        };
        match rng.below(6) {
            0 => bytes.truncate(at.max(8)),
            1 => bytes[at] = *rng.pick(&[0x00, 0x7f, 0x80, 0xff]),
            2 if at + 4 <= len => {
                let edge = *rng.pick(&[0u32, 1, 0x7fff_ffff, 0xffff_ffff]);
                bytes[at..at + 4].copy_from_slice(&edge.to_le_bytes());
            }
            _ => bytes[at] ^= 1 << rng.below(8),
        }
    }
    bytes
}
