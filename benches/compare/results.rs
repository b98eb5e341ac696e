//! Figures of every round, keyed by case (e.g. `W1 16 threads`) and system, and the ratios
//! formed from them.
//!
//! Invariants: every figure is "higher is better" (a rate: runs/s, ops/s, MiB/s, or 1/s for a
//! reopen); a ratio `a ÷ b` is formed per round from the two figures of that round, and
//! only rounds that measured both count; a case a system never reached has no figures (and
//! shows as such), never a zero.

use std::collections::BTreeMap;

use crate::support::stats::Spread;

/// Every figure of the run, and notes for the report.
#[derive(Debug, Default)]
pub struct Results {
    cells: BTreeMap<(String, String), BTreeMap<usize, f64>>,
    /// Lines for the report's notes (where a system stopped, fill times, verification).
    pub notes: Vec<String>,
}

impl Results {
    /// Records `value` of `system` in `case` for round `rep`.
    pub fn put(&mut self, rep: usize, case: &str, system: &str, value: f64) {
        self.cells
            .entry((case.to_owned(), system.to_owned()))
            .or_default()
            .insert(rep, value);
    }

    pub fn note(&mut self, line: String) {
        eprintln!("  note: {line}");
        self.notes.push(line);
    }

    /// The figures of `system` in `case`, one per round that measured it.
    pub fn values(&self, case: &str, system: &str) -> Vec<f64> {
        self.cells
            .get(&(case.to_owned(), system.to_owned()))
            .map(|m| m.values().copied().collect())
            .unwrap_or_default()
    }

    /// Median (min–max) of `system` in `case`, if measured.
    pub fn spread(&self, case: &str, system: &str) -> Option<Spread> {
        let values = self.values(case, system);
        (!values.is_empty()).then(|| Spread::of(values))
    }

    /// Per-round ratios `ours ÷ base` in `case`, if any round measured both.
    pub fn ratio(&self, case: &str, ours: &str, base: &str) -> Option<Spread> {
        let key = |s: &str| (case.to_owned(), s.to_owned());
        let (a, b) = (self.cells.get(&key(ours))?, self.cells.get(&key(base))?);
        let ratios: Vec<f64> = a
            .iter()
            .filter_map(|(rep, x)| b.get(rep).map(|y| x / y))
            .collect();
        (!ratios.is_empty()).then(|| Spread::of(ratios))
    }
}
