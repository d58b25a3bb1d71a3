#!/usr/bin/env python3
"""Summarise a bench/run.sh results directory: per-pair figures, medians, ours/ref ratios,
the memcpy limit and the issue-3 targets. Prints a table; writes summary.json beside runs.csv.

usage: summarize.py RESULTS_DIR
"""
import csv
import json
import os
import statistics
import sys

NOISY_WAIT = 0.05  # fraction of wall time a process may wait for a CPU in a clean run

FIELDS = [  # column, label, unit, decimals
    ("mpps64", "64 B forwarded", "Mpps", 3),
    ("gbps1518", "1518 B forwarded", "Gbit/s", 2),
    ("mpps1518", "1518 B forwarded", "Mpps", 3),
    ("drop64", "drop rate 64 B", "", 6),
    ("drop1518", "drop rate 1518 B", "", 6),
    ("ns_pkt64", "backend CPU 64 B", "ns/pkt", 1),
    ("ns_pkt1518", "backend CPU 1518 B", "ns/pkt", 1),
    ("idle_cores", "backend CPU idle", "cores", 4),
    ("mpps25", "64 B at ~25% load", "Mpps", 3),
    ("load25", "  load / own peak", "", 2),
    ("ns_pkt25", "backend CPU at ~25%", "ns/pkt", 1),
    ("mpps64beside25", "64 B full, beside 25%", "Mpps", 3),
    ("ns_pkt64beside25", "backend CPU, beside it", "ns/pkt", 1),
    ("mpps64near", "64 B, 2 ports (again)", "Mpps", 3),
    ("ns_pkt64near", "backend CPU, 2 ports", "ns/pkt", 1),
    ("mpps64many", "64 B, 64 ports x 4 qp", "Mpps", 3),
    ("ns_pkt64many", "backend CPU, 64 ports", "ns/pkt", 1),
    ("bk_wait64", "backend waited (64 B)", "of wall", 3),
    ("fe_wait64", "frontend waited (64 B)", "of wall", 3),
    ("xcore_ns", "cache line CPU to CPU", "ns", 1),
]


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, d):
    return "na" if v is None else "%.*f" % (d, v)


def duels(out):
    """Whether run.sh measured the full-load windows as duels (machine.txt says so)."""
    try:
        with open(os.path.join(out, "machine.txt")) as f:
            return any(line.startswith("windows: duels") for line in f)
    except FileNotFoundError:
        return False


def slice_ratios(out, ours, ref, summary):
    """Slices taken between the same two probes, by the speed probed ("fast": within 20% of
    the run's fastest probe): ours/ref in Mpps at full load, and our ns/pkt at ~25% over
    ours at full load."""
    try:
        with open(os.path.join(out, "slices.csv")) as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        return
    fastest = min((num(r["xcore_ns"]) for r in rows if num(r["xcore_ns"])), default=None)
    if not fastest:
        return
    by = {}
    for r in rows:
        by.setdefault((r["pair"], r["duel"], r["size"], r["slice"]), {})[(r["backend"], r["load"])] = r
    groups = {}
    for (_, duel, size, _), ways in by.items():
        full, ref_full, low = ways.get((ours, "full")), ways.get((ref, "full")), ways.get((ours, "25"))
        x = num((full or low or ref_full or {}).get("xcore_ns"))
        speed = "fast" if x and x <= 1.2 * fastest else "slow"
        if duel == "backends" and full and ref_full and num(ref_full["mpps"]):
            groups.setdefault(("%s B ours/ref Mpps" % size, speed), []).append(
                num(full["mpps"]) / num(ref_full["mpps"]))
        if duel == "load" and full and low and num(full["ns_pkt"]):
            groups.setdefault(("64 B ours ns/pkt ~25%/full", speed), []).append(
                num(low["ns_pkt"]) / num(full["ns_pkt"]))
    summary["slice_ratios"] = {"%s, %s" % k: v for k, v in groups.items()}
    print("  slices taken between the same probes, by the speed probed (fast: within 20%% of "
          "%.1f ns):" % fastest)
    for what in sorted({k[0] for k in groups}, key=lambda w: (len(w.split()[0]), w)):
        print("    %-27s %s" % (what + ":", "; ".join(
            "%s %d, median %s (%s-%s)" % (speed, len(v), fmt(median(v), 2), fmt(min(v), 2),
                                          fmt(max(v), 2))
            for speed in ("fast", "slow") for v in [groups.get((what, speed))] if v)))


def main():
    out = sys.argv[1]
    in_duels = duels(out)
    with open(os.path.join(out, "runs.csv")) as f:
        rows = list(csv.DictReader(f))
    backends = []
    for r in rows:
        if r["backend"] not in backends:
            backends.append(r["backend"])
    ours = next((b for b in backends if b.startswith("ours")), None)
    ref = "ref" if "ref" in backends else None

    memcpy = {}
    try:
        with open(os.path.join(out, "memcpy.txt")) as f:
            for line in f:
                kv = dict(x.split("=", 1) for x in line.split())
                memcpy["%s_%s" % (kv["set"], kv["size"])] = {
                    "mcopy_per_s": float(kv["mcopy_per_s"]),
                    "gbyte_per_s": float(kv["gbyte_per_s"]),
                }
    except FileNotFoundError:
        pass

    summary = {"backends": {}, "ratios_ours_over_ref": {}, "memcpy": memcpy, "pairs": []}
    for b in backends:
        summary["backends"][b] = {
            k: median([num(r.get(k)) for r in rows if r["backend"] == b]) for k, *_ in FIELDS
        }
    if ours and ref:
        for k, *_ in FIELDS:
            o, r_ = summary["backends"][ours][k], summary["backends"][ref][k]
            summary["ratios_ours_over_ref"][k] = (o / r_) if o is not None and r_ else None
    pairs = sorted({int(r["pair"]) for r in rows})
    for p in pairs:
        pr = {r["backend"]: r for r in rows if int(r["pair"]) == p}
        entry = {"pair": p}
        for b, r in pr.items():
            entry[b] = {k: num(r.get(k)) for k, *_ in FIELDS}
        if ours in pr and ref in pr:
            for k in ("mpps64", "gbps1518", "ns_pkt64"):
                o, r_ = num(pr[ours][k]), num(pr[ref][k])
                entry["ratio_" + k] = (o / r_) if o is not None and r_ else None
        summary["pairs"].append(entry)

    # per-pair lines
    print("per pair (ours then ref in each pair):")
    print("%-5s %-13s %9s %10s %10s %10s %9s %8s %9s" % (
        "pair", "backend", "64B Mpps", "1518B Gb/s", "ns/pkt 64", "ns/pkt 25%", "load 25%", "idle",
        "xcore ns"))
    for r in rows:
        print("%-5s %-13s %9s %10s %10s %10s %9s %8s %9s" % (
            r["pair"], r["backend"], fmt(num(r["mpps64"]), 3), fmt(num(r["gbps1518"]), 2),
            fmt(num(r["ns_pkt64"]), 1), fmt(num(r["ns_pkt25"]), 1), fmt(num(r["load25"]), 2),
            fmt(num(r["idle_cores"]), 3), fmt(num(r.get("xcore_ns")), 1)))
    for e in summary["pairs"]:
        if "ratio_mpps64" in e:
            print("pair %d ratio ours/ref: 64B %s, 1518B %s, ns/pkt 64B %s" % (
                e["pair"], fmt(e["ratio_mpps64"], 3), fmt(e["ratio_gbps1518"], 3),
                fmt(e["ratio_ns_pkt64"], 3)))
    # In a duel (run.sh's default) the two sides' full-load windows alternate slice by slice,
    # so a pair's ratios compare the same stretch of the machine's speed by construction.
    # Sequential runs: the pairs whose two runs started at the same speed (xcore-probe within
    # 20%) compare the backends, not the machine's two speeds.
    if in_duels:
        print("full-load windows are duels: ours' and ref's slices alternate, ratios per pair "
              "compare the same stretch of time")
        pair_ratios = [e for e in summary["pairs"] if "ratio_mpps64" in e]
        for k, label in (("ratio_mpps64", "64B"), ("ratio_gbps1518", "1518B")):
            v = median([e[k] for e in pair_ratios])
            summary["median_pair_" + k] = v
            print("  median of the pairs' ratios ours/ref, %s: %s" % (label, fmt(v, 3)))
        slice_ratios(out, ours, ref, summary)
    same = []
    for e in summary["pairs"]:
        xo = (e.get(ours) or {}).get("xcore_ns")
        xr = (e.get(ref) or {}).get("xcore_ns")
        if "ratio_mpps64" in e and xo and xr and max(xo, xr) <= 1.2 * min(xo, xr):
            same.append(e)
    summary["same_speed_pairs"] = [e["pair"] for e in same]
    if ours and ref and not in_duels and any(num(r.get("xcore_ns")) for r in rows):
        print("pairs started at the same speed (xcore within 20%%): %s" % (
            ", ".join(str(e["pair"]) for e in same) or "none"))
        for k, label in (("ratio_mpps64", "64B"), ("ratio_gbps1518", "1518B")):
            v = median([e[k] for e in same])
            summary["same_speed_median_" + k] = v
            if same:
                print("  median ratio ours/ref over them, %s: %s" % (label, fmt(v, 3)))

    # Targets 4 and 5 compare two of our own windows of one run. The harness probes the speed
    # right before each of our windows (xcore64, xcore25, xcore64near, xcore64many): a run
    # whose two windows started at the same speed (within 20%) prices the change of load, not
    # of the machine. Target 5's 2-port window is the one right before the many-ports window
    # (results before it had none: then the run's first 64 B window).
    def own_ratios(key, xkey, base, xbase, same_speed, fallback=True):
        ratios = []
        for r in rows:
            if r["backend"] != ours:
                continue
            b_, x_ = (base, xbase) if num(r.get(base)) or not fallback else ("ns_pkt64", "xcore64")
            a, b = num(r.get(x_)), num(r.get(xkey))
            n0, nk = num(r.get(b_)), num(r.get(key))
            if n0 and nk and (not same_speed or (a and b and max(a, b) <= 1.2 * min(a, b))):
                ratios.append(nk / n0)
        return {"runs": len(ratios), "ratios": ratios, "median": median(ratios)}

    own_same = {
        "ns_pkt25": own_ratios("ns_pkt25", "xcore25", "ns_pkt64", "xcore64", True),
        "ns_pkt64many": own_ratios("ns_pkt64many", "xcore64many", "ns_pkt64near", "xcore64near", True),
    }
    own_next = {"ns_pkt64many": own_ratios("ns_pkt64many", "xcore64many", "ns_pkt64near",
                                           "xcore64near", False, fallback=False),
                "ns_pkt25": own_ratios("ns_pkt25", "xcore25", "ns_pkt64beside25", "xcore25",
                                       False, fallback=False)}
    summary["own_same_speed"] = own_same
    summary["own_run_by_run"] = own_next
    if ours and any(num(r.get("xcore64")) for r in rows if r["backend"] == ours):
        print("%s windows, speed probed before each (64B/25%%/1518B/2 ports again/64 ports, "
              "ns a line):" % ours)
        for r in rows:
            if r["backend"] == ours:
                print("  pair %s: %s" % (r["pair"], " / ".join(
                    fmt(num(r.get(k)), 1)
                    for k in ("xcore64", "xcore25", "xcore1518", "xcore64near", "xcore64many"))))

    # medians
    print()
    print("medians over %d pair(s):" % len(pairs))
    hdr = "%-24s %-8s" % ("figure", "unit") + "".join(" %13s" % b for b in backends)
    if ours and ref:
        hdr += " %10s" % "ours/ref"
    print(hdr)
    for k, label, unit, d in FIELDS:
        line = "%-24s %-8s" % (label, unit)
        line += "".join(" %13s" % fmt(summary["backends"][b][k], d) for b in backends)
        if ours and ref:
            line += " %10s" % fmt(summary["ratios_ours_over_ref"].get(k), 3)
        print(line)
    print("(backend CPU seconds per million packets = ns/pkt / 1000)")
    if memcpy:
        print()
        print("memcpy limit, one core (glibc memcpy, CPU time):")
        for key, v in memcpy.items():
            s, size = key.split("_")
            print("  %-4s %5s B copies: %7.1f Mcopy/s  %6.2f GB/s" % (
                s, size, v["mcopy_per_s"], v["gbyte_per_s"]))

    # issue 3 targets, only when both were measured
    if ours and ref:
        bo, rt = summary["backends"][ours], summary["ratios_ours_over_ref"]
        def same_speed(key, limit):
            v = own_same.get(key, {})
            return ("  same speed, run by run (median), %d run(s)" % v.get("runs", 0),
                    v.get("median"), lambda x: x <= limit)

        def pair_ratios(key, limit):
            return ("  median of the pairs' ratios, %d duel(s)" % len(summary["pairs"]),
                    summary.get("median_pair_ratio_" + key), lambda v: v >= limit)

        checks = [
            ("64 B >= 1.2x reference", rt.get("mpps64"), lambda v: v >= 1.2),
            *([pair_ratios("mpps64", 1.2)] if in_duels else []),
            ("1518 B >= 1.5x reference", rt.get("gbps1518"), lambda v: v >= 1.5),
            *([pair_ratios("gbps1518", 1.5)] if in_duels else []),
            ("idle <= 0.01 cores", bo.get("idle_cores"), lambda v: v <= 0.01),
            ("ns/pkt at ~25% <= 1.3x own full load",
             (bo["ns_pkt25"] / bo["ns_pkt64"]) if bo.get("ns_pkt25") and bo.get("ns_pkt64") else None,
             lambda v: v <= 1.3),
            # since the 25% slices alternate with full-load ones (duels), priced against those
            (("  full load beside it, run by run (median), %d run(s)"
              % own_next["ns_pkt25"]["runs"], own_next["ns_pkt25"]["median"], lambda v: v <= 1.3)
             if own_next["ns_pkt25"]["runs"] else same_speed("ns_pkt25", 1.3)),
            ("ns/pkt 64 ports x 4 qp <= 1.2x 2 ports",
             (bo["ns_pkt64many"] / bo["ns_pkt64"]) if bo.get("ns_pkt64many") and bo.get("ns_pkt64") else None,
             lambda v: v <= 1.2),
            ("  2 ports just before, run by run (median), %d run(s)"
             % own_next["ns_pkt64many"]["runs"], own_next["ns_pkt64many"]["median"],
             lambda v: v <= 1.2),
            same_speed("ns_pkt64many", 1.2),
        ]
        # A backend or frontend that waited for a CPU means another process took its core:
        # then the figures measure the machine's load as much as the backends.
        waits = [summary["backends"][b][k] for b in backends for k in ("bk_wait64", "fe_wait64")]
        worst = max((w for w in waits if w is not None), default=0.0)
        noisy = worst > NOISY_WAIT
        summary["noisy"] = {"worst_median_wait": worst, "threshold": NOISY_WAIT, "noisy": noisy}
        print()
        if noisy:
            print("WARNING: busy machine: a median CPU wait of %.2f of wall time (threshold %.2f);"
                  % (worst, NOISY_WAIT))
            print("         the verdicts below are not reliable, rerun on quiet cores.")
        print("issue 3 targets (%s):" % ours)
        summary["targets"] = {}
        for name, v, ok in checks:
            res = "not measured" if v is None else ("met" if ok(v) else "MISSED")
            if noisy and v is not None:
                res += " (noisy run)"
            summary["targets"][name] = {"value": v, "result": res}
            print("  %-40s %8s  %s" % (name, fmt(v, 3), res))

    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
