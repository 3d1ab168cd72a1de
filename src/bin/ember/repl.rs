//! The interactive shell of `ember sql`: line editing and history (`~/.ember_history`),
//! statements continue over lines until a `;`, Ctrl-C cancels the running statement.

use rustyline::error::ReadlineError;
use rustyline::DefaultEditor;

use crate::exit::Failure;
use crate::sql::StatementRunner;

const PROMPT: &str = "ember> ";
const CONTINUATION: &str = "   ...> ";

/// Reads statements until end of input (Ctrl-D) or `quit`; a failing statement is reported and
/// the shell goes on.
pub async fn run(runner: &mut StatementRunner) -> Result<(), Failure> {
    let mut editor = DefaultEditor::new()
        .map_err(|e| Failure::Job(format!("cannot start the interactive shell: {e}")))?;
    let history =
        std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".ember_history"));
    if let Some(path) = &history {
        // A missing history file is normal on first use.
        let _ = editor.load_history(path);
    }
    eprintln!("Ember SQL shell. End statements with ';'. Ctrl-D or 'quit' exits.");
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            PROMPT
        } else {
            CONTINUATION
        };
        match editor.readline(prompt) {
            Ok(line) => {
                if buffer.is_empty() && matches!(line.trim(), "quit" | "exit" | "\\q") {
                    break;
                }
                buffer.push_str(&line);
                buffer.push('\n');
                if !line.trim_end().ends_with(';') {
                    continue;
                }
                let _ = editor.add_history_entry(buffer.trim_end());
                let script = std::mem::take(&mut buffer);
                // Ctrl-C while a statement runs cancels it (dropping its future stops the query)
                // and returns to the prompt; at the prompt, Ctrl-C clears the line (below).
                let outcome = tokio::select! {
                    outcome = runner.run_script(&script) => outcome,
                    _ = tokio::signal::ctrl_c() => Err(Failure::Job("cancelled".into())),
                };
                match outcome {
                    Err(
                        ended @ (Failure::StdoutClosed
                        | Failure::Exited { .. }
                        | Failure::Cancelled),
                    ) => return Err(ended),
                    Err(Failure::Job(message) | Failure::Usage(message)) => {
                        eprintln!("error: {message}")
                    }
                    Ok(()) => {}
                }
            }
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Failure::Job(format!("cannot read input: {e}"))),
        }
    }
    if let Some(path) = &history {
        if let Err(e) = editor.save_history(path) {
            tracing::warn!("cannot save history to {}: {e}", path.display());
        }
    }
    Ok(())
}
