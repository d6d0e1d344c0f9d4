"""Soak test: scaler-rs under the native load generator plus real Scaler 2.9.0 workers and clients, with kill -9
of a real worker or a real client (alternating, each replaced at once) every few seconds.

Run it through scripts/soak.sh (which finds the venv and the binaries). Loopback only, bounded in time.

Routing: the scheduler runs `allocate=capability`; the load generator's tasks require `native` (its workers offer
it) and the real clients' tasks require `py` (the real workers offer it), so each side checks its own answers:
  * the load generator (scaler-rs-bench, run back to back) counts answered / duplicate / missing per task id;
  * each real client (soak_client.py) counts, at its agent, TaskResult messages per submitted task id and checks
    every value; a killed client's unanswered tasks are "failed to a dead client".
Phases: idle (no peer) -> warm-up (the same load and kills, --warmup-seconds) -> drain (every peer stops cleanly,
the scheduler forgets the killed ones) -> idle -> then --cycles times: load (--minutes in all, the last cycle
extended until --min-native-tasks) -> drain -> idle.
The scheduler's RSS (VmRSS) and open descriptors (/proc/PID/fd) are sampled into soak.csv with its metrics.
Checks (any failure exits 1):
  native: every run exited 0, answered == submitted, 0 duplicates, total >= --min-native-tasks
  python: 0 duplicates, 0 unknown results, 0 wrong values; clients that were not killed: 0 missing
  kills: at least one of each kind; no real peer exited that was not killed or stopped by the driver
  RSS: "start" is the idle scheduler's RSS after the warm-up and its drain, "end" the idle RSS after the last cycle
    and its drain (medians of the idle samples): end <= 1.10 x start. Both are taken with no peer, task or object left, so
    they compare the same state; RSS under load swings with the queue and the allocator (reported, not checked).
  heap (with gdb): glibc malloc_stats() "in use" bytes at the same idle points: end <= 1.10 x start
  fds: idle after the warm-up and after every cycle <= idle before any peer connected
  scheduler: alive throughout; after every drain, no live task, client, worker or object; every task that
  arrived reached exactly one terminal state; TaskResult messages sent == tasks that ended with a result (success,
  failed, failedWorkerDied), dead clients included; SIGTERM exits 0.
"""
import argparse
import csv
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

from harness import free_port, wait_port
from soak_report import Report

HERE = os.path.dirname(os.path.abspath(__file__))
VENV_BIN = os.path.dirname(sys.executable)
# glibc raises its mmap threshold to the largest block freed so far and keeps up to twice that at the top of the heap,
# so RSS depends on the order of past frees (it swung 24-46 MiB in one run with nothing held); fixed thresholds make
# large blocks mmap-backed and free() trim the heap, so RSS tracks what the process holds.
MALLOC_TUNABLES = "glibc.malloc.mmap_threshold=65536:glibc.malloc.trim_threshold=131072"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", required=True, help="scaler-rs binary under test")
    p.add_argument("--bench", required=True, help="scaler-rs-bench (the native load generator)")
    p.add_argument("--minutes", type=float, default=10.0, help="load phase length (default 10)")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="the load phase is extended until --min-native-tasks are done, up to this (default 2 x --minutes)")
    p.add_argument("--min-native-tasks", type=int, default=None,
                   help="native tasks the run must complete (default 100000 per minute: 1M for 10 minutes)")
    p.add_argument("--out", required=True, help="directory for the CSV, summary.json and logs")
    p.add_argument("--python-workers", type=int, default=3, help="real worker slots (default 3)")
    p.add_argument("--python-clients", type=int, default=3, help="real client slots (default 3)")
    p.add_argument("--kill-interval", type=float, default=5.0, help="seconds between kills (default 5)")
    p.add_argument("--native-tasks", type=int, default=50000, help="tasks per load generator run (default 50000)")
    p.add_argument("--native-clients", type=int, default=2)
    p.add_argument("--native-workers", type=int, default=2)
    p.add_argument("--native-window", type=int, default=500)
    p.add_argument("--native-pause", type=float, default=2.0,
                   help="seconds between load generator runs (default 2: the machine is shared)")
    p.add_argument("--warmup-seconds", type=float, default=None,
                   help="warm-up under the same load and kills before the first drain (default min(60, max(30, 10%% "
                        "of the load)))")
    p.add_argument("--window-seconds", type=float, default=None,
                   help="window of the informational under-load RSS medians (default min(60, max(10, 10%% of the load)))")
    p.add_argument("--malloc-tunables", default=MALLOC_TUNABLES,
                   help="GLIBC_TUNABLES for the scheduler (default: fixed mmap and trim thresholds, so that freed memory "
                        "goes back to the kernel and RSS follows what the scheduler holds; '' = glibc's defaults)")
    p.add_argument("--cycles", type=int, default=None,
                   help="the load runs in this many cycles, each ending with a drain and idle samples (default "
                        "--minutes / 3, at least 1)")
    p.add_argument("--heap-stats", action=argparse.BooleanOptionalAction, default=True,
                   help="at each idle point, call malloc_stats() in the scheduler through gdb (if installed) and "
                        "check the bytes in use like RSS (default on)")
    p.add_argument("--idle-seconds", type=float, default=10.0, help="idle sampling after each drain (default 10)")
    p.add_argument("--sample-seconds", type=float, default=2.0)
    p.add_argument("--client-timeout-seconds", type=int, default=10)
    p.add_argument("--seed", type=int, default=None, help="seed of the victim choices (default: random, printed)")
    return p.parse_args()


def now():
    return time.monotonic()


class Soak(Report):
    def __init__(self, a):
        self.a = a
        self.out = os.path.abspath(a.out)
        self.logs = os.path.join(self.out, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.seed = a.seed if a.seed is not None else random.randrange(1 << 32)
        self.rng = random.Random(self.seed)
        self.min_native = a.min_native_tasks if a.min_native_tasks is not None else int(100000 * a.minutes)
        self.max_minutes = a.max_minutes if a.max_minutes is not None else 2 * a.minutes
        self.failures = []
        self.lock = threading.Lock()
        self.phase = "idle-start"
        self.t0 = now()
        self.stop_load = threading.Event()
        self.stop_file = os.path.join(self.out, "clients.stop")
        if os.path.exists(self.stop_file):
            os.unlink(self.stop_file)
        self.samples = []
        self.native = {"runs": 0, "failed_runs": 0, "tasks": 0, "answered": 0, "duplicates": 0, "missing": 0,
                       "seconds": 0.0}
        self.kills = {"worker": 0, "client": 0}
        self.procs = []  # every process group we started, for the final cleanup
        self.worker_slots = []
        self.client_slots = []
        self.client_records = []  # finished clients: dicts from their logs
        self.n_spawned = 0
        self.heap = {}  # idle phase -> glibc malloc_stats() totals, with --heap-stats
        duration = a.minutes * 60
        self.warmup = a.warmup_seconds if a.warmup_seconds is not None else min(60.0, max(30.0, 0.1 * duration))
        self.cycles = a.cycles if a.cycles is not None else max(1, round(a.minutes / 3))
        self.window = a.window_seconds if a.window_seconds is not None else min(60.0, max(10.0, 0.1 * duration))

    # ---- processes -------------------------------------------------------------------------------------------
    def spawn(self, args, name, env=None):
        self.n_spawned += 1
        path = os.path.join(self.logs, f"{self.n_spawned:04d}-{name}.log")
        log = open(path, "w")
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.out,
                             env=env)
        log.close()
        p.log_path = path
        p.started = now()
        p.killed = False
        p.stopped = False
        self.procs.append(p)
        return p

    def fail(self, msg):
        with self.lock:
            self.failures.append(msg)
        print(f"FAIL: {msg}", flush=True)

    def start_scheduler(self):
        self.base = free_port(5)
        self.addr = f"tcp://127.0.0.1:{self.base}"
        self.metrics_port = self.base + 3
        args = [self.a.binary, self.addr, "--metrics-address", f"tcp://127.0.0.1:{self.metrics_port}",
                "--policy-engine-type", "simple", "--policy-content", "allocate=capability; scaling=no",
                "--client-timeout-seconds", str(self.a.client_timeout_seconds),
                "--logging-level", "INFO", "--logging-paths", os.path.join(self.logs, "scheduler.log")]
        env = dict(os.environ)
        if self.a.malloc_tunables:
            env["GLIBC_TUNABLES"] = self.a.malloc_tunables
        self.sched = self.spawn(args, "scheduler-stdout", env=env)
        wait_port(self.base)
        wait_port(self.metrics_port)

    def metrics(self):
        text = urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).read().decode()
        m = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                try:
                    m[k] = float(v)
                except ValueError:
                    pass
        return m

    def start_worker(self, k):
        wm_id = f"soak-w{k}-{self.n_spawned}"
        p = self.spawn([os.path.join(VENV_BIN, "scaler_worker_manager"), "baremetal_native", "--mode", "fixed",
                        "--max-task-concurrency", "1", "--worker-manager-id", wm_id,
                        "--per-worker-capabilities", "py", self.addr], "worker")
        self.worker_slots[k] = p

    def spawn_client(self, k):
        self.n_spawned += 1
        count_log = os.path.join(self.logs, f"{self.n_spawned:04d}-client.counts")
        path = os.path.join(self.logs, f"{self.n_spawned:04d}-client.log")
        log = open(path, "w")
        p = subprocess.Popen([sys.executable, os.path.join(HERE, "soak_client.py"), self.addr, count_log,
                              self.stop_file, "py"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                             cwd=self.out)
        log.close()
        p.log_path, p.count_log, p.started, p.killed, p.stopped = path, count_log, now(), False, False
        self.procs.append(p)
        self.client_slots[k] = p

    def kill_group(self, p, sig=signal.SIGKILL):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass

    # ---- the client count logs ---------------------------------------------------------------------------------
    @staticmethod
    def read_counts(path):
        r = {"submitted": 0, "answered": 0, "duplicates": 0, "unknown": 0, "wrong": 0, "missing": None,
             "batches": 0}
        try:
            lines = open(path).read().splitlines()
        except FileNotFoundError:
            return r
        for line in lines:
            f = line.split()
            if not f:
                continue
            if f[0] == "S" and len(f) == 2:
                r["submitted"] = int(f[1])
            elif f[0] == "A" and len(f) == 6:
                r["answered_submitted"] = int(f[1])
                r["answered"], r["duplicates"], r["unknown"], r["wrong"] = map(int, f[2:6])
                r["batches"] += 1
            elif f[0] == "END" and len(f) == 7:
                r["submitted"] = int(f[1])
                r["answered"], r["duplicates"], r["unknown"], r["wrong"], r["missing"] = map(int, f[2:7])
        return r

    def retire_client(self, p, how):
        rec = self.read_counts(p.count_log)
        rec.update({"how": how, "exit": p.returncode, "log": os.path.basename(p.log_path),
                    "seconds": round(now() - p.started, 1)})
        self.client_records.append(rec)
        if rec["duplicates"] or rec["unknown"] or rec["wrong"]:
            self.fail(f"client {rec['log']}: {rec['duplicates']} duplicates, {rec['unknown']} unknown results, "
                      f"{rec['wrong']} wrong values")
        if how == "stopped" and (p.returncode != 0 or rec["missing"] != 0):
            self.fail(f"client {rec['log']} (not killed): exit {p.returncode}, missing {rec['missing']}")

    # ---- threads -------------------------------------------------------------------------------------------------
    def sampler(self):
        path = os.path.join(self.out, "soak.csv")
        cols = ["t_s", "phase", "rss_kib", "fds", "connections_open", "workers", "clients", "tasks_live",
                "queued", "objects", "native_answered", "kills"]
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols)
            while self.sched.poll() is None and not self.stop_sampling.is_set():
                row = self.sample()
                if row:
                    self.samples.append(row)
                    w.writerow([row[c] for c in cols])
                    f.flush()
                self.stop_sampling.wait(self.a.sample_seconds)

    def sample(self):
        pid = self.sched.pid
        try:
            rss = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:"))
            fds = len(os.listdir(f"/proc/{pid}/fd"))
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            return None
        try:
            m = self.metrics()
        except OSError:
            m = {}
        live = sum(v for k, v in m.items() if k.startswith("scaler_tasks{"))
        with self.lock:
            return {"t_s": round(now() - self.t0, 1), "phase": self.phase, "rss_kib": rss, "fds": fds,
                    "connections_open": int(m.get("scaler_connections_open", -1)),
                    "workers": int(m.get("scaler_workers", -1)), "clients": int(m.get("scaler_clients", -1)),
                    "tasks_live": int(live), "queued": int(m.get("scaler_queued_tasks", -1)),
                    "objects": int(m.get("scaler_objects", -1)), "native_answered": self.native["answered"],
                    "kills": self.kills["worker"] + self.kills["client"]}

    def native_loop(self):
        a = self.a
        run = 0
        while not self.stop_load.is_set():
            run += 1
            args = ["nice", "-n", "5", a.bench, "--scheduler", self.addr, "--clients", str(a.native_clients),
                    "--workers", str(a.native_workers), "--tasks", str(a.native_tasks),
                    "--window", str(a.native_window), "--capability", "native", "--timeout-seconds", "180", "--json"]
            t = now()
            try:
                r = subprocess.run(args, capture_output=True, text=True, timeout=240)
                out, err, rc = r.stdout, r.stderr, r.returncode
            except subprocess.TimeoutExpired as e:
                out, err, rc = e.stdout or "", e.stderr or "", "timeout"
            try:
                j = json.loads(out.strip().splitlines()[-1])
            except (ValueError, IndexError):
                j = None
            with self.lock:
                self.native["runs"] += 1
                self.native["seconds"] += now() - t
                self.native["tasks"] += a.native_tasks
                if j:
                    self.native["answered"] += j["answered"]
                    self.native["duplicates"] += j["duplicates"]
                    self.native["missing"] += j["missing"]
                else:
                    self.native["missing"] += a.native_tasks
            if rc != 0 or not j:
                with self.lock:
                    self.native["failed_runs"] += 1
                with open(os.path.join(self.logs, f"native-run-{run}.err"), "w") as f:
                    f.write(f"exit {rc}\n{out}\n{err}")
                self.fail(f"native run {run}: exit {rc}: {(err or out).strip()[-300:]}")
            self.stop_load.wait(a.native_pause)

    # ---- the run ---------------------------------------------------------------------------------------------------
    def reap_unexpected(self):
        """A real peer that exited although nobody killed or stopped it is a failure (and is replaced)."""
        for k, p in enumerate(self.worker_slots):
            if p.poll() is not None and not p.killed and not p.stopped:
                self.fail(f"worker {os.path.basename(p.log_path)} exited by itself with {p.returncode}")
                self.start_worker(k)
        for k, p in enumerate(self.client_slots):
            if p.poll() is not None and not p.killed and not p.stopped:
                self.retire_client(p, "exited")
                self.fail(f"client {os.path.basename(p.log_path)} exited by itself with {p.returncode}")
                self.spawn_client(k)

    def kill_one(self, kind):
        slots = self.worker_slots if kind == "worker" else self.client_slots
        k = self.rng.randrange(len(slots))
        p = slots[k]
        p.killed = True
        self.kill_group(p)
        p.wait()
        with self.lock:
            self.kills[kind] += 1
        if kind == "worker":
            self.start_worker(k)
        else:
            self.retire_client(p, "killed")
            self.spawn_client(k)

    def start_peers(self):
        a = self.a
        if os.path.exists(self.stop_file):
            os.unlink(self.stop_file)
        self.stop_load = threading.Event()
        self.worker_slots = [None] * a.python_workers
        self.client_slots = [None] * a.python_clients
        for k in range(a.python_workers):
            self.start_worker(k)
        for k in range(a.python_clients):
            self.spawn_client(k)
        self.native_thread = threading.Thread(target=self.native_loop, daemon=True)
        self.native_thread.start()

    def load(self, seconds, extend):
        """Runs the kill loop for `seconds` (with `extend`, longer until the native minimum, up to --max-minutes)."""
        a = self.a
        kinds = ["worker", "client"]
        start = now()
        next_kill = start + a.kill_interval
        hard_end = start + self.max_minutes * 60
        while True:
            t = now()
            if t - start >= seconds and (not extend or self.native["answered"] >= self.min_native or t >= hard_end):
                break
            if self.sched.poll() is not None:
                self.fail(f"scheduler exited with {self.sched.returncode} during the load")
                break
            self.reap_unexpected()
            if t >= next_kill:
                self.kill_one(kinds[self.n_kills % 2])
                self.n_kills += 1
                next_kill += a.kill_interval
            time.sleep(0.2)
        return now() - start

    def drain(self, idle_phase):
        """Stops every peer cleanly, waits until the scheduler holds nothing, then takes idle samples."""
        a = self.a
        self.stop_load.set()
        open(self.stop_file, "w").close()
        deadline = now() + 240
        for p in self.client_slots:
            p.stopped = True
        for p in self.client_slots:
            try:
                p.wait(timeout=max(1, deadline - now()))
            except subprocess.TimeoutExpired:
                self.kill_group(p)
                p.wait()
                self.fail(f"client {os.path.basename(p.log_path)} did not stop within 240 s")
            self.retire_client(p, "stopped")
        self.native_thread.join(timeout=300)
        if self.native_thread.is_alive():
            self.fail("the load generator did not finish its last run")
        for p in self.worker_slots:
            p.stopped = True
            self.kill_group(p, signal.SIGTERM)
        for p in self.worker_slots:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill_group(p)
                p.wait()
        # Wait for the scheduler to forget every peer (a killed client after the client timeout).
        state = None
        empty = False
        deadline = now() + 60 + 3 * a.client_timeout_seconds
        while now() < deadline and self.sched.poll() is None:
            try:
                m = self.metrics()
            except OSError:
                time.sleep(0.5)
                continue
            live = sum(v for k, v in m.items() if k.startswith("scaler_tasks{"))
            state = m
            empty = (m.get("scaler_clients") == 0 and m.get("scaler_workers") == 0 and live == 0
                     and m.get("scaler_objects") == 0 and m.get("scaler_connections_open", 0) == 0)
            if empty:
                break
            time.sleep(0.5)
        if not empty:
            left = {k: v for k, v in (state or {}).items() if v and (k.startswith("scaler_tasks{") or k in (
                "scaler_clients", "scaler_workers", "scaler_objects", "scaler_connections_open"))}
            self.fail(f"before {idle_phase}: the scheduler still holds {left or 'unknown (no metrics)'}")
        with self.lock:
            self.phase = idle_phase
        time.sleep(self.a.idle_seconds)
        self.heap_in_use(idle_phase)
        return state or {}

    def heap_in_use(self, label):
        """glibc's malloc_stats() in the scheduler, called through gdb at an idle point: the bytes allocated and not
        freed (what the scheduler holds), apart from what the allocator keeps after free(), which RSS includes."""
        if not self.a.heap_stats or not shutil.which("gdb") or self.sched.poll() is not None:
            return
        log = self.sched.log_path
        before = os.path.getsize(log)
        try:
            subprocess.run(["gdb", "-p", str(self.sched.pid), "-batch", "-ex", "call (void)malloc_stats()"],
                           capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            return
        time.sleep(0.3)
        with open(log, "rb") as f:
            f.seek(before)
            text = f.read().decode(errors="replace")
        m = re.findall(r"Total \(incl\. mmap\):\s*system bytes\s*=\s*(\d+)\s*in use bytes\s*=\s*(\d+)", text)
        if m:
            system, in_use = map(int, m[-1])
            self.heap[label] = {"in_use_bytes": in_use, "system_bytes": system}

    def set_phase(self, phase):
        with self.lock:
            self.phase = phase
        self.marks[phase] = round(now() - self.t0, 1)

    def run(self):
        a = self.a
        print(f"soak: {a.binary}, warm-up {self.warmup:g} s, load {a.minutes:g} min (up to {self.max_minutes:g} "
              f"until {self.min_native} native tasks), seed {self.seed}, out {self.out}", flush=True)
        self.marks = {}
        self.n_kills = 0
        self.start_scheduler()
        self.stop_sampling = threading.Event()
        sampler = threading.Thread(target=self.sampler, daemon=True)
        sampler.start()
        time.sleep(a.idle_seconds)  # idle samples before any peer connects
        self.heap_in_use("idle-start")
        # Warm-up: the same load and kills, then a full drain; the scheduler's idle RSS after it is "start".
        self.set_phase("warmup")
        self.start_peers()
        self.load(self.warmup, extend=False)
        self.set_phase("warmup-drain")
        self.drain("idle-warm")
        self.marks["idle-warm-end"] = round(now() - self.t0, 1)
        native_warm = self.native["answered"]
        print(f"soak: warm-up over ({native_warm} native tasks); load in {self.cycles} cycles", flush=True)
        # The load in cycles, each ending with a drain and idle samples: a leak shows as idle RSS rising cycle after
        # cycle; a high-water mark (collection capacity, allocator) levels off.
        self.load_seconds = 0.0
        per = a.minutes * 60 / self.cycles
        for c in range(1, self.cycles + 1):
            self.set_phase(f"load-{c}")
            self.start_peers()
            self.load_seconds += self.load(per, extend=(c == self.cycles))
            self.set_phase(f"drain-{c}")
            print(f"soak: cycle {c}/{self.cycles} over ({self.load_seconds:.0f} s of load, {self.native['answered']} "
                  f"native tasks); draining", flush=True)
            self.end_metrics = self.drain(f"idle-{c}")
            if self.sched.poll() is not None:
                break
        self.stop_sampling.set()
        sampler.join(timeout=10)
        alive = self.sched.poll() is None
        if not alive:
            self.fail(f"scheduler exited with {self.sched.returncode}")
        else:
            self.sched.send_signal(signal.SIGTERM)
            try:
                rc = self.sched.wait(timeout=15)
                if rc != 0:
                    self.fail(f"scheduler exited {rc} on SIGTERM")
            except subprocess.TimeoutExpired:
                self.fail("scheduler did not exit within 15 s of SIGTERM")
        return self.report(native_warm)

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                self.kill_group(p)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    # ---- the report --------------------------------------------------------------------------------------------------
def main():
    a = parse_args()
    s = Soak(a)

    def on_term(sig, frame):
        s.cleanup()
        sys.exit(1)

    signal.signal(signal.SIGTERM, on_term)
    try:
        return s.run()
    finally:
        s.cleanup()


if __name__ == "__main__":
    sys.exit(main())
