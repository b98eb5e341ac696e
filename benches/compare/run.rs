//! One whole comparison run: the workloads in order, then the plots and the report.
//!
//! Invariants: everything is written under a temporary directory in `target/` (the file
//! system the project is on) that is removed at the end; the report is written only after
//! every workload finished and verified its results.

use std::fs;

use crate::fluidml::Fluidml;
use crate::options::Options;
use crate::results::Results;
use crate::support::BenchResult;
use crate::support::data::pseudo_random;
use crate::support::machine::{Machine, load_average};
use crate::systems::Codecs;
use crate::workloads::{self, Inputs, WEIGHTS_LEN};
use crate::{artifact, plots, report, w0};

/// A progress line on stderr.
pub fn progress(rep: usize, what: &str) {
    eprintln!("  round {}: {what}", rep + 1);
}

/// The options of an unrecorded warm-up round: short, at the most threads only.
fn warm_up(o: &Options) -> Options {
    Options {
        secs: o.secs.min(0.1),
        threads: o.threads.iter().max().copied().into_iter().collect(),
        ..o.clone()
    }
}

/// Runs the selected workloads and writes the plots and `README.md` to `o.out`.
pub fn run_bench(o: &Options) -> BenchResult<()> {
    fs::create_dir_all("target")?;
    let root_dir = tempfile::Builder::new()
        .prefix("bench-compare-")
        .tempdir_in("target")?;
    let root = root_dir.path();
    let mut machine = Machine::probe(root);
    let inputs = Inputs {
        payload: pseudo_random(WEIGHTS_LEN, 64),
        codecs: Codecs::new()?,
    };
    let payload_path = root.join("payload.bin");
    fs::write(&payload_path, &inputs.payload)?;
    let mut fluid = match &o.python {
        Some(python) => Some(Fluidml::start(python, &payload_path, root)?),
        None => {
            eprintln!("no --python: fluidml is not measured");
            None
        }
    };
    let mut r = Results::default();
    if o.runs("w0") {
        eprintln!("W0 smallest sweep record (a short warm-up round first, not recorded)");
        w0::w0_round(&warm_up(o), &inputs, root, 0, &mut Results::default())?;
        for rep in 0..o.reps {
            w0::w0_round(o, &inputs, root, rep, &mut r)?;
        }
    }
    if o.runs("w1") {
        eprintln!("W1 sweep writes (a short warm-up round first, not recorded)");
        workloads::w1_round(
            &warm_up(o),
            &inputs,
            root,
            0,
            fluid.as_mut(),
            &mut Results::default(),
        )?;
        for rep in 0..o.reps {
            workloads::w1_round(o, &inputs, root, rep, fluid.as_mut(), &mut r)?;
        }
    }
    if o.runs("w2") {
        eprintln!("W2 reduce");
        workloads::w2(o, &inputs, root, fluid.as_mut(), &mut r)?;
    }
    if o.runs("w3") {
        eprintln!("W3 scale");
        workloads::w3(o, &inputs, root, fluid.as_mut(), &mut r)?;
    }
    if o.runs("w4") {
        eprintln!("W4 artifact");
        for rep in 0..o.reps {
            artifact::w4_round(o, root, rep, fluid.as_ref(), &mut r)?;
        }
    }
    if o.runs("w5") {
        eprintln!("W5 recovery");
        for rep in 0..o.reps {
            artifact::w5_round(o, &inputs, root, rep, &mut r)?;
        }
    }
    machine.load_end = load_average();
    let version = fluid.as_ref().map(|f| f.version.clone());
    drop(fluid);
    fs::create_dir_all(&o.out)?;
    let svgs = plots::write_all(&o.out, o, &r)?;
    let text = report::markdown(o, &machine, version.as_deref(), &r, &svgs)?;
    let path = o.out.join("README.md");
    fs::write(&path, &text)?;
    println!("{text}");
    eprintln!("report written to {}", path.display());
    Ok(())
}
