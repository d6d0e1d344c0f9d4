"""Real-peer harness: the unmodified Scaler 2.9.0 client and native workers through several schedulers.

Run through scripts/real-peer-bench.sh (which builds the binaries and finds the venv). For every scheduler
given with --scheduler NAME=KIND:COMMAND, in the order given and repeated --rounds times (so A/B runs
interleave), it starts the scheduler pinned to CPU 0, a fixed native worker manager with 2 workers and this
process (the client) on CPU 1, and measures, per workload, from the scheduler's /proc entry:

  cpu_us_per_task   run-time delta of the whole scheduler process (all threads, /proc/PID/task/*/schedstat,
                    ns precision) / tasks
  wakeups_per_task  voluntary context switches of all its threads / tasks (each is one sleep in epoll_wait
                    or a lock wait that ended: the wake-ups the process paid)
  tasks_per_s       wall clock of the workload
  latency p50/p99   for the `latency` workload only: submit one no-op task, wait for its result, repeat

Workloads: `map` (client.map of N no-op tasks), `submit` (N client.submit, then every result), `latency`
(L tasks one at a time). With --strace, a second pass per scheduler repeats the workloads with
`strace -c -f -p PID` attached around each one and reports system calls per task by kind; strace slows the
traced process several times, so CPU, wake-ups and rates are only taken from the pass without it.

KIND is `rs` (scaler-rs: COMMAND ADDRESS [--object-storage-address OSS]), `py` (scaler_scheduler) or `fw`
(scaler-rs-forwarder, which needs an external object storage server). `rs+oss` runs scaler-rs with the
external object storage server (the Python one, as `py` and `fw` use) instead of its embedded one, so that
its CPU counts the same work as theirs.

--big-object instead measures isolation: one client uploads a 1 GiB object through the scheduler's embedded
object storage and a worker downloads it (a task takes it as its argument), while this client runs tiny
tasks one at a time; it reports the tiny tasks' latency p50/p99/max while idle and while the transfer runs.
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def noop(x):
    return x


def length(x):
    return len(x)


def free_port(span):
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if p + span >= 60000:
            continue
        ok = True
        for q in range(p, p + span):
            t = socket.socket()
            try:
                t.bind(("127.0.0.1", q))
            except OSError:
                ok = False
            t.close()
        if ok:
            return p


def wait_port(port, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited ({proc.returncode}) before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never listened")


def proc_cpu_seconds(pid):
    """CPU time of all the process's threads in nanoseconds' precision (the scheduler's own run-time
    accounting in /proc/PID/task/TID/schedstat); /proc/PID/stat counts in clock ticks (10 ms), which at a
    few hundred µs per task over a few thousand tasks is a 5-10% quantum."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass
    return total / 1e9


def anon_huge_bytes(pid):
    """The process's anonymous memory in transparent huge pages (/proc/PID/smaps_rollup)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("AnonHugePages:"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


def proc_user_system_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) / CLK_TCK, int(rest[12]) / CLK_TCK


def proc_minor_faults(pid):
    """Minor page faults of the process (a fault is a kernel entry, and under a hypervisor often an exit)."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


def proc_wakeups(pid):
    """Voluntary context switches summed over the process's threads."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return sorted_values[i]


class Cluster:
    """One scheduler, an object storage server if needed, a fixed native worker manager with 2 workers."""

    def __init__(self, args, kind, command, logdir, label, sched_extra=(), pool_capabilities=None,
                 oss_with_scheduler=False):
        self.args, self.kind, self.procs, self.managers, self.oss_pid = args, kind, [], [], None
        base = free_port(4)
        self.address = f"tcp://127.0.0.1:{base}"
        oss_address = f"tcp://127.0.0.1:{base + 1}"
        log = lambda name: open(os.path.join(logdir, f"{label}-{name}.log"), "w")
        pin_sched = ["taskset", "-c", "0"] if args.pin else []
        pin_peers = ["taskset", "-c", "1"] if args.pin else []
        extra = []
        if kind in ("py", "fw", "rs+oss"):
            pin_oss = pin_sched if oss_with_scheduler else pin_peers
            oss = subprocess.Popen(pin_oss + [args.oss, oss_address], stdout=log("oss"), stderr=subprocess.STDOUT)
            self.procs.append(oss)
            self.oss_pid = oss.pid
            wait_port(base + 1, oss)
            extra = ["--object-storage-address", oss_address]
        # kind `rs` embeds the object storage server on base + 1 (scaler-rs's default).
        if kind in ("rs", "rs+oss", "py"):
            cmd = [command, self.address, "--logging-level", "WARNING", "--monitor-address",
                   f"tcp://127.0.0.1:{base + 2}"] + extra + list(sched_extra)
        elif kind == "fw":
            cmd = [command, self.address] + extra
        else:
            raise ValueError(kind)
        self.sched = subprocess.Popen(pin_sched + cmd, stdout=log("scheduler"), stderr=subprocess.STDOUT)
        self.procs.append(self.sched)
        wait_port(base, self.sched)
        self.pid = self.sched.pid
        # The worker manager in its own session so that its workers can be killed as a group.
        self.base, self.logdir, self.label, self.managers = base, logdir, label, []
        self.wm = self.add_workers("workers", args.workers, pool_capabilities)

    def add_workers(self, name, count, capabilities, prefix=()):
        """A fixed native worker manager with `count` workers (in its own session, so that its workers
        can be killed as a group), waited for until its workers are connected. `prefix` goes before the
        command (e.g. `chrt --idle 0`)."""
        pin_peers = list(prefix) + (["taskset", "-c", "1"] if self.args.pin else [])
        caps = ["--per-worker-capabilities", capabilities] if capabilities else []
        path = os.path.join(self.logdir, f"{self.label}-{name}.log")
        wm = subprocess.Popen(
            pin_peers + [self.args.worker_manager, "baremetal_native", "--mode", "fixed", "--max-task-concurrency",
                         str(count), "--worker-manager-id", f"bench-{self.base}-{name}"] + caps + [self.address],
            stdout=open(path, "w"), stderr=subprocess.STDOUT, start_new_session=True)
        self.managers.append(wm)
        self.wait_workers(path, count)
        return wm

    def wait_workers(self, path, count, timeout=60):
        """A worker's processor connects to the object storage once the scheduler echoed the worker's
        heartbeat: from then on the scheduler knows it (the forwarder drops tasks while it has no worker)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            with open(path) as f:
                if f.read().count("connecting to object storage at") >= count:
                    time.sleep(0.5)
                    return
            time.sleep(0.1)
        raise RuntimeError(f"workers never connected (see {path})")

    def close(self):
        for wm in self.managers:
            try:
                os.killpg(wm.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        time.sleep(1)
        for wm in self.managers:
            try:
                os.killpg(wm.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            wm.wait()
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def run_workload(client, name, n):
    """Runs one workload; returns (tasks, latencies in µs or None)."""
    if name == "map":
        assert client.map(noop, range(n)) == list(range(n))
        return n, None
    if name == "submit":
        futures = [client.submit(noop, i) for i in range(n)]
        assert [f.result() for f in futures] == list(range(n))
        return n, None
    if name == "latency":
        lat = []
        for i in range(n):
            t = time.perf_counter()
            assert client.submit(noop, i).result() == i
            lat.append((time.perf_counter() - t) * 1e6)
        return n, sorted(lat)
    raise ValueError(name)


def strace_attach(pid, out):
    st = subprocess.Popen(["strace", "-c", "-f", "-p", str(pid), "-o", out], stderr=subprocess.PIPE, text=True)
    # strace reports each thread it attached to on stderr before tracing starts.
    line = st.stderr.readline()
    if "attached" not in line:
        raise RuntimeError(f"strace did not attach: {line}")
    time.sleep(0.3)
    return st


def strace_detach(st, out):
    st.send_signal(signal.SIGINT)
    st.wait()
    counts = {}
    with open(out) as f:
        for line in f:
            parts = line.split()
            # % time, seconds, usecs/call, calls, [errors], syscall
            if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                counts[parts[-1]] = int(parts[3])
    return counts


def bench_one(args, label, kind, command, logdir, with_strace):
    from scaler import Client

    cluster = Cluster(args, kind, command, logdir, label + ("-strace" if with_strace else ""))
    results = {}
    try:
        with Client(address=cluster.address) as client:
            # Warm-up: both workers connected and the function cached on them.
            client.map(noop, range(200))
            sizes = {"map": args.tasks, "submit": args.tasks, "latency": args.latency_tasks}
            for w in args.workloads:
                if with_strace:
                    out = os.path.join(logdir, f"{label}-{w}.strace")
                    st = strace_attach(cluster.pid, out)
                    n, _ = run_workload(client, w, sizes[w])
                    results[w] = {"syscalls_per_task": {k: v / n for k, v in
                                                        sorted(strace_detach(st, out).items(), key=lambda kv: -kv[1])}}
                    continue
                oss0 = proc_cpu_seconds(cluster.oss_pid) if cluster.oss_pid else 0
                cpu0 = proc_cpu_seconds(cluster.pid)
                (u0, s0), wake0, t0 = proc_user_system_seconds(cluster.pid), proc_wakeups(cluster.pid), time.perf_counter()
                faults0 = proc_minor_faults(cluster.pid)
                perf = None
                if args.perf:
                    perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000", "-g", "-p",
                                             str(cluster.pid), "-o", os.path.join(logdir, f"{label}-{w}.perf.data")])
                    time.sleep(0.5)
                n, lat = run_workload(client, w, sizes[w])
                if perf is not None:
                    perf.send_signal(signal.SIGINT)
                    perf.wait()
                t1, (u1, s1), wake1 = time.perf_counter(), proc_user_system_seconds(cluster.pid), proc_wakeups(cluster.pid)
                faults1 = proc_minor_faults(cluster.pid)
                cpu1 = proc_cpu_seconds(cluster.pid)
                oss1 = proc_cpu_seconds(cluster.oss_pid) if cluster.oss_pid else 0
                r = {"tasks": n, "tasks_per_s": n / (t1 - t0), "cpu_us_per_task": (cpu1 - cpu0) * 1e6 / n,
                     "wakeups_per_task": (wake1 - wake0) / n,
                     "page_faults_per_task": (faults1 - faults0) / n,
                     # the user/system split is only known in ticks: the share of those ticks
                     "system_share": (s1 - s0) / max(u1 - u0 + s1 - s0, 1e-9),
                     "oss_cpu_us_per_task": (oss1 - oss0) * 1e6 / n if cluster.oss_pid else None}
                if lat:
                    r["latency_us"] = {"p50": percentile(lat, 0.5), "p99": percentile(lat, 0.99)}
                results[w] = r
                print(f"  {label} {w}: {json.dumps(r)}", file=sys.stderr, flush=True)
        if cluster.sched.poll() is not None:
            raise RuntimeError(f"{label} exited during the run")
    finally:
        cluster.close()
    return results


def big_payload(size):
    """The big object's bytes: `size` (whole MiB) of random data, one random MiB repeated."""
    return os.urandom(1 << 20) * (size >> 20)


def timed_transfers(rounds, marks, transfer):
    """Runs `transfer()` `rounds` times, 2 s apart, appending the wall-clock bounds of each to `marks`
    (the parent counts a tiny task as "during" when it overlaps one of them)."""
    for _ in range(rounds):
        t0 = time.time()
        transfer()
        t1 = time.time()
        with open(marks, "a") as m:
            m.write(f"{t0} {t1}\n")
        time.sleep(2)


def big_object_uploader(address, size, rounds, marks):
    """Child process: uploads a `size`-byte object and has a worker read it, `rounds` times, printing
    the wall-clock bounds of each transfer."""
    from scaler import Client

    payload = big_payload(size)
    with Client(address=address) as client:

        def transfer():
            ref = client.send_object(payload)
            # Only the worker with the `bigobject` capability takes it, so that the tiny tasks never
            # queue behind it on a worker: what is measured is the scheduler, not a busy worker.
            f = client.submit_verbose(length, (ref,), {}, capabilities={"bigobject": 1})
            assert f.result() == size

        timed_transfers(rounds, marks, transfer)


def big_object_direct(size, rounds, marks):
    """Child process for the floor control (--big-object-storage direct): the same bytes as the uploader's,
    pickled as the client does, sent to a reader process over loopback TCP and unpickled there, with no
    Scaler process in the way. The reader is forked from this process, so it keeps the bulk processes'
    scheduling class. What the tiny tasks feel during these transfers is the machine's part alone."""
    import pickle

    payload = big_payload(size)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    reader = os.fork()
    if reader == 0:
        # A forked child: whatever happens, it ends here, never in the parent's code below.
        status = 1
        try:
            listener.close()
            with socket.create_connection(("127.0.0.1", port)) as conn:
                for _ in range(rounds):
                    n_bytes = int.from_bytes(conn.recv(8, socket.MSG_WAITALL), "little")
                    buf = bytearray(n_bytes)
                    view, got = memoryview(buf), 0
                    while got < n_bytes:
                        n = conn.recv_into(view[got:])
                        if n == 0:
                            raise EOFError("the sender closed mid-object")
                        got += n
                    assert len(pickle.loads(buf)) == size
                    conn.sendall(b"k")
            status = 0
        finally:
            os._exit(status)
    conn, _ = listener.accept()

    def transfer():
        data = pickle.dumps(payload, protocol=5)
        conn.sendall(len(data).to_bytes(8, "little"))
        conn.sendall(data)
        assert conn.recv(1) == b"k"

    with conn:
        timed_transfers(rounds, marks, transfer)
    _, status = os.waitpid(reader, 0)
    if status != 0:
        raise RuntimeError("direct reader failed")


def big_object(args, command, logdir):
    from scaler import Client

    metrics = free_port(1)
    # --big-object-storage external is the control: the bytes then go through the Python object storage
    # server, never through the scheduler, so what the tiny tasks still feel is the machine, not scaler-rs.
    # That server runs on the scheduler's CPU, where the embedded storage does the same work.
    # --big-object-storage direct is the machine's floor: the same bytes between two bulk processes with no
    # server in the way (big_object_direct), the tiny tasks through scaler-rs's embedded storage.
    kind = "rs+oss" if args.big_object_storage == "external" else "rs"
    cluster = Cluster(args, kind, command, logdir, "big", oss_with_scheduler=True,
                      sched_extra=["--policy-content", "allocate=capability; scaling=no",
                                   "--metrics-address", f"tcp://127.0.0.1:{metrics}"],
                      pool_capabilities="tiny")
    # --bulk-idle: the big object's peers (its uploading client and the worker reading it) run under
    # SCHED_IDLE, so that on this 2-core machine they take CPU 1 only when the tiny peers leave it
    # idle; what the tiny tasks then feel of the transfer is the scheduler's share (it alone on CPU 0).
    bulk = ["chrt", "--idle", "0"] if args.bulk_idle else []
    cluster.add_workers("bigworker", 1, "bigobject", prefix=bulk)
    scrape = lambda: loop_histogram(f"http://127.0.0.1:{metrics}/metrics")

    def tiny():
        t = time.perf_counter()
        assert client.submit_verbose(noop, (0,), {}, capabilities={"tiny": 1}).result() == 0
        return (time.perf_counter() - t) * 1e6

    try:
        with Client(address=cluster.address) as client:
            for _ in range(50):
                tiny()
            idle = []
            h0, idle_cpu0 = scrape(), proc_cpu_seconds(cluster.pid)
            t_end = time.time() + args.idle_seconds
            while time.time() < t_end:
                idle.append(tiny())
            h1, idle_cpu = scrape(), proc_cpu_seconds(cluster.pid) - idle_cpu0
            marks = os.path.join(logdir, "big-marks.txt")
            child = "--big-object-direct-child" if args.big_object_storage == "direct" else "--big-object-child"
            up = subprocess.Popen(bulk + [sys.executable, os.path.abspath(__file__), child, cluster.address,
                                   str(args.object_bytes), str(args.object_rounds), marks],
                                  env=dict(os.environ, PYTHONPATH=HERE))
            perf = None
            if args.perf:
                perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "1000", "-g", "-p",
                                         str(cluster.pid), "-o", os.path.join(logdir, "big.perf.data")])
            samples = []
            cpu0, huge_max = proc_cpu_seconds(cluster.pid), 0
            while up.poll() is None:
                t0 = time.time()
                lat = tiny()
                samples.append((t0, time.time(), lat))
                if len(samples) % 20 == 0:
                    huge_max = max(huge_max, anon_huge_bytes(cluster.pid))
            sched_cpu = proc_cpu_seconds(cluster.pid) - cpu0
            h2 = scrape()
            if perf is not None:
                perf.send_signal(signal.SIGINT)
                perf.wait()
            if up.returncode != 0:
                raise RuntimeError("uploader failed")
            windows = [tuple(map(float, line.split())) for line in open(marks)]
            during = sorted(lat for (a, b, lat) in samples if any(a < w1 and b > w0 for (w0, w1) in windows))
            idle.sort()
            transfer_s = [w1 - w0 for (w0, w1) in windows]
    finally:
        cluster.close()
    return {"idle": {"n": len(idle), "p50": percentile(idle, 0.5), "p99": percentile(idle, 0.99), "max": idle[-1]},
            "during": {"n": len(during), "p50": percentile(during, 0.5), "p99": percentile(during, 0.99),
                       "max": during[-1] if during else float("nan")},
            "transfer_seconds": transfer_s, "object_bytes": args.object_bytes,
            # The scheduler's CPU over the whole transfer phase (uploads, downloads, deletes and the tiny
            # tasks between them), and the most of its memory seen in huge pages (sampled).
            # Less the tiny tasks' share (at the idle phase's CPU per tiny task), the transfers' own cost.
            "sched_cpu_seconds_with_transfers": sched_cpu, "anon_huge_pages_max_bytes": huge_max,
            "sched_cpu_seconds_for_transfers": sched_cpu - len(samples) * idle_cpu / max(len(idle), 1),
            "loop_turns_idle": hist_delta(h0, h1), "loop_turns_with_transfers": hist_delta(h1, h2)}


def loop_histogram(url):
    """scaler-rs's scaler_loop_seconds histogram (cumulative buckets, seconds -> count)."""
    import urllib.request

    h = {}
    for line in urllib.request.urlopen(url).read().decode().splitlines():
        if line.startswith("scaler_loop_seconds_bucket"):
            h[line.split('le="')[1].split('"')[0]] = int(line.split()[-1])
    return h


def hist_delta(a, b):
    """Event-loop turns between two scrapes: count, and the share that took at most each bucket bound."""
    n = b["+Inf"] - a["+Inf"]
    out = {"turns": n}
    for le in b:
        if le != "+Inf":
            out[f"<= {float(le) * 1e3:g} ms"] = round((b[le] - a[le]) / max(n, 1), 5)
    # Turns above the largest finite bucket, i.e. the stalls that matter here.
    finite = max((le for le in b if le != "+Inf"), key=float)
    out[f"> {float(finite) * 1e3:g} ms"] = n - (b[finite] - a[finite])
    return out


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--big-object-child":
        big_object_uploader(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--big-object-direct-child":
        big_object_direct(int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scheduler", action="append", default=[], help="NAME=KIND:COMMAND (KIND rs, rs+oss, py, fw)")
    ap.add_argument("--tasks", type=int, default=5000)
    ap.add_argument("--latency-tasks", type=int, default=1000)
    ap.add_argument("--workloads", default="map,submit,latency")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--alternate", action="store_true", help="run the schedulers in reverse order in every "
                    "second round, so that no binary always runs first (the machine's slow stretches and a "
                    "warm-up favour one position)")
    ap.add_argument("--ratio", action="append", default=[], metavar="NUM/DEN",
                    help="also report NUM's CPU per task over DEN's, per round and workload, with the median; "
                    "NAME+storage adds the CPU of the external object storage server NAME used")
    ap.add_argument("--strace", action="store_true", help="add a pass per scheduler with strace -c attached")
    ap.add_argument("--perf", action="store_true", help="perf record -e cpu-clock -g the scheduler per workload "
                    "(the files stay in the log directory; CPU figures of such a run include perf's overhead)")
    ap.add_argument("--no-pin", dest="pin", action="store_false")
    ap.add_argument("--venv", required=True)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--big-object", metavar="COMMAND", help="run the isolation measurement against this scaler-rs")
    ap.add_argument("--object-bytes", type=int, default=1 << 30)
    ap.add_argument("--object-rounds", type=int, default=3)
    ap.add_argument("--idle-seconds", type=float, default=10)
    ap.add_argument("--big-object-storage", choices=["embedded", "external", "direct"],
                    default="embedded", help="big-object run: the object through scaler-rs's embedded storage, or "
                    "(the control) through the Python object storage server beside it, or (the floor) between the "
                    "bulk processes over a socket of their own, through no server")
    ap.add_argument("--bulk-idle", action="store_true", help="big-object run: the uploader and the big worker "
                    "under SCHED_IDLE (chrt --idle 0), so that they do not compete with the tiny peers for CPU 1")
    args = ap.parse_args()
    args.workloads = args.workloads.split(",")
    args.oss = os.path.join(args.venv, "bin", "scaler_object_storage_server")
    args.worker_manager = os.path.join(args.venv, "bin", "scaler_worker_manager")
    if args.pin:
        os.sched_setaffinity(0, {1})
    logdir = tempfile.mkdtemp(prefix="real-peer-bench-")
    print(f"logs in {logdir}", file=sys.stderr)
    if args.big_object:
        r = big_object(args, args.big_object, logdir)
        print(json.dumps(r, indent=1))
        if args.json:
            json.dump(r, open(args.json, "w"), indent=1)
        return
    schedulers = []
    for s in args.scheduler:
        name, spec = s.split("=", 1)
        kind, command = spec.split(":", 1)
        schedulers.append((name, kind, command))
    all_results = []
    for rnd in range(args.rounds):
        order = schedulers[::-1] if args.alternate and rnd % 2 == 1 else schedulers
        for name, kind, command in order:
            r = bench_one(args, name, kind, command, logdir, False)
            all_results.append({"round": rnd + 1, "scheduler": name, "kind": kind, "results": r})
    if args.strace:
        for name, kind, command in schedulers:
            r = bench_one(args, name, kind, command, logdir, True)
            all_results.append({"round": "strace", "scheduler": name, "kind": kind, "results": r})
    if args.json:
        json.dump(all_results, open(args.json, "w"), indent=1)
    report(all_results, args.workloads)
    for spec in args.ratio:
        report_ratio(all_results, args.workloads, *spec.split("/", 1))


def report_ratio(all_results, workloads, num, den):
    """Paired ratios: each round's NUM against the DEN of the same round, so a slow stretch of the
    machine that spans a round moves both."""
    cpu = {}
    for e in all_results:
        if e["round"] == "strace":
            continue
        for w in workloads:
            r = e["results"][w]
            cpu[(e["round"], e["scheduler"], w)] = r["cpu_us_per_task"]
            # NAME+storage: the scheduler and the external object storage server it used, together
            # (what the whole server side costs, against scaler-rs with its storage embedded).
            if r.get("oss_cpu_us_per_task") is not None:
                cpu[(e["round"], e["scheduler"] + "+storage", w)] = r["cpu_us_per_task"] + r["oss_cpu_us_per_task"]
    rounds = sorted({e["round"] for e in all_results if e["round"] != "strace"})
    print(f"\n{num} / {den}, scheduler CPU per task, paired by round:\n")
    print("| round | " + " | ".join(workloads) + " |")
    print("|---|" + "---|" * len(workloads))
    ratios = []
    for r in rounds:
        row = []
        for w in workloads:
            a, b = cpu.get((r, num, w)), cpu.get((r, den, w))
            if a is None or not b:
                row.append("-")
                continue
            ratios.append(a / b)
            row.append(f"{a / b:.2f}")
        print(f"| {r} | " + " | ".join(row) + " |")
    if ratios:
        ratios.sort()
        n = len(ratios)
        median = ratios[n // 2] if n % 2 else (ratios[n // 2 - 1] + ratios[n // 2]) / 2
        within = sum(1 for x in ratios if x <= 1.25)
        print(f"\n{n} pairs: median {median:.2f}, range {ratios[0]:.2f}-{ratios[-1]:.2f}, "
              f"mean {sum(ratios) / n:.2f}, <= 1.25 in {within} of {n}")


def report(all_results, workloads):
    print("| round | scheduler | workload | tasks/s | sched CPU µs/task | + external storage CPU µs/task | "
          "kernel share | wake-ups/task | page faults/task | latency p50 / p99 µs |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for e in all_results:
        if e["round"] == "strace":
            continue
        for w in workloads:
            r = e["results"][w]
            lat = r.get("latency_us")
            lat = f"{lat['p50']:.0f} / {lat['p99']:.0f}" if lat else "-"
            oss = r.get("oss_cpu_us_per_task")
            oss = f"{oss:.1f}" if oss is not None else "- (embedded)"
            print(f"| {e['round']} | {e['scheduler']} | {w} | {r['tasks_per_s']:.0f} | {r['cpu_us_per_task']:.1f} | {oss} | "
                  f"{100 * r['system_share']:.0f}% | "
                  f"{r['wakeups_per_task']:.2f} | {r.get('page_faults_per_task', float('nan')):.2f} | {lat} |")
    traced = [e for e in all_results if e["round"] == "strace"]
    if traced:
        print("\nSystem calls per task (separate pass under strace -c -f; kinds >= 0.05 per task):\n")
        print("| scheduler | workload | total | by kind |")
        print("|---|---|---|---|")
        for e in traced:
            for w in workloads:
                s = e["results"][w]["syscalls_per_task"]
                kinds = ", ".join(f"{k} {v:.2f}" for k, v in s.items() if v >= 0.05)
                print(f"| {e['scheduler']} | {w} | {sum(s.values()):.2f} | {kinds} |")


if __name__ == "__main__":
    main()
