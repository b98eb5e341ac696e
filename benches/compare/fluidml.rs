//! The client side of `benches/compare.py`: fluidml 0.3.4 driven over JSON lines, so its
//! measurements run in the same rounds as the Rust systems.
//!
//! Invariants: every command gets exactly one reply; a reply with an `error` field (or a
//! dead driver) is an error here, never a missing figure passed off as a measurement.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

use crate::support::BenchResult;

/// fluidml's two stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Local,
    Memory,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Local, Kind::Memory];

    fn wire(self) -> &'static str {
        match self {
            Kind::Local => "local",
            Kind::Memory => "memory",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Local => "fluidml LocalFileStore",
            Kind::Memory => "fluidml InMemoryStore",
        }
    }
}

/// A running `compare.py` driver.
pub struct Fluidml {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    python: PathBuf,
    script: PathBuf,
    pub version: String,
}

impl Fluidml {
    /// Starts the driver with `python` (a virtualenv's interpreter with fluidml installed).
    pub fn start(python: &Path, payload: &Path, root: &Path) -> BenchResult<Self> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/compare.py");
        let mut child = Command::new(python)
            .arg(&script)
            .arg("--payload")
            .arg(payload)
            .arg("--root")
            .arg(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
        let stdin = child.stdin.take().ok_or("driver has no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("driver has no stdout")?);
        let mut driver = Fluidml {
            child,
            stdin,
            stdout,
            python: python.to_owned(),
            script,
            version: String::new(),
        };
        let reply = driver.call(json!({"op": "version"}))?;
        driver.version = text(&reply, "version")?;
        Ok(driver)
    }

    fn call(&mut self, command: Value) -> BenchResult<Value> {
        writeln!(self.stdin, "{command}")?;
        self.stdin.flush()?;
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err(format!("fluidml driver exited during {command}").into());
        }
        let reply: Value = serde_json::from_str(&line)?;
        if let Some(error) = reply.get("error") {
            return Err(format!("fluidml driver: {error} (command {command})").into());
        }
        Ok(reply)
    }

    /// W1: runs saved per second by `threads` threads in `secs` (at most `max_runs`).
    pub fn w1(
        &mut self,
        kind: Kind,
        threads: usize,
        secs: f64,
        max_runs: u64,
    ) -> BenchResult<(u64, f64)> {
        let reply = self.call(json!({
            "op": "w1", "kind": kind.wire(), "threads": threads, "secs": secs, "max_runs": max_runs,
        }))?;
        Ok((int(&reply, "runs")?, float(&reply, "secs")?))
    }

    /// Grows `task` to `runs` runs, for at most `cap_secs` (`None`: no cap); the runs it has
    /// and the seconds.
    pub fn fill(
        &mut self,
        kind: Kind,
        task: &str,
        runs: u64,
        cap_secs: Option<f64>,
    ) -> BenchResult<(u64, f64)> {
        let reply = self.call(json!({
            "op": "fill", "kind": kind.wire(), "task": task, "runs": runs, "cap_secs": cap_secs,
        }))?;
        Ok((int(&reply, "runs")?, float(&reply, "secs")?))
    }

    /// W3: (saves/s, loads/s) on a task of `runs` runs.
    pub fn scale(
        &mut self,
        kind: Kind,
        task: &str,
        runs: u64,
        secs: f64,
        warmup: u64,
    ) -> BenchResult<(f64, f64)> {
        let r = self.call(json!({
            "op": "scale", "kind": kind.wire(), "task": task, "runs": runs, "secs": secs,
            "warmup": warmup,
        }))?;
        Ok((
            float(&r, "save_ops")? / float(&r, "save_secs")?,
            float(&r, "load_ops")? / float(&r, "load_secs")?,
        ))
    }

    /// W2: seconds to load the metrics of all `runs` runs of `task`.
    pub fn reduce(&mut self, kind: Kind, task: &str, runs: u64, lazy: bool) -> BenchResult<f64> {
        let reply = self.call(json!({
            "op": "reduce", "kind": kind.wire(), "task": task, "runs": runs, "lazy": lazy,
        }))?;
        float(&reply, "secs")
    }

    /// W4 in a process of its own: (write MiB/s, read MiB/s, peak RSS MiB).
    pub fn artifact(&self, root: &Path, mib: u64) -> BenchResult<(f64, f64, f64)> {
        let output = Command::new(&self.python)
            .arg(&self.script)
            .arg("artifact")
            .arg("--root")
            .arg(root)
            .arg("--mib")
            .arg(mib.to_string())
            .output()?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(format!("fluidml artifact run failed: {stderr}").into());
        }
        let reply: Value = serde_json::from_slice(&output.stdout)?;
        Ok((
            mib as f64 / float(&reply, "write_secs")?,
            mib as f64 / float(&reply, "read_secs")?,
            float(&reply, "peak_rss_kib")? / 1024.0,
        ))
    }
}

impl Drop for Fluidml {
    fn drop(&mut self) {
        // Closing stdin ends the driver's loop; wait so no process outlives the bench.
        let _ = writeln!(self.stdin);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn float(reply: &Value, field: &str) -> BenchResult<f64> {
    reply
        .get(field)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("fluidml driver reply lacks `{field}`: {reply}").into())
}

fn int(reply: &Value, field: &str) -> BenchResult<u64> {
    reply
        .get(field)
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("fluidml driver reply lacks `{field}`: {reply}").into())
}

fn text(reply: &Value, field: &str) -> BenchResult<String> {
    reply
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("fluidml driver reply lacks `{field}`: {reply}").into())
}
