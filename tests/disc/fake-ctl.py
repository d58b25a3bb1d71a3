#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A stand-in for the vhost-user-lb control socket (docs/usage.md protocol), for hook tests.

    fake-ctl.py --ctl PATH --log FILE [--backend none|testpmd] [--refuse] [--hang]

Answers status / port-add / port-del / port-list, one JSON object per line, and appends every
request with a CLOCK_MONOTONIC stamp to FILE (JSON lines) so a test can check what the hook
sent and when. On port-add in server mode it creates the socket at "path" with the requested
"group"/"perm":
  --backend none     a plain listening unix socket (enough to see ownership and ordering)
  --backend testpmd  dpdk-testpmd's vhost PMD serves the socket, so a real QEMU can attach
                     (used by the e2e test until the daemon itself runs)
--refuse answers every port-add with ok:false; --hang never answers (timeout tests).
"""

import argparse
import grp
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

ports = {}  # name -> dict(path, mode, queues, proc, sock)
lock = threading.Lock()


def log_req(path, req, extra=None):
    rec = {"t": time.monotonic(), "req": req}
    if extra:
        rec.update(extra)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec) + "\n")


def apply_owner(path, req):
    extra = {}
    if "group" in req:
        try:
            os.chown(path, -1, grp.getgrnam(req["group"]).gr_gid)
        except (KeyError, PermissionError) as e:
            extra["chown_error"] = str(e)
    if "perm" in req:
        os.chmod(path, int(req["perm"], 8))
    return extra


def start_backend(args, req):
    path = req["path"]
    if os.path.exists(path):
        os.unlink(path)
    if args.backend == "testpmd":
        q = int(req.get("queues", 1))
        prefix = "fakectl-%d-%s" % (os.getpid(), req["name"])
        # main lcore mostly sleeps, the forwarding lcore polls: both on one host CPU
        cmd = ["dpdk-testpmd", "--lcores", "0@%s,1@%s" % (args.testpmd_cpu, args.testpmd_cpu),
               "--no-pci", "--no-huge", "-m", "256", "--no-shconf", "--file-prefix", prefix, "--vdev", "net_vhost0,iface=%s,queues=%d" % (path, q),
               "--", "--nb-cores=1", "--rxq=%d" % q, "--txq=%d" % q,
               "--total-num-mbufs=16384", "--forward-mode=io", "--stats-period", "0"]
        out = open(args.log + "." + req["name"] + ".testpmd.log", "w", encoding="utf-8")
        # stdin stays open and silent: testpmd exits on EOF ("Press enter to exit")
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        for _ in range(300):
            if os.path.exists(path) or proc.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.exists(path):
            proc.kill()
            return None, "testpmd did not create %s" % path
        return {"proc": proc}, None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(4)
    return {"sock": s}, None


def stop_backend(p):
    if p.get("proc"):
        p["proc"].send_signal(signal.SIGINT)
        try:
            p["proc"].wait(5)
        except subprocess.TimeoutExpired:
            p["proc"].kill()
            p["proc"].wait()
    if p.get("sock"):
        p["sock"].close()
    if p.get("path") and os.path.exists(p["path"]) and p.get("mode") == "server":
        os.unlink(p["path"])


def handle(args, req):
    cmd = req.get("cmd")
    if cmd == "status":
        return {"ok": True, "version": "fake", "uptime_s": 0, "ports": len(ports)}
    if cmd == "port-list":
        return {"ok": True, "ports": [{"name": n, "path": p["path"], "mode": p["mode"],
                                       "state": "listening", "queues": p["queues"]}
                                      for n, p in ports.items()]}
    if cmd == "port-add":
        if args.refuse:
            return {"ok": False, "error": "refused by test"}
        name, path = req.get("name"), req.get("path")
        if not name or not path or name in ports:
            return {"ok": False, "error": "bad or duplicate port"}
        p = {"path": path, "mode": req.get("mode", "server"), "queues": req.get("queues", 8)}
        extra = {}
        if p["mode"] == "server":
            be, err = start_backend(args, req)
            if err:
                return {"ok": False, "error": err}
            p.update(be)
            extra = apply_owner(path, req)
        ports[name] = p
        if extra:
            return {"ok": True, **extra}
        return {"ok": True}
    if cmd == "port-del":
        p = ports.pop(req.get("name"), None)
        if not p:
            return {"ok": False, "error": "no such port"}
        stop_backend(p)
        return {"ok": True}
    return {"ok": False, "error": "unknown command"}


def serve_conn(args, conn):
    with conn:
        f = conn.makefile("rwb")
        for line in f:
            try:
                req = json.loads(line)
            except ValueError:
                req = {"cmd": "?"}
            with lock:
                log_req(args.log, req)
                if args.hang:
                    time.sleep(3600)
                ans = handle(args, req)
                if req.get("cmd") == "port-add" and ans.get("ok"):
                    st = os.stat(req["path"]) if os.path.exists(req["path"]) else None
                    log_req(args.log, {"cmd": "port-added", "name": req["name"]},
                            {"exists": st is not None,
                             "gid": st.st_gid if st else None,
                             "mode": oct(st.st_mode & 0o777) if st else None})
            f.write((json.dumps(ans) + "\n").encode())
            f.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ctl", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--backend", default="none", choices=("none", "testpmd"))
    ap.add_argument("--testpmd-cpu", default="1")
    ap.add_argument("--refuse", action="store_true")
    ap.add_argument("--hang", action="store_true")
    args = ap.parse_args()
    if os.path.exists(args.ctl):
        os.unlink(args.ctl)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(args.ctl)
    srv.listen(16)

    def bye(*_):
        # no lock: a --hang request holds it forever
        for p in list(ports.values()):
            stop_backend(p)
        os._exit(0)

    signal.signal(signal.SIGTERM, bye)
    signal.signal(signal.SIGINT, bye)
    print("fake-ctl ready", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve_conn, args=(args, conn), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
