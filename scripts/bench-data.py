#!/usr/bin/env python3
"""Bench inputs: one encoded segment copied into two replicas' file names (scripts/bench.sh).

    bench-data.py base OUT.mp3 SECONDS            encode SECONDS of 128 kbps stereo with lavfi
    bench-data.py folder BASE.mp3 DIR N           N segments per replica, as two ffmpeg pods
                                                  leave them, all finished long ago
    bench-data.py copies BASE.mp3 DIR N           N plain copies (for the measuring bench)

A folder looks like what the article's Deployment writes with `-f segment -strftime 1`:
`<pod>_<%Y%m%dT%H%M%S>.mp3`, the name being the segment's start rounded down to the second
(names follow the audio's true length, 600.0065 s for 600-s segments at 44.1 kHz, so they
drift like real ones), the second replica's boundaries 3.4 s after the first's, each file's
modification time when it was closed, and the newest closed an hour before now (so every
file is finished; the job's FINISH_GRACE_SECONDS is 120). All files hold the same bytes:
the planner only looks at names, sizes, times and counted frames.
"""
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone

PODS = [("ffmpeg-deployment-6d4cf56db6-2xk7q", 0.0), ("ffmpeg-deployment-6d4cf56db6-w9n4t", 3.4)]
END_AGE_S = 3600.0


def audio_seconds(path):
    """Length of the audio by counting packets (frames), not from a header."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-select_streams", "a:0",
         "-show_entries", "stream=nb_read_packets,sample_rate", "-of", "json", path],
        check=True, capture_output=True, text=True).stdout
    s = json.loads(out)["streams"][0]
    return int(s["nb_read_packets"]) * 1152 / int(s["sample_rate"])


def base(out, seconds):
    if os.path.exists(out):
        return
    tmp = out + ".part.mp3"
    # A tone with a slow sweep under it, so the encoder has something to do; 128 kbps CBR.
    subprocess.run(
        ["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi",
         "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
         "-f", "lavfi", "-i", f"anoisesrc=color=pink:amplitude=0.05:sample_rate=44100:duration={seconds}",
         "-filter_complex", "amix=inputs=2:duration=shortest",
         "-ac", "2", "-ar", "44100", "-c:a", "libmp3lame", "-b:a", "128k", tmp],
        check=True)
    os.replace(tmp, out)


def folder(src, dest, per_replica):
    os.makedirs(dest, exist_ok=True)
    if os.listdir(dest):
        sys.exit(f"{dest} is not empty")
    d = audio_seconds(src)
    size = os.path.getsize(src)
    now = time.time()
    first = now - END_AGE_S - per_replica * d - max(o for _, o in PODS) - 0.3
    names = []
    for pod, offset in PODS:
        for k in range(per_replica):
            start = first + offset + k * d
            stamp = datetime.fromtimestamp(int(start), timezone.utc).strftime("%Y%m%dT%H%M%S")
            name = f"{pod}_{stamp}.mp3"
            path = os.path.join(dest, name)
            shutil.copyfile(src, path)
            closed = start + d + 0.3
            os.utime(path, (closed, closed))
            names.append(name)
    print(json.dumps({"folder": dest, "files": len(names), "bytes": size * len(names),
                      "segment_bytes": size, "segment_seconds": round(d, 4)}))


def copies(src, dest, n):
    os.makedirs(dest, exist_ok=True)
    for i in range(n):
        path = os.path.join(dest, f"copy-{i:02d}.mp3")
        if not os.path.exists(path):
            shutil.copyfile(src, path)


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "base" and len(sys.argv) == 4:
        base(sys.argv[2], int(sys.argv[3]))
    elif cmd == "folder" and len(sys.argv) == 5:
        folder(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "copies" and len(sys.argv) == 5:
        copies(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
