#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A stand-in for systemd's notify socket: binds a datagram socket with SO_PASSCRED, as the
manager does, and writes one line per datagram to stdout:
    SECONDS_MONOTONIC PID field1|field2|...
(fields of the message, newlines replaced by '|'; PID from the kernel's SCM_CREDENTIALS).

usage: fake-notify.py ADDRESS     ADDRESS: /path, or @name for the abstract namespace
Prints "listening" first, then runs until killed.
"""
import os
import socket
import struct
import sys
import time


def main():
    addr = sys.argv[1]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    if addr.startswith("@"):
        s.bind("\0" + addr[1:])
    else:
        if os.path.exists(addr):
            os.unlink(addr)
        s.bind(addr)
    print("listening", flush=True)
    creds_len = struct.calcsize("3i")
    while True:
        data, anc, _flags, _addr = s.recvmsg(4096, socket.CMSG_SPACE(creds_len))
        pid = 0
        for level, typ, payload in anc:
            if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                pid = struct.unpack("3i", payload[:creds_len])[0]
        text = data.decode("utf-8", "replace").replace("\n", "|")
        print("%.3f %d %s" % (time.monotonic(), pid, text), flush=True)


if __name__ == "__main__":
    main()
