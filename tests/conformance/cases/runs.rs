//! Runs as a whole: `get_results`, sweep counters (`get_context`), run state, and sweeps
//! across the runs of a task.

use serde_json::json;
use sweepstore::{Error, ResultsStore, RunState, StoreExt, UniqueConfig};

use crate::support::{Metrics, config, missing};

type Result<T = ()> = sweepstore::Result<T>;

/// Config number `i` of a sweep.
fn sweep_config(i: u32) -> Result<UniqueConfig> {
    config(json!({"lr": f64::from(i) / 1000.0, "seed": i % 3}))
}

fn counter<S: ResultsStore>(store: &S, task: &str, cfg: &UniqueConfig) -> Result<String> {
    store
        .run(task, cfg)?
        .get_context()?
        .sweep_counter
        .ok_or_else(|| missing("sweep counter"))
}

pub fn get_results_returns_every_named_result_of_the_run<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &sweep_config(1)?)?;
    run.save("metrics", "json", &Metrics::sample(1))?;
    run.save("log", "text", &"done".to_owned())?;
    run.save("weights", "bytes", &vec![1u8, 2])?;
    store
        .run("train", &sweep_config(2)?)?
        .save("other", "text", &"x".to_owned())?;
    let results = run.get_results()?.ok_or_else(|| missing("run"))?;
    let names: Vec<&str> = results.keys().map(|n| n.as_str()).collect();
    assert_eq!(names, ["log", "metrics", "weights"]);
    let get = |name: &str| {
        results
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, p)| p)
            .ok_or_else(|| missing(name))
    };
    assert_eq!(get("metrics")?.load::<Metrics>()?, Metrics::sample(1));
    assert_eq!(get("log")?.load::<String>()?, "done");
    assert_eq!(get("weights")?.load::<Vec<u8>>()?, [1, 2]);
    assert_eq!(get("metrics")?.type_name(), "json");
    Ok(())
}

pub fn get_results_of_a_missing_run_is_none<S: ResultsStore>(store: &S) -> Result {
    store
        .run("train", &sweep_config(1)?)?
        .save("m", "text", &"x".to_owned())?;
    assert!(
        store
            .run("train", &sweep_config(2)?)?
            .get_results()?
            .is_none()
    );
    assert!(
        store
            .run("eval", &sweep_config(1)?)?
            .get_results()?
            .is_none()
    );
    Ok(())
}

pub fn get_results_of_a_run_without_results_is_empty<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &sweep_config(1)?)?;
    run.set_state(RunState::Running)?;
    assert_eq!(run.get_results()?.map(|r| r.len()), Some(0));
    run.save("m", "text", &"x".to_owned())?;
    assert!(run.delete("m")?);
    assert_eq!(run.get_results()?.map(|r| r.len()), Some(0));
    Ok(())
}

pub fn sweep_counters_count_up_in_creation_order<S: ResultsStore>(store: &S) -> Result {
    let configs: Vec<_> = (0..12).map(sweep_config).collect::<Result<_>>()?;
    for (i, cfg) in configs.iter().enumerate() {
        // Runs are created by saves, state changes and get_context alike.
        let run = store.run("train", cfg)?;
        match i % 3 {
            0 => run.save("m", "text", &i.to_string())?,
            1 => run.set_state(RunState::Finished)?,
            _ => {
                run.get_context()?;
            }
        }
    }
    for (i, cfg) in configs.iter().enumerate() {
        assert_eq!(counter(store, "train", cfg)?, format!("{i:03}"));
    }
    Ok(())
}

pub fn sweep_counters_are_separate_per_task<S: ResultsStore>(store: &S) -> Result {
    let (a, b, c) = (sweep_config(1)?, sweep_config(2)?, sweep_config(3)?);
    store.run("train", &a)?.save("m", "text", &"x".to_owned())?;
    store.run("train", &b)?.save("m", "text", &"x".to_owned())?;
    store.run("eval", &c)?.save("m", "text", &"x".to_owned())?;
    store.run("eval", &a)?.save("m", "text", &"x".to_owned())?;
    assert_eq!(counter(store, "train", &a)?, "000");
    assert_eq!(counter(store, "train", &b)?, "001");
    assert_eq!(counter(store, "eval", &c)?, "000");
    assert_eq!(counter(store, "eval", &a)?, "001");
    Ok(())
}

pub fn sweep_counters_are_stable_on_repeated_calls<S: ResultsStore>(store: &S) -> Result {
    let (a, b) = (sweep_config(1)?, sweep_config(2)?);
    let first = counter(store, "train", &a)?;
    let second = counter(store, "train", &b)?;
    for _ in 0..3 {
        store
            .run("train", &a)?
            .save("m", "text", &"again".to_owned())?;
        store.run("train", &b)?.finish()?;
        assert_eq!(counter(store, "train", &a)?, first);
        assert_eq!(counter(store, "train", &b)?, second);
    }
    assert_eq!((first.as_str(), second.as_str()), ("000", "001"));
    Ok(())
}

pub fn sweep_counters_are_not_reused_after_delete_run<S: ResultsStore>(store: &S) -> Result {
    let (a, b, c) = (sweep_config(1)?, sweep_config(2)?, sweep_config(3)?);
    assert_eq!(counter(store, "train", &a)?, "000");
    assert_eq!(counter(store, "train", &b)?, "001");
    assert!(store.run("train", &b)?.delete_run()?);
    assert_eq!(counter(store, "train", &c)?, "002");
    assert_eq!(
        counter(store, "train", &b)?,
        "003",
        "a re-created run gets a new counter"
    );
    assert!(store.run("train", &a)?.delete_run()?);
    assert!(store.run("train", &b)?.delete_run()?);
    assert!(store.run("train", &c)?.delete_run()?);
    assert_eq!(
        counter(store, "train", &a)?,
        "004",
        "even when the task has no runs left"
    );
    Ok(())
}

pub fn get_context_creates_a_running_run<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &sweep_config(1)?)?;
    assert_eq!(run.state()?, None);
    let context = run.get_context()?;
    assert_eq!(context.sweep_counter.as_deref(), Some("000"));
    assert_eq!(run.state()?, Some(RunState::Running));
    assert_eq!(run.get_results()?.map(|r| r.len()), Some(0));
    assert_eq!(run.get_context()?, context, "the context is stable");
    Ok(())
}

pub fn a_new_run_is_running<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &sweep_config(1)?)?;
    run.save("m", "json", &Metrics::sample(1))?;
    assert_eq!(run.state()?, Some(RunState::Running));
    assert!(!run.is_finished()?);
    Ok(())
}

pub fn finished_runs_report_is_finished<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &sweep_config(1)?)?;
    run.save("m", "json", &Metrics::sample(1))?;
    run.finish()?;
    assert_eq!(run.state()?, Some(RunState::Finished));
    assert!(run.is_finished()?);
    assert_eq!(
        run.load::<Metrics>("m")?,
        Some(Metrics::sample(1)),
        "results are kept"
    );
    run.set_state(RunState::Running)?;
    assert!(!run.is_finished()?, "a state can be set back");
    let fresh = store.run("train", &sweep_config(2)?)?;
    fresh.set_state(RunState::Finished)?;
    assert!(fresh.is_finished()?, "set_state creates the run");
    Ok(())
}

pub fn failed_runs_are_not_finished<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &sweep_config(1)?)?;
    run.save("m", "json", &Metrics::sample(1))?;
    run.set_state(RunState::Failed)?;
    assert_eq!(run.state()?, Some(RunState::Failed));
    assert!(!run.is_finished()?);
    run.finish()?;
    assert_eq!(run.state()?, Some(RunState::Finished));
    Ok(())
}

pub fn state_of_a_missing_run_is_none<S: ResultsStore>(store: &S) -> Result {
    store.run("train", &sweep_config(1)?)?.finish()?;
    let other = store.run("train", &sweep_config(2)?)?;
    assert_eq!(other.state()?, None);
    assert!(!other.is_finished()?);
    assert_eq!(
        other.get_results()?.map(|r| r.len()),
        None,
        "reading creates nothing"
    );
    Ok(())
}

pub fn saving_again_keeps_the_run_state<S: ResultsStore>(store: &S) -> Result {
    let run = store.run("train", &sweep_config(1)?)?;
    run.save("m", "text", &"1".to_owned())?;
    run.set_state(RunState::Failed)?;
    run.save("m", "text", &"2".to_owned())?;
    run.save("n", "text", &"3".to_owned())?;
    assert!(run.delete("n")?);
    assert_eq!(run.state()?, Some(RunState::Failed));
    Ok(())
}

pub fn a_resumed_sweep_skips_finished_runs<S: ResultsStore>(store: &S) -> Result {
    let configs: Vec<_> = (0..10).map(sweep_config).collect::<Result<_>>()?;
    let mut executed = Vec::new();
    // The first attempt "crashes" after six runs, two of which failed.
    for (i, cfg) in configs.iter().enumerate().take(6) {
        let run = store.run("train", cfg)?;
        run.save("metrics", "json", &Metrics::sample(i as u32))?;
        if i == 2 || i == 4 {
            run.set_state(RunState::Failed)?;
        } else {
            run.finish()?;
        }
    }
    for (i, cfg) in configs.iter().enumerate() {
        let run = store.run("train", cfg)?;
        if run.is_finished()? {
            continue;
        }
        executed.push(i);
        run.save("metrics", "json", &Metrics::sample(100 + i as u32))?;
        run.finish()?;
    }
    assert_eq!(executed, [2, 4, 6, 7, 8, 9]);
    for (i, cfg) in configs.iter().enumerate() {
        let run = store.run("train", cfg)?;
        assert!(run.is_finished()?);
        let seed = if executed.contains(&i) { 100 } else { 0 } + i as u32;
        assert_eq!(run.load::<Metrics>("metrics")?, Some(Metrics::sample(seed)));
    }
    Ok(())
}

pub fn sweep_returns_every_run_with_the_name_in_creation_order<S: ResultsStore>(
    store: &S,
) -> Result {
    let configs: Vec<_> = (0..60).map(sweep_config).collect::<Result<_>>()?;
    // Create runs in order, then save in reverse: creation order, not save order, counts.
    for cfg in &configs {
        store.run("train", cfg)?.get_context()?;
    }
    for (i, cfg) in configs.iter().enumerate().rev() {
        store
            .run("train", cfg)?
            .save("metrics", "json", &Metrics::sample(i as u32))?;
    }
    let sweeps: Vec<_> = store
        .task("train")?
        .sweep::<Metrics>("metrics")?
        .collect::<Result<_>>()?;
    assert_eq!(sweeps.len(), configs.len());
    for (i, (sweep, cfg)) in sweeps.iter().zip(&configs).enumerate() {
        assert_eq!(&sweep.config, cfg, "sweep {i} has its run's config");
        assert_eq!(sweep.value, Metrics::sample(i as u32));
    }
    assert_eq!(counter(store, "train", &configs[59])?, "059");
    Ok(())
}

pub fn lazy_sweep_gives_promises_with_configs<S: ResultsStore>(store: &S) -> Result {
    let configs: Vec<_> = (0..50).map(sweep_config).collect::<Result<_>>()?;
    for (i, cfg) in configs.iter().enumerate() {
        store
            .run("train", cfg)?
            .save("loss", "binary", &(i as f64 * 0.5))?;
    }
    let lazy: Vec<_> = store
        .task("train")?
        .lazy_sweep("loss")?
        .collect::<Result<_>>()?;
    assert_eq!(lazy.len(), 50);
    // Overwrite everything: the promises taken before keep their values.
    for cfg in &configs {
        store.run("train", cfg)?.save("loss", "binary", &-1.0f64)?;
    }
    for (i, (sweep, cfg)) in lazy.iter().zip(&configs).enumerate() {
        assert_eq!(&sweep.config, cfg);
        assert_eq!(sweep.value.type_name(), "binary");
        assert_eq!(sweep.value.load::<f64>()?, i as f64 * 0.5);
    }
    Ok(())
}

pub fn sweep_skips_runs_without_the_name<S: ResultsStore>(store: &S) -> Result {
    let configs: Vec<_> = (0..55).map(sweep_config).collect::<Result<_>>()?;
    for (i, cfg) in configs.iter().enumerate() {
        let run = store.run("train", cfg)?;
        if i % 5 == 0 {
            run.save("other", "text", &"no metrics".to_owned())?;
        } else {
            run.save("metrics", "json", &Metrics::sample(i as u32))?;
        }
    }
    store
        .run("eval", &configs[0])?
        .save("metrics", "json", &Metrics::sample(999))?;
    let sweeps: Vec<_> = store
        .task("train")?
        .sweep::<Metrics>("metrics")?
        .collect::<Result<_>>()?;
    let expected: Vec<_> = (0..55u32).filter(|i| i % 5 != 0).collect();
    assert_eq!(sweeps.len(), expected.len());
    for (sweep, i) in sweeps.iter().zip(expected) {
        assert_eq!(sweep.value, Metrics::sample(i));
        assert_eq!(sweep.config, configs[i as usize]);
    }
    Ok(())
}

pub fn sweep_of_a_missing_task_or_name_is_empty<S: ResultsStore>(store: &S) -> Result {
    store
        .run("train", &sweep_config(1)?)?
        .save("m", "text", &"x".to_owned())?;
    assert_eq!(store.task("train")?.sweep::<String>("missing")?.count(), 0);
    assert_eq!(store.task("missing")?.sweep::<String>("m")?.count(), 0);
    Ok(())
}

pub fn sweep_after_delete_run_leaves_the_run_out<S: ResultsStore>(store: &S) -> Result {
    let configs: Vec<_> = (0..5).map(sweep_config).collect::<Result<_>>()?;
    for (i, cfg) in configs.iter().enumerate() {
        store.run("train", cfg)?.save("m", "text", &i.to_string())?;
    }
    assert!(store.run("train", &configs[1])?.delete_run()?);
    assert!(store.run("train", &configs[3])?.delete("m")?);
    // Re-created: it now comes last.
    store
        .run("train", &configs[1])?
        .save("m", "text", &"again".to_owned())?;
    let values: Vec<String> = store
        .task("train")?
        .sweep::<String>("m")?
        .map(|s| Ok(s?.value))
        .collect::<Result<_>>()?;
    assert_eq!(values, ["0", "2", "4", "again"]);
    Ok(())
}

pub fn sweep_with_the_wrong_rust_type_fails_per_item<S: ResultsStore>(store: &S) -> Result {
    store
        .run("train", &sweep_config(1)?)?
        .save("m", "json", &Metrics::sample(1))?;
    store
        .run("train", &sweep_config(2)?)?
        .save("m", "json", &7u32)?;
    let items: Vec<_> = store.task("train")?.sweep::<u32>("m")?.collect();
    assert_eq!(items.len(), 2);
    assert!(
        matches!(items[0], Err(Error::Decode { .. })),
        "{:?}",
        items[0]
    );
    assert!(matches!(&items[1], Ok(s) if s.value == 7));
    Ok(())
}
