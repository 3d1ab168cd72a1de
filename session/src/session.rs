//! `Session`: the entry point of every Ember program.

use datafusion::common::TableReference;
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{DdlStatement, LogicalPlan, Statement};
use datafusion::prelude::SessionContext;
use ember_connectors::{open_dataset, with_dataset_urls, FileFormatKind};
use ember_core::config::{BATCH_SIZE, DEFAULT_PROPERTIES_FILE, MASTER, SHUFFLE_PARTITIONS};
use ember_core::state::spillable_plans;
use ember_core::{session_state, ConfigError, ConfigOrigin, EmberConfig};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::datasource::file_format::format_as_file_type;
use ember_connectors::WriteMode;

use crate::cluster::cluster_client_state;
use crate::error::Result;
use crate::models::functions::statement_state;
use crate::models::statement::parse_model_statement;
use crate::models::ModelCatalog;
use crate::parse::plan_statement;
use crate::scratch::Scratch;
use crate::training_cache::cache_within_budget;
use crate::write::{count_frame, write_atomically, WriteRequest};

use ember_core::master::Master;

/// Whether `message`, the text of a failed statement's error, says that an operator did not fit
/// in the memory budget (`ember.memory.limit`): such a statement can run again with
/// [`Session::sql_with_spillable_plans`]. Read from the text because on a cluster the error
/// reaches the client as an executor's message, and DataFusion's memory pool words its refusal
/// the same with or without the `Resources exhausted` prefix.
pub fn ran_out_of_memory(message: &str) -> bool {
    message.contains("Resources exhausted") || message.contains("Failed to allocate additional")
}

/// The longest [`Session::memory_released_to`] waits.
pub const MEMORY_RELEASE_WAIT: Duration = Duration::from_secs(10);

/// A connection to where Ember runs, holding the configuration, the catalog of registered tables
/// and the functions. Cheap to share behind an `Arc`; all methods take `&self`.
///
/// ```no_run
/// # async fn demo() -> ember_session::Result<()> {
/// let session = ember_session::Session::builder()
///     .master("local[2]")
///     .config("ember.batch.size", "4096")
///     .build()?;
/// session.register_table("lineitem", "data/lineitem.parquet").await?;
/// let df = session.sql("SELECT count(*) FROM lineitem").await?;
/// df.show().await?;
/// # Ok(()) }
/// ```
pub struct Session {
    context: SessionContext,
    config: EmberConfig,
    master: Master,
    /// Where a cluster session materializes tables; `None` in one process.
    scratch: Option<Scratch>,
    /// Saved models, for SQL.
    models: ModelCatalog,
}

impl Session {
    /// Starts building a session from the default configuration.
    pub fn builder() -> SessionBuilder {
        SessionBuilder::default()
    }

    /// A session configured as the `ember` command configures its own: `EMBER_*` variables,
    /// then `conf/ember-defaults.conf` when present, then what `ember submit` handed down in
    /// `EMBER_CONF`. A program run by `ember submit` this way connects to the submitted master
    /// with the submitted configuration.
    ///
    /// # Errors
    /// A configuration error naming the key and where it came from, or a bad master.
    pub fn from_env() -> Result<Session> {
        let config = EmberConfig::load(
            std::env::vars(),
            Some(std::path::Path::new(DEFAULT_PROPERTIES_FILE)),
            &[],
            ConfigOrigin::Api,
        )?;
        Session::builder().with_config(config).build()
    }

    /// Runs `sql` (a query, DDL, `COPY`, `SET`, `EXPLAIN`, or a model statement — `CREATE
    /// MODEL`, `SHOW MODELS`, `DESCRIBE MODEL`, `DROP MODEL`, see [`crate::models`]) and returns
    /// the DataFrame of its result. Queries are lazy: rows are computed when the DataFrame is collected or streamed.
    ///
    /// On a cluster, `CREATE TABLE ... AS` writes the table to `ember.scratch.dir` (see
    /// [`crate::scratch`]); in one process it is kept in memory. `COPY ... TO` is atomic and
    /// takes a save mode, `OPTIONS (mode 'error' | 'overwrite' | 'append')` (see [`crate::write`]).
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        self.sql_in(&self.context, sql).await
    }

    /// Runs `sql` as [`Session::sql`] does, but planned for the least memory rather than the
    /// most speed ([`spillable_plans`]: sort-merge joins except for small build sides, one sort
    /// per `ORDER BY`, no top-k), so that more of its operators spill to `ember.local.dir`: how
    /// to run again a statement that ran out of the memory budget ([`ran_out_of_memory`];
    /// `ember sql` does so by itself).
    pub async fn sql_with_spillable_plans(&self, sql: &str) -> Result<DataFrame> {
        let budget = match self.master {
            Master::Local { .. } => self.config.memory_budget().bytes,
            Master::Cluster { .. } => None,
        };
        let state = spillable_plans(self.context.state(), budget);
        self.sql_in(&SessionContext::new_with_state(state), sql)
            .await
    }

    /// Bytes reserved from this process's memory pool now (0 without a budget).
    pub fn memory_reserved(&self) -> usize {
        self.context.runtime_env().memory_pool.reserved()
    }

    /// Waits until at most `bytes` are reserved from this process's memory pool, for at most
    /// [`MEMORY_RELEASE_WAIT`]: call it with [`Session::memory_reserved`] from before a
    /// statement that failed, before running that statement again. Why: the failed statement's
    /// other tasks stop at their next await point, and until then their reservations (a top-k
    /// heap, a sort's buffered batches) count against the budget the second run needs.
    pub async fn memory_released_to(&self, bytes: usize) {
        let deadline = tokio::time::Instant::now() + MEMORY_RELEASE_WAIT;
        while self.memory_reserved() > bytes && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// [`Session::sql`] on `context`: this session's own, or one that shares its catalog with
    /// other planner settings.
    async fn sql_in(&self, context: &SessionContext, sql: &str) -> Result<DataFrame> {
        if let Some(statement) = parse_model_statement(sql)? {
            return self.run_model_statement(statement).await;
        }
        let plan = match self.models.prepare(self, sql).await? {
            None => plan_statement(&context.state(), sql).await?,
            Some(prepared) => {
                let state = statement_state(context.state(), &prepared)?;
                prepared.rewrite(plan_statement(&state, sql).await?)?
            }
        };
        match (&self.scratch, &plan) {
            (Some(scratch), LogicalPlan::Ddl(DdlStatement::CreateMemoryTable(create))) => {
                scratch.create_table(context, create).await
            }
            (_, LogicalPlan::Copy(copy)) => {
                let rows = write_atomically(context, WriteRequest::from(copy)).await?;
                Ok(count_frame(context, rows)?)
            }
            (_, LogicalPlan::Analyze(analyze))
                if matches!(*analyze.input, LogicalPlan::Copy(_)) =>
            {
                Err(DataFusionError::Plan(
                    "EXPLAIN ANALYZE would run the COPY straight into its target, outside the \
                     staged commit and save mode every COPY goes through; run the COPY itself"
                        .to_string(),
                )
                .into())
            }
            (_, LogicalPlan::Statement(Statement::SetVariable(set)))
                if set.variable.to_ascii_lowercase().starts_with("ember.") =>
            {
                self.set_ember_key(&set.variable, &set.value).await
            }
            _ => Ok(context.execute_logical_plan(plan).await?),
        }
    }

    /// `SET ember.KEY = value`: the keys that shape query plans take effect for the following
    /// statements (`ember.sql.shuffle.partitions`, `ember.batch.size`); the others are read
    /// once, when the session starts, and are an error here.
    async fn set_ember_key(&self, key: &str, value: &str) -> Result<DataFrame> {
        let mut validated = self.config.clone();
        validated.set(key, value, ConfigOrigin::Sql)?;
        let (ember_key, datafusion_key) = match key.to_ascii_lowercase().as_str() {
            SHUFFLE_PARTITIONS => (SHUFFLE_PARTITIONS, "datafusion.execution.target_partitions"),
            BATCH_SIZE => (BATCH_SIZE, "datafusion.execution.batch_size"),
            _ => {
                return Err(ConfigError::FixedAtStart {
                    key: key.to_string(),
                }
                .into())
            }
        };
        // The `ember` extension keeps the value for `SHOW`; DataFusion's key applies it.
        self.context
            .sql(&format!("SET {ember_key} = {}", value.trim()))
            .await?;
        let set = format!("SET {datafusion_key} = {}", value.trim());
        Ok(self.context.sql(&set).await?)
    }

    /// Computes `rows` once and returns a DataFrame that reads the result, for reuse by several
    /// queries: in one process in memory reserved from the memory budget, spilled to Arrow IPC
    /// files in `ember.local.dir` beyond it ([`crate::training_cache`]); as Parquet files in
    /// `ember.scratch.dir` on a cluster, where rows in this process would not reach executors.
    pub async fn cache(&self, rows: DataFrame) -> Result<DataFrame> {
        match &self.scratch {
            None => {
                let partitions = self.context.copied_config().target_partitions();
                let cached = cache_within_budget(&self.context, rows, partitions).await?;
                if cached.spilled_bytes > 0 {
                    tracing::info!(
                        spilled_bytes = cached.spilled_bytes,
                        "cached rows exceeded the memory budget and were spilled to disk"
                    );
                }
                Ok(cached.frame)
            }
            Some(scratch) => {
                let table = scratch
                    .materialize(&self.context, &TableReference::bare("cache"), rows)
                    .await?;
                Ok(self.context.read_table(table)?)
            }
        }
    }

    /// Reads a dataset whose format is recognised from its file names.
    pub async fn read(&self, location: &str) -> Result<DataFrame> {
        self.read_format(location, None).await
    }

    /// Reads Parquet files: one file, a directory (Hive partitions become columns) or a glob.
    pub async fn read_parquet(&self, location: &str) -> Result<DataFrame> {
        self.read_format(location, Some(FileFormatKind::Parquet))
            .await
    }

    /// Reads CSV files with a header row: one file, a directory or a glob.
    pub async fn read_csv(&self, location: &str) -> Result<DataFrame> {
        self.read_format(location, Some(FileFormatKind::Csv)).await
    }

    /// Reads newline-delimited JSON files: one file, a directory or a glob.
    pub async fn read_json(&self, location: &str) -> Result<DataFrame> {
        self.read_format(location, Some(FileFormatKind::Json)).await
    }

    /// Reads a dataset in `format`, or in the format its file names tell when `None`.
    pub async fn read_format(
        &self,
        location: &str,
        format: Option<FileFormatKind>,
    ) -> Result<DataFrame> {
        let table = open_dataset(&self.context.state(), location, format).await?;
        Ok(self.context.read_table(table)?)
    }

    /// Writes `rows` to `location` in `format` the way `COPY ... TO` does — atomically, with
    /// `mode`, Hive-style directories for `partition_by` columns and DataFusion's format
    /// `options` (e.g. `format.compression` = `zstd(3)`) — and returns the number of rows written.
    pub async fn write(
        &self,
        rows: DataFrame,
        location: &str,
        format: FileFormatKind,
        mode: WriteMode,
        partition_by: &[&str],
    ) -> Result<u64> {
        let state = self.context.state();
        let factory = state
            .get_file_format_factory(format.name())
            .ok_or_else(|| DataFusionError::Plan(format!("no writer for format {format}")))?;
        let request = WriteRequest {
            input: Arc::new(rows.into_unoptimized_plan()),
            target: location.to_string(),
            partition_by: partition_by.iter().map(|c| c.to_string()).collect(),
            file_type: format_as_file_type(factory),
            options: HashMap::from([("format.mode".to_string(), mode.to_string())]),
        };
        write_atomically(&self.context, request).await
    }

    /// Registers the dataset at `location` as table `name`; the format comes from the file names.
    pub async fn register_table(&self, name: &str, location: &str) -> Result<()> {
        self.register_table_format(name, location, None).await
    }

    /// Registers the dataset at `location` as table `name` in `format` (or the format its file
    /// names tell when `None`). Replaces a table of the same name.
    pub async fn register_table_format(
        &self,
        name: &str,
        location: &str,
        format: Option<FileFormatKind>,
    ) -> Result<()> {
        let table = open_dataset(&self.context.state(), location, format).await?;
        self.context.deregister_table(name)?;
        self.context.register_table(name, table)?;
        Ok(())
    }

    /// The catalog of saved models (`ember.ml.model.dir`).
    pub(crate) fn models(&self) -> &ModelCatalog {
        &self.models
    }

    /// The DataFusion context underneath, for APIs Ember does not wrap (UDF registration,
    /// catalogs, `register_object_store`).
    pub fn context(&self) -> &SessionContext {
        &self.context
    }

    /// The configuration this session was built from.
    pub fn config(&self) -> &EmberConfig {
        &self.config
    }

    /// Where this session runs.
    pub fn master(&self) -> &Master {
        &self.master
    }
}

/// Builder for [`Session`]; errors in `master` or `config` surface from [`SessionBuilder::build`].
#[derive(Default)]
pub struct SessionBuilder {
    config: EmberConfig,
    error: Option<ConfigError>,
}

impl SessionBuilder {
    /// Starts from an already loaded configuration (e.g. the CLI's layered one).
    pub fn with_config(mut self, config: EmberConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the master: `local`, `local[N]`, `local[*]` or `ember://host:port`.
    pub fn master(self, master: &str) -> Self {
        self.config(MASTER, master)
    }

    /// Sets one configuration key (`ember.*` or `datafusion.*`); wins over every other source.
    pub fn config(mut self, key: &str, value: &str) -> Self {
        if self.error.is_none() {
            if let Err(error) = self.config.set(key, value, ConfigOrigin::Api) {
                self.error = Some(error);
            }
        }
        self
    }

    /// Builds the session. Fails on the first bad configuration entry (a bad master among them).
    pub fn build(self) -> Result<Session> {
        if let Some(error) = self.error {
            return Err(error.into());
        }
        let master = self.config.master().clone();
        let state = match &master {
            Master::Local { cores } => session_state(&self.config, *cores)?,
            Master::Cluster { host, port } => cluster_client_state(&self.config, host, *port)?,
        };
        // `SELECT * FROM 's3://bucket/path/'` works without registering the dataset first.
        let context = with_dataset_urls(SessionContext::new_with_state(state));
        let scratch = match master {
            Master::Local { .. } => None,
            Master::Cluster { .. } => {
                let default_dir = std::env::temp_dir().join("ember-scratch");
                let dir = self.config.scratch_dir().unwrap_or(&default_dir);
                Some(Scratch::new(dir, &context.session_id())?)
            }
        };
        let models = ModelCatalog::new(self.config.ml_model_dir(), &context);
        Ok(Session {
            context,
            config: self.config,
            master,
            scratch,
            models,
        })
    }
}
