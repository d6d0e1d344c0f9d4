"""The soak test's report: the checks on the figures gathered by soak.py, summary.json, soak-summary.csv and the
printed summary (a mixin of soak.Soak, which owns the state)."""
import csv
import json
import os
import re
import shutil
import statistics


class Report:
    def scheduler_log_figures(self):
        """Informational figures from the scheduler's log (not checks: the log wording may change)."""
        r = {"python_workers_lost": 0, "python_worker_tasks_redispatched": 0, "clients_timed_out": 0, "lines": 0,
             "warnings": 0, "errors": 0}
        pat = re.compile(r"worker Worker\|FIX\|.* disconnected \(connection lost\), re-dispatching (\d+) task")
        try:
            for line in open(os.path.join(self.logs, "scheduler.log"), errors="replace"):
                r["lines"] += 1
                r["warnings"] += " WARNING " in line
                r["errors"] += " ERROR " in line
                r["clients_timed_out"] += "without a heartbeat" in line
                m = pat.search(line)
                if m:
                    r["python_workers_lost"] += 1
                    r["python_worker_tasks_redispatched"] += int(m.group(1))
        except FileNotFoundError:
            pass
        return r

    def write_downsampled(self, every):
        """soak-summary.csv: one sample per `every` seconds (plus phase changes), small enough to commit."""
        cols = list(self.samples[0].keys()) if self.samples else []
        with open(os.path.join(self.out, "soak-summary.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols)
            last_t, last_phase = None, None
            for i, r in enumerate(self.samples):
                if (last_t is None or r["t_s"] - last_t >= every or r["phase"] != last_phase
                        or i == len(self.samples) - 1):
                    w.writerow([r[c] for c in cols])
                    last_t, last_phase = r["t_s"], r["phase"]

    def report(self, native_warm):
        a = self.a
        s = self.samples
        rows = lambda phase: [r for r in s if r["phase"] == phase]  # noqa: E731
        idle_start, idle_warm = rows("idle-start"), rows("idle-warm")
        idle_end = rows(f"idle-{self.cycles}")
        load = [r for r in s if r["phase"].startswith("load-")]
        med = lambda rs, k: statistics.median(r[k] for r in rs) if rs else None  # noqa: E731
        lstart = self.marks.get("load-1", 0)
        lend = self.marks.get(f"drain-{self.cycles}", 0)
        idle_series = [("warm", med(idle_warm, "rss_kib"), max((r["fds"] for r in idle_warm), default=None))]
        idle_series += [(str(c), med(rows(f"idle-{c}"), "rss_kib"), max((r["fds"] for r in rows(f"idle-{c}")),
                                                                          default=None))
                        for c in range(1, self.cycles + 1)]
        w0 = [r for r in load if r["t_s"] < lstart + self.window]
        w1 = [r for r in load if r["t_s"] >= lend - self.window]
        rss = {"idle_before_kib": med(idle_start, "rss_kib"), "start_kib": med(idle_warm, "rss_kib"),
               "end_kib": med(idle_end, "rss_kib"), "max_kib": max((r["rss_kib"] for r in s), default=None),
               "load_first_window_median_kib": med(w0, "rss_kib"), "load_last_window_median_kib": med(w1, "rss_kib"),
               "load_min_kib": min((r["rss_kib"] for r in load), default=None),
               "load_max_kib": max((r["rss_kib"] for r in load), default=None),
               "idle_after_each_cycle": [{"after": k, "rss_kib": v, "fds": f} for k, v, f in idle_series]}
        fds = {"idle_before": min((r["fds"] for r in idle_start), default=None),
               "idle_warm": max((r["fds"] for r in idle_warm), default=None),
               "idle_end": max((r["fds"] for r in idle_end), default=None),
               "load_first_window_median": med(w0, "fds"), "load_last_window_median": med(w1, "fds"),
               "max": max((r["fds"] for r in s), default=None)}
        if rss["start_kib"] is None or rss["end_kib"] is None:
            self.fail("no idle RSS samples after the warm-up or after the load")
        elif rss["end_kib"] > 1.10 * rss["start_kib"]:
            self.fail(f"RSS grew: {rss['start_kib']} KiB idle after the warm-up -> {rss['end_kib']} KiB idle at "
                      f"the end (>10%)")
        if None in (fds["idle_before"], fds["idle_warm"], fds["idle_end"]):
            self.fail("not enough idle fd samples")
        elif any(f is None or f > fds["idle_before"] for _, _, f in idle_series):
            self.fail(f"open fds grew: idle {fds['idle_before']} before any peer, then after each cycle "
                      f"{[f for _, _, f in idle_series]}")
        heap = {"after_each_cycle": [{"after": k, **self.heap[ph]} for k, ph in
                                     [("before", "idle-start"), ("warm", "idle-warm")] +
                                     [(str(c), f"idle-{c}") for c in range(1, self.cycles + 1)] if ph in self.heap]}
        h0, h1 = self.heap.get("idle-warm"), self.heap.get(f"idle-{self.cycles}")
        if a.heap_stats and shutil.which("gdb"):
            if not (h0 and h1):
                self.fail("--heap-stats: no malloc_stats() figures from the scheduler (gdb could not attach?)")
            elif h1["in_use_bytes"] > 1.10 * h0["in_use_bytes"]:
                self.fail(f"heap in use grew: {h0['in_use_bytes']} bytes idle after the warm-up -> "
                          f"{h1['in_use_bytes']} idle at the end (>10%)")
        nat = self.native
        if nat["duplicates"] or nat["missing"] or nat["failed_runs"] or nat["answered"] != nat["tasks"]:
            self.fail(f"native: {nat}")
        if nat["answered"] < self.min_native:
            self.fail(f"native: only {nat['answered']} tasks answered, fewer than {self.min_native}")
        recs = self.client_records
        py = {"clients": len(recs), "killed_clients": sum(r["how"] == "killed" for r in recs),
              "submitted": sum(r["submitted"] for r in recs), "answered": sum(r["answered"] for r in recs),
              "duplicates": sum(r["duplicates"] for r in recs), "unknown": sum(r["unknown"] for r in recs),
              "wrong": sum(r["wrong"] for r in recs),
              "missing": sum(r["missing"] or 0 for r in recs if r["how"] != "killed"),
              "failed_to_dead_client": sum(r["submitted"] - r["answered"] for r in recs if r["how"] == "killed")}
        if py["answered"] == 0:
            self.fail("python: no task answered")
        for kind in ("worker", "client"):
            if self.kills[kind] == 0:
                self.fail(f"no {kind} was killed")
        m = self.end_metrics
        live = {k: v for k, v in m.items() if k.startswith("scaler_tasks{") and v}
        terminal = sum(v for k, v in m.items() if k.startswith("scaler_tasks_finished_total{"))
        arrived = m.get('scaler_messages_total{direction="in",type="Task"}', 0)
        sched = {"live_tasks": live, "clients": m.get("scaler_clients"), "workers": m.get("scaler_workers"),
                 "objects": m.get("scaler_objects"), "connections_open": m.get("scaler_connections_open"),
                 "tasks_in": arrived, "tasks_terminal": terminal,
                 "finished": {k.split("{", 1)[1].rstrip("}"): v for k, v in m.items()
                              if k.startswith("scaler_tasks_finished_total{") and v},
                 "task_results_out": m.get('scaler_messages_total{direction="out",type="TaskResult"}')}
        if live or m.get("scaler_clients") != 0 or m.get("scaler_workers") != 0 or m.get("scaler_objects") != 0:
            self.fail(f"scheduler state after every peer left: {sched}")
        if arrived != terminal:
            self.fail(f"{arrived:.0f} tasks arrived but {terminal:.0f} reached a terminal state")
        # Each task that ended with a result (not canceled) was answered by exactly one TaskResult, dead clients too.
        answered_states = sum(m.get(f'scaler_tasks_finished_total{{state="{st}"}}', 0)
                              for st in ("success", "failed", "failedWorkerDied"))
        if sched["task_results_out"] != answered_states:
            self.fail(f"{sched['task_results_out']} TaskResult messages sent for {answered_states:.0f} tasks that "
                      f"ended with a result")
        log = self.scheduler_log_figures()
        summary = {"binary": a.binary, "seed": self.seed, "malloc_tunables": a.malloc_tunables, "load_seconds": round(self.load_seconds, 1),
                   "warmup_s": self.warmup, "window_s": self.window, "phase_start_t_s": self.marks,
                   "native_tasks_in_warmup": native_warm, "kills": self.kills,
                   "tasks_total": nat["answered"] + py["answered"], "native": nat, "python": py, "rss": rss,
                   "fds": fds, "heap": heap, "scheduler_end": sched, "scheduler_log": log, "samples": len(s), "clients": recs,
                   "failures": self.failures}
        with open(os.path.join(self.out, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
        self.write_downsampled(30.0)
        print(f"phases          warm-up {self.warmup:g} s + drain, load {self.load_seconds:.0f} s + drain; {len(s)} "
              f"samples every {a.sample_seconds:g} s -> {os.path.join(self.out, 'soak.csv')} (starts, t_s: {self.marks})")
        print(f"kills (-9)      {self.kills['worker']} workers, {self.kills['client']} clients "
              f"(each replaced at once)")
        print(f"native tasks    {nat['answered']}/{nat['tasks']} answered once in {nat['runs']} runs "
              f"({native_warm} in the warm-up), "
              f"{nat['duplicates']} duplicates, {nat['missing']} missing, {nat['failed_runs']} failed runs")
        print(f"python tasks    {py['answered']}/{py['submitted']} answered once by {py['clients']} clients "
              f"({py['killed_clients']} killed), {py['duplicates']} duplicates, {py['missing']} missing, "
              f"{py['failed_to_dead_client']} failed to a dead client, {py['wrong']} wrong, {py['unknown']} unknown")
        print(f"tasks total     {summary['tasks_total']}")
        kib = lambda v: "n/a" if v is None else f"{v / 1024:.1f} MiB"  # noqa: E731
        ratio = (rss["end_kib"] / rss["start_kib"]) if rss["start_kib"] and rss["end_kib"] else float("nan")
        print(f"RSS (idle)      start {kib(rss['start_kib'])} (after the warm-up and its drain), end "
              f"{kib(rss['end_kib'])} (after the load and its drain): end/start {ratio:.3f} (limit 1.10); before any "
              f"peer {kib(rss['idle_before_kib'])}")
        print(f"RSS (load)      first {self.window:g} s median {kib(rss['load_first_window_median_kib'])}, last "
              f"{self.window:g} s median {kib(rss['load_last_window_median_kib'])}, min {kib(rss['load_min_kib'])}, "
              f"max {kib(rss['load_max_kib'])}; max overall {kib(rss['max_kib'])}")
        print("RSS/fds (idle)  after the warm-up and after each cycle: " + ", ".join(
            f"{k}: {kib(v)}/{f}" for k, v, f in idle_series))
        if heap["after_each_cycle"]:
            print("heap in use     (malloc_stats, idle) " + ", ".join(
                f"{h['after']}: {h['in_use_bytes'] / 1048576:.2f} MiB (system {h['system_bytes'] / 1048576:.1f})"
                for h in heap["after_each_cycle"]))
        print(f"open fds        idle: {fds['idle_before']} before any peer, {fds['idle_warm']} after the warm-up, "
              f"{fds['idle_end']} at the end; under load median {fds['load_first_window_median']} -> "
              f"{fds['load_last_window_median']}, max {fds['max']}")
        print(f"scheduler log   {log['python_worker_tasks_redispatched']} tasks re-dispatched from "
              f"{log['python_workers_lost']} lost real workers; {log['clients_timed_out']} clients timed out; "
              f"{log['lines']} lines, {log['warnings']} warnings, {log['errors']} errors")
        print(f"scheduler end   {sched['tasks_in']:.0f} tasks in, {sched['tasks_terminal']:.0f} terminal "
              f"{sched['finished']}, live {live or 0}, clients {sched['clients']}, workers {sched['workers']}, "
              f"objects {sched['objects']}")
        print(("PASS" if not self.failures else f"FAIL ({len(self.failures)} failures)") + f"  seed {self.seed}",
              flush=True)
        for f in self.failures:
            print(f"  - {f}")
        return 0 if not self.failures else 1
