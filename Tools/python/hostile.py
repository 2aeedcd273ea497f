"""Longer hostile runs against a real engramd: a huge request line fed slowly, a thousand idle
connections, a client that floods requests and never reads. Checks that the daemon keeps
serving, that its memory stays bounded, and that nothing acknowledged is lost; prints its RSS.

    ENGRAM_BIN=.build/release python3 Tools/python/hostile.py [--line-mib 2048] [--line-seconds 0] [--idle 1000] [--flood 200000]

Exits non-zero on the first failed check.
"""

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from engram_client import Client  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("ENGRAM_BIN", os.path.join(ROOT, ".build", "release"))


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def check(condition: bool, what: str) -> None:
    print(("ok    " if condition else "FAIL  ") + what, flush=True)
    if not condition:
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--line-mib", type=int, default=2048, help="size of the overlong line (MiB)")
    parser.add_argument("--line-seconds", type=float, default=0, help="spread the line over this many seconds (fed slowly)")
    parser.add_argument("--idle", type=int, default=1000, help="idle connections to hold open")
    parser.add_argument("--flood", type=int, default=200000, help="requests sent by the client that never reads")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.idle + 256)), hard))
    work = tempfile.mkdtemp(prefix="engram-hostile-")
    db = os.path.join(work, "db")
    subprocess.run([os.path.join(BIN, "engram"), "init", "--db", db, "--dim", "4"], check=True, capture_output=True)
    daemon = subprocess.Popen([os.path.join(BIN, "engramd"), "--db", db], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = os.path.join(db, "run", "engramd.sock")
    try:
        while not os.path.exists(path):
            time.sleep(0.05)
        client = Client(socket_path=path, timeout=120)
        client.upsert([{"id": f"m{i}", "vector": [1, i, 0, 0]} for i in range(100)])
        start = rss_mib(daemon.pid)
        print(f"daemon RSS at start: {start:.1f} MiB", flush=True)

        # A line of --line-mib MiB, fed in 1 MiB pieces, then its newline.
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        piece = b"x" * (1 << 20)
        peak = start
        began = time.time()
        for i in range(args.line_mib):
            s.sendall(piece)
            if args.line_seconds > 0:
                time.sleep(max(0.0, began + args.line_seconds * (i + 1) / args.line_mib - time.time()))
            if i % 64 == 0:
                peak = max(peak, rss_mib(daemon.pid))
        s.sendall(b"\n")
        answer = json.loads(s.makefile("rb").readline())
        check(answer.get("error", {}).get("code") == "RESOURCE_EXHAUSTED",
              f"a {args.line_mib} MiB line ({time.time() - began:.1f} s) is RESOURCE_EXHAUSTED; peak RSS meanwhile {peak:.1f} MiB")
        check(peak - start < 64, "the daemon's memory grew by less than 64 MiB while it arrived")
        s.close()

        # Idle connections, then a normal call on a new one.
        idle = []
        for _ in range(args.idle):
            c = socket.socket(socket.AF_UNIX)
            c.connect(path)
            idle.append(c)
        with Client(socket_path=path, timeout=60) as other:
            check(other.health() == "SERVING", f"served beside {args.idle} idle connections (RSS {rss_mib(daemon.pid):.1f} MiB)")
        for c in idle:
            c.close()

        # A client that sends and never reads: the daemon stops reading it, for a call answered
        # by a task (Stats) and for one answered on the event loop (Get).
        def flood_until_stopped(request):
            """Sends `request` until the socket stays full for a second (a daemon that still
            reads drains it meanwhile); the socket, the count sent and whether it stopped."""
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            s.setblocking(False)
            sent = 0
            deadline = time.time() + 60
            while sent < args.flood and time.time() < deadline:
                try:
                    s.send(request)
                    sent += 1
                    continue
                except BlockingIOError:
                    pass
                time.sleep(1)
                try:
                    s.send(request)
                    sent += 1
                except BlockingIOError:
                    return s, sent, True
            return s, sent, False

        floods = []
        for name, request in [("Stats", b'{"id":1,"method":"engram.v1.Memory/Stats"}\n'),
                              ("Get", b'{"id":1,"method":"engram.v1.Memory/Get","params":{"id":"m1"}}\n')]:
            flood, sent, stopped = flood_until_stopped(request)
            floods.append(flood)
            check(stopped, f"a client sending {name} and never reading is stopped after {sent} requests (its socket still full a second later)")
        time.sleep(1)
        check(rss_mib(daemon.pid) - start < 64, f"memory stays bounded meanwhile (RSS {rss_mib(daemon.pid):.1f} MiB)")
        with Client(socket_path=path, timeout=60) as other:
            check(other.health() == "SERVING", "other clients are served meanwhile")
        for flood in floods:
            flood.close()

        # Nothing acknowledged was lost; the daemon is alive and well.
        time.sleep(0.5)
        check(client.stats()["memories"] == 100, "the 100 memories written first are all there")
        check(daemon.poll() is None, "engramd is still running")
        print(f"daemon RSS at the end: {rss_mib(daemon.pid):.1f} MiB", flush=True)
        client.close()
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
