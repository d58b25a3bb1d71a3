#!/usr/bin/python3
"""Scrape vhost-user-lb's metrics endpoint and parse it with prometheus_client's real parser.

usage: scrape-metrics.py UNIX_SOCKET_PATH
Prints one line per sample: NAME LABEL=VALUE,... VALUE. Exits 1 if the text does not parse.
"""
import socket
import sys

from prometheus_client.parser import text_string_to_metric_families


def scrape(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.0 200"):
        raise SystemExit("bad response: %r" % head[:80])
    return body.decode()


def main():
    text = scrape(sys.argv[1])
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            labels = ",".join("%s=%s" % kv for kv in sorted(s.labels.items()))
            print("%s %s %s" % (s.name, labels or "-", repr(float(s.value))))


if __name__ == "__main__":
    main()
