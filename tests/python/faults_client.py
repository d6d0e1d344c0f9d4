"""Client used by faults.py. `work N`: N tasks of 1 s, checks every result. `hang N`: N long tasks plus a
stored object, then waits forever (to be killed)."""
import sys
import time

from scaler import Client


def work(x):
    time.sleep(1)
    return x * 2


def hang(x):
    time.sleep(600)
    return x


address, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Client(address=address) as c:
    if mode == "work":
        futures = [c.submit(work, i) for i in range(n)]
        assert [f.result(timeout=120) for f in futures] == [i * 2 for i in range(n)]
    else:
        ref = c.send_object(list(range(1000)), name="held")
        futures = [c.submit(hang, i) for i in range(n)]
        c.submit(len, ref)
        time.sleep(3600)
