//! Where a tree fit's rows live: in tasks, one per partition of the training data, started by
//! an ordinary aggregate query so that the engine places them (and, on a cluster, Ballista
//! schedules them) like any other work.
//!
//! `ml_trees_worker(params, feature_1, ..., feature_n, label[, weight][, held_out])` is an
//! aggregate function whose accumulator bins its partition's rows as they arrive. When the
//! partition ends, the accumulator becomes that partition's [`PartitionWorker`]:
//!
//! - in one process it hands the worker to the fitting process (a registry keyed by the fit's
//!   id), and the query ends;
//! - on a cluster it connects to the fitting process's [`TrainingEndpoint`] (the address and the
//!   fit's secret ride in `params`) and serves requests until the fit is over
//!   ([`crate::trees::remote`] over [`crate::trees::rpc`]), so the rows stay on the
//!   executors and only histograms and splits cross the network. This is how XGBoost and
//!   LightGBM train on Spark (barrier tasks), and why it is not one query per tree level: a
//!   stock Ballista job costs 0.3-0.6 s, and a 100-tree fit splits about 3,000 times.
//!
//! A cluster fit needs every partition's task running at once: the fitting process plans the
//! data with at most as many partitions as the cluster has free task slots (asked of the
//! scheduler, [`crate::trees::placement`]), counts them (the same function in a counting mode),
//! and fails with a clear error, instead of waiting forever, when they do not all connect within
//! `ember.ml.tasks.start.timeout` (other jobs took the slots in between).
//!
//! A task lost with its executor is run again by Ballista once the scheduler declares the
//! executor lost; its new worker bins the same partition, connects, and takes the lost one's
//! place ([`RemoteWorkers`]), so the fit goes on where it was.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, RecordBatch};
use datafusion::arrow::compute::{filter, not};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::cast::as_float64_array;
use datafusion::common::{exec_err, ScalarValue};
use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result as DataFusionResult};
use datafusion::execution::memory_pool::MemoryPool;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    cast, lit, Accumulator, AggregateUDF, AggregateUDFImpl, Expr, Partitioning, Signature,
    Volatility,
};
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::ClientTlsConfig;

use crate::codec::encode_f64s;
use crate::error::{MlError, Result};
use crate::trees::binning::{numeric_ident, BinEdges, BinnedBatch, FeatureBins};
use crate::trees::fit_thread::fit_off_runtime;
use crate::trees::learner::{broadcast, HistogramMemory, LocalWorkers, Workers};
use crate::trees::protocol::Request;
use crate::trees::remote::{id_of, id_values, serve, RemoteWorkers, Replacements, ReplyShapes};
use crate::trees::rpc::{connect, Arrivals, Credentials, Exchange, TrainingEndpoint};
use crate::trees::worker::PartitionWorker;
use crate::udf::{coerce_params_and_features, literal_params};

/// What an `ml_trees_worker` task does with its partition.
#[derive(Debug, Clone, PartialEq)]
enum Mode {
    /// Only count the partitions (each task reports 1).
    Count,
    /// Hand the worker to the fitting process in this process.
    InProcess,
    /// Serve the fitting process.
    Connect {
        /// Its endpoint, `host:port`.
        address: String,
        /// Whether the endpoint speaks mutual TLS.
        tls: bool,
        /// The fit's secret.
        secret: [u8; 16],
    },
}

/// The parameters of one fit's tasks.
#[derive(Debug, Clone, PartialEq)]
struct WorkerTask {
    fit: u64,
    mode: Mode,
    bins: FeatureBins,
    weighted: bool,
    held_out: bool,
}

impl WorkerTask {
    fn encode(&self) -> Vec<f64> {
        let mut values = id_values(self.fit).to_vec();
        values.push(match self.mode {
            Mode::Count => 0.0,
            Mode::InProcess => 1.0,
            Mode::Connect { .. } => 2.0,
        });
        values.extend([
            f64::from(u8::from(self.weighted)),
            f64::from(u8::from(self.held_out)),
            self.bins.features().len() as f64,
        ]);
        for edges in self.bins.features() {
            values.push(edges.upper().len() as f64);
            values.extend_from_slice(edges.upper());
        }
        if let Mode::Connect {
            address,
            tls,
            secret,
        } = &self.mode
        {
            values.push(f64::from(u8::from(*tls)));
            values.extend(secret.iter().map(|&byte| f64::from(byte)));
            values.extend(address.bytes().map(f64::from));
        }
        values
    }

    fn decode(values: &[f64]) -> DataFusionResult<Self> {
        let corrupt = || DataFusionError::Plan(format!("corrupt {WORKER_NAME} parameters"));
        let [high, low, mode, weighted, held_out, features, tail @ ..] = values else {
            return Err(corrupt());
        };
        let mut rest = tail;
        // Each feature takes at least one value: a count beyond them is corrupt, not a size.
        if *features as usize > tail.len() {
            return Err(corrupt());
        }
        let mut edges = Vec::with_capacity(*features as usize);
        for index in 0..*features as usize {
            let (&count, tail) = rest.split_first().ok_or_else(corrupt)?;
            let count = count as usize;
            if count > tail.len() {
                return Err(corrupt());
            }
            edges.push(
                BinEdges::new(format!("feature_{index}"), tail[..count].to_vec())
                    .ok_or_else(corrupt)?,
            );
            rest = &tail[count..];
        }
        let mode = match *mode as u8 {
            0 => Mode::Count,
            1 => Mode::InProcess,
            2 => {
                let (&tls, rest) = rest.split_first().ok_or_else(corrupt)?;
                let (secret, address) = rest.split_at_checked(16).ok_or_else(corrupt)?;
                Mode::Connect {
                    address: address.iter().map(|&byte| char::from(byte as u8)).collect(),
                    tls: tls != 0.0,
                    secret: std::array::from_fn(|index| secret[index] as u8),
                }
            }
            _ => return Err(corrupt()),
        };
        Ok(Self {
            fit: id_of(&[*high, *low]).ok_or_else(corrupt)?,
            mode,
            bins: FeatureBins::from_edges(edges),
            weighted: *weighted != 0.0,
            held_out: *held_out != 0.0,
        })
    }
}

/// The function's name in plans.
pub const WORKER_NAME: &str = "ml_trees_worker";

/// `ml_trees_worker`: see the module documentation. Returns the number of partitions (tasks).
#[derive(Debug)]
pub struct TreesWorkerUdaf {
    signature: Signature,
    /// The mutual TLS its tasks reach a fitting process with, on an executor of a cluster with
    /// `ember.tls.*` set.
    tls: Option<ClientTlsConfig>,
    /// The executor's memory pool, which its tasks reserve their fit state from.
    memory: Option<Arc<dyn MemoryPool>>,
}

impl TreesWorkerUdaf {
    /// The function.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Volatile),
            tls: None,
            memory: None,
        }
    }

    /// The function for an executor whose tasks reach fitting processes over mutual TLS with
    /// `tls` when given (the executor's `ember.tls.*`) and reserve their fit state from
    /// `memory`, the pool the executor's tasks share, when it has a budget.
    pub fn on_executor(tls: Option<ClientTlsConfig>, memory: Option<Arc<dyn MemoryPool>>) -> Self {
        Self {
            tls,
            memory,
            ..Self::new()
        }
    }
}

// One function whatever its TLS and memory, as DataFusion compares functions.
impl PartialEq for TreesWorkerUdaf {
    fn eq(&self, other: &Self) -> bool {
        self.signature == other.signature
    }
}

impl Eq for TreesWorkerUdaf {}

impl std::hash::Hash for TreesWorkerUdaf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.signature.hash(state);
    }
}

impl Default for TreesWorkerUdaf {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for TreesWorkerUdaf {
    fn name(&self) -> &str {
        WORKER_NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DataFusionResult<Vec<DataType>> {
        coerce_params_and_features(WORKER_NAME, arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DataFusionResult<DataType> {
        Ok(DataType::Float64)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DataFusionResult<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format!("{}[partitions]", args.name),
            DataType::Float64,
            true,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> DataFusionResult<Box<dyn Accumulator>> {
        let task = WorkerTask::decode(&literal_params(WORKER_NAME, args.exprs.first())?)?;
        let features = task.bins.features().len();
        let expected = 1 + features + 1 + usize::from(task.weighted) + usize::from(task.held_out);
        if args.exprs.len() != expected {
            return exec_err!(
                "{WORKER_NAME} expects {expected} arguments, got {}",
                args.exprs.len()
            );
        }
        Ok(Box::new(WorkerAccumulator {
            train: BinnedBatch::empty(features, task.weighted),
            held_out: BinnedBatch::empty(features, task.weighted),
            task,
            tls: self.tls.clone(),
            memory: self.memory.clone(),
            merged: None,
            finished: false,
        }))
    }
}

/// One partition's task.
#[derive(Debug)]
struct WorkerAccumulator {
    task: WorkerTask,
    train: BinnedBatch,
    held_out: BinnedBatch,
    /// This executor's mutual TLS, if it has one.
    tls: Option<ClientTlsConfig>,
    /// This executor's memory pool, if it has a budget.
    memory: Option<Arc<dyn MemoryPool>>,
    /// Partitions reported by other tasks' states (the final stage).
    merged: Option<f64>,
    finished: bool,
}

impl WorkerAccumulator {
    /// Ends the partition: hands over or serves its worker (once).
    fn finish(&mut self) -> DataFusionResult<()> {
        if std::mem::replace(&mut self.finished, true) {
            return Ok(());
        }
        let features = self.task.bins.features().len();
        let bins: Vec<usize> = self
            .task
            .bins
            .features()
            .iter()
            .map(BinEdges::bins)
            .collect();
        let empty = || BinnedBatch::empty(features, self.task.weighted);
        let mut worker = PartitionWorker::new(
            &bins,
            std::mem::replace(&mut self.train, empty()),
            std::mem::replace(&mut self.held_out, empty()),
        );
        match &self.task.mode {
            Mode::Count => Ok(()),
            Mode::InProcess => {
                deposits().entry(self.task.fit).or_default().push(worker);
                Ok(())
            }
            Mode::Connect {
                address,
                tls,
                secret,
            } => {
                let credentials = Credentials {
                    fit: self.task.fit,
                    secret: *secret,
                };
                let tls = match (tls, &self.tls) {
                    (false, _) => None,
                    (true, Some(tls)) => Some(tls.clone()),
                    (true, None) => {
                        return exec_err!(
                            "tree training task: the fitting process at {address} speaks mutual \
                             TLS, but this executor has no ember.tls.* settings"
                        )
                    }
                };
                let runtime = match Handle::try_current() {
                    Ok(runtime) if runtime.runtime_flavor() == RuntimeFlavor::MultiThread => {
                        runtime
                    }
                    _ => return exec_err!("tree training task: needs a multi-threaded runtime"),
                };
                // The task blocks for the whole fit: off the runtime's worker threads, so that
                // they go on polling other tasks (an executor's heartbeats run there too).
                tokio::task::block_in_place(|| {
                    runtime.block_on(async {
                        let exchange = connect(address, tls, credentials).await?;
                        serve(&mut worker, exchange, features, self.memory.as_ref()).await
                    })
                })
                .map_err(|error| {
                    DataFusionError::Execution(format!(
                        "tree training task: serving the fitting process at {address} failed: \
                         {error}"
                    ))
                })
            }
        }
    }
}

impl Accumulator for WorkerAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DataFusionResult<()> {
        if self.task.mode == Mode::Count {
            return Ok(());
        }
        let features = self.task.bins.features().len();
        let columns = &values[1..];
        let label = &columns[features];
        let weight = self.task.weighted.then(|| &columns[features + 1]);
        let held_out = self
            .task
            .held_out
            .then(|| held_out_mask(as_float64_array(&columns[columns.len() - 1])?))
            .transpose()?;
        let bins = &self.task.bins;
        match held_out {
            Some(mask) if mask.true_count() > 0 => {
                let keep = not(&mask)?;
                for (mask, out) in [(&keep, &mut self.train), (&mask, &mut self.held_out)] {
                    let pick = |column: &ArrayRef| filter(column, mask);
                    let picked = columns[..features]
                        .iter()
                        .map(pick)
                        .collect::<std::result::Result<Vec<_>, _>>()?;
                    let weight = weight.map(pick).transpose()?;
                    out.append_arrays(bins, &picked, &pick(label)?, weight.as_ref())
                        .map_err(engine_error)?;
                }
            }
            _ => self
                .train
                .append_arrays(bins, &columns[..features], label, weight)
                .map_err(engine_error)?,
        }
        Ok(())
    }

    fn state(&mut self) -> DataFusionResult<Vec<ScalarValue>> {
        self.finish()?;
        Ok(vec![ScalarValue::Float64(Some(1.0))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DataFusionResult<()> {
        let partitions: f64 = as_float64_array(&states[0])?.iter().flatten().sum();
        *self.merged.get_or_insert(0.0) += partitions;
        Ok(())
    }

    fn evaluate(&mut self) -> DataFusionResult<ScalarValue> {
        match self.merged {
            Some(partitions) => Ok(ScalarValue::Float64(Some(partitions))),
            None => {
                // One stage did it all (a single partition): this task is the only one.
                self.finish()?;
                Ok(ScalarValue::Float64(Some(1.0)))
            }
        }
    }

    fn size(&self) -> usize {
        let rows = self.train.rows + self.held_out.rows;
        std::mem::size_of_val(self) + rows * (self.task.bins.features().len() + 16)
    }
}

/// `error` as the engine's error, for a task to fail with.
fn engine_error(error: MlError) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

/// True where the held-out indicator (1.0 for held-out rows) is 1.
fn held_out_mask(indicator: &Float64Array) -> DataFusionResult<BooleanArray> {
    Ok(indicator
        .iter()
        .map(|value| Some(value == Some(1.0)))
        .collect())
}

/// Workers handed over in this process, by fit id.
fn deposits() -> std::sync::MutexGuard<'static, HashMap<u64, Vec<PartitionWorker>>> {
    static DEPOSITS: LazyLock<Mutex<HashMap<u64, Vec<PartitionWorker>>>> =
        LazyLock::new(Mutex::default);
    DEPOSITS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A new fit id, unlikely to repeat across processes.
fn new_fit_id() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    std::collections::hash_map::RandomState::new()
        .hash_one((COUNTER.fetch_add(1, Ordering::Relaxed), std::process::id()))
}

/// The columns a fit's tasks read besides the features.
pub(crate) struct WorkerColumns<'a> {
    /// The label column.
    pub label: &'a str,
    /// The weight column, if any.
    pub weight: Option<&'a str>,
    /// True for the rows held out for early stopping, if any are.
    pub held_out: Option<Expr>,
}

/// A fit's started workers, and on a cluster the query whose tasks they are.
pub(crate) struct FitWorkers {
    /// The workers, unranked.
    pub workers: Box<dyn Workers>,
    job: Option<TasksQuery>,
}

impl FitWorkers {
    /// Ends the fit: the workers finish, and on a cluster the tasks' query completes.
    pub async fn finish(mut self) -> Result<()> {
        // Remote workers block on the runtime: tell them from a blocking thread.
        let mut workers = self.workers;
        tokio::task::spawn_blocking(move || broadcast(workers.as_mut(), &Request::Finish))
            .await
            .map_err(|error| MlError::Training {
                reason: format!("finishing the workers: {error}"),
            })??;
        if let Some(mut job) = self.job.take() {
            (&mut job.0).await.map_err(|error| MlError::Training {
                reason: format!("the training tasks' query: {error}"),
            })??;
        }
        Ok(())
    }
}

/// Starts one worker per partition of `data` over the features of `bins` and `columns`: in
/// this process, or in executor tasks when the session is a cluster's (its configuration has a
/// [`TrainingEndpoint`]).
///
/// Fails naming a missing or non-numeric column before reading data, and on a cluster when the
/// tasks do not all start (see the module documentation).
pub(crate) async fn start_workers(
    data: &DataFrame,
    bins: &FeatureBins,
    columns: &WorkerColumns<'_>,
) -> Result<FitWorkers> {
    let config = data.task_ctx().session_config().clone();
    let Some(endpoint) = config.get_extension::<TrainingEndpoint>() else {
        return Ok(FitWorkers {
            workers: Box::new(LocalWorkers::reserve(
                in_process_workers(data, bins, columns).await?,
                &data.task_ctx().memory_pool().clone(),
            )?),
            job: None,
        });
    };
    let claim = endpoint.claim_slots().await?;
    let slots = claim.tasks;
    let data = match slots {
        Some(slots) => within_slots(data, slots),
        None => data.clone(),
    };
    let dealt;
    let mut queries = WorkerQueries::new(&data, bins, columns)?;
    let mut expected = count_partitions(queries.query(Mode::Count)?).await?;
    if let Some(slots) = slots.filter(|&slots| expected > slots) {
        // A source whose partitions the engine does not choose (a table cached in memory, say):
        // its rows are dealt to the slots through a shuffle.
        dealt = data.repartition(Partitioning::RoundRobinBatch(slots))?;
        queries = WorkerQueries::new(&dealt, bins, columns)?;
        expected = slots;
    }
    let credentials = Credentials::generate(queries.fit)?;
    let mut arrivals = endpoint.expect(credentials).await?;
    let mode = Mode::Connect {
        address: arrivals.address.clone(),
        tls: endpoint.serves_tls(),
        secret: credentials.secret,
    };
    let query = queries.query(mode)?;
    let (ended, query_ended) = watch::channel(None);
    let job = TasksQuery(tokio::spawn(async move {
        let outcome = query.collect().await;
        let why = match &outcome {
            Ok(_) => "it ended".to_string(),
            Err(error) => error.to_string(),
        };
        ended.send_replace(Some(why));
        outcome
    }));
    let timeout = endpoint.start_timeout();
    let (exchanges, job) = accept_workers(&mut arrivals, expected, job, timeout).await?;
    // The tasks run: the scheduler counts their slots as busy from now on.
    drop(claim);
    let replacements = Replacements {
        arrivals,
        query_ended,
        timeout,
    };
    Ok(FitWorkers {
        workers: Box::new(RemoteWorkers::new(
            exchanges,
            Handle::current(),
            replacements,
            ReplyShapes::new(bins.layout()),
        )),
        job: Some(job),
    })
}

/// `data` planned with at most `slots` partitions wherever the engine chooses how many (file
/// scans are grouped, shuffles write that many): a cluster fit runs one task per partition, all
/// at once, so it needs no more than the cluster runs at a time.
fn within_slots(data: &DataFrame, slots: usize) -> DataFrame {
    let (state, plan) = data.clone().into_parts();
    if state.config().target_partitions() <= slots {
        return DataFrame::new(state, plan);
    }
    let config = state.config().clone().with_target_partitions(slots.max(1));
    let state = SessionStateBuilder::new_from_existing(state)
        .with_config(config)
        .build();
    DataFrame::new(state, plan)
}

/// The frame of every tree fit: bins the `features` of `training` (at most `max_bins` value
/// bins each), starts the workers of `data` ([`start_workers`]), grows the model with `fit` on
/// them (unranked; on a blocking thread, see [`crate::trees::fit_thread`]), its histograms held
/// in a reservation from `data`'s memory pool, and finishes them.
pub(crate) async fn fit_with_workers<T: Send + 'static>(
    data: &DataFrame,
    training: &DataFrame,
    features: &[String],
    max_bins: usize,
    columns: &WorkerColumns<'_>,
    fit: impl FnOnce(&mut dyn Workers, &mut HistogramMemory, &FeatureBins) -> Result<T> + Send + 'static,
) -> Result<T> {
    let bins = FeatureBins::fit(training, features, max_bins).await?;
    let mut memory = HistogramMemory::new(data.task_ctx().memory_pool());
    let FitWorkers { workers, job } = start_workers(data, &bins, columns).await?;
    let (workers, fitted) =
        fit_off_runtime(workers, move |workers| fit(workers, &mut memory, &bins)).await?;
    FitWorkers { workers, job }.finish().await?;
    Ok(fitted)
}

/// The workers of `data`'s partitions, built in this process (in the order their partitions
/// ended).
pub(crate) async fn in_process_workers(
    data: &DataFrame,
    bins: &FeatureBins,
    columns: &WorkerColumns<'_>,
) -> Result<Vec<PartitionWorker>> {
    let queries = WorkerQueries::new(data, bins, columns)?;
    let result = queries.query(Mode::InProcess)?.collect().await;
    let workers = deposits().remove(&queries.fit).unwrap_or_default();
    result?;
    Ok(workers)
}

/// The queries whose tasks are one fit's workers.
struct WorkerQueries<'a> {
    data: &'a DataFrame,
    fit: u64,
    bins: &'a FeatureBins,
    /// The arguments after the parameters.
    args: Vec<Expr>,
    weighted: bool,
    held_out: bool,
}

impl<'a> WorkerQueries<'a> {
    /// Checks the columns (naming a missing or non-numeric one) and picks the fit's id.
    fn new(
        data: &'a DataFrame,
        bins: &'a FeatureBins,
        columns: &WorkerColumns<'_>,
    ) -> Result<Self> {
        let mut args = bins
            .features()
            .iter()
            .enumerate()
            .map(|(index, edges)| numeric_ident(data, &edges.column, format!("feature_{index}")))
            .collect::<Result<Vec<_>>>()?;
        args.push(numeric_ident(data, columns.label, "label".to_string())?);
        if let Some(weight) = columns.weight {
            args.push(numeric_ident(data, weight, "weight".to_string())?);
        }
        if let Some(held_out) = &columns.held_out {
            args.push(cast(held_out.clone().is_true(), DataType::Float64));
        }
        Ok(Self {
            data,
            fit: new_fit_id(),
            bins,
            args,
            weighted: columns.weight.is_some(),
            held_out: columns.held_out.is_some(),
        })
    }

    /// The aggregate query whose tasks work in `mode`.
    fn query(&self, mode: Mode) -> Result<DataFrame> {
        let task = WorkerTask {
            fit: self.fit,
            mode,
            bins: self.bins.clone(),
            weighted: self.weighted,
            held_out: self.held_out,
        };
        let params = ScalarValue::Dictionary(
            Box::new(DataType::Int32),
            Box::new(ScalarValue::Binary(Some(encode_f64s(&task.encode())))),
        );
        let mut args = vec![lit(params)];
        args.extend(self.args.iter().cloned());
        let call = AggregateUDF::from(TreesWorkerUdaf::new()).call(args);
        Ok(self
            .data
            .clone()
            .aggregate(vec![], vec![call.alias("partitions")])?)
    }
}

/// The number of partitions `query` (a counting-mode worker query) reports.
async fn count_partitions(query: DataFrame) -> Result<usize> {
    let batches = query.collect().await?;
    let partitions = batches
        .iter()
        .find(|batch| batch.num_rows() > 0)
        .and_then(|batch| batch.column(0).as_any().downcast_ref::<Float64Array>())
        .and_then(|column| column.iter().next().flatten())
        .ok_or_else(|| MlError::Training {
            reason: "counting the partitions returned nothing".to_string(),
        })?;
    Ok(partitions as usize)
}

/// The query whose tasks are a cluster fit's workers, running on the runtime; aborted when
/// dropped. A fit that ends early (its statement cancelled, or an error) so stops its tasks, and
/// a fit thread waiting for a replacement worker learns at once that none will come (the
/// query's end drops the sender [`Replacements::query_ended`] listens to), instead of after
/// `ember.ml.tasks.start.timeout`.
struct TasksQuery(JoinHandle<DataFusionResult<Vec<RecordBatch>>>);

impl Drop for TasksQuery {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Takes `expected` workers from `arrivals` (the fit's endpoint admits only its tasks) while
/// `job` runs their tasks.
async fn accept_workers(
    arrivals: &mut Arrivals,
    expected: usize,
    mut job: TasksQuery,
    timeout: Duration,
) -> Result<(Vec<Exchange>, TasksQuery)> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut streams = Vec::with_capacity(expected);
    while streams.len() < expected {
        tokio::select! {
            arrived = arrivals.next() => match arrived {
                Some(exchange) => streams.push(exchange),
                None => return Err(MlError::Training {
                    reason: "the training endpoint stopped".to_string(),
                }),
            },
            ended = &mut job.0 => {
                let cause = match ended {
                    Ok(Err(error)) => error.to_string(),
                    Ok(Ok(_)) => "it ended".to_string(),
                    Err(error) => error.to_string(),
                };
                return Err(MlError::Training {
                    reason: format!(
                        "the training tasks' query stopped after {} of {expected} tasks \
                         started: {cause}",
                        streams.len()
                    ),
                });
            }
            () = tokio::time::sleep_until(deadline) => {
                return Err(MlError::Training {
                    reason: format!(
                        "{} of {expected} training tasks started within {} s \
                         (ember.ml.tasks.start.timeout); a distributed tree fit runs one task per \
                         partition, all at once, so it needs {expected} free task slots (as many \
                         as were free when it started, unless the cluster could not tell): other \
                         jobs may have taken them, or executors left; try again, or add \
                         executor cores",
                        streams.len(),
                        timeout.as_secs()
                    ),
                });
            }
        }
    }
    Ok((streams, job))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_frames::rows_frame;
    use datafusion::logical_expr::col;

    fn names(columns: &[&str]) -> Vec<String> {
        columns.iter().map(|column| column.to_string()).collect()
    }

    #[tokio::test]
    async fn a_dropped_tasks_query_stops_and_its_listeners_hear_it_at_once() {
        let (ended, mut query_ended) = watch::channel(None::<String>);
        let job = TasksQuery(tokio::spawn(async move {
            let _ended = ended;
            std::future::pending::<DataFusionResult<Vec<RecordBatch>>>().await
        }));
        drop(job);
        let heard = tokio::time::timeout(
            Duration::from_secs(10),
            query_ended.wait_for(Option::is_some),
        )
        .await;
        assert!(matches!(heard, Ok(Err(_))), "{heard:?}");
    }

    #[tokio::test]
    async fn each_partition_becomes_a_worker_with_its_rows_label_weight_and_held_out_rows() {
        let rows: Vec<Vec<Option<f64>>> = (0..30)
            .map(|i| {
                let label = (i != 7).then_some(f64::from(2 * i));
                vec![Some(f64::from(29 - i)), label, Some(f64::from(i % 3))]
            })
            .collect();
        let data = rows_frame(&["a", "label", "w"], &rows, 3);
        let bins = FeatureBins::fit(&data, &names(&["a"]), 255).await.unwrap();
        let columns = WorkerColumns {
            label: "label",
            weight: Some("w"),
            held_out: Some(col("a").lt(lit(5.0))),
        };
        let mut workers = in_process_workers(&data, &bins, &columns).await.unwrap();
        assert_eq!(workers.len(), 3);
        workers.sort_by(|a, b| b.batches()[0].bins[0][0].cmp(&a.batches()[0].bins[0][0]));
        for (p, worker) in workers.iter().enumerate() {
            let [train, held_out] = worker.batches();
            let range = 10 * p as u32..10 * (p as u32 + 1);
            // a = 29 - i is held out below 5: rows 25..30, in the last partition.
            let (kept, held): (Vec<u32>, Vec<u32>) = range.partition(|&i| 29 - i >= 5);
            for (batch, rows) in [(train, kept), (held_out, held)] {
                assert_eq!(batch.rows, rows.len());
                let bins: Vec<u8> = rows.iter().map(|i| (30 - i) as u8).collect();
                assert_eq!(batch.bins, [bins]);
                let weight: Vec<f64> = rows.iter().map(|i| f64::from(i % 3)).collect();
                assert_eq!(batch.weight.as_ref(), Some(&weight));
                for (i, label) in rows.iter().zip(&batch.label) {
                    assert!(if *i == 7 {
                        label.is_nan()
                    } else {
                        *label == f64::from(2 * i)
                    });
                }
            }
        }
        let unweighted = WorkerColumns {
            label: "label",
            weight: None,
            held_out: None,
        };
        let workers = in_process_workers(&data, &bins, &unweighted).await.unwrap();
        assert!(workers.iter().all(|w| w.batches()[0].weight.is_none()));
        assert_eq!(
            workers.iter().map(|w| w.batches()[1].rows).sum::<usize>(),
            0
        );
    }

    #[tokio::test]
    async fn missing_or_non_numeric_columns_are_named() {
        let rows = vec![vec![Some(1.0), Some(0.0)], vec![Some(2.0), Some(1.0)]];
        let data = rows_frame(&["x", "n"], &rows, 1)
            .with_column("s", lit("text"))
            .unwrap();
        let bins = FeatureBins::fit(&data, &names(&["x"]), 255).await.unwrap();
        let columns = |label, weight| WorkerColumns {
            label,
            weight,
            held_out: None,
        };
        let error = in_process_workers(&data, &bins, &columns("s", None))
            .await
            .unwrap_err();
        assert!(matches!(error, MlError::NotNumeric { column, .. } if column == "s"));
        let error = in_process_workers(&data, &bins, &columns("n", Some("w")))
            .await
            .unwrap_err();
        assert!(matches!(error, MlError::UnknownColumn { column, .. } if column == "w"));
    }

    #[test]
    fn task_parameters_round_trip() {
        let bins = FeatureBins::from_edges(vec![
            BinEdges::new("a", vec![1.0, f64::INFINITY]).unwrap(),
            BinEdges::new("b", vec![-2.5, 0.0, 3.0, f64::INFINITY]).unwrap(),
        ]);
        for mode in [
            Mode::Count,
            Mode::InProcess,
            Mode::Connect {
                address: "10.1.2.3:4567".to_string(),
                tls: true,
                secret: std::array::from_fn(|index| index as u8 * 17),
            },
        ] {
            let task = WorkerTask {
                fit: u64::MAX - 12345,
                mode,
                bins: bins.clone(),
                weighted: true,
                held_out: false,
            };
            let decoded = WorkerTask::decode(&task.encode()).unwrap();
            assert_eq!(decoded.fit, task.fit);
            assert_eq!(decoded.mode, task.mode);
            assert_eq!((decoded.weighted, decoded.held_out), (true, false));
            let upper = |t: &WorkerTask| -> Vec<Vec<f64>> {
                t.bins
                    .features()
                    .iter()
                    .map(|e| e.upper().to_vec())
                    .collect()
            };
            assert_eq!(upper(&decoded), upper(&task));
        }
        // A feature count far beyond the values is corrupt, not an allocation.
        assert!(WorkerTask::decode(&[0.0, 1.0, 2.0, 0.0, 0.0, 1e15, 1.0]).is_err());
        assert!(WorkerTask::decode(&[1.0, 2.0]).is_err());
    }

    /// Task parameters of every mode with their values mutated: each decodes or fails with an
    /// error, never panics or allocates from a count it read.
    #[test]
    fn mutated_task_parameters_decode_or_fail_cleanly() {
        let bins = FeatureBins::from_edges(vec![
            BinEdges::new("a", vec![1.0, f64::INFINITY]).unwrap(),
            BinEdges::new("b", vec![-2.5, 0.0, 3.0, f64::INFINITY]).unwrap(),
        ]);
        let mut mutator = crate::fuzz::Mutator::new(23);
        let mut failed = 0;
        for mode in [
            Mode::Count,
            Mode::Connect {
                address: "10.1.2.3:4567".to_string(),
                tls: true,
                secret: [7; 16],
            },
        ] {
            let task = WorkerTask {
                fit: 99,
                mode,
                bins: bins.clone(),
                weighted: false,
                held_out: true,
            };
            let values = task.encode();
            for _ in 0..1000 {
                failed += usize::from(WorkerTask::decode(&mutator.values(&values)).is_err());
            }
        }
        assert!(
            failed > 200,
            "only {failed} of 2000 mutated parameters failed"
        );
    }
}
