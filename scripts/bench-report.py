#!/usr/bin/env python3
"""The table of scripts/bench.sh from its results folder.

    bench-report.py RESULTS [--update-docs docs/benchmarks.md]

Prints the table (markdown) with the machine, writes RESULTS/results.md, and with
--update-docs replaces what lies between the bench-table markers of that file.
"""
import json
import os
import re
import sys

MIB = 1024 * 1024
KIB = 1024
RSS_TARGET_MIB = 16
READ_FACTOR = 1.05
READ_PER_FILE = 64 * KIB
BACKLOG_SHARE = 0.80
RCLONE_RATIO = 1.0
PLAN_TARGET_MS = 50
MEASURE_RATIO = 20


def load(results, name):
    path = os.path.join(results, name)
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return None
    with open(path) as f:
        return json.load(f)


def mb(n):
    return f"{n / 1e6:,.1f} MB"


def verdict(ok):
    return "**pass**" if ok else "**FAIL**"


def cpu_text(r, bytes_):
    cpu = r["user_s"] + r["sys_s"]
    return (f"{cpu:.2f} s CPU (user {r['user_s']:.2f} + sys {r['sys_s']:.2f}) in {r['wall_s']:.2f} s wall"
            f" = {cpu * 1e3 / (bytes_ / 1e6):.1f} ms CPU per archived MB")


def job_rows(results, name, label, rows, rss=True, reads=True):
    r = load(results, f"{name}.json")
    d = load(results, f"{name}.data.json")
    if r is None:
        return None
    s = r.get("summary")
    if r["exit"] != 0 or s is None:
        rows.append((label, f"job exited {r['exit']} (see {name}.log)", "", "", verdict(False)))
        return r
    archived, bytes_, seen = s["archived"], s["bytes"], s["seen"]
    what = f"{archived} archived ({mb(bytes_)}), {seen} files seen"
    if d:
        what += f", {d['segment_bytes'] / 1e6:.1f} MB each"
    if rss:
        own, gnu = s.get("peak_rss_kib"), r.get("maxrss_kib")
        figures = [k for k in (own, gnu) if k]
        worst = max(figures) / 1024 if figures else float("inf")
        text = f"{own / 1024:.1f} MiB (its VmHWM)" if own else "no VmHWM in the summary"
        if gnu:
            text += f"; GNU time {gnu / 1024:.1f} MiB"
        rows.append((f"Peak RSS, {label}: {what}", text,
                     f"≤ {RSS_TARGET_MIB} MiB", "", verdict(worst <= RSS_TARGET_MIB)))
        if bytes_:
            rows.append((f"CPU, {label}", cpu_text(r, bytes_), "", "", ""))
    if reads:
        allowed = READ_FACTOR * bytes_ + READ_PER_FILE * seen
        if "folder_read_bytes" in r:
            read, how = r["folder_read_bytes"], f"read from the folder (strace, {r['folder_read_calls']} reads of {r['folder_files_read']} files)"
        else:
            read, how = r["rchar"], "read, rchar (upper bound)"
        ratio = read / bytes_ if bytes_ else float("inf")
        rows.append((f"Bytes read, {label}", f"{mb(read)} {how} = {ratio:.2f} × archived",
                     f"≤ 1.05 × archived + 64 KiB × {seen} = {mb(allowed)}", "",
                     verdict(read <= allowed)))
    return r


def backlog_rows(results, suffix, label, rows):
    raw = load(results, f"raw{suffix}.json")
    back = job_rows(results, f"backlog{suffix}", label, rows)
    bd = load(results, f"backlog{suffix}.data.json")
    rc = load(results, f"rclone{suffix}.json")
    if back and back.get("summary") and back["exit"] == 0:
        s = back["summary"]
        job_mbps = s["bytes"] / 1e6 / back["wall_s"]
        per = f"{bd['files'] // 2} × {bd['segment_seconds']:.0f}-s segments per replica" if bd else ""
        what = f"{per}, {s['archived']} archived ({mb(s['bytes'])}) in {back['wall_s']:.2f} s (whole run)"
        if rc:
            if rc["exit"] == 0:
                rc_mbps = s["bytes"] / 1e6 / rc["wall_s"]
                ratio = job_mbps / rc_mbps
                version = ""
                vpath = os.path.join(results, "rclone.version")
                if os.path.exists(vpath):
                    version = open(vpath).read().strip() + ", "
                rows.append((f"Backlog speed against rclone, {label}: {what}",
                             f"{job_mbps:.1f} MB/s = {ratio:.2f}× rclone",
                             f"≥ {RCLONE_RATIO:.1f}× rclone",
                             f"`rclone copy` of the same files ({version}default settings): {rc['wall_s']:.2f} s = "
                             f"{rc_mbps:.1f} MB/s, {cpu_text(rc, s['bytes'])}",
                             verdict(ratio >= RCLONE_RATIO)))
            else:
                rows.append((f"Backlog speed against rclone, {label}", f"rclone exited {rc['exit']} (see rclone{suffix}.log)", "", "", verdict(False)))
        if raw:
            for mode, ref, target in (("put", "plain single-request Put Blobs", BACKLOG_SHARE),
                                        ("blocks", "raw block uploads (`put_file`, 4 MiB blocks)", None)):
                levels = [l for l in raw["levels"] if l.get("mode", "blocks") == mode]
                if not levels:
                    continue
                best = max(levels, key=lambda l: l["mbps"])
                share = job_mbps / best["mbps"]
                by = ", ".join(f"{l['concurrency']}: {l['mbps']:.0f}" for l in levels)
                rows.append((f"Backlog speed against {ref}: {per}",
                             f"{job_mbps:.1f} MB/s = {share:.2f}× the reference",
                             f"≥ {target:.1f}× the reference = {best['mbps'] * target:.1f} MB/s" if target else "",
                             f"{raw['files']} files: {best['mbps']:.1f} MB/s (best; MB/s by files at a time: {by})",
                             verdict(share >= target) if target else ""))


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    results = args[0]
    docs = args[args.index("--update-docs") + 1] if "--update-docs" in args else None
    m = load(results, "machine.json") or {}
    rows = []

    plan = load(results, "plan.json")
    if plan:
        for name, e in sorted(plan.items()):
            rows.append((f"Planning: `selection::plan`, {name} (criterion mean)",
                         f"{e['mean_ms']:.1f} ms (95 % CI {e['mean_lo_ms']:.1f}–{e['mean_hi_ms']:.1f}; median {e['median_ms']:.1f})",
                         f"≤ {PLAN_TARGET_MS} ms", "", verdict(e["mean_ms"] <= PLAN_TARGET_MS)))

    meas = load(results, "measure.json")
    if meas:
        rows.append((f"Measuring audio: frame counting, {meas['files']} page-cached files ({mb(meas['bytes'])}), best of rounds",
                     f"{meas['scan_mbps']:,.0f} MB/s = {meas['ratio']:.0f}× ffprobe",
                     f"≥ {MEASURE_RATIO}× ffprobe",
                     f"`ffprobe -count_packets`: {meas['ffprobe_mbps']:.1f} MB/s",
                     verdict(meas["ratio"] >= MEASURE_RATIO)))

    mem = sorted((f[:-5] for f in os.listdir(results) if f.startswith("mem-") and f.endswith(".json")
                  and not f.endswith(".data.json")),
                 key=lambda n: (int(n[4:].split("x")[1]), int(n[4:].split("x")[0])))
    for name in mem:
        n, s = name[4:].split("x")
        job_rows(results, name, f"{n} × {s}-s segments per replica", rows)
    for name in sorted(f[:-5] for f in os.listdir(results) if f.startswith("strace-") and f.endswith(".json")
                       and not f.endswith(".data.json")):
        n, s = name[7:].split("x")
        job_rows(results, name, f"{n} × {s}-s segments per replica", rows, rss=False)

    helped = load(results, "help.json")
    if helped and helped.get("maxrss_kib"):
        mib = helped["maxrss_kib"] / 1024
        rows.append(("Peak RSS, `segment-selector --help` (the binary's floor, GNU time)", f"{mib:.1f} MiB",
                     f"≤ {RSS_TARGET_MIB} MiB", "", verdict(mib <= RSS_TARGET_MIB)))
    empty = load(results, "empty.json")
    if empty and empty.get("summary"):
        first = load(results, "empty-first.json")
        ref = f"first run on a new stream (creates container, table, lock): {first['wall_s']:.2f} s" if first else ""
        rows.append(("Fixed cost: a run over an empty folder, stream already set up (whole process)",
                     f"{empty['wall_s']:.3f} s wall, {empty['user_s'] + empty['sys_s']:.3f} s CPU", "", ref, ""))

    # The backlog cases, smallest first: backlog-N.json (older runs: backlog.json).
    cases = sorted((int(f[8:-5]) for f in os.listdir(results)
                    if re.fullmatch(r"backlog-\d+\.json", f)))
    names = [(f"-{n}", f"backlog of {n}") for n in cases] or [("", "backlog")]
    for suffix, label in names:
        backlog_rows(results, suffix, label, rows)

    head = ("| figure | measured | target | reference (same run) | result |\n"
            "|---|---|---|---|---|\n")
    table = head + "".join(f"| {' | '.join(r)} |\n" for r in rows)
    machine = (f"Measured {m.get('date', '?')} on {m.get('nproc', '?')} × {m.get('model', '?')}, "
               f"{m.get('mem_gib', '?')} GiB, Linux {m.get('kernel', '?')} (load average {m.get('load', 0):.1f} at the start); "
               f"job at {m.get('commit', '?')}{' with uncommitted changes in crates/' if m.get('dirty') else ''}; "
               f"{m.get('ffprobe', '').split(' Copyright')[0]}.")
    text = machine + "\n\n" + table
    print("\n" + text)
    with open(os.path.join(results, "results.md"), "w") as f:
        f.write(text)
    if docs:
        begin, end = "<!-- bench-table:begin -->", "<!-- bench-table:end -->"
        doc = open(docs).read()
        if begin not in doc or end not in doc:
            sys.exit(f"{docs} has no {begin} … {end} markers")
        pre, rest = doc.split(begin, 1)
        _, post = rest.split(end, 1)
        with open(docs, "w") as f:
            f.write(pre + begin + "\n" + text + end + post)
        print(f"(table written to {docs})", file=sys.stderr)


if __name__ == "__main__":
    main()
