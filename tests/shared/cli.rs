//! Running the `sweepstore` binary as a real child process, for the suites of
//! `tests/cli/`.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use sweepstore::RunKey;

/// Errors of test helpers.
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// A command for the binary under test, with logging variables cleared (so a developer's
/// `RUST_LOG` cannot change what the tests read) and no standard input.
pub fn sweepstore() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sweepstore"));
    command.env_remove("RUST_LOG").stdin(Stdio::null());
    command
}

/// What a finished child printed.
#[derive(Debug)]
pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Fails with everything the child printed unless it exited with `code`.
    pub fn expect_code(self, code: i32) -> TestResult<Ran> {
        if self.code == Some(code) {
            Ok(self)
        } else {
            Err(format!("expected exit code {code}, got {self:#?}").into())
        }
    }

    /// `expect_code(0)`.
    pub fn ok(self) -> TestResult<Ran> {
        self.expect_code(0)
    }
}

fn ran(output: Output) -> TestResult<Ran> {
    Ok(Ran {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout)?,
        stderr: String::from_utf8(output.stderr)?,
    })
}

/// Runs `sweepstore ARGS` to its end with stdout and stderr captured (so not a terminal).
pub fn run<I, S>(args: I) -> TestResult<Ran>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    ran(sweepstore().args(args).output()?)
}

/// A path as an argument.
pub fn arg(path: &Path) -> &std::ffi::OsStr {
    path.as_os_str()
}

/// Stops `child` with SIGTERM and waits for it to exit 0 (a graceful `sweepstore serve`).
pub fn terminate(child: &mut std::process::Child) -> TestResult {
    let sent = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()?;
    if !sent.success() {
        return Err("kill -TERM failed".into());
    }
    let status = child.wait()?;
    if !status.success() {
        return Err(format!("the server exited with {status}").into());
    }
    Ok(())
}

/// The JSON a command printed (`--json`).
pub fn json_of(stdout: &str) -> TestResult<Value> {
    Ok(serde_json::from_str(stdout)?)
}

/// The run keys named by the `trained ... run=<key>` lines `sweepstore demo` prints.
pub fn trained_keys(stdout: &str) -> TestResult<Vec<RunKey>> {
    stdout
        .lines()
        .filter(|line| line.starts_with("trained "))
        .map(|line| {
            let hex = line
                .rsplit_once(" run=")
                .ok_or_else(|| format!("no run key in {line:?}"))?
                .1;
            Ok(hex.parse()?)
        })
        .collect()
}
