//! `faultline hash`: consistent-hashing algorithms side by side on one
//! configuration: keys moved by a membership change against the optimum, keys moved
//! between members that stayed, load balance, lookup cost and memory.

use std::io::IsTerminal;
use std::path::Path;

use faultline_protocols::chash::metrics::{Change, Row, measure};
use faultline_protocols::chash::{ALL, Algo};
use faultline_reports::hashing::{Series, grouped_bars};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use super::{EXIT_BAD_INPUT, EXIT_OK};

fn percent(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

fn bytes(n: usize) -> String {
    match n {
        n if n >= 10 << 20 => format!("{} MiB", n >> 20),
        n if n >= 10 << 10 => format!("{} KiB", n >> 10),
        n => format!("{n} B"),
    }
}

/// The largest cluster `--nodes` (with `--change add:K`) may describe.
pub const NODES_MAX: usize = 100_000;

fn change_added(change: Change) -> usize {
    match change {
        Change::Add(k) => k,
        Change::Remove(_) => 0,
    }
}

/// The options as given, checked.
pub struct Options {
    pub algos: Vec<Algo>,
    pub nodes: Vec<usize>,
    pub keys: usize,
    pub change: Change,
}

pub fn options(
    algos: Option<&str>,
    nodes: Option<&str>,
    keys: Option<u64>,
    change: Option<&str>,
) -> Result<Options, String> {
    let algos = match algos {
        None | Some("all") => ALL.to_vec(),
        Some(list) => list.split(',').map(|a| Algo::parse(a.trim())).collect::<Result<_, _>>()?,
    };
    let nodes = match nodes {
        None => vec![10, 100, 1000],
        Some(list) => list
            .split(',')
            .map(|n| match n.trim().parse::<usize>() {
                Ok(n) if (2..=NODES_MAX).contains(&n) => Ok(n),
                _ => Err(format!(
                    "--nodes: `{n}` is not a cluster size from 2 to {NODES_MAX} (e.g. --nodes 10,100,1000)"
                )),
            })
            .collect::<Result<_, _>>()?,
    };
    let keys = keys.unwrap_or(100_000) as usize;
    if !(1..=50_000_000).contains(&keys) {
        return Err(format!("--keys {keys}: choose 1 to 50,000,000 keys"));
    }
    let change = Change::parse(change.unwrap_or("add"))?;
    if let Change::Add(k) = change
        && nodes.iter().any(|&n| n + k > NODES_MAX)
    {
        return Err(format!("--change {}: a cluster may grow to at most {NODES_MAX} members", change.name()));
    }
    if let Some(&n) = nodes.iter().max()
        && let Some(table) = algos.iter().find_map(|a| match a {
            Algo::Maglev { table } if *table <= (n + change_added(change)) as u64 => Some(*table),
            _ => None,
        })
    {
        return Err(format!(
            "maglev/{table}: the table must be larger than the cluster ({} members); choose a prime such as 655373",
            n + change_added(change)
        ));
    }
    if let Change::Remove(k) = change
        && nodes.iter().any(|&n| k >= n)
    {
        return Err(format!("--change {}: every cluster must keep a member", change.name()));
    }
    Ok(Options { algos, nodes, keys, change })
}

/// Every (algorithm, size) row, in order; in parallel, with a progress bar on a terminal.
pub fn rows(o: &Options) -> Vec<Row> {
    let combos: Vec<(Algo, usize)> = o.algos.iter().flat_map(|&a| o.nodes.iter().map(move |&n| (a, n))).collect();
    let bar = if std::io::stderr().is_terminal() {
        let b = ProgressBar::with_draw_target(Some(combos.len() as u64), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} measurements  elapsed {elapsed}").expect("template"),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let rows = combos
        .par_iter()
        .map(|&(a, n)| {
            let r = measure(a, n, o.keys, o.change);
            bar.inc(1);
            r
        })
        .collect();
    bar.finish_and_clear();
    rows
}

pub fn print(o: &Options, rows: &[Row]) {
    println!(
        "hash       {} keys; change: {}; the optimum moves {}",
        faultline_reports::summary::thousands(o.keys as u64),
        o.change.name(),
        match o.change {
            Change::Add(_) => "the new members' share",
            Change::Remove(_) => "the leavers' keys",
        }
    );
    println!(
        "{:<13}{:>6}{:>9}{:>9}{:>9}{:>11}{:>10}{:>8}  {:<12}{:>9}",
        "algorithm", "nodes", "moved", "optimum", "x opt", "survivors", "max/mean", "cv", "lookup", "memory"
    );
    for r in rows {
        println!(
            "{:<13}{:>6}{:>9}{:>9}{:>9.2}{:>11}{:>10.3}{:>8.3}  {:<12}{:>9}",
            r.algo,
            r.nodes,
            percent(r.moved),
            percent(r.optimum),
            r.moved / r.optimum,
            percent(r.between_survivors),
            r.max_over_mean,
            r.cv,
            r.lookup,
            bytes(r.memory)
        );
    }
}

/// `moved.svg` and `load.svg` in `dir`.
pub fn charts(o: &Options, rows: &[Row], dir: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let series = |f: &dyn Fn(&Row) -> f64| -> Vec<Series> {
        o.algos
            .iter()
            .map(|a| Series {
                label: a.name(),
                values: o
                    .nodes
                    .iter()
                    .map(|&n| rows.iter().find(|r| r.algo == a.name() && r.nodes == n).map_or(0.0, f))
                    .collect(),
            })
            .collect()
    };
    let keys = faultline_reports::summary::thousands(o.keys as u64);
    let moved = grouped_bars(
        &format!("keys moved by \"{}\", as a multiple of the optimum ({keys} keys)", o.change.name()),
        "moved / optimum",
        &o.nodes,
        &series(&|r| r.moved / r.optimum),
        1.0,
    )?;
    let load = grouped_bars(
        &format!("load balance: the fullest member's keys over the mean ({keys} keys)"),
        "max / mean",
        &o.nodes,
        &series(&|r| r.max_over_mean),
        1.0,
    )?;
    let mut written = Vec::new();
    for (name, svg) in [("moved.svg", moved), ("load.svg", load)] {
        let path = dir.join(name);
        std::fs::write(&path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

pub fn hash(
    algos: Option<&str>,
    nodes: Option<&str>,
    keys: Option<u64>,
    change: Option<&str>,
    chart: Option<&Path>,
) -> u8 {
    let o = match options(algos, nodes, keys, change) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let rows = rows(&o);
    print(&o, &rows);
    if let Some(dir) = chart {
        match charts(&o, &rows, dir) {
            Ok(files) => {
                for f in files {
                    println!("wrote      {}", f.display());
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_BAD_INPUT;
            }
        }
    }
    EXIT_OK
}
