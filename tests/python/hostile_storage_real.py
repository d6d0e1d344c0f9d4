"""A hostile object storage link with the real 2.9.0 peers (issue 10's "must show").

A proxy stands in front of the real `scaler_object_storage_server`. Its first three connections (the
scheduler's link, which connects before any peer) get a YMQ handshake followed by a frame header with a
length of 2^64-1, then 2^45, then a short frame of garbage; every later connection is proxied to the
real server. scaler-rs must close each bad link with a logged reason, reconnect, stay up, and serve the
real client and native workers through it: a submit, a map and a send_object, checked for their values.

usage: python hostile_storage_real.py SCALER_RS_BINARY     (exit 0 when every check passed)
"""

import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from scaler import Client

from harness import free_port, wait_port

HOSTILE = [
    struct.pack("<Q", 2**64 - 1),
    struct.pack("<Q", 2**45),
    struct.pack("<Q", 16) + b"\xde\xad\xbe\xef" * 4,
]


def handshake(identity: bytes) -> bytes:
    return b"YMQ\x02" + struct.pack("<Q", len(identity)) + identity


def pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(1 << 16)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def proxy(listener: socket.socket, real_port: int, served: list) -> None:
    while True:
        conn, _ = listener.accept()
        n = len(served)
        served.append(n)
        if n < len(HOSTILE):
            conn.sendall(handshake(b"hostile-storage") + HOSTILE[n])
            threading.Thread(target=lambda c=conn: (time.sleep(30), c.close()), daemon=True).start()
            continue
        upstream = socket.create_connection(("127.0.0.1", real_port))
        threading.Thread(target=pipe, args=(conn, upstream), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, conn), daemon=True).start()


def main() -> int:
    binary = sys.argv[1]
    venv_bin = os.path.dirname(sys.executable)
    real_port, proxy_port, port = free_port(), free_port(), free_port(3)
    procs = []
    log = tempfile.NamedTemporaryFile(prefix="hostile-storage-", suffix=".log", delete=False).name
    try:
        procs.append(subprocess.Popen([f"{venv_bin}/scaler_object_storage_server", f"tcp://127.0.0.1:{real_port}"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_port(real_port)
        listener = socket.create_server(("127.0.0.1", proxy_port))
        served: list = []
        threading.Thread(target=proxy, args=(listener, real_port, served), daemon=True).start()
        sched = subprocess.Popen([binary, f"tcp://127.0.0.1:{port}", "--object-storage-address",
                                  f"tcp://127.0.0.1:{proxy_port}", "--logging-paths", log],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(sched)
        wait_port(port)
        deadline = time.time() + 30
        while len(served) <= len(HOSTILE) and time.time() < deadline:
            time.sleep(0.2)
        print(f"storage link connections so far: {len(served)} (first {len(HOSTILE)} hostile)")
        procs.append(subprocess.Popen([f"{venv_bin}/scaler_worker_manager", "baremetal_native", "--mode", "fixed",
                                       "--max-task-concurrency", "2", "--worker-manager-id", "wm-hostile",
                                       f"tcp://127.0.0.1:{port}"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        with Client(address=f"tcp://127.0.0.1:{port}") as client:
            submit_ok = client.submit(pow, 3, 4).result(timeout=60) == 81
            map_ok = client.map(abs, [-i for i in range(100)]) == list(range(100))
            ref = client.send_object(list(range(1000)))
            obj_ok = client.submit(sum, ref).result(timeout=60) == sum(range(1000))
        alive = sched.poll() is None
        text = open(log).read()
        closes = [line for line in text.splitlines() if "storage" in line.lower() and ("clos" in line.lower())]
        print(f"submit {'ok' if submit_ok else 'WRONG'}, map {'ok' if map_ok else 'WRONG'}, "
              f"send_object {'ok' if obj_ok else 'WRONG'}; scheduler {'alive' if alive else 'DEAD'}")
        print(f"{len(closes)} logged storage-link closes, e.g.:")
        for line in closes[:3]:
            print("   ", line[:200])
        ok = submit_ok and map_ok and obj_ok and alive and len(closes) >= len(HOSTILE)
        print("hostile storage with real peers:", "PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        for p in reversed(procs):
            try:
                os.killpg(p.pid, 9) if p.args[0].endswith("scaler_worker_manager") else p.kill()
            except (OSError, ProcessLookupError):
                pass


if __name__ == "__main__":
    sys.exit(main())
