//! Instruction counts of the core task cycle, free of timing noise: run under callgrind, collecting
//! only inside `scheduler_step` (decode + handle of each input), so neither the setup (filling workers
//! and the queue) nor the harness's own encoding and decoding is counted.
//!
//! ```sh
//! cargo build --release --example core_cycles
//! valgrind --tool=callgrind --toggle-collect='*scheduler_step*' --callgrind-out-file=/tmp/cg \
//!     target/release/examples/core_cycles WORKERS SLOTS QUEUED CYCLES
//! callgrind_annotate /tmp/cg | grep TOTALS     # divide by CYCLES
//! ```
//! `scripts/core-instructions.sh` runs the grid of BENCHMARKS.md.
#[path = "../benches/support/cycle.rs"]
mod cycle;

fn measured(
    st: &mut cycle::Setup,
    cycles: u64,
    out: &mut Vec<scaler_rs::core::Output>,
    held: &mut std::collections::VecDeque<(bytes::Bytes, bytes::Bytes)>,
) {
    for i in 0..cycles {
        cycle::cycle(st, i, out, held);
    }
}

fn main() {
    let a: Vec<u64> = std::env::args()
        .skip(1)
        .map(|s| s.parse().expect("WORKERS SLOTS QUEUED CYCLES"))
        .collect();
    let [workers, slots, queued, cycles] = a[..] else {
        panic!("usage: core_cycles WORKERS SLOTS QUEUED CYCLES")
    };
    let mut st = cycle::setup(workers as usize, slots as u32, queued as usize);
    let mut held = cycle::held_tasks(&st);
    let mut out = Vec::new();
    measured(&mut st, cycles, &mut out, &mut held);
    println!("{} tasks live after {cycles} cycles", st.s.tasks.len());
}
