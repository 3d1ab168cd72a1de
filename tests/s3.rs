//! Reading `s3://` locations from a real S3-compatible server ([`S3Server`]): TPC-H answers,
//! the same settings reaching a cluster's executors, and clear errors for every way a store or
//! an object can be wrong.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{files_under, generate_tpch, run_ember, run_sql, stderr, stdout};
use crate::s3_server::{S3Server, ACCESS_KEY_ID, SECRET_ACCESS_KEY};
use crate::tpch::check_all_queries_at;

/// Uploads every file under `dir` to `bucket`, keyed by `prefix/` + its path relative to `dir`.
fn upload_tree(server: &S3Server, bucket: &str, prefix: &str, dir: &Path) {
    for entry in files_under(dir) {
        let relative = entry.strip_prefix(dir).unwrap().to_str().unwrap();
        server.upload(bucket, &format!("{prefix}/{relative}"), &entry);
    }
}

/// The name `ember gen tpch --parts N` gave table `table` in `data`: a directory `table` of
/// part files, or the single file `table.parquet` (nation and region).
fn file_name(data: &Path, table: &str) -> String {
    if data.join(table).is_dir() {
        table.to_string()
    } else {
        format!("{table}.parquet")
    }
}

#[test]
fn tpch_sf0_1_over_s3_matches_answers() {
    let server = S3Server::start();
    server.create_bucket("warehouse");
    let data = tempfile::tempdir().unwrap();
    // Two files per table, so every table but nation and region is a directory of objects.
    generate_tpch(data.path(), "0.1", &["--parts", "2"]);
    upload_tree(&server, "warehouse", "tpch/sf0.1", data.path());
    let location = |table: &str| {
        format!(
            "s3://warehouse/tpch/sf0.1/{}",
            file_name(data.path(), table)
        )
    };
    let work = tempfile::tempdir().unwrap();
    check_all_queries_at(work.path(), &location, "0.1", &server.conf());
}

/// One `ember sql -e` over `s3://` with the server's settings plus `extra` flags.
fn sql_over_s3(query: &str, extra: &[String]) -> std::process::Output {
    let work = tempfile::tempdir().unwrap();
    run_sql(work.path(), query, extra)
}

/// A bucket holding `nation` as a single Parquet object, generated at SF 0.01.
fn server_with_nation() -> (S3Server, tempfile::TempDir) {
    let server = S3Server::start();
    server.create_bucket("data");
    let data = tempfile::tempdir().unwrap();
    generate_tpch(data.path(), "0.01", &[]);
    server.upload(
        "data",
        "nation.parquet",
        &data.path().join("nation.parquet"),
    );
    (server, data)
}

#[test]
fn s3_failures_name_the_object_and_fail_fast() {
    let (server, _data) = server_with_nation();
    let conf = server.conf();
    let ok = sql_over_s3(
        "SELECT count(*) AS n FROM 's3://data/nation.parquet'",
        &conf,
    );
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_eq!(stdout(&ok), "n\n25\n");

    let wrong_secret = sql_over_s3(
        "SELECT count(*) FROM 's3://data/nation.parquet'",
        &server.conf_with_secret("not-the-secret"),
    );
    assert_fails_naming(
        &wrong_secret,
        &["s3://data/nation.parquet", "403 Forbidden"],
    );

    let missing_bucket = sql_over_s3(
        "SELECT count(*) FROM 's3://no-such-bucket/nation.parquet'",
        &conf,
    );
    assert_fails_naming(
        &missing_bucket,
        &["s3://no-such-bucket/nation.parquet", "NoSuchBucket"],
    );

    let missing_key = sql_over_s3(
        "SELECT count(*) FROM 's3://data/no-such-table.parquet'",
        &conf,
    );
    assert_fails_naming(
        &missing_key,
        &["no such file or directory: s3://data/no-such-table.parquet"],
    );

    // Nothing listens on port 1: the request fails, is retried for at most the retry
    // timeout, and the error names the location.
    let unreachable = [
        "--conf",
        "ember.s3.endpoint=http://127.0.0.1:1",
        "--conf",
        "ember.store.retry.timeout=2s",
        "--conf",
        "ember.s3.access.key.id=x",
        "--conf",
        "ember.s3.secret.access.key=y",
    ]
    .map(String::from);
    let started = Instant::now();
    let output = sql_over_s3(
        "SELECT count(*) FROM 's3://data/nation.parquet'",
        &unreachable,
    );
    assert_fails_naming(
        &output,
        &["s3://data/nation.parquet", "error sending request"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "an unreachable endpoint took {:?} to fail",
        started.elapsed()
    );
}

#[test]
fn http_locations_read_single_files() {
    let server = S3Server::start_public();
    server.create_bucket("files");
    let data = tempfile::tempdir().unwrap();
    generate_tpch(data.path(), "0.01", &[]);
    server.place(
        "files",
        "nation.parquet",
        &data.path().join("nation.parquet"),
    );
    let url = format!("{}/files/nation.parquet", server.endpoint());
    let output = sql_over_s3(
        &format!("SELECT count(*) AS n FROM '{url}' WHERE n_regionkey = 1"),
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "n\n5\n");
    let missing = sql_over_s3(
        &format!(
            "SELECT count(*) FROM '{}/files/missing.parquet'",
            server.endpoint()
        ),
        &[],
    );
    assert_fails_naming(&missing, &["/files/missing.parquet"]);
}

#[test]
fn csv_json_and_arrow_files_compressed_or_not_on_disk_and_s3() {
    let server = S3Server::start();
    server.create_bucket("formats");
    let dir = tempfile::tempdir().unwrap();
    let rows = "SELECT * FROM (VALUES (1, 'a;b'), (2, 'c')) AS t(id, s)";
    let expected = "id,s\n1,a;b\n2,c\n";
    for (file, stored) in [
        ("rows.csv.gz", "CSV OPTIONS (compression 'gzip')"),
        ("rows.json.zst", "JSON OPTIONS (compression 'zstd')"),
        ("rows.arrow", "ARROW"),
    ] {
        let copy = format!("COPY ({rows}) TO '{file}' STORED AS {stored}");
        let output = run_ember(dir.path(), ["sql", "--quiet", "-e", copy.as_str()]);
        assert!(output.status.success(), "{copy}: {}", stderr(&output));
        let local = format!("SELECT id, s FROM '{file}' ORDER BY id");
        let output = run_sql(dir.path(), &local, &[]);
        assert_eq!(stdout(&output), expected, "{file}: {}", stderr(&output));
        server.upload("formats", file, &dir.path().join(file));
        let remote = format!("SELECT id, s FROM 's3://formats/{file}' ORDER BY id");
        let output = sql_over_s3(&remote, &server.conf());
        assert_eq!(stdout(&output), expected, "{file}: {}", stderr(&output));
    }
    // An Arrow IPC file cut short among good ones is named.
    let arrow = std::fs::read(dir.path().join("rows.arrow")).unwrap();
    std::fs::write(dir.path().join("cut.arrow"), &arrow[..arrow.len() - 20]).unwrap();
    server.upload(
        "formats",
        "arrows/good.arrow",
        &dir.path().join("rows.arrow"),
    );
    server.upload("formats", "arrows/cut.arrow", &dir.path().join("cut.arrow"));
    let output = sql_over_s3(
        "SELECT count(*) FROM 's3://formats/arrows/'",
        &server.conf(),
    );
    assert_fails_naming(&output, &["arrows/cut.arrow", "footer"]);

    // No header, `;` between fields, a quoted `;` inside one, and an explicit schema.
    std::fs::write(dir.path().join("semi.csv"), "1;\"a;b\"\n2;c\n").unwrap();
    server.upload("formats", "semi.csv", &dir.path().join("semi.csv"));
    let script = "CREATE EXTERNAL TABLE semi (id INT, s VARCHAR) STORED AS CSV \
                  LOCATION 's3://formats/semi.csv' \
                  OPTIONS ('format.delimiter' ';', 'format.has_header' 'false'); \
                  SELECT id, s FROM semi ORDER BY id";
    let output = sql_over_s3(script, &server.conf());
    assert_eq!(stdout(&output), expected, "{}", stderr(&output));
}

/// Asserts `output` failed with one message that contains every one of `names`.
fn assert_fails_naming(output: &std::process::Output, names: &[&str]) {
    let message = stderr(output);
    assert!(
        !output.status.success(),
        "expected a failure, got {}",
        stdout(output)
    );
    for name in names {
        assert!(
            message.contains(name),
            "the error does not name {name}: {message}"
        );
    }
    assert!(!message.contains("panicked"), "{message}");
}

#[test]
fn corrupt_and_conflicting_objects_are_named() {
    let (server, data) = server_with_nation();
    let nation = data.path().join("nation.parquet");
    server.upload("data", "mixed/part-0.parquet", &nation);
    let truncated = data.path().join("truncated.parquet");
    let bytes = std::fs::read(&nation).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    server.upload("data", "mixed/part-1.parquet", &truncated);
    let output = sql_over_s3("SELECT count(*) FROM 's3://data/mixed/'", &server.conf());
    assert_fails_naming(&output, &["mixed/part-1.parquet"]);

    // The same column as an integer in one object and as text in the other.
    let typed = tempfile::tempdir().unwrap();
    for (name, value) in [("int", "1"), ("text", "'one'")] {
        let file = typed.path().join(format!("{name}.parquet"));
        let copy = format!("COPY (SELECT {value} AS id) TO '{}'", file.display());
        let output = run_ember(typed.path(), ["sql", "--quiet", "-e", copy.as_str()]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    server.upload(
        "data",
        "conflict/part-0.parquet",
        &typed.path().join("int.parquet"),
    );
    server.upload(
        "data",
        "conflict/part-1.parquet",
        &typed.path().join("text.parquet"),
    );
    let output = sql_over_s3("SELECT id FROM 's3://data/conflict/'", &server.conf());
    assert_fails_naming(&output, &["conflict/part-1.parquet", "id"]);
}

#[test]
fn executors_read_and_write_s3_with_the_settings_the_client_sends() {
    let server = S3Server::start();
    server.create_bucket("warehouse");
    let data = tempfile::tempdir().unwrap();
    generate_tpch(data.path(), "0.01", &["--parts", "2"]);
    upload_tree(&server, "warehouse", "sf0.01", data.path());
    let cluster_dir = tempfile::tempdir().unwrap();
    // The daemons get no S3 settings: the client's travel with each job, secrets included
    // since the client asks to send them (without TLS they stay with the client by default).
    let cluster = crate::cluster::Cluster::start(cluster_dir.path(), 2, crate::cluster::NO_CONF);
    let mut flags = server.conf();
    flags.extend([
        "--master".to_string(),
        cluster.master(),
        "--conf".to_string(),
        "ember.cluster.send.credentials=true".to_string(),
    ]);
    let output = sql_over_s3(
        "SELECT l_returnflag, count(*) AS n FROM 's3://warehouse/sf0.01/lineitem' \
         GROUP BY l_returnflag ORDER BY l_returnflag",
        &flags,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let local = run_sql(
        data.path(),
        "SELECT l_returnflag, count(*) AS n FROM 'lineitem' \
         GROUP BY l_returnflag ORDER BY l_returnflag",
        &[],
    );
    assert_eq!(stdout(&output), stdout(&local));
    assert_eq!(stdout(&output).lines().count(), 4, "{}", stdout(&output));

    // Executors write a partitioned COPY's files to S3; the client commits them.
    let copy = "COPY (SELECT l_returnflag, l_quantity FROM 's3://warehouse/sf0.01/lineitem') \
                TO 's3://warehouse/by_flag/' STORED AS PARQUET PARTITIONED BY (l_returnflag)";
    let output = sql_over_s3(copy, &flags);
    assert!(output.status.success(), "{}", stderr(&output));
    let read_back = sql_over_s3(
        "SELECT l_returnflag, count(*) AS n FROM 's3://warehouse/by_flag/' \
         GROUP BY l_returnflag ORDER BY l_returnflag",
        &flags,
    );
    assert_eq!(stdout(&read_back), stdout(&local), "{}", stderr(&read_back));
    let keys = server.list("warehouse", "");
    assert!(keys.contains(&"by_flag/_SUCCESS".to_string()), "{keys:?}");
    assert!(
        keys.iter().all(|k| !k.contains("ember-staging")),
        "{keys:?}"
    );
    // The scheduler's REST API, open to anyone on the host, serves the jobs' configurations
    // with the secrets they carried redacted.
    let configs = cluster.job_configs();
    assert!(configs.contains("ember.s3.secret.access.key"), "{configs}");
    assert!(configs.contains("<redacted>"), "{configs}");
    assert!(!configs.contains(SECRET_ACCESS_KEY), "{configs}");
}

#[test]
fn a_session_lists_its_store_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let server_flags = [
        "--conf",
        "ember.s3.access.key.id=the-id",
        "--conf",
        "ember.s3.secret.access.key=the-secret",
    ];
    let mut args = vec!["sql", "--quiet", "--format", "csv", "-e", "SHOW ALL"];
    args.extend(server_flags);
    let output = run_ember(dir.path(), args);
    assert!(output.status.success(), "{}", stderr(&output));
    let shown = stdout(&output);
    assert!(
        shown.contains("ember.s3.secret.access.key,<redacted>")
            && shown.contains("ember.s3.access.key.id,<redacted>"),
        "{shown}"
    );
    assert!(
        !shown.contains("the-secret") && !shown.contains("the-id"),
        "{shown}"
    );
    // A session that sends its secrets with its jobs (so its settings hold them) still shows
    // them redacted, however the settings are queried.
    let query = "SELECT value FROM information_schema.df_settings \
                 WHERE name = 'ember.s3.secret.access.key'";
    let mut args = vec![
        "sql", "--quiet", "--format", "csv", "-e", "SHOW ALL", "-e", query,
    ];
    args.extend(server_flags);
    args.extend(["--conf", "ember.cluster.send.credentials=true"]);
    let output = run_ember(dir.path(), args);
    assert!(output.status.success(), "{}", stderr(&output));
    let shown = stdout(&output);
    assert!(
        shown.contains("ember.s3.secret.access.key,<redacted>")
            && shown.ends_with("value\n<redacted>\n")
            && !shown.contains("the-secret"),
        "{shown}"
    );
}

#[test]
fn a_clients_aws_secret_never_shows_in_rest_answers_logs_or_job_configs() {
    let (server, _data) = server_with_nation();
    let cluster_dir = tempfile::tempdir().unwrap();
    // Every process logs everything it is asked to log.
    let trace = [("RUST_LOG", "trace")];
    let cluster = crate::cluster::Cluster::start_with_env(
        cluster_dir.path(),
        1,
        crate::cluster::NO_CONF,
        &trace,
    );
    let work = tempfile::tempdir().unwrap();
    let client = |query: &str, extra: &[&str]| {
        let endpoint = format!("ember.s3.endpoint={}", server.endpoint());
        let mut args = vec!["sql", "--quiet", "--format", "csv", "--master"];
        let master = cluster.master();
        args.extend([master.as_str(), "-e", query, "--conf", &endpoint]);
        args.extend(["--conf", "ember.s3.region=us-east-1"]);
        args.extend(extra);
        std::process::Command::new(crate::common::ember_binary())
            .current_dir(work.path())
            .args(args)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
            .envs(trace)
            .output()
            .expect("the ember binary starts")
    };
    // A query that touches no store resolves no credentials; one that reads S3 on the
    // executors needs them sent (here in the clear, as the user opts in).
    let trivial = client("SELECT 1 AS one", &[]);
    assert!(trivial.status.success(), "{}", stderr(&trivial));
    let send = ["--conf", "ember.cluster.send.credentials=true"];
    let scan = client(
        "SELECT count(*) AS n FROM 's3://data/nation.parquet'",
        &send,
    );
    assert!(scan.status.success(), "{}", stderr(&scan));
    assert_eq!(stdout(&scan), "n\n25\n");

    let job_paths = ["", "config", "stages", "dot"];
    let paths = ["jobs", "state", "executors", "metrics", "version"];
    let rest = cluster.rest_answers(&job_paths, &paths);
    assert!(rest.contains("<redacted>"), "{rest}");
    let logs = cluster.logs();
    assert!(logs.contains("TRACE"), "the daemons log at the trace level");
    for (what, text) in [
        ("the REST API", rest),
        ("the daemons' logs", logs),
        (
            "the client's diagnostics",
            stderr(&trivial) + &stderr(&scan),
        ),
    ] {
        assert!(
            !text.contains(SECRET_ACCESS_KEY),
            "{what} show the secret key"
        );
    }
}

#[test]
fn sql_models_save_load_and_drop_on_s3() {
    let server = S3Server::start();
    server.create_bucket("models");
    let mut flags = server.conf();
    flags.extend([
        "--conf".to_string(),
        "ember.ml.model.dir=s3://models/catalog".to_string(),
    ]);
    let rows = "SELECT v AS id, CAST(v % 10 AS DOUBLE) AS x, CASE WHEN v % 10 < 5 THEN 'low' \
                ELSE 'high' END AS kind, CASE WHEN v % 10 < 5 THEN 0.0 ELSE 1.0 END AS label \
                FROM generate_series(1, 1000) AS t(v)";
    // A pipeline (indexer, encoder, scaler, classifier): five model directories on S3.
    let created = sql_over_s3(
        &format!(
            "CREATE MODEL kinds OPTIONS (model_type = 'logistic_regression', \
             features = ['x', 'kind'], one_hot = ['kind'], standardize = true) AS {rows}"
        ),
        &flags,
    );
    assert!(created.status.success(), "{}", stderr(&created));
    let keys = server.list("models", "catalog/kinds/");
    assert!(
        keys.contains(&"catalog/kinds/metadata.json".to_string())
            && keys.contains(&"catalog/kinds/stage-2/data.arrow".to_string()),
        "{keys:?}"
    );
    // A replacement is written beside the model, then copied into place: the same keys after it,
    // and nothing of the staging left.
    let replaced = sql_over_s3(
        &format!(
            "CREATE OR REPLACE MODEL kinds OPTIONS (model_type = 'logistic_regression', \
             features = ['x', 'kind'], one_hot = ['kind'], standardize = true) AS {rows}"
        ),
        &flags,
    );
    assert!(replaced.status.success(), "{}", stderr(&replaced));
    assert_eq!(server.list("models", "catalog/"), keys);
    // Another process loads it from S3 and scores with it.
    let shown = sql_over_s3("SHOW MODELS", &flags);
    assert!(
        stdout(&shown).contains("kinds,pipeline"),
        "{}",
        stdout(&shown)
    );
    let predicted = sql_over_s3(
        &format!(
            "SELECT count(*) AS right FROM ml_predict('kinds', '{}') WHERE prediction = label",
            rows.replace('\'', "''")
        ),
        &flags,
    );
    assert_eq!(
        stdout(&predicted),
        "right\n1000\n",
        "{}",
        stderr(&predicted)
    );
    let dropped = sql_over_s3("DROP MODEL kinds", &flags);
    assert!(dropped.status.success(), "{}", stderr(&dropped));
    assert_eq!(server.list("models", "catalog/"), Vec::<String>::new());
}
