"""Drive a scheduler with the real, unmodified Scaler 2.9.0 Python client and native workers.

Usage: python first_light.py tcp://HOST:PORT
Prints `PASS name` / `FAIL name: reason` (or `SKIP name`) per check and a closing `N passed, M failed` line
(`, K skipped` appended when a check did not apply, e.g. metrics without METRICS_URL); exits 1 on failure.
"""
import contextlib
import hashlib
import os
import signal
import sys
import time
import traceback

from scaler import Client

ADDRESS = sys.argv[1]
CHECK_TIMEOUT_SECONDS = 30  # per check (and for connecting); Client.map/get have no timeout of their own


class CheckTimeout(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds, what):
    """Raise CheckTimeout in the main thread if the block runs longer than `seconds` (SIGALRM)."""

    def expired(_signum, _frame):
        raise CheckTimeout(f"{what} did not finish within {seconds}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def inc(x):
    return x + 1


def add(a, b):
    return a + b


def slow(x):
    time.sleep(x)
    return x


def boom(x):
    raise ValueError(f"boom {x}")


def length(x):
    return len(x)


def square(x):
    return x * x


def nested(n):
    # Runs on a worker: a client created inside a task finds the scheduler by itself.
    with Client() as inner:
        return sum(inner.map(square, range(n)))


def check_submit(c):
    assert c.submit(inc, 41).result(timeout=30) == 42


def check_map(c):
    assert c.map(inc, range(200)) == [i + 1 for i in range(200)]


def check_graph(c):
    graph = {"a": 1, "b": (inc, "a"), "c": (add, "a", "b"), "d": (inc, "c")}
    assert c.get(graph, keys=["c", "d"]) == {"c": 3, "d": 4}


def check_cancel(c):
    fut = c.submit(slow, 60)
    time.sleep(1)
    fut.cancel()
    assert fut.cancelled(), "future not cancelled"
    # the scheduler still works afterwards
    assert c.submit(inc, 1).result(timeout=30) == 2


def check_send_object(c):
    ref = c.send_object("abcdef", name="letters")
    assert c.submit(length, ref).result(timeout=30) == 6
    ref2 = c.send_object(list(range(10)))
    assert c.map(length, [ref, ref2]) == [6, 10]


def sha256(x):
    import hashlib

    return hashlib.sha256(x).hexdigest()


def check_large_object(c):
    # Past 8 MiB a frame moves to its own mapping in the scheduler (transport::conn::large_frame): the
    # object must come back byte for byte, uploaded by the client and read by a worker, as an object and
    # as a plain argument.
    payload = os.urandom(24 << 20)
    want = hashlib.sha256(payload).hexdigest()
    ref = c.send_object(payload, name="large")
    assert c.submit(sha256, ref).result(timeout=60) == want
    assert c.submit(sha256, payload[: (12 << 20) + 5]).result(timeout=60) == hashlib.sha256(
        payload[: (12 << 20) + 5]
    ).hexdigest()


def check_exception(c):
    try:
        c.submit(boom, 7).result(timeout=30)
    except ValueError as e:
        assert "boom 7" in str(e), str(e)
    else:
        raise AssertionError("no exception raised")


def check_nested(c):
    assert c.submit(nested, 5).result(timeout=60) == sum(i * i for i in range(5))


def check_graph_failure(c):
    graph = {"a": 1, "b": (boom, "a"), "c": (inc, "b")}
    try:
        c.get(graph, keys=["c"])
    except ValueError as e:
        assert "boom 1" in str(e), str(e)
    else:
        raise AssertionError("graph failure did not propagate")


CHECKS = [
    check_submit,
    check_map,
    check_graph,
    check_cancel,
    check_send_object,
    check_large_object,
    check_exception,
    check_nested,
    check_graph_failure,
]


def check_metrics(c):
    """Scrape --metrics-address while the client is connected (only when METRICS_URL is set)."""
    import os
    import urllib.request

    url = os.environ.get("METRICS_URL")
    if not url:
        return "SKIP"  # not scaler-rs (e.g. the Python reference scheduler): no metrics endpoint
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    assert values['scaler_tasks_finished_total{state="success"}'] > 200, text
    assert values["scaler_workers"] == 2, text
    assert values["scaler_clients"] >= 1, text
    assert values['scaler_messages_total{direction="in",type="Task"}'] > 200, text
    assert values['scaler_messages_total{direction="out",type="TaskResult"}'] > 200, text
    assert 'scaler_loop_seconds_bucket{le="+Inf"}' in values, text
    assert text.endswith("# EOF\n"), text[-50:]


# The 2.9.0 client stops itself after a graph whose node raised (with the Python scheduler too), so
# graph_failure runs last.
CHECKS.insert(CHECKS.index(check_graph_failure), check_metrics)


def main():
    passed = failed = skipped = 0
    try:
        with deadline(CHECK_TIMEOUT_SECONDS, "connecting"):
            client = Client(address=ADDRESS, timeout_seconds=30)
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        print(f"FAIL connect: {type(e).__name__}: {e}", flush=True)
        print(f"0 passed, {len(CHECKS) + 1} failed", flush=True)
        return 1
    with client:
        for check in CHECKS:
            name = check.__name__[len("check_"):]
            start = time.time()
            try:
                with deadline(CHECK_TIMEOUT_SECONDS * (2 if check is check_nested else 1), name):
                    result = check(client)
                if result == "SKIP":
                    skipped += 1
                    print(f"SKIP {name}", flush=True)
                    continue
                passed += 1
                print(f"PASS {name} ({time.time() - start:.1f}s)", flush=True)
            except Exception as e:  # noqa: BLE001 - report every failure and go on
                failed += 1
                print(f"FAIL {name}: {type(e).__name__}: {e}", flush=True)
                traceback.print_exc()
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
