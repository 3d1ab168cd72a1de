//! Progress of a running statement, on stderr. When stderr is a terminal it is one live line
//! per statement, redrawn in place (`indicatif`); otherwise a plain line every interval.
//!
//! Locally the line says what the statement's scans have read so far (DataFusion's live scan
//! metrics). On a cluster it shows each of the submission's jobs: stages done of total, tasks
//! running and done, rows read (Ballista's REST job status); scan metrics stay on executors.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ember::datafusion::physical_plan::ExecutionPlan;
use ember::ScanStats;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::own_jobs::OwnJobs;

/// How often a live line is brought up to date at least (more often when the progress
/// interval is shorter).
const LIVE_REFRESH: Duration = Duration::from_millis(500);

/// How often a live line's spinner turns, showing that the client is alive between updates.
const SPINNER_TICK: Duration = Duration::from_millis(120);

/// What a progress line reports on.
pub enum Watched<'a> {
    /// A statement running in this process: its plan's live scan metrics, once it is planned.
    Local(&'a RunningPlan),
    /// Jobs on a cluster, from its scheduler's REST API.
    Cluster(&'a OwnJobs),
}

impl Watched<'_> {
    async fn describe(&self) -> String {
        match self {
            Watched::Local(planned) => match planned.get() {
                Some(plan) => ScanStats::of(&plan).read_summary(),
                None => "preparing".into(),
            },
            Watched::Cluster(jobs) => jobs.describe().await,
        }
    }
}

/// The plan of the statement running in this process, once it is planned.
///
/// Emptied before a statement runs again: a hash join keeps its collected build side, and the
/// memory reserved for it, in its plan node until the plan is dropped, so a statement that ran
/// out of memory would otherwise run again beside its first run's build sides.
#[derive(Default)]
pub struct RunningPlan(Mutex<Option<Arc<dyn ExecutionPlan>>>);

impl RunningPlan {
    /// The plan, once one is set.
    pub fn get(&self) -> Option<Arc<dyn ExecutionPlan>> {
        self.lock().clone()
    }

    /// Makes `plan` the running plan.
    pub fn set(&self, plan: Arc<dyn ExecutionPlan>) {
        *self.lock() = Some(plan);
    }

    /// Drops the plan (see the type's documentation).
    pub fn clear(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<dyn ExecutionPlan>>> {
        // A panic while holding the lock cannot leave the option half-written.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Shows the progress of running statements on stderr.
pub struct Progress {
    /// Between two plain lines, when stderr is not a terminal.
    every: Duration,
    /// The live lines, when stderr is a terminal.
    live: Option<MultiProgress>,
}

impl Progress {
    /// Progress live on a terminal, else a plain line every `every`.
    pub fn new(every: Duration) -> Self {
        let live = io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Self { every, live }
    }

    /// Standard output for result rows. When live lines share the terminal with it, rows are
    /// printed above the line instead of through it (whole buffers at a time, so the line is
    /// redrawn once per buffer, not per row).
    pub fn stdout(&self) -> Box<dyn Write> {
        let stdout = io::stdout();
        match &self.live {
            Some(live) if stdout.is_terminal() => Box::new(BufWriter::new(AboveLiveLines {
                out: stdout.lock(),
                live: live.clone(),
            })),
            _ => Box::new(BufWriter::new(stdout.lock())),
        }
    }

    /// Awaits `work`, the statement `label`, reporting on `watched` while it runs.
    pub async fn watch<T>(
        &self,
        label: &str,
        watched: Watched<'_>,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let started = Instant::now();
        let line = self.live.as_ref().map(|live| live_line(live, label));
        let period = if line.is_some() {
            self.every.min(LIVE_REFRESH)
        } else {
            self.every
        };
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        // A late tick (a slow status read) waits a whole period, rather than a burst of lines.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(work);
        let done = loop {
            tokio::select! {
                done = &mut work => break done,
                _ = ticks.tick() => {}
            }
            // Reading the status (a REST call on a cluster) must not hold up the work.
            let status = tokio::select! {
                done = &mut work => break done,
                status = watched.describe() => status,
            };
            let elapsed = started.elapsed().as_secs_f64();
            match &line {
                Some(line) => line.set_message(format!("[{elapsed:.1} s] {status} · {label}")),
                None => eprintln!("-- {label} running: {elapsed:.1} s, {status}"),
            }
        };
        if let (Some(live), Some(line)) = (&self.live, line) {
            line.finish_and_clear();
            live.remove(&line);
        }
        done
    }
}

/// A spinner line for the statement `label`, among the `live` lines.
fn live_line(live: &MultiProgress, label: &str) -> ProgressBar {
    // Added before anything draws it: a line drawn on its own, outside `live`, is never cleared.
    let line = live.add(ProgressBar::new_spinner());
    // The label comes last, so a narrow terminal cuts it rather than the status.
    if let Ok(style) = ProgressStyle::with_template("{spinner} {wide_msg}") {
        line.set_style(style);
    }
    line.set_message(format!("[0.0 s] starting · {label}"));
    line.enable_steady_tick(SPINNER_TICK);
    line
}

/// A writer that clears the live lines while it writes, then redraws them.
struct AboveLiveLines<W> {
    out: W,
    live: MultiProgress,
}

impl<W: Write> Write for AboveLiveLines<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.live.suspend(|| self.out.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.live.suspend(|| self.out.flush())
    }
}
