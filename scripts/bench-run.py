#!/usr/bin/env python3
"""Run one command (a job run) and measure it (scripts/bench.sh).

    bench-run.py OUT.json LOG [--strace FOLDER] -- COMMAND...

The command runs under GNU time (`/usr/bin/time -f %M`), which forks it from a small process
(about 1 MiB), so its peak RSS is its own. Measured, without touching the command:
- wall time;
- peak RSS as GNU time reports it (`maxrss_kib`). Not ru_maxrss of a child spawned from
  here: a vforked-and-exec'ed child's ru_maxrss includes this Python's peak at exec. The job
  also reports its own (`peak_rss_kib` in its run summary, VmHWM of /proc/self/status);
- CPU time, user and system: wait4's rusage of GNU time, which includes the command it waited
  for (GNU time's own share is a millisecond or two);
- rchar and read_bytes from /proc/PID/io of GNU time, read while it is still a zombie
  (waitid with WNOWAIT), so nothing is missed: a process's counters include its reaped
  children's, so this is the command's plus GNU time's few kB. rchar is every byte read()
  returned: files, /proc, /etc; socket reads through recv() are not in it. read_bytes is
  what came from the disk (0 when the files are page-cached);
- with --strace FOLDER, the command runs under `strace -f -y` and the bytes returned by
  read/pread/readv on file descriptors of files in FOLDER are summed: exactly the bytes read
  from the stream folder. (strace slows the run, so its time and RSS mean nothing then.)

The command's stderr goes to LOG; if it logs JSON (LOG_FORMAT=json), the job's
"run summary" line is copied into OUT.
"""
import json
import os
import re
import subprocess
import sys
import time


def folder_reads(trace, folder):
    folder = os.path.realpath(folder).rstrip("/") + "/"
    # 123 read(7</f/a.mp3>, "..."..., 65536) = 65536
    # 123 read(7</f/a.mp3>,  <unfinished ...>    then    123 <... read resumed>..., 65536) = 65536
    start = re.compile(r"^(\d+)\s+(read|pread64|readv|preadv|preadv2)\(\d+<([^>]*)>")
    resumed = re.compile(r"^(\d+)\s+<\.\.\. (read|pread64|readv|preadv|preadv2) resumed>")
    result = re.compile(r"\)\s+=\s+(-?\d+)")
    pending = {}
    total = 0
    calls = 0
    files = {}
    with open(trace, errors="replace") as f:
        for line in f:
            m = start.match(line)
            path = None
            if m:
                pid, path = m.group(1), m.group(3)
                if "<unfinished" in line:
                    pending[pid] = path
                    continue
            else:
                m = resumed.match(line)
                if not m:
                    continue
                path = pending.pop(m.group(1), None)
            r = result.search(line)
            if path is None or r is None or not path.startswith(folder):
                continue
            n = int(r.group(1))
            if n > 0:
                total += n
                calls += 1
                files[path] = files.get(path, 0) + n
    per_file = {os.path.basename(p): b for p, b in sorted(files.items())}
    return {"folder_read_bytes": total, "folder_read_calls": calls, "folder_files_read": len(files),
            "folder_read_by_file": per_file}


def proc_io(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                k, v = line.split(":")
                out[k.strip()] = int(v)
    except OSError as e:
        out["error"] = str(e)
    return out


def gnu_time_rss(path):
    """The %M GNU time wrote (its last line: a failed command adds a status line before it)."""
    try:
        with open(path) as f:
            lines = [l.strip() for l in f if l.strip()]
        os.remove(path)
        return int(lines[-1])
    except (OSError, ValueError, IndexError):
        return None


def main():
    args = sys.argv[1:]
    if "--" not in args or len(args) < 4:
        sys.exit(__doc__)
    sep = args.index("--")
    out_path, log_path = args[0], args[1]
    opts, cmd = args[2:sep], args[sep + 1:]
    rss_file = out_path + ".time"
    cmd = ["/usr/bin/time", "-f", "%M", "-o", rss_file, "--"] + cmd
    strace_folder = None
    if opts[:1] == ["--strace"]:
        strace_folder = opts[1]
        trace = out_path + ".strace"
        cmd = ["strace", "-f", "-qq", "-y", "-s", "0", "-o", trace,
               "-e", "trace=read,pread64,readv,preadv,preadv2", "-e", "signal=none"] + cmd
    with open(log_path, "wb") as log:
        started = time.monotonic()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
        wall = time.monotonic() - started
        io = proc_io(p.pid)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    result = {
        "command": cmd,
        "exit": p.returncode,
        "wall_s": round(wall, 3),
        "maxrss_kib": gnu_time_rss(rss_file),
        "user_s": round(usage.ru_utime, 3),
        "sys_s": round(usage.ru_stime, 3),
        "rchar": io.get("rchar"),
        "read_bytes": io.get("read_bytes"),
        "wchar": io.get("wchar"),
    }
    if strace_folder:
        result.update(folder_reads(trace, strace_folder))
        os.remove(trace)
    with open(log_path, errors="replace") as f:
        for line in f:
            if '"run summary"' in line:
                try:
                    result["summary"] = json.loads(line)
                except ValueError:
                    pass
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k not in ("command", "folder_read_by_file")}))
    sys.exit(0 if p.returncode == 0 else 1)


if __name__ == "__main__":
    main()
