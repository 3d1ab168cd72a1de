//! Runs a tree fit's driver loop off the async runtime.
//!
//! The loop is synchronous and long (minutes on large data): it sends requests to the workers
//! and waits for their replies (rayon in this process, blocking sockets on a cluster). Polled
//! inside an async task, it would hold that task for the whole fit, so nothing sharing the
//! task could react meanwhile: a cancelled statement (Ctrl-C in `ember submit`) would wait for
//! the fit to end. On a blocking thread, the awaiting future can be dropped at any time.
//! Dropping it abandons the fit: the loop's next request to the workers fails, which ends it
//! within one tree level.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{MlError, Result};
use crate::trees::learner::Workers;
use crate::trees::protocol::{Reply, Request};

/// Runs `fit` on `workers` on a blocking thread and returns the workers with its result.
pub(crate) async fn fit_off_runtime<T: Send + 'static>(
    workers: Box<dyn Workers>,
    fit: impl FnOnce(&mut dyn Workers) -> Result<T> + Send + 'static,
) -> Result<(Box<dyn Workers>, T)> {
    let abandoned = Arc::new(AtomicBool::new(false));
    let _abandon_when_dropped = AbandonOnDrop(Arc::clone(&abandoned));
    let mut workers = Abandonable { workers, abandoned };
    let running = tokio::task::spawn_blocking(move || {
        let fitted = fit(&mut workers);
        (workers.workers, fitted)
    });
    match running.await {
        Ok((workers, fitted)) => Ok((workers, fitted?)),
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(error) => Err(MlError::Training {
            reason: format!("the fit's thread did not finish: {error}"),
        }),
    }
}

/// Marks the fit abandoned when the future awaiting it is dropped (or has finished with it).
struct AbandonOnDrop(Arc<AtomicBool>);

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Workers that refuse requests once their fit is abandoned.
struct Abandonable {
    workers: Box<dyn Workers>,
    abandoned: Arc<AtomicBool>,
}

impl Workers for Abandonable {
    fn call_each(&mut self, requests: Vec<Request>) -> Result<Vec<Reply>> {
        if self.abandoned.load(Ordering::Relaxed) {
            return Err(MlError::Training {
                reason: "the fit was abandoned: its statement was cancelled".into(),
            });
        }
        self.workers.call_each(requests)
    }

    fn reorder(&mut self, order: &[usize]) {
        self.workers.reorder(order);
    }

    fn len(&self) -> usize {
        self.workers.len()
    }
}
