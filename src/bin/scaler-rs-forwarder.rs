//! `scaler-rs-forwarder`: the bare minimum a scheduler must do, as a yardstick for benchmarks.
//!
//! It speaks YMQ on one port and does only what the load generator needs: echo heartbeats, send each
//! Task to the next worker round-robin, and send each TaskResult back to the client that submitted the
//! task. No state machine, no queueing, no capacity limits, no monitor, no objects. Reports of
//! scaler-rs state its throughput as a fraction of this limit on the same machine.
//!
//! usage: scaler-rs-forwarder tcp://IP:PORT --object-storage-address tcp://IP:PORT
use bytes::Bytes;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use scaler_rs::transport::conn::{Conn, Received, Role};
use scaler_rs::transport::Address;
use scaler_rs::wire::encode::{self as enc, StorageAddress};
use scaler_rs::wire::{self, Message};
use slab::Slab;
use std::collections::HashMap;

const LISTENER: Token = Token(usize::MAX);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(bind), Some(i)) = (
        args.first(),
        args.iter().position(|a| a == "--object-storage-address"),
    ) else {
        eprintln!(
            "usage: scaler-rs-forwarder tcp://IP:PORT --object-storage-address tcp://IP:PORT"
        );
        std::process::exit(2);
    };
    let bind = Address::parse(bind).unwrap_or_else(|e| panic!("{e}"));
    let oss = Address::parse(&args[i + 1]).unwrap_or_else(|e| panic!("{e}"));
    let storage = StorageAddress {
        host: oss.host.clone(),
        port: oss.port,
        scheme: oss.scheme.clone(),
    };
    let identity = Bytes::from(format!("{}|scheduler|forwarder", std::process::id()));
    let mut poll = Poll::new().expect("poll");
    let mut listener = TcpListener::bind(bind.socket_addr()).expect("bind");
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .expect("register");
    let mut conns: Slab<Conn> = Slab::new();
    let mut ids: HashMap<Bytes, usize> = HashMap::new();
    let mut workers: Vec<usize> = Vec::new();
    let mut next_worker = 0usize;
    let mut owner: HashMap<Bytes, usize> = HashMap::new();
    let mut events = Events::with_capacity(1024);
    let mut dirty: Vec<usize> = Vec::new();
    loop {
        poll.poll(&mut events, None).ok();
        for ev in events.iter() {
            if ev.token() == LISTENER {
                while let Ok((mut s, _)) = listener.accept() {
                    s.set_nodelay(true).ok();
                    let e = conns.vacant_entry();
                    poll.registry()
                        .register(
                            &mut s,
                            Token(e.key()),
                            Interest::READABLE | Interest::WRITABLE,
                        )
                        .expect("register");
                    dirty.push(e.key());
                    e.insert(Conn::new(s, Role::Main, &identity));
                }
                continue;
            }
            let k = ev.token().0;
            if !conns.contains(k) {
                continue;
            }
            dirty.push(k);
            if ev.is_read_closed() || ev.is_error() {
                conns[k].peer_closing = true;
            }
            let mut got = Received::default();
            let res = conns[k].read(u64::MAX, usize::MAX, &mut got);
            if let Some(id) = got.identity {
                ids.insert(id, k);
            }
            for f in got.frames {
                let Some(from) = conns[k].identity.clone() else {
                    continue;
                };
                match wire::decode(&f) {
                    Ok(Message::ClientHeartbeat(_)) => {
                        conns[k].queue_frame(enc::client_heartbeat_echo(&storage))
                    }
                    Ok(Message::WorkerHeartbeat(_)) => {
                        if !workers.contains(&k) {
                            workers.push(k);
                        }
                        conns[k].queue_frame(enc::worker_heartbeat_echo(&storage));
                    }
                    Ok(Message::Task(t)) if !workers.is_empty() => {
                        let w = workers[next_worker % workers.len()];
                        next_worker += 1;
                        owner.insert(t.task_id, k);
                        conns[w].queue_frame(f);
                        dirty.push(w);
                    }
                    Ok(Message::TaskResult(r)) => {
                        if let Some(c) = owner.remove(&r.task_id) {
                            if conns.contains(c) {
                                conns[c].queue_frame(f);
                                dirty.push(c);
                            }
                        }
                    }
                    _ => {
                        let _ = from;
                    }
                }
            }
            if res.is_err() {
                let mut c = conns.remove(k);
                poll.registry().deregister(&mut c.stream).ok();
                workers.retain(|w| *w != k);
                if let Some(id) = c.identity {
                    ids.remove(&id);
                }
            }
        }
        dirty.sort_unstable();
        dirty.dedup();
        for k in dirty.drain(..) {
            if let Some(c) = conns.get_mut(k) {
                let _ = c.flush();
            }
        }
    }
}
