//! Running a submitted program: one linked with the `ember` crate, given the submitted
//! configuration in its environment so `ember::Session::from_env()` connects to the same master
//! with the same settings. Its exit code becomes `ember submit`'s.
//!
//! Ctrl-C (SIGINT to `ember submit`) cancels the program's jobs on a cluster, which Ballista's
//! client does not do when the program dies, then gives the program a grace period to exit
//! before killing it, and exits 130.

use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::Duration;

use ember::config::SUBMITTED_CONF_VAR;

use crate::exit::Failure;
use crate::own_jobs::{ClusterSubmission, OwnJobs};

/// How often the program is checked for having exited.
const POLL: Duration = Duration::from_millis(100);

/// How long an interrupted program has to exit before it is killed.
const GRACE: Duration = Duration::from_secs(10);

/// Runs the program `app` with `app_args`, handing it `configuration` (properties-file lines)
/// in [`SUBMITTED_CONF_VAR`]. On a cluster, `cluster` is the submission, whose jobs Ctrl-C
/// cancels.
pub fn run(
    app: &Path,
    app_args: &[String],
    configuration: &str,
    cluster: Option<ClusterSubmission>,
) -> Result<(), Failure> {
    if !app.is_file() {
        return Err(Failure::Usage(format!(
            "{}: no such program (APP is a .sql script or a program's path)",
            app.display()
        )));
    }
    // A bare name would be looked up on PATH; the user named this file.
    let path =
        std::path::absolute(app).map_err(|e| Failure::Usage(format!("{}: {e}", app.display())))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .thread_stack_size(crate::runtime::THREAD_STACK)
        .enable_all()
        .build()
        .map_err(|e| Failure::Job(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        // Listed before the program starts, so that its jobs are the new ones.
        let own_jobs = match cluster {
            Some(submission) => Some(OwnJobs::from_now(submission).await),
            None => None,
        };
        let interrupted = tokio::signal::ctrl_c();
        tokio::pin!(interrupted);
        let mut child = Command::new(&path)
            .args(app_args)
            .env(SUBMITTED_CONF_VAR, configuration)
            .spawn()
            .map_err(|e| Failure::Usage(format!("cannot run {}: {e}", app.display())))?;
        loop {
            tokio::select! {
                _ = &mut interrupted => break,
                _ = tokio::time::sleep(POLL) => {
                    if let Some(status) = exited(&mut child, app)? {
                        return outcome(app, status);
                    }
                }
            }
        }
        if let Some(jobs) = &own_jobs {
            jobs.cancel().await;
        }
        stop(&mut child, app).await?;
        Err(Failure::Cancelled)
    })
}

/// The program's exit status, once it has exited.
fn exited(child: &mut Child, app: &Path) -> Result<Option<ExitStatus>, Failure> {
    child
        .try_wait()
        .map_err(|e| Failure::Job(format!("cannot wait for {}: {e}", app.display())))
}

/// Waits up to [`GRACE`] for an interrupted program to exit, then kills it.
async fn stop(child: &mut Child, app: &Path) -> Result<(), Failure> {
    let deadline = tokio::time::Instant::now() + GRACE;
    while tokio::time::Instant::now() < deadline {
        if exited(child, app)?.is_some() {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
    eprintln!(
        "-- {} did not exit within {GRACE:?}; killing it",
        app.display()
    );
    child
        .kill()
        .and_then(|()| child.wait().map(drop))
        .map_err(|e| Failure::Job(format!("cannot stop {}: {e}", app.display())))
}

/// `ember submit`'s outcome for a program that exited with `status`.
fn outcome(app: &Path, status: ExitStatus) -> Result<(), Failure> {
    let code = match status.code() {
        Some(0) => return Ok(()),
        Some(code) => u8::try_from(code).unwrap_or(1),
        // Killed by a signal: the shell's convention, 128 + the signal.
        None => 128 + signal_of(&status),
    };
    Err(Failure::Exited {
        program: app.display().to_string(),
        code,
    })
}

/// The signal that ended a process, 0 when unknown.
fn signal_of(status: &ExitStatus) -> u8 {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        status
            .signal()
            .and_then(|signal| u8::try_from(signal).ok())
            .unwrap_or(0)
    }
    #[cfg(not(unix))]
    {
        let _ = status;
        0
    }
}
