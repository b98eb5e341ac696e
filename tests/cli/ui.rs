//! `sweepstore ui` as a user meets it: a real `sweepstore ui` child process, spoken to over
//! HTTP by hand (the guard, 404s, stored bytes, a damaged value, the store left untouched, a
//! served store changing under it) and driven in a real headless Chromium (Debian's
//! `chromium`, found on PATH or in `SWEEPSTORE_TEST_CHROMIUM`) against the demo's store: the
//! table shows the 128 runs, sorting by `val_loss` puts the best config first, a filter
//! narrows it, the plots render, a run's page shows its log, a visit without the token is
//! refused, and a screenshot of the table page is kept under `target/tmp/ui/`; and a page on a
//! served store shows a run that a worker adds while it is open, without a reload.
//!
//! Chromium is driven with `--dump-dom` (the DOM after the page's script ran, with a virtual
//! time budget) and `--screenshot`; it downloads nothing. Without Chromium these browser
//! checks are skipped with a message, except under `CI=true`, where that is a failure.

use crate::shared::cli as cli_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use cli_support::{TestResult, run, sweepstore, terminate};
use serde_json::{Value, json};
use sweepstore::{
    Browse, ContentHash, RedbOptions, RedbStore, RemoteStore, Server, StoreExt, TaskName,
    UniqueConfig,
};

/// A running `sweepstore ui STORE --port 0 --no-open`, killed when dropped.
struct Dashboard {
    child: Child,
    /// Its stdout, kept open: a closed one would end it (a broken pipe ends any subcommand).
    _stdout: BufReader<ChildStdout>,
    /// `127.0.0.1:PORT`.
    addr: String,
    token: String,
}

impl Dashboard {
    fn start(store: &Path) -> TestResult<Dashboard> {
        Dashboard::start_with(sweepstore(), store)
    }

    /// `command ui STORE --port 0 --no-open` (`command`: the binary under test, or another
    /// build of it).
    fn start_with(mut command: Command, store: &Path) -> TestResult<Dashboard> {
        let mut child = command
            .args([
                "ui".as_ref(),
                store.as_os_str(),
                "--port".as_ref(),
                "0".as_ref(),
            ])
            .arg("--no-open")
            .stdout(Stdio::piped())
            .spawn()?;
        let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let Some(url) = line.trim().strip_prefix("sweepstore ui: http://") else {
            let _ = child.kill();
            return Err(format!("the dashboard did not start: {line:?}").into());
        };
        let (addr, token) = url.split_once("/?token=").ok_or("no token in the URL")?;
        Ok(Dashboard {
            addr: addr.to_owned(),
            token: token.to_owned(),
            child,
            _stdout: stdout,
        })
    }

    /// `http://ADDR/PATH` with the token in the query.
    fn url(&self, path: &str) -> String {
        let glue = if path.contains('?') { '&' } else { '?' };
        format!("http://{}{path}{glue}token={}", self.addr, self.token)
    }

    /// GET `target` with the token cookie.
    fn get(&self, target: &str) -> TestResult<Reply> {
        let port = self.addr.rsplit(':').next().unwrap_or_default();
        let cookie = format!("Cookie: sweepstore_ui_{port}={}", self.token);
        fetch(
            &self.addr,
            target,
            &[&format!("Host: {}", self.addr), &cookie],
        )
    }

    fn json(&self, target: &str) -> TestResult<Value> {
        let reply = self.get(target)?;
        if reply.status != 200 {
            return Err(format!("{target}: {} {}", reply.status, reply.text()).into());
        }
        Ok(serde_json::from_slice(&reply.body)?)
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        // Our own child; it may have exited already.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Reply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Reply {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 GET to `addr` with exactly the given header lines.
fn fetch(addr: &str, target: &str, headers: &[&str]) -> TestResult<Reply> {
    exchange(addr, target, headers).map_err(|e| format!("GET {target} {headers:?}: {e}").into())
}

fn exchange(addr: &str, target: &str, headers: &[&str]) -> TestResult<Reply> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!("GET {target} HTTP/1.1\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut all = Vec::new();
    stream.read_to_end(&mut all)?;
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of the response head")?;
    let head = String::from_utf8(all[..split].to_vec())?;
    let status = head.split(' ').nth(1).ok_or("no status")?.parse()?;
    Ok(Reply {
        status,
        head,
        body: all[split + 4..].to_vec(),
    })
}

/// Every file under `dir` with its bytes and modification time.
fn snapshot(dir: &Path) -> TestResult<BTreeMap<PathBuf, (Vec<u8>, SystemTime)>> {
    let mut files = BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(next) = todo.pop() {
        for entry in std::fs::read_dir(&next)? {
            let path = entry?.path();
            let meta = std::fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                todo.push(path);
            } else {
                files.insert(path.clone(), (std::fs::read(&path)?, meta.modified()?));
            }
        }
    }
    Ok(files)
}

const BLOB_LEN: usize = 100 << 10;
/// The start of a PNG file (what the dashboard recognises one by).
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

/// `sweepstore serve STORE`, once it has printed its first line (it is serving).
fn start_serve(store: &Path) -> TestResult<Child> {
    let mut server = sweepstore()
        .arg("serve")
        .arg(store)
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(server.stdout.as_mut().ok_or("no stdout")?).read_line(&mut line)?;
    Ok(server)
}

/// Fails naming every file under `dir` whose bytes or time differ from `before`, or that
/// appeared or went.
fn assert_unchanged(before: &BTreeMap<PathBuf, (Vec<u8>, SystemTime)>, dir: &Path) -> TestResult {
    let after = snapshot(dir)?;
    let changed: std::collections::BTreeSet<_> = (before.keys().chain(after.keys()))
        .filter(|path| before.get(*path) != after.get(*path))
        .collect();
    assert!(changed.is_empty(), "the dashboard changed {changed:?}");
    Ok(())
}

/// One run of task `t` with a result of each kind the run page shows, one of them damaged (a
/// blob file with a flipped byte); returns the run key.
fn make_store(path: &Path) -> TestResult<String> {
    let store = RedbStore::open(path, RedbOptions::default())?;
    let config = UniqueConfig::new(json!({"a": 1}))?;
    let run = store.run("t", &config)?;
    run.save("metrics", "json", &json!({"loss": 0.25, "acc": 0.5}))?;
    run.save_bytes("log", "text", b"epoch 1\nepoch 2\n")?;
    run.save_bytes("picture", "bytes", PNG)?;
    run.save_bytes("weights", "bytes", &vec![3u8; BLOB_LEN])?;
    run.save_bytes("broken", "bytes", &vec![9u8; BLOB_LEN])?;
    run.finish()?;
    store.close()?;
    let hash = ContentHash::of(&vec![9u8; BLOB_LEN]).to_hex();
    let file = path.join("blobs").join(&hash[..2]).join(&hash);
    let mut bytes = std::fs::read(&file)?;
    bytes[BLOB_LEN / 2] ^= 0x40;
    std::fs::write(&file, &bytes)?;
    Ok(sweepstore::RunKey::new(&TaskName::new("t")?, &config).to_hex())
}

#[test]
fn the_guard_404s_stored_bytes_and_a_damaged_value() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    let key = make_store(&store)?;
    let ui = Dashboard::start(&store)?;
    let host = format!("Host: {}", ui.addr);

    // The guard: the token (URL or cookie) on our own host name, nothing else.
    let with_token = format!("/api/tasks?token={}", ui.token);
    assert_eq!(fetch(&ui.addr, &with_token, &[&host])?.status, 200);
    let first = fetch(&ui.addr, &format!("/?token={}", ui.token), &[&host])?;
    assert!(
        first.head.contains("Set-Cookie: sweepstore_ui_"),
        "{}",
        first.head
    );
    assert_eq!(ui.get("/api/tasks")?.status, 200);
    for (target, headers) in [
        ("/api/tasks", vec![host.as_str()]),
        ("/", vec![host.as_str()]),
        ("/api/tasks?token=0000", vec![host.as_str()]),
        (with_token.as_str(), vec!["Host: evil.example"]),
        (with_token.as_str(), vec![]),
    ] {
        let refused = fetch(&ui.addr, target, &headers)?;
        assert_eq!(refused.status, 403, "{target} {headers:?}");
        assert!(!refused.text().contains("loss"), "{}", refused.text());
    }
    let raw = format!("/raw/t/{key}/weights");
    assert_eq!(fetch(&ui.addr, &raw, &[&host])?.status, 403);

    // Unknown task, run or result: a 404 page that names it.
    for (target, names) in [
        ("/task/nope".to_owned(), "nope"),
        (format!("/task/t/run/{}", "0".repeat(64)), "0000"),
        ("/task/t/run/xyz".to_owned(), "xyz"),
        (format!("/raw/t/{key}/nothing"), "nothing"),
        ("/no/such/page".to_owned(), "no/such/page"),
    ] {
        let missing = ui.get(&target)?;
        assert_eq!(missing.status, 404, "{target}");
        assert!(missing.text().contains(names), "{}", missing.text());
    }
    assert_eq!(ui.get(&format!("/task/t/run/{key}"))?.status, 200);

    // The run: every result shown its way, the damaged one named, the rest intact.
    let shown = ui.json(&format!("/api/run?task=t&run={key}"))?;
    let results: BTreeMap<&str, &Value> = shown["results"]
        .as_array()
        .ok_or("no results")?
        .iter()
        .map(|r| (r["name"].as_str().unwrap_or_default(), &r["show"]))
        .collect();
    let metrics: Value = serde_json::from_str(results["metrics"]["json"].as_str().ok_or("json")?)?;
    assert_eq!(metrics, json!({"loss": 0.25, "acc": 0.5}));
    assert_eq!(results["log"]["text"], "epoch 1\nepoch 2\n");
    assert_eq!(results["picture"]["image"], "image/png");
    assert_eq!(results["weights"]["download"], true);
    let damage = results["broken"]["error"]
        .as_str()
        .ok_or("broken is not an error")?;
    assert!(damage.contains("corrupt"), "{damage}");

    // Stored bytes: verified, an image inline, other bytes as a download, sandboxed.
    let picture = ui.get(&format!("/raw/t/{key}/picture"))?;
    assert_eq!(picture.body, PNG);
    assert!(
        picture.head.contains("Content-Type: image/png"),
        "{}",
        picture.head
    );
    let weights = ui.get(&format!("{raw}?download"))?;
    assert!(weights.head.contains("attachment"), "{}", weights.head);
    assert!(weights.head.contains("sandbox"), "{}", weights.head);
    assert_eq!(ui.get(&format!("/raw/t/{key}/broken"))?.status, 500);
    // In a browser: the damaged result is named, every other one still shown.
    if let Some(exe) = chromium()? {
        let profile = tempfile::tempdir()?;
        let page = dom(
            &exe,
            profile.path(),
            &ui.url(&format!("/task/t/run/{key}")),
            1000,
        )?;
        assert!(page.contains("result `broken` could not be read"), "{page}");
        assert!(
            page.contains("epoch 2") && page.contains("\"loss\": 0.25"),
            "{page}"
        );
        assert!(
            page.contains(&format!("src=\"/raw/t/{key}/picture\"")),
            "{page}"
        );
        assert!(
            page.contains(&format!("href=\"/raw/t/{key}/weights?download\"")),
            "{page}"
        );
    }
    drop(ui);

    let show = run([
        "show",
        store.to_str().ok_or("path")?,
        "t",
        "--run",
        &key,
        "--json",
    ])?;
    let show: Value = serde_json::from_str(&show.ok()?.stdout)?;
    let listed = show["results"]
        .as_array()
        .ok_or("results")?
        .iter()
        .find(|r| r["name"] == "weights")
        .ok_or("no weights")?;
    assert_eq!(listed["hash"], ContentHash::of(&weights.body).to_hex());
    Ok(())
}

#[test]
fn every_page_of_a_local_file_store_leaves_it_untouched() -> TestResult {
    let dir = tempfile::tempdir()?;
    let base = dir.path().join("local");
    let config = UniqueConfig::new(json!({"lr": 0.5, "Train": {"depth": 3}}))?;
    {
        let local = sweepstore::LocalFileStore::new(&base)?;
        let run = local.run("fit", &config)?;
        run.save("metrics", "json", &json!({"loss": 0.125}))?;
        run.save_bytes("log", "text", b"step 1\nstep 2\n")?;
        run.finish()?;
        let other = local.run(
            "fit",
            &UniqueConfig::new(json!({"lr": 0.25, "Train": {"depth": 3}}))?,
        )?;
        other.save("metrics", "json", &json!({"loss": 0.25}))?;
        other.finish()?;
    }
    let key = sweepstore::RunKey::new(&TaskName::new("fit")?, &config).to_hex();
    let before = snapshot(&base)?;
    let ui = Dashboard::start(&base)?;
    for page in [
        "/",
        "/task/fit",
        &format!("/task/fit/run/{key}"),
        "/api/tasks",
    ] {
        assert_eq!(ui.get(page)?.status, 200, "{page}");
    }
    let table = ui.json("/api/table?task=fit&sort=-loss&where=Train.depth%3E2")?;
    assert_eq!(table["matched"], 2);
    assert_eq!(
        table["sorted"],
        json!({"column": "metrics.loss", "descending": true})
    );
    let names: Vec<&str> = table["columns"]
        .as_array()
        .ok_or("columns")?
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names[..2], ["lr", "metrics.loss"], "{names:?}");
    assert_eq!(table["rows"][0]["cells"][0], 0.25);
    let constant = table["constant"].to_string();
    assert!(
        constant.contains("\"Train.depth\",\"value\":3"),
        "{constant}"
    );
    let shown = ui.json(&format!("/api/run?task=fit&run={key}"))?;
    assert_eq!(shown["results"][0]["show"]["text"], "step 1\nstep 2\n");
    assert_eq!(
        ui.get(&format!("/raw/fit/{key}/log"))?.body,
        b"step 1\nstep 2\n"
    );
    ui.json("/api/version")?;
    drop(ui);
    // Nothing changed: every file's bytes and time, and no file appeared or went.
    assert_unchanged(&before, &base)
}

#[test]
fn every_page_of_a_redb_store_leaves_it_untouched() -> TestResult {
    let dir = tempfile::tempdir()?;
    let base = dir.path().join("store");
    let key = make_store(&base)?;
    let before = snapshot(&base)?;
    let ui = Dashboard::start(&base)?;
    for page in [
        "/".to_owned(),
        "/task/t".to_owned(),
        format!("/task/t/run/{key}"),
        "/api/tasks".to_owned(),
        "/api/table?task=t&sort=-loss".to_owned(),
        format!("/api/run?task=t&run={key}"),
        format!("/raw/t/{key}/log"),
        "/api/version".to_owned(),
    ] {
        assert_eq!(ui.get(&page)?.status, 200, "{page}");
    }
    drop(ui);
    // The store was opened read-only (issue 17): no checkpoint, no WAL segment, no LOCK
    // written; every file's bytes and time are as they were, and no file appeared or went.
    assert_unchanged(&before, &base)
}

#[test]
fn a_sweep_started_after_the_dashboard_opens_the_store_and_the_dashboard_follows_it() -> TestResult
{
    let dir = tempfile::tempdir()?;
    let base = dir.path().join("store");
    make_store(&base)?;
    let ui = Dashboard::start(&base)?;
    let runs =
        |ui: &Dashboard| -> TestResult<Value> { Ok(ui.json("/api/tasks")?[0]["runs"].clone()) };
    assert_eq!(runs(&ui)?, 1);
    // The dashboard holds no lock between requests: a sweep that starts now owns the store
    // (no `AlreadyOpen`, no waiting) and serves it; the dashboard reads through its server.
    let sweep = sweepstore::open(&base, sweepstore::OpenOptions::default())?;
    assert!(sweep.is_owner(), "the sweep owns the store");
    sweep
        .run("t", &UniqueConfig::new(json!({"a": 2}))?)?
        .finish()?;
    assert_eq!(runs(&ui)?, 2);
    // The sweep ends (its server stops); the dashboard goes on reading the store directly.
    drop(sweep);
    assert_eq!(runs(&ui)?, 2);
    Ok(())
}

#[test]
fn the_dashboard_follows_a_sweep_writing_through_its_server() -> TestResult {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    let opened = RedbStore::open(&store, RedbOptions::default())?;
    opened
        .run("t", &UniqueConfig::new(json!({"a": 1}))?)?
        .finish()?;
    opened.close()?;
    let mut server = start_serve(&store)?;
    let served = (|| -> TestResult {
        let ui = Dashboard::start(&store)?;
        let version =
            || -> TestResult<Value> { Ok(ui.json("/api/version?task=t")?["version"].clone()) };
        let first = version()?;
        // Control: nothing written, nothing changes.
        assert_eq!(version()?, first);
        let worker = RemoteStore::connect(Server::default_socket(&store))?;
        let run = worker.run("t", &UniqueConfig::new(json!({"a": 2}))?)?;
        run.save("metrics", "json", &json!({"loss": 1.5}))?;
        assert_ne!(version()?, first, "a new run did not change the version");
        let running = ui.json("/api/tasks")?;
        assert_eq!(
            running,
            json!([{"name": "t", "runs": 2, "states": {"finished": 1, "running": 1}}])
        );
        let before_finish = version()?;
        run.finish()?;
        assert_ne!(
            version()?,
            before_finish,
            "a state change did not change the version"
        );
        assert_eq!(ui.json("/api/tasks")?[0]["states"], json!({"finished": 2}));
        Ok(())
    })();
    terminate(&mut server)?;
    served
}

#[test]
fn the_page_refreshes_itself_when_a_sweep_adds_a_run() -> TestResult {
    let Some(exe) = chromium()? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("s");
    let opened = RedbStore::open(&store, RedbOptions::default())?;
    let first = opened.run("t", &UniqueConfig::new(json!({"a": 1}))?)?;
    first.save("metrics", "json", &json!({"loss": 2.0}))?;
    first.finish()?;
    opened.close()?;
    let mut server = start_serve(&store)?;
    let watched = (|| -> TestResult {
        // The dashboard logs each answered request (debug level), which tells the test when
        // the page has drawn its first table and started polling.
        let mut command = sweepstore();
        command
            .env("RUST_LOG", "sweepstore=debug")
            .stderr(Stdio::piped());
        let mut ui = Dashboard::start_with(command, &store)?;
        let log = BufReader::new(ui.child.stderr.take().ok_or("no stderr")?);
        let (sender, answered) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in log.lines().map_while(Result::ok) {
                if line.contains("answered") && sender.send(line).is_err() {
                    break;
                }
            }
        });
        let profile = tempfile::tempdir()?;
        // Virtual time for many polls (every 2 s); Chromium ends when it is used up.
        let page = browser(&exe, profile.path(), 600_000)
            .arg("--dump-dom")
            .arg(ui.url("/task/t"))
            .stdout(Stdio::piped())
            .spawn()?;
        let mut before_write = Vec::new();
        loop {
            let line = answered.recv_timeout(Duration::from_secs(60))?;
            let polled = line.contains("\"version\"");
            before_write.push(line);
            if polled {
                break;
            }
        }
        // Control: the page fetched its table (one run) before it polled.
        assert!(
            before_write.iter().any(|l| l.contains("\"table\"")),
            "{before_write:?}"
        );
        let worker = RemoteStore::connect(Server::default_socket(&store))?;
        let second = worker.run("t", &UniqueConfig::new(json!({"a": 2}))?)?;
        second.save("metrics", "json", &json!({"loss": 1.0}))?;
        second.finish()?;
        let output = page.wait_with_output()?;
        let dom = String::from_utf8(output.stdout)?;
        assert!(dom.contains("2 of 2 runs"), "{dom}");
        assert_eq!(row_keys(&dom).len(), 2, "{dom}");
        let after_write: Vec<String> = answered.try_iter().collect();
        assert!(
            after_write.iter().any(|l| l.contains("\"table\"")),
            "{after_write:?}"
        );
        // The page was not reloaded: one request for the page itself, before the write.
        let pages = before_write.iter().chain(&after_write);
        assert_eq!(pages.filter(|l| l.contains("path=[\"task\"")).count(), 1);
        Ok(())
    })();
    terminate(&mut server)?;
    watched
}

/// CPU seconds (user + system) of process `pid`, from `/proc/PID/stat` (clock ticks of
/// 1/100 s, Linux's `USER_HZ`).
fn cpu_seconds(pid: &str) -> TestResult<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat.rsplit_once(')').ok_or("no command name in stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of proc_pid_stat(5): utime, stime; `fields` starts at field 3.
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(ticks as f64 / 100.0)
}

/// Chromium's executable, or `None` (skip) where it is missing outside CI.
fn chromium() -> TestResult<Option<PathBuf>> {
    let named = std::env::var_os("SWEEPSTORE_TEST_CHROMIUM").map(PathBuf::from);
    let found = named.or_else(|| {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
            .find(|p| p.is_file())
    });
    match found {
        Some(path) => Ok(Some(path)),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            Err("Chromium is missing (tests/run.sh installs Debian's `chromium`)".into())
        }
        None => {
            eprintln!("skipped: no chromium on PATH (tests/run.sh installs it)");
            Ok(None)
        }
    }
}

/// Headless Chromium with the profile `profile`, nothing fetched from the network but the
/// page, and `budget_ms` of virtual time for the page's script (then it stops).
fn browser(exe: &Path, profile: &Path, budget_ms: u32) -> Command {
    let mut command = Command::new(exe);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .arg(format!("--user-data-dir={}", profile.display()))
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// The DOM of `url` once its script has run for `budget_ms` of virtual time.
fn dom(exe: &Path, profile: &Path, url: &str, budget_ms: u32) -> TestResult<String> {
    let output = browser(exe, profile, budget_ms)
        .arg("--dump-dom")
        .arg(url)
        .output()?;
    if !output.status.success() {
        return Err(format!("chromium failed on {url}: {}", output.status).into());
    }
    Ok(String::from_utf8(output.stdout)?)
}

/// The run keys of the table rows in `dom`, in order.
fn row_keys(dom: &str) -> Vec<&str> {
    dom.split("<tr data-run=\"")
        .skip(1)
        .filter_map(|rest| rest.get(..64))
        .collect()
}

#[test]
fn the_demo_store_in_a_real_browser() -> TestResult {
    let Some(exe) = chromium()? else {
        return Ok(());
    };
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("demo");
    run([
        "demo".as_ref(),
        store.as_os_str(),
        "--workers".as_ref(),
        "2".as_ref(),
    ])?
    .ok()?;
    // The best config and the runs with lr = 0.1, read with the library.
    let (best, with_lr) = {
        let opened = RedbStore::open(&store, RedbOptions::default())?;
        let mut best = (f64::INFINITY, String::new());
        let mut with_lr = Vec::new();
        for summary in opened.runs(&TaskName::new("train")?)? {
            let run = opened.run("train", &summary.config)?;
            let metrics: Value = run.load("metrics")?.ok_or("no metrics")?;
            let loss = metrics["val_loss"].as_f64().ok_or("no val_loss")?;
            if loss < best.0 {
                best = (loss, summary.key.to_hex());
            }
            if summary.config.get("lr") == Some(&json!(0.1)) {
                with_lr.push(summary.key.to_hex());
            }
        }
        opened.close()?;
        (best.1, with_lr)
    };
    assert_eq!(with_lr.len(), 32);
    let ui = Dashboard::start(&store)?;
    let started = Instant::now();
    let profile = tempfile::tempdir()?;
    // Past the page's first poll (2 s), so the live refresh runs too.
    let dom = |path: &str| dom(&exe, profile.path(), &ui.url(path), 4000);

    let tasks = dom("/")?;
    assert!(
        tasks.contains("id=\"tasks\"") && tasks.contains(">128<"),
        "{tasks}"
    );

    let table = dom("/task/train")?;
    assert_eq!(row_keys(&table).len(), 128, "{table}");
    assert!(table.contains("128 of 128 runs"), "{table}");
    let points = table.split("class=\"point\"").count() - 1;
    assert_eq!(points, 128, "the scatter plot has {points} points");
    let lines: usize = table
        .split("data-lines=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(lines, 128, "the parallel coordinates have {lines} lines");

    let sorted = dom("/task/train?sort=val_loss")?;
    assert_eq!(
        row_keys(&sorted).first().copied(),
        Some(best.as_str()),
        "{sorted}"
    );
    let descending = dom("/task/train?sort=-val_loss")?;
    assert_eq!(row_keys(&descending).last().copied(), Some(best.as_str()));

    let filtered = dom("/task/train?where=lr%3D0.1")?;
    let mut shown: Vec<&str> = row_keys(&filtered);
    shown.sort_unstable();
    let mut expected: Vec<&str> = with_lr.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(shown, expected, "{filtered}");

    let run_page = dom(&format!("/task/train/run/{best}"))?;
    assert!(run_page.contains("<pre class=\"text\">"), "{run_page}");
    assert!(run_page.contains("epoch  60  train_loss"), "{run_page}");
    assert!(run_page.contains("val_loss"), "{run_page}");
    assert!(run_page.contains("<dt>created</dt><dd>20"), "{run_page}");

    // A browser without the token (and so without its cookie) gets the 403 page.
    let fresh = tempfile::tempdir()?;
    let stranger = browser(&exe, fresh.path(), 4000)
        .arg("--dump-dom")
        .arg(format!("http://{}/task/train", ui.addr))
        .output()?;
    let stranger = String::from_utf8(stranger.stdout)?;
    assert!(
        stranger.contains("403") && !stranger.contains("data-run"),
        "{stranger}"
    );

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui");
    std::fs::create_dir_all(&shots)?;
    let shot = shots.join("table.png");
    let _ = std::fs::remove_file(&shot);
    let status = browser(&exe, profile.path(), 4000)
        .arg("--window-size=1400,1000")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(ui.url("/task/train?sort=val_loss"))
        .stdout(Stdio::null())
        .status()?;
    assert!(status.success() && std::fs::metadata(&shot)?.len() > 10_000);
    eprintln!(
        "browser checks took {:.1} s; screenshot: {}",
        started.elapsed().as_secs_f64(),
        shot.display()
    );
    Ok(())
}

/// The figures in README "The dashboard": how long the table of a 10 000-run task takes —
/// the table API (what the page fetches; median of 5), and headless Chromium showing the
/// table page (fetch, 500 rows and 3 plots of every run drawn) against showing a static page
/// (the 404 page: Chromium's own start and exit), each with a virtual-time budget under the
/// first poll, so the difference is what the page costs. A measurement, not a check of the
/// suite: `cargo test --all-features --test cli -- ui:: --ignored --nocapture`, with
/// `SWEEPSTORE_UI_BIN=target/release/sweepstore` to measure a release build of the server.
#[test]
#[ignore = "a measurement (builds a 10 000-run store); run by hand with --ignored"]
fn measure_the_table_of_a_10000_run_task() -> TestResult {
    const RUNS: usize = 10_000;
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("big");
    let relaxed = sweepstore::Durability::Relaxed {
        sync_interval: Duration::from_secs(1),
    };
    let opened = RedbStore::open(&store, RedbOptions::default().durability(relaxed))?;
    std::thread::scope(|scope| -> TestResult {
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let opened = &opened;
                scope.spawn(move || -> Result<(), sweepstore::Error> {
                    for i in (w..RUNS).step_by(8) {
                        let opt = ["adam", "sgd"][i % 2];
                        let lr = 10f64.powi(-((i % 5) as i32));
                        let config =
                            json!({"lr": lr, "l2": (i / 5) % 20, "seed": i / 100, "opt": opt});
                        let run = opened.run("train", &UniqueConfig::new(config)?)?;
                        let loss = 1.0 / (1.0 + i as f64);
                        run.save(
                            "metrics",
                            "json",
                            &json!({"val_loss": loss, "acc": 1.0 - loss}),
                        )?;
                        run.finish()?;
                    }
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker.join().map_err(|_| "a writer panicked")??;
        }
        Ok(())
    })?;
    opened.close()?;
    let ui = match std::env::var_os("SWEEPSTORE_UI_BIN") {
        Some(binary) => Dashboard::start_with(Command::new(binary), &store)?,
        None => Dashboard::start(&store)?,
    };
    // Wall-clock time and the server's CPU time, which a loaded machine inflates far less
    // than the wall clock.
    let server = ui.child.id().to_string();
    let mut api = Vec::new();
    for _ in 0..5 {
        let (started, cpu) = (Instant::now(), cpu_seconds(&server)?);
        let reply = ui.get("/api/table?task=train&sort=val_loss")?;
        let took = started.elapsed().as_secs_f64();
        api.push((took, cpu_seconds(&server)? - cpu));
        assert_eq!(reply.status, 200);
        let table: Value = serde_json::from_slice(&reply.body)?;
        assert_eq!(table["matched"], RUNS);
    }
    api.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (started, cpu) = (Instant::now(), cpu_seconds(&server)?);
    ui.json("/api/version?task=train")?;
    println!(
        "version (one listing of the runs, no value loaded): {:.3} s, server CPU {:.3} s",
        started.elapsed().as_secs_f64(),
        cpu_seconds(&server)? - cpu
    );
    println!(
        "table API, {RUNS} runs: median {:.3} s (min {:.3}, max {:.3}), server CPU {:.3} s",
        api[2].0, api[0].0, api[4].0, api[2].1
    );
    if let Some(exe) = chromium()? {
        let profile = tempfile::tempdir()?;
        let timed = |path: &str| -> TestResult<(f64, String)> {
            let started = Instant::now();
            let page = dom(&exe, profile.path(), &ui.url(path), 1000)?;
            Ok((started.elapsed().as_secs_f64(), page))
        };
        let (static_page, missing) = timed("/task/none")?;
        assert!(missing.contains("404"));
        let (table_page, page) = timed("/task/train?sort=val_loss")?;
        assert!(page.contains(&format!("{RUNS} of {RUNS} runs")));
        println!(
            "Chromium: table page {table_page:.2} s, static page {static_page:.2} s, \
             difference {:.2} s",
            table_page - static_page
        );
    }
    Ok(())
}
