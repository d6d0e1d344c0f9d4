//! Memory follows the bytes that arrived, never a length a peer declared: many connections that each
//! announce a frame of the maximum size (and send 100 bytes of it) must not grow the scheduler's
//! address space by anything like the sum of the announcements. Before the fix, each connection
//! reserved its declared length: 3000 x 1 GiB put the process at ~3 TB of virtual memory.
mod common;
mod hostile;
use hostile::{healthy, raw, vm_size_kib};
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

const CONNECTIONS: usize = 1000;
/// The default --max-frame-bytes.
const MAX_FRAME: u64 = 1 << 30;

#[test]
fn many_connections_declaring_the_maximum_frame_do_not_reserve_it() {
    let mut s = common::Scheduler::start(&[]);
    let addr = s.addr();
    let pid = s.child.id();
    assert!(healthy(addr, "before"));
    let before = vm_size_kib(pid);
    assert!(before > 0, "VmSize readable");
    let conns: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|i| {
            let mut t = raw(addr, format!("Client|declares-max-{i}").as_bytes());
            let mut h = MAX_FRAME.to_le_bytes().to_vec();
            h.extend_from_slice(&[0x33; 100]);
            t.write_all(&h).unwrap();
            t
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(healthy(addr, "during"), "serving with the connections open");
    let during = vm_size_kib(pid);
    assert!(s.alive());
    let declared_kib = CONNECTIONS as u64 * (MAX_FRAME >> 10);
    println!(
        "VmSize {before} KiB before, {during} KiB with {CONNECTIONS} connections declaring \
         {MAX_FRAME} bytes each ({declared_kib} KiB declared in all)"
    );
    // Each connection may hold its 16 KiB initial buffer plus one 64 KiB step: 80 MiB for 1000;
    // 512 MiB leaves room for allocator slack and is still 2000x below the declared total.
    assert!(
        during < before + 512 * 1024,
        "VmSize grew from {before} KiB to {during} KiB"
    );
    drop(conns);
    assert_eq!(s.terminate(), Some(0));
}
