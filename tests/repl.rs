//! The interactive `ember sql` shell on a real pseudo-terminal: multi-line statements, an error
//! that does not end the session, Ctrl-C cancelling a running statement, history saved on exit.

use std::process::Command;

use rexpect::session::spawn_command;

use crate::common::ember_binary;

#[test]
fn shell_runs_multi_line_statements_survives_errors_and_cancels_and_saves_history() {
    let home = tempfile::tempdir().unwrap();
    let mut command = Command::new(ember_binary());
    command
        .current_dir(home.path())
        .env("HOME", home.path())
        .args(["sql", "--format", "csv"]);
    let mut shell = spawn_command(command, Some(30_000)).unwrap();

    shell.exp_string("ember> ").unwrap();
    shell.send_line("SELECT 6 * 7").unwrap();
    shell.exp_string("...> ").unwrap();
    shell.send_line("  AS answer;").unwrap();
    shell.exp_string("answer").unwrap();
    shell.exp_string("42").unwrap();
    shell.exp_string("-- 1 row in").unwrap();

    shell.exp_string("ember> ").unwrap();
    shell.send_line("SELEC oops;").unwrap();
    shell.exp_string("error: statement `SELEC oops`").unwrap();

    shell.exp_string("ember> ").unwrap();
    shell.send_line("SELECT 'still here' AS status;").unwrap();
    shell.exp_string("still here").unwrap();

    // Ctrl-C cancels a running statement and returns to the prompt.
    shell.exp_string("ember> ").unwrap();
    shell
        .send_line("SELECT count(*) FROM generate_series(1, 100000000000) AS t(v) WHERE v < 0;")
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    shell.send_control('c').unwrap();
    shell.exp_string("error: cancelled").unwrap();

    shell.exp_string("ember> ").unwrap();
    shell.send_line("quit").unwrap();
    shell.exp_eof().unwrap();

    let history = std::fs::read_to_string(home.path().join(".ember_history")).unwrap();
    assert!(history.contains("SELECT 6 * 7"), "{history}");
    assert!(history.contains("SELEC oops;"), "{history}");
}
