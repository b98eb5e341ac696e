//! Many threads on one store: stores synchronize internally, every save that returned is
//! visible to later calls from any thread, and sweep counters stay unique.

use std::collections::BTreeSet;
use std::sync::Barrier;
use std::thread;

use serde_json::json;
use sweepstore::{ResultsStore, StoreExt, UniqueConfig};

use crate::support::{Metrics, config, missing, read_all, write_all};

type Result<T = ()> = sweepstore::Result<T>;

const THREADS: u32 = 16;
const PER_THREAD: u32 = 8;

/// Runs `work(t)` on `THREADS` scoped threads and returns the first error; a panic in a
/// thread (a failed assertion) is re-raised here.
fn on_threads<F>(work: F) -> Result
where
    F: Fn(u32) -> Result + Sync,
{
    thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = (0..THREADS).map(|t| scope.spawn(move || work(t))).collect();
        let mut first_error = Ok(());
        for handle in handles {
            match handle.join() {
                Ok(result) => first_error = first_error.and(result),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        first_error
    })
}

fn own_config(t: u32, i: u32) -> Result<UniqueConfig> {
    config(json!({"thread": t, "i": i}))
}

fn seed(t: u32, i: u32) -> u32 {
    t * 100 + i
}

pub fn sixteen_threads_save_and_load_at_once<S: ResultsStore>(store: &S) -> Result {
    let shared = config(json!({"shared": true}))?;
    on_threads(|t| {
        let neighbour = (t + 1) % THREADS;
        for i in 0..PER_THREAD {
            let run = store.run("train", &own_config(t, i)?)?;
            run.save("metrics", "json", &Metrics::sample(seed(t, i)))?;
            run.save("raw", "bytes", &vec![t as u8, i as u8])?;
            // Read-your-writes, from the writing thread.
            assert_eq!(
                run.load::<Metrics>("metrics")?,
                Some(Metrics::sample(seed(t, i)))
            );
            run.finish()?;
            let shared_run = store.run("train", &shared)?;
            shared_run.save(&format!("thread-{t}-{i}"), "text", &format!("{t}/{i}"))?;
            // Another thread's value is either not there yet or complete.
            let theirs = shared_run.load::<String>(&format!("thread-{neighbour}-{i}"))?;
            assert!(theirs.is_none_or(|v| v == format!("{neighbour}/{i}")));
            // A sweep taken while others write sees only complete, consistent values.
            for sweep in store.task("train")?.sweep::<Metrics>("metrics")? {
                let sweep = sweep?;
                let (Some(th), Some(ix)) = (sweep.config.get("thread"), sweep.config.get("i"))
                else {
                    return Err(missing("thread and i in a swept config"));
                };
                let (th, ix) = (th.as_u64().unwrap_or(999), ix.as_u64().unwrap_or(999));
                assert_eq!(sweep.value, Metrics::sample(seed(th as u32, ix as u32)));
            }
            run.get_context()?;
        }
        Ok(())
    })?;

    let mut counters = BTreeSet::new();
    for t in 0..THREADS {
        for i in 0..PER_THREAD {
            let run = store.run("train", &own_config(t, i)?)?;
            assert_eq!(
                run.load::<Metrics>("metrics")?,
                Some(Metrics::sample(seed(t, i)))
            );
            assert_eq!(run.load::<Vec<u8>>("raw")?, Some(vec![t as u8, i as u8]));
            assert!(run.is_finished()?);
            counters.insert(run.get_context()?.sweep_counter);
        }
    }
    let shared_run = store.run("train", &shared)?;
    counters.insert(shared_run.get_context()?.sweep_counter);
    let shared_results = shared_run.get_results()?.ok_or_else(|| missing("shared"))?;
    assert_eq!(shared_results.len(), (THREADS * PER_THREAD) as usize);
    for (name, promise) in &shared_results {
        let value = promise.load::<String>()?;
        assert_eq!(name.as_str(), format!("thread-{}", value.replace('/', "-")));
    }
    let runs = (THREADS * PER_THREAD + 1) as usize;
    let expected: BTreeSet<_> = (0..runs).map(|c| Some(format!("{c:03}"))).collect();
    assert_eq!(counters, expected, "counters are unique and have no gaps");
    let swept = store.task("train")?.lazy_sweep("metrics")?.count();
    assert_eq!(swept, (THREADS * PER_THREAD) as usize);
    Ok(())
}

pub fn concurrent_overwrites_leave_one_of_the_written_values<S: ResultsStore>(store: &S) -> Result {
    const ROUNDS: u32 = 50;
    let run = store.run("train", &UniqueConfig::empty())?;
    on_threads(|t| {
        for k in 0..ROUNDS {
            run.save("last", "binary", &(t, k, vec![t; 64]))?;
            if let Some((t2, k2, body)) = run.load::<(u32, u32, Vec<u32>)>("last")? {
                assert!(t2 < THREADS && k2 < ROUNDS, "a value some thread wrote");
                assert_eq!(body, vec![t2; 64], "never a torn value");
            } else {
                return Err(missing("`last` after saving it"));
            }
        }
        Ok(())
    })?;
    let last = run.load::<(u32, u32, Vec<u32>)>("last")?;
    let (t, k, body) = last.ok_or_else(|| missing("last"))?;
    assert!(t < THREADS);
    assert_eq!(
        k,
        ROUNDS - 1,
        "the last save overall is some thread's last save"
    );
    assert_eq!(body, vec![t; 64]);
    Ok(())
}

pub fn concurrent_first_saves_create_one_run<S: ResultsStore>(store: &S) -> Result {
    const ROUNDS: u32 = 20;
    let barrier = Barrier::new(THREADS as usize);
    on_threads(|t| {
        for round in 0..ROUNDS {
            barrier.wait();
            let run = store.run("train", &config(json!({"round": round}))?)?;
            match t % 3 {
                0 => run.save(&format!("t{t}"), "text", &t.to_string())?,
                1 => {
                    run.get_context()?;
                    run.save(&format!("t{t}"), "text", &t.to_string())?;
                }
                _ => {
                    run.save(&format!("t{t}"), "text", &t.to_string())?;
                    run.set_state(sweepstore::RunState::Running)?;
                }
            }
        }
        Ok(())
    })?;
    // Unique, not necessarily in round order: a MongoStore's racing creators each hold a
    // counter of its block and the winner's is the run's (`docs/design.md` §15.4).
    let mut counters = BTreeSet::new();
    for round in 0..ROUNDS {
        let run = store.run("train", &config(json!({"round": round}))?)?;
        let results = run.get_results()?.ok_or_else(|| missing("round run"))?;
        assert_eq!(
            results.len(),
            THREADS as usize,
            "round {round}: one run has all names"
        );
        let counter = run.get_context()?.sweep_counter;
        assert!(counter.is_some(), "round {round} has a counter");
        assert!(counters.insert(counter), "one counter per round");
    }
    Ok(())
}

pub fn concurrent_file_writes_all_publish<S: ResultsStore>(store: &S) -> Result {
    let shared = config(json!({"files": 1}))?;
    on_threads(|t| {
        let run = store.run("train", &shared)?;
        for k in 0..4 {
            let name = format!("log-{t}");
            let mut file = run.open(&name, if k == 0 { "w" } else { "a" }, None)?;
            write_all(&mut file, format!("{t}:{k}\n").as_bytes())?;
            file.close()?;
            let mut file = run.open(&name, "r", None)?;
            assert_eq!(file.readlines()?.len(), k + 1);
        }
        Ok(())
    })?;
    let run = store.run("train", &shared)?;
    for t in 0..THREADS {
        let mut file = run.open(&format!("log-{t}"), "r", None)?;
        let expected: String = (0..4).map(|k| format!("{t}:{k}\n")).collect();
        assert_eq!(read_all(&mut file)?, expected.as_bytes());
    }
    Ok(())
}
