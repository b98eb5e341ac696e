//! Model-based property test: random operation sequences run against the store and against a
//! naive reference model (plain vectors and maps, the lookup rule by brute force over explicit
//! key sets); every observation must agree.
//!
//! The universe is small on purpose, so sequences collide: two tasks, six configs that are
//! subsets of each other (two of them spelled two ways), three result names, tiny values of
//! four types. Each proptest case uses task names of its own, so cases share the fixture's
//! store without seeing each other.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use sweepstore::{
    Error, Promise, ResultsStore, Run, RunState, StoreExt, TypeRegistry, UniqueConfig,
};

use crate::support::{stored, write_all};

type Result<T = ()> = sweepstore::Result<T>;
type CaseResult<T = ()> = std::result::Result<T, TestCaseError>;

/// Proptest cases per backend: enough to find ordering bugs, few enough to stay fast.
const CASES: u32 = 64;
const TASKS: usize = 2;
const NAMES: [&str; 3] = ["m", "n", "o"];

/// The abstract configs, as explicit top-level members.
const MEMBERS: [&[(&str, i64)]; 6] = [
    &[],
    &[("a", 1)],
    &[("b", 2)],
    &[("a", 1), ("b", 2)],
    &[("a", 1), ("b", 3)],
    &[("a", 1), ("b", 2), ("c", 3)],
];

/// How the operations spell each abstract config (index into [`MEMBERS`]).
const SPELLINGS: [(&str, usize); 8] = [
    ("{}", 0),
    (r#"{"a":1}"#, 1),
    (r#"{"a":1.0}"#, 1),
    (r#"{"b":2}"#, 2),
    (r#"{"a":1,"b":2}"#, 3),
    (r#"{"b":2.0,"a":1}"#, 3),
    (r#"{"a":1,"b":3}"#, 4),
    (r#"{"c":3,"b":2,"a":1}"#, 5),
];

fn is_subset(small: usize, big: usize) -> bool {
    MEMBERS[small].iter().all(|m| MEMBERS[big].contains(m))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ty {
    Bytes,
    Text,
    Json,
    Binary,
}

impl Ty {
    fn name(self) -> &'static str {
        match self {
            Ty::Bytes => "bytes",
            Ty::Text => "text",
            Ty::Json => "json",
            Ty::Binary => "binary",
        }
    }
}

fn text_of(data: &[u8]) -> String {
    data.iter().map(|b| char::from(b'a' + b % 26)).collect()
}

/// The bytes a save of `data` as `ty` stores, from a registry of our own.
fn encoded(ty: Ty, data: &[u8]) -> Result<Vec<u8>> {
    let info = TypeRegistry::new().get(ty.name())?;
    match ty {
        Ty::Text => info.encode(&text_of(data)),
        _ => info.encode(&data.to_vec()),
    }
}

fn save<S: ResultsStore>(run: &Run<'_, S>, name: &str, ty: Ty, data: &[u8]) -> Result {
    match ty {
        Ty::Text => run.save(name, ty.name(), &text_of(data)),
        _ => run.save(name, ty.name(), &data.to_vec()),
    }
}

#[derive(Debug, Clone)]
enum Op {
    Save(usize, usize, usize, Ty, Vec<u8>),
    /// Open with mode `ab`, write, close.
    Append(usize, usize, usize, Vec<u8>),
    Load(usize, usize, usize),
    Delete(usize, usize, usize),
    DeleteRun(usize, usize),
    SetState(usize, usize, RunState),
    State(usize, usize),
    GetResults(usize, usize),
    Context(usize, usize),
    Sweep(usize, usize),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let (t, c, n) = (0..TASKS, 0..SPELLINGS.len(), 0..NAMES.len());
    let data = prop::collection::vec(0u8..4, 0..4);
    let ty = prop::sample::select(vec![Ty::Bytes, Ty::Text, Ty::Json, Ty::Binary]);
    let state = prop::sample::select(vec![
        RunState::Running,
        RunState::Finished,
        RunState::Failed,
    ]);
    let op = prop_oneof![
        5 => (t.clone(), c.clone(), n.clone(), ty, data.clone())
            .prop_map(|(t, c, n, ty, d)| Op::Save(t, c, n, ty, d)),
        1 => (t.clone(), c.clone(), n.clone(), data).prop_map(|(t, c, n, d)| Op::Append(t, c, n, d)),
        4 => (t.clone(), c.clone(), n.clone()).prop_map(|(t, c, n)| Op::Load(t, c, n)),
        1 => (t.clone(), c.clone(), n.clone()).prop_map(|(t, c, n)| Op::Delete(t, c, n)),
        1 => (t.clone(), c.clone()).prop_map(|(t, c)| Op::DeleteRun(t, c)),
        1 => (t.clone(), c.clone(), state).prop_map(|(t, c, s)| Op::SetState(t, c, s)),
        1 => (t.clone(), c.clone()).prop_map(|(t, c)| Op::State(t, c)),
        1 => (t.clone(), c.clone()).prop_map(|(t, c)| Op::GetResults(t, c)),
        1 => (t.clone(), c.clone()).prop_map(|(t, c)| Op::Context(t, c)),
        1 => (t, n).prop_map(|(t, n)| Op::Sweep(t, n)),
    ];
    prop::collection::vec(op, 1..40)
}

/// (type name, stored bytes).
type Stored = (String, Vec<u8>);

struct ModelRun {
    config: usize,
    counter: u64,
    state: RunState,
    results: BTreeMap<usize, Stored>,
}

#[derive(Default)]
struct ModelTask {
    next_counter: u64,
    /// In creation order.
    runs: Vec<ModelRun>,
}

#[derive(Default)]
struct Model {
    tasks: [ModelTask; TASKS],
}

impl Model {
    /// The lookup rule by brute force: the index of the chosen run in creation order.
    fn lookup(&self, task: usize, config: usize) -> Option<usize> {
        let runs = &self.tasks[task].runs;
        if let Some(exact) = runs.iter().position(|r| r.config == config) {
            return Some(exact);
        }
        runs.iter()
            .enumerate()
            .filter(|(_, r)| is_subset(r.config, config))
            .max_by_key(|(_, r)| (MEMBERS[r.config].len(), Reverse(r.counter)))
            .map(|(i, _)| i)
    }

    fn looked_up(&self, task: usize, config: usize) -> Option<&ModelRun> {
        Some(&self.tasks[task].runs[self.lookup(task, config)?])
    }

    fn exact(&mut self, task: usize, config: usize) -> &mut ModelRun {
        let task = &mut self.tasks[task];
        let index = match task.runs.iter().position(|r| r.config == config) {
            Some(index) => index,
            None => {
                task.runs.push(ModelRun {
                    config,
                    counter: task.next_counter,
                    state: RunState::Running,
                    results: BTreeMap::new(),
                });
                task.next_counter += 1;
                task.runs.len() - 1
            }
        };
        &mut task.runs[index]
    }
}

/// A store error fails the case, naming the operation.
fn sut<T>(op: &Op, result: Result<T>) -> CaseResult<T> {
    result.map_err(|e| TestCaseError::fail(format!("{op:?} failed: {e}")))
}

/// One proptest case: the task names are this case's own.
struct Case<'s, S> {
    store: &'s S,
    tasks: [String; TASKS],
    configs: Vec<UniqueConfig>,
    model: Model,
    /// Promises taken by loads, with the bytes they must keep returning.
    held: Vec<(Promise, Vec<u8>)>,
}

impl<S: ResultsStore> Case<'_, S> {
    fn run(&self, task: usize, spelling: usize) -> Result<Run<'_, S>> {
        self.store.run(&self.tasks[task], &self.configs[spelling])
    }

    fn apply(&mut self, op: &Op) -> CaseResult {
        match op {
            Op::Save(t, c, n, ty, data) => {
                sut(op, save(&sut(op, self.run(*t, *c))?, NAMES[*n], *ty, data))?;
                let bytes = sut(op, encoded(*ty, data))?;
                let run = self.model.exact(*t, SPELLINGS[*c].1);
                run.results.insert(*n, (ty.name().to_owned(), bytes));
            }
            Op::Append(t, c, n, data) => {
                let run = sut(op, self.run(*t, *c))?;
                let mut file = sut(op, run.open(NAMES[*n], "ab", None))?;
                sut(op, write_all(&mut file, data))?;
                let closed = file.close();
                // An append keeps the stored type; a `json` result must stay one JSON value
                // (accepted means readable), else the append is refused and changes nothing.
                let config = SPELLINGS[*c].1;
                let exact = self.model.tasks[*t]
                    .runs
                    .iter()
                    .find(|r| r.config == config);
                let old = exact.and_then(|r| r.results.get(n));
                if let Some((ty, bytes)) = old.filter(|(ty, _)| ty == "json") {
                    let appended = [bytes.as_slice(), data].concat();
                    if serde_json::from_slice::<serde_json::Value>(&appended).is_err() {
                        prop_assert!(
                            matches!(closed, Err(Error::Encode { .. })),
                            "{:?} to a {} result: {:?}",
                            op,
                            ty,
                            closed
                        );
                        return Ok(());
                    }
                }
                sut(op, closed)?;
                let run = self.model.exact(*t, SPELLINGS[*c].1);
                let entry = run.results.entry(*n);
                let stored = entry.or_insert_with(|| ("bytes".to_owned(), Vec::new()));
                stored.1.extend_from_slice(data);
            }
            Op::Load(t, c, n) => self.check_load(op, *t, *c, *n)?,
            Op::Delete(t, c, n) => {
                let actual = sut(op, sut(op, self.run(*t, *c))?.delete(NAMES[*n]))?;
                let expected = match self.model.lookup(*t, SPELLINGS[*c].1) {
                    Some(i) => self.model.tasks[*t].runs[i].results.remove(n).is_some(),
                    None => false,
                };
                prop_assert_eq!(actual, expected, "{:?}", op);
            }
            Op::DeleteRun(t, c) => {
                let actual = sut(op, sut(op, self.run(*t, *c))?.delete_run())?;
                let found = self.model.lookup(*t, SPELLINGS[*c].1);
                if let Some(i) = found {
                    self.model.tasks[*t].runs.remove(i);
                }
                prop_assert_eq!(actual, found.is_some(), "{:?}", op);
            }
            Op::SetState(t, c, state) => {
                sut(op, sut(op, self.run(*t, *c))?.set_state(*state))?;
                self.model.exact(*t, SPELLINGS[*c].1).state = *state;
            }
            Op::State(t, c) => {
                let run = sut(op, self.run(*t, *c))?;
                let (actual, finished) = (sut(op, run.state())?, sut(op, run.is_finished())?);
                let expected = self.model.looked_up(*t, SPELLINGS[*c].1).map(|r| r.state);
                prop_assert_eq!(actual, expected, "{:?}", op);
                prop_assert_eq!(finished, expected == Some(RunState::Finished), "{:?}", op);
            }
            Op::GetResults(t, c) => self.check_results(op, *t, *c)?,
            Op::Context(t, c) => self.check_context(op, *t, *c)?,
            Op::Sweep(t, n) => self.check_sweep(op, *t, *n)?,
        }
        Ok(())
    }

    fn check_load(&mut self, op: &Op, t: usize, c: usize, n: usize) -> CaseResult {
        let promise = sut(op, sut(op, self.run(t, c))?.load_lazy(NAMES[n]))?;
        let expected = self
            .model
            .looked_up(t, SPELLINGS[c].1)
            .and_then(|r| r.results.get(&n))
            .cloned();
        if let (Some(promise), Some((_, bytes))) = (&promise, &expected) {
            self.held.push((promise.clone(), bytes.clone()));
        }
        prop_assert_eq!(sut(op, stored(promise))?, expected, "{:?}", op);
        Ok(())
    }

    fn check_results(&self, op: &Op, t: usize, c: usize) -> CaseResult {
        let actual = sut(op, sut(op, self.run(t, c))?.get_results())?;
        let actual: Option<BTreeMap<String, Stored>> = match actual {
            None => None,
            Some(results) => Some(sut(
                op,
                results
                    .into_iter()
                    .map(|(name, p)| Ok((name.to_string(), (p.type_name().to_owned(), p.bytes()?))))
                    .collect::<Result<_>>(),
            )?),
        };
        let expected = self.model.looked_up(t, SPELLINGS[c].1).map(|r| {
            r.results
                .iter()
                .map(|(n, s)| (NAMES[*n].to_owned(), s.clone()))
                .collect()
        });
        prop_assert_eq!(actual, expected, "{:?}", op);
        Ok(())
    }

    fn check_context(&mut self, op: &Op, t: usize, c: usize) -> CaseResult {
        let context = sut(op, sut(op, self.run(t, c))?.get_context())?;
        let expected = self.model.exact(t, SPELLINGS[c].1).counter;
        prop_assert_eq!(
            context.sweep_counter,
            Some(format!("{expected:03}")),
            "{:?}",
            op
        );
        Ok(())
    }

    fn check_sweep(&self, op: &Op, t: usize, n: usize) -> CaseResult {
        let sweeps = sut(op, self.store.task(&self.tasks[t]))?;
        let sweeps = sut(op, sweeps.lazy_sweep(NAMES[n]))?;
        let actual: Vec<(UniqueConfig, Stored)> = sut(
            op,
            sweeps
                .map(|s| {
                    let s = s?;
                    Ok((s.config, (s.value.type_name().to_owned(), s.value.bytes()?)))
                })
                .collect::<Result<_>>(),
        )?;
        let expected: Vec<(UniqueConfig, Stored)> = self.model.tasks[t]
            .runs
            .iter()
            .filter_map(|r| Some((self.canonical(r.config), r.results.get(&n)?.clone())))
            .collect();
        prop_assert_eq!(actual, expected, "{:?}", op);
        Ok(())
    }

    /// The config of abstract config `id`, from its first spelling.
    fn canonical(&self, id: usize) -> UniqueConfig {
        let first = SPELLINGS.iter().position(|(_, i)| *i == id).unwrap_or(0);
        self.configs[first].clone()
    }

    /// After the sequence: every observation once more, and every held promise.
    fn check_everything(&mut self) -> CaseResult {
        for t in 0..TASKS {
            for c in 0..SPELLINGS.len() {
                for n in 0..NAMES.len() {
                    self.check_load(&Op::Load(t, c, n), t, c, n)?;
                }
                self.check_results(&Op::GetResults(t, c), t, c)?;
            }
            for n in 0..NAMES.len() {
                self.check_sweep(&Op::Sweep(t, n), t, n)?;
            }
        }
        for (promise, bytes) in &self.held {
            let op = Op::Load(0, 0, 0);
            prop_assert_eq!(&sut(&op, promise.bytes())?, bytes, "a held promise changed");
        }
        for t in 0..TASKS {
            for c in 0..SPELLINGS.len() {
                self.check_context(&Op::Context(t, c), t, c)?;
            }
        }
        Ok(())
    }
}

pub fn random_operations_agree_with_a_reference_model<S: ResultsStore>(store: &S) -> Result {
    let configs: Vec<UniqueConfig> = SPELLINGS
        .iter()
        .map(|(text, _)| Ok(UniqueConfig::parse(text)?))
        .collect::<Result<_>>()?;
    let case_number = AtomicU64::new(0);
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&ops(), |ops| {
        let number = case_number.fetch_add(1, Ordering::Relaxed);
        let mut case = Case {
            store,
            tasks: [0, 1].map(|t| format!("model-{number}-{t}")),
            configs: configs.clone(),
            model: Model::default(),
            held: Vec::new(),
        };
        for op in &ops {
            case.apply(op)?;
        }
        case.check_everything()
    });
    if let Err(failure) = outcome {
        panic!("the store disagrees with the reference model: {failure}");
    }
    Ok(())
}
