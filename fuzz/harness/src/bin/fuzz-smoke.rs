//! A short fuzz run on the stable toolchain, for CI: for each target in
//! `layer_fuzz_harness::TARGETS`, replay every file of
//! `fuzz/corpus/TARGET/`, then feed it mutated corpus inputs (bit flips,
//! interesting bytes and integers, truncation, insertion, deletion,
//! duplication, splices) until the target's share of the time is used.
//!
//! Usage: `fuzz-smoke [SECONDS] [TARGET...]` (default 60 s, every target);
//! `fuzz-smoke --reproduce TARGET ITERATION` writes and runs the input of
//! one iteration again. The mutations are deterministic (seed
//! `FUZZ_SMOKE_SEED`, default 0) so an iteration number is a reproduction.
//!
//! A panic fails the run: the input is written to
//! `fuzz/artifacts/smoke/TARGET-ITERATION` (feed it to the libFuzzer
//! binary, or add it to the corpus). An input that runs longer than 20 s
//! also fails the run, naming its iteration.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use layer_fuzz_harness::TARGETS;

const MAX_INPUT: usize = 4 << 20;
const HANG: Duration = Duration::from_secs(20);

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// SplitMix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, target: usize, iteration: u64) -> Rng {
        let mut rng = Rng(seed ^ (target as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ iteration.rotate_left(32));
        rng.next();
        rng
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// An offset in `data`, biased to the first 4 KiB where the headers are.
    fn offset(&mut self, len: usize) -> usize {
        if len == 0 {
            0
        } else if self.below(2) == 0 {
            self.below(len.min(4096))
        } else {
            self.below(len)
        }
    }
}

const INTERESTING: [u64; 12] = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x7fff_ffff, 0xffff_ffff, u64::MAX];

/// One to four mutations of a corpus input, chosen by `rng`.
fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let mut data = corpus[rng.below(corpus.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let len = data.len();
        match rng.below(10) {
            0 if len > 0 => {
                let at = rng.offset(len);
                data[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = rng.offset(len);
                data[at] = INTERESTING[rng.below(6)] as u8;
            }
            2 if len > 0 => {
                let at = rng.offset(len);
                data[at] = rng.next() as u8;
            }
            3 if len >= 4 => {
                // A 16-, 32- or 64-bit integer, either byte order.
                let width = [2, 4, 8][rng.below(3)].min(len);
                let at = rng.offset(len - width + 1);
                let value = INTERESTING[rng.below(INTERESTING.len())].wrapping_add(rng.below(3) as u64).wrapping_sub(1);
                let bytes = if rng.below(2) == 0 { value.to_be_bytes() } else { value.to_le_bytes() };
                let bytes = if rng.below(2) == 0 { &bytes[8 - width..] } else { &bytes[..width] };
                data[at..at + width].copy_from_slice(bytes);
            }
            4 => data.truncate(rng.offset(len + 1)),
            5 => {
                let at = rng.offset(len + 1);
                let count = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..count).map(|_| rng.next() as u8).collect();
                data.splice(at..at, bytes);
            }
            6 if len > 0 => {
                let at = rng.offset(len);
                let end = (at + 1 + rng.below(64)).min(len);
                data.drain(at..end);
            }
            7 if len > 0 => {
                let at = rng.offset(len);
                let end = (at + 1 + rng.below(256)).min(len);
                let copy = data[at..end].to_vec();
                let to = rng.offset(len + 1);
                data.splice(to..to, copy);
            }
            8 => {
                // Splice: our head, another input's tail.
                let other = &corpus[rng.below(corpus.len())];
                let at = rng.offset(len + 1);
                let from = rng.offset(other.len() + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from.min(other.len())..]);
            }
            _ if len > 0 => {
                // A run of one byte, as in a length or a path.
                let at = rng.offset(len);
                let end = (at + 1 + rng.below(32)).min(len);
                let byte = [0, b'/', b'.', b'\n', b'<', 0xff][rng.below(6)];
                data[at..end].fill(byte);
            }
            _ => data.push(rng.next() as u8),
        }
    }
    data.truncate(MAX_INPUT);
    data
}

fn read_corpus(name: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = fuzz_dir().join("corpus").join(name);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()).collect(),
        Err(e) => {
            eprintln!("fuzz-smoke: cannot read {}: {e}", dir.display());
            Vec::new()
        }
    };
    files.sort();
    files.into_iter().filter_map(|path| std::fs::read(&path).ok().map(|data| (path, data))).collect()
}

/// What the watchdog sees: the running target and iteration, and since when.
struct Current {
    started: Mutex<Option<(Instant, String)>>,
    runs: AtomicU64,
}

fn run_one(current: &Current, body: fn(&[u8]), data: &[u8], label: String) -> bool {
    *current.started.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), label));
    let ok = panic::catch_unwind(AssertUnwindSafe(|| body(data))).is_ok();
    *current.started.lock().unwrap_or_else(|e| e.into_inner()) = None;
    current.runs.fetch_add(1, Ordering::Relaxed);
    ok
}

fn save_crash(name: &str, tag: &str, data: &[u8]) -> PathBuf {
    let dir = fuzz_dir().join("artifacts").join("smoke");
    let path = dir.join(format!("{name}-{tag}"));
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, data)) {
        eprintln!("fuzz-smoke: cannot write {}: {e}", path.display());
    }
    path
}

fn seed() -> u64 {
    std::env::var("FUZZ_SMOKE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--reproduce") {
        return reproduce(&args[1..]);
    }
    let total = args.first().and_then(|s| s.parse::<f64>().ok()).unwrap_or(60.0);
    let chosen: Vec<&String> = args.iter().skip(1).collect();
    let targets: Vec<(usize, &(&str, fn(&[u8])))> = TARGETS
        .iter()
        .enumerate()
        .filter(|(_, (name, _))| chosen.is_empty() || chosen.iter().any(|c| c == name))
        .collect();
    if targets.is_empty() {
        eprintln!("fuzz-smoke: no such target; the targets are {:?}", TARGETS.iter().map(|t| t.0).collect::<Vec<_>>());
        return ExitCode::FAILURE;
    }

    let current = Arc::new(Current { started: Mutex::new(None), runs: AtomicU64::new(0) });
    let watchdog = Arc::clone(&current);
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let started = watchdog.started.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((since, label)) = started.as_ref()
                && since.elapsed() > HANG
            {
                eprintln!("fuzz-smoke: FAIL: {label} has run for more than {HANG:?}");
                std::process::exit(1);
            }
        }
    });

    let start = Instant::now();
    let seed = seed();
    let mut failures = Vec::new();
    for (position, &(index, &(name, body))) in targets.iter().enumerate() {
        // Each target gets an equal share of what is left.
        let left = total - start.elapsed().as_secs_f64();
        let share = Duration::from_secs_f64((left / (targets.len() - position) as f64).max(0.0));
        let target_start = Instant::now();
        let corpus = read_corpus(name);
        let mut failed = false;
        for (path, data) in &corpus {
            if !run_one(&current, body, data, format!("{name} corpus {}", path.display())) {
                eprintln!("fuzz-smoke: FAIL: {name} panics on its corpus file {}", path.display());
                failures.push(name);
                failed = true;
                break;
            }
        }
        let replayed = target_start.elapsed();
        let inputs: Vec<Vec<u8>> = corpus.into_iter().map(|(_, data)| data).collect();
        let inputs = if inputs.is_empty() { vec![Vec::new()] } else { inputs };
        let mut iteration = 0u64;
        while !failed && target_start.elapsed() < share {
            let data = mutate(&mut Rng::new(seed, index, iteration), &inputs);
            if !run_one(&current, body, &data, format!("{name} iteration {iteration} (seed {seed})")) {
                let path = save_crash(name, &format!("seed{seed}-{iteration}"), &data);
                eprintln!(
                    "fuzz-smoke: FAIL: {name} panics on iteration {iteration} (seed {seed}); the input is {}",
                    path.display()
                );
                failures.push(name);
                failed = true;
            }
            iteration += 1;
        }
        println!(
            "fuzz-smoke: {name}: {} corpus files replayed in {:.1} s, {iteration} mutated inputs, {:.1} s in all",
            inputs.len(),
            replayed.as_secs_f64(),
            target_start.elapsed().as_secs_f64(),
        );
    }
    println!(
        "fuzz-smoke: {} runs of {} targets in {:.1} s",
        current.runs.load(Ordering::Relaxed),
        targets.len(),
        start.elapsed().as_secs_f64()
    );
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("fuzz-smoke: FAILED: {failures:?}");
        ExitCode::FAILURE
    }
}

fn reproduce(args: &[String]) -> ExitCode {
    let (Some(name), Some(iteration)) = (args.first(), args.get(1).and_then(|s| s.parse::<u64>().ok())) else {
        eprintln!("usage: fuzz-smoke --reproduce TARGET ITERATION");
        return ExitCode::FAILURE;
    };
    let Some((index, &(_, body))) = TARGETS.iter().enumerate().find(|(_, t)| t.0 == name) else {
        eprintln!("fuzz-smoke: no target `{name}`");
        return ExitCode::FAILURE;
    };
    let inputs: Vec<Vec<u8>> = read_corpus(name).into_iter().map(|(_, data)| data).collect();
    let inputs = if inputs.is_empty() { vec![Vec::new()] } else { inputs };
    let seed = seed();
    let data = mutate(&mut Rng::new(seed, index, iteration), &inputs);
    let path = save_crash(name, &format!("seed{seed}-{iteration}"), &data);
    println!("fuzz-smoke: wrote {}", path.display());
    body(&data);
    println!("fuzz-smoke: no panic");
    ExitCode::SUCCESS
}
