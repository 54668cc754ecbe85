#!/usr/bin/env bash
# Record the MP3 test fixtures in fixtures/<scenario>/ from a real Icecast2 server.
#
#   scripts/record-fixtures.sh                 # every scenario, in parallel (~2 min)
#   scripts/record-fixtures.sh steady stall    # only these
#
# Needs ffmpeg, ffprobe, icecast2 (Debian: apt-get install -y ffmpeg icecast2) and
# python3 (standard library only).  Everything runs on 127.0.0.1; nothing is
# downloaded.  One Icecast server (own config in a temp dir, port ICECAST_PORT) gets
# one mount per scenario, fed by an ffmpeg source client playing a time code (see
# scripts/record-fixtures-timecode.py and fixtures/README.md).  The replicas run the
# article's command
#   ffmpeg -y -i $STREAM -f segment -strftime 1 -segment_time $SEGMENT_TIME \
#          $DIR/${POD}_%Y%m%dT%H%M%S.mp3
# plus only `-loglevel error -nostdin`, with TZ=UTC, under a small supervisor that
# restarts a container the way the kubelet does (at once, then after 10 s, 20 s, ...).
# At the end of each scenario the shared folder is copied (mtimes kept) while the
# replicas still run; then everything is stopped and fixtures/<scenario>/manifest.json
# is written from the copy, the event log and the decoded time code.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${FIXTURES_DIR:-$ROOT/fixtures}
HELPER=$ROOT/scripts/record-fixtures-timecode.py
PORT=${ICECAST_PORT:-18431}
PASS=fixture-source
SEGMENT_TIME=10 # > Icecast's ~8-s burst, as 600 s is in production (see README)
ALL=(steady kill-replace sigterm source-restart stall copy-clock local-variant zero-byte kill-late dead-air
    other-source fallback-loop fallback-silence restart-burst)

for tool in ffmpeg ffprobe icecast2 python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y ffmpeg icecast2)" >&2; exit 1; }
done

if (($# > 0)); then
    SCENARIOS=("$@")
else
    SCENARIOS=("${ALL[@]}")
fi
for s in "${SCENARIOS[@]}"; do
    [[ " ${ALL[*]} " == *" $s "* ]] || { echo "unknown scenario $s (known: ${ALL[*]})" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/record-fixtures.XXXXXX)
chmod 755 "$WORK"
ICECAST_PID=
WATCH_PID=
cleanup() {
    local f pid
    if [[ -n $WATCH_PID ]]; then
        kill "$WATCH_PID" 2>/dev/null || true
    fi
    for f in "$WORK"/*/*.supervisor; do
        [[ -e $f ]] || continue
        touch "${f%.supervisor}.deleted"
        kill -TERM "$(<"$f")" 2>/dev/null || true
    done
    for f in "$WORK"/*/*.pid; do
        [[ -e $f ]] || continue
        pid=$(<"$f")
        kill -CONT "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
    done
    if [[ -n $ICECAST_PID ]]; then
        kill -TERM "$ICECAST_PID" 2>/dev/null || true
        wait "$ICECAST_PID" 2>/dev/null || true
    fi
    if [[ -z ${KEEP_WORK:-} ]]; then
        rm -rf "$WORK"
    else
        echo "work files kept in $WORK" >&2
    fi
}
trap cleanup EXIT

# --- helpers -------------------------------------------------------------------

# ev SCENARIO EVENT POD DETAIL: append to the scenario's event log
ev() {
    printf '%s\t%s\t%s\t%s\n' "$EPOCHREALTIME" "$2" "$3" "$4" >>"$WORK/$1/events.tsv"
}

# at SCENARIO SECONDS: sleep until SECONDS after the scenario's source started
at() {
    local base
    base=$(<"$WORK/$1/t0")
    sleep "$(awk -v b="$base" -v t="$2" -v n="$EPOCHREALTIME" \
        'BEGIN { d = b + t - n; if (d < 0) d = 0; printf "%.3f", d }')"
}

# stamp: prefix every line with the wall-clock time it was read
stamp() {
    local line
    while IFS= read -r line; do
        printf '%s %s\n' "$EPOCHREALTIME" "$line"
    done
}

start_icecast() {
    local dir=$WORK/icecast security=
    mkdir -p "$dir"
    chmod 777 "$dir" # written by nobody when running as root
    if ((EUID == 0)); then
        # icecast2 refuses to run as root without changing its owner
        security='<security><chroot>0</chroot><changeowner><user>nobody</user><group>nogroup</group></changeowner></security>'
    fi
    cat >"$dir/icecast.xml" <<EOF
<icecast>
  <location>record-fixtures</location>
  <admin>fixtures@localhost</admin>
  <limits>
    <clients>100</clients>
    <sources>20</sources>
    <queue-size>524288</queue-size>
    <client-timeout>30</client-timeout>
    <header-timeout>15</header-timeout>
    <source-timeout>30</source-timeout>
    <burst-on-connect>1</burst-on-connect>
    <burst-size>65535</burst-size>
  </limits>
  <authentication>
    <source-password>$PASS</source-password>
    <admin-user>admin</admin-user>
    <admin-password>$PASS</admin-password>
  </authentication>
  <hostname>127.0.0.1</hostname>
  <listen-socket><port>$PORT</port><bind-address>127.0.0.1</bind-address></listen-socket>
  <paths>
    <basedir>$dir</basedir>
    <logdir>$dir</logdir>
    <webroot>/usr/share/icecast2/web</webroot>
    <adminroot>/usr/share/icecast2/admin</adminroot>
  </paths>
  <logging>
    <accesslog>access.log</accesslog>
    <errorlog>error.log</errorlog>
    <loglevel>3</loglevel>
  </logging>
  <!-- replica B's own mounts in fallback-loop / fallback-silence: when their source
       leaves, Icecast moves the listener to the relay's fallback (and back on return) -->
  <mount type="normal">
    <mount-name>/fallback-loop-b</mount-name>
    <fallback-mount>/fallback-loop-fb</fallback-mount>
    <fallback-override>1</fallback-override>
  </mount>
  <mount type="normal">
    <mount-name>/fallback-silence-b</mount-name>
    <fallback-mount>/fallback-silence-fb</fallback-mount>
    <fallback-override>1</fallback-override>
  </mount>
  $security
</icecast>
EOF
    chmod 644 "$dir/icecast.xml"
    icecast2 -c "$dir/icecast.xml" >"$dir/stdout.log" 2>&1 &
    ICECAST_PID=$!
    local i
    for i in $(seq 50); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            return 0
        fi
        kill -0 "$ICECAST_PID" 2>/dev/null || break
        sleep 0.1 && : "$i"
    done
    echo "icecast2 did not start on port $PORT:" >&2
    cat "$dir/stdout.log" "$dir/error.log" >&2 2>/dev/null || true
    exit 1
}

# start_source SCENARIO OFFSET [DEAD_AIR [KIND [MOUNT]]]: ffmpeg source client on mount
# MOUNT (default: the scenario's own).  KIND timecode (default): broadcast time is t+OFFSET;
# second N: 50 ms of silence, then a sine of 300 + 20*(N mod 256) Hz at half scale.
# DEAD_AIR=1: the time code stops (digital silence) during [12, 52) and [62, 82) and is
# replaced by a 100-Hz hum of peak -60 dBFS (0.001) during [112, 152).  Other kinds carry
# audio that holds no time code and aligns with nothing in it:
#   loop:    a relay's fallback: a 4-s phrase (16 notes of 0.25 s, two voices, no pauses)
#            repeated exactly (phase from t mod 4)
#   other:   another programme: two voices whose notes change every 1/4 s and 1/3 s on
#            incommensurate cycles, with a slow vibrato (never repeats within a fixture)
#   silence: digital silence
# Only the scenario's own time-code source writes source-progress.log (the broadcast clock);
# the others log to source-MOUNT-progress.log and keep their pid in source-MOUNT.pid.
start_source() {
    local scen=$1 off=$2 kind=${4:-timecode} mount=${5:-$1} d=$WORK/$1 expr
    local T="(t+$off)" u="mod(t\\,4)" tag=source
    case $kind in
        timecode)
            expr="if(lt(mod($T\\,1)\\,0.05)\\,0\\,0.5*sin(2*PI*(300+20*mod(floor($T)\\,256))*$T))"
            if [[ ${3:-} == 1 ]]; then
                expr="if(between($T\\,12\\,52)+between($T\\,62\\,82)\\,0\\,if(between($T\\,112\\,152)\\,0.001*sin(2*PI*100*$T)\\,$expr))"
            fi
            ;;
        loop)
            expr="0.3*sin(2*PI*220*pow(2\\,mod(floor($u*4)*5\\,12)/12)*$u)+0.15*sin(2*PI*330*pow(2\\,mod(floor($u*4)*7\\,12)/12)*$u)"
            ;;
        other)
            expr="0.3*sin(2*PI*196*pow(2\\,mod(floor(t*4)*5\\,12)/12)*t)+0.2*sin(2*PI*262*pow(2\\,mod(floor(t*3)*7\\,11)/12)*(t+0.02*sin(2*PI*0.13*t)))"
            ;;
        silence) expr=0 ;;
        *) echo "unknown source kind $kind" >&2; return 1 ;;
    esac
    if [[ $mount != "$scen" || $kind != timecode ]]; then
        tag=source-$mount
    fi
    printf '%s #offset=%s\n' "$EPOCHREALTIME" "$off" >>"$d/$tag-progress.log"
    ffmpeg -loglevel error -nostdin -re -f lavfi -i "aevalsrc=exprs='$expr':s=22050:c=mono" \
        -c:a libmp3lame -b:a 64k -ac 1 -content_type audio/mpeg \
        -progress pipe:1 -f mp3 "icecast://source:$PASS@127.0.0.1:$PORT/$mount" \
        > >(stamp >>"$d/$tag-progress.log") 2>>"$d/$tag.err" &
    echo $! >"$d/$tag.pid"
    if [[ $tag == source ]]; then
        ev "$scen" source_start "" "offset $off s"
    else
        ev "$scen" source_start "" "mount /$mount: $kind$([[ $kind == timecode ]] && echo ", offset $off s")"
    fi
}

# stop_source SCENARIO [MOUNT]: SIGTERM to the source client of MOUNT (default: the scenario's)
stop_source() {
    local d=$WORK/$1 tag=source
    if [[ -n ${2:-} && $2 != "$1" ]]; then
        tag=source-$2
    fi
    kill -TERM "$(<"$d/$tag.pid")"
    rm -f "$d/$tag.pid"
    if [[ $tag == source ]]; then
        ev "$1" source_stop "" "SIGTERM to the source client"
    else
        ev "$1" source_stop "" "SIGTERM to the source client of /$2"
    fi
}

# broadcast_now SCENARIO: the scenario's broadcast time now (to continue its time code)
broadcast_now() {
    local b
    b=$(python3 "$HELPER" source-start "$WORK/$1") || { echo "no broadcast clock yet for $1" >&2; return 1; }
    awk -v b="$b" -v n="$EPOCHREALTIME" 'BEGIN { printf "%.3f", n - b }'
}

# pod SCENARIO NAME VARIANT [MOUNT]: run one pod's container, restarting it like the kubelet
# (restartPolicy Always: at once, then back-off 10 s, 20 s, 40 s) until the pod is
# deleted.  VARIANT: article | copy-clock | local.  MOUNT: its STREAM (default: the
# scenario's mount).  POD_RESTARTS (default 0): restarts the pod already had, which sets
# where its back-off starts (2: the next restart waits 20 s).
pod() {
    local scen=$1 name=$2 variant=$3 d=$WORK/$1 restarts=${POD_RESTARTS:-0} rc pid delay out
    local stream=http://127.0.0.1:$PORT/${4:-$1}
    while [[ ! -e $d/$name.deleted ]]; do
        ev "$scen" container_start "$name" "restart $restarts${4:+, STREAM /$4}"
        case $variant in
            article) out="$d/chunks/${name}_%Y%m%dT%H%M%S.mp3" ;;
            local) out="$d/chunks/%Y%m%dT%H%M%S.mp3" ;;
            copy-clock) out="$d/chunks/${name}_%Y%m%dT%H%M%S.mp3" ;;
        esac
        if [[ $variant == copy-clock ]]; then
            TZ=UTC ffmpeg -loglevel error -nostdin -y -i "$stream" -c copy -f segment -strftime 1 \
                -segment_time "$SEGMENT_TIME" -segment_atclocktime 1 "$out" 2>>"$d/$name.err" &
        else
            TZ=UTC ffmpeg -loglevel error -nostdin -y -i "$stream" -f segment -strftime 1 \
                -segment_time "$SEGMENT_TIME" "$out" 2>>"$d/$name.err" &
        fi
        pid=$!
        echo "$pid" >"$d/$name.pid"
        rc=0
        wait "$pid" || rc=$?
        ev "$scen" container_exit "$name" "$rc"
        [[ -e $d/$name.deleted ]] && break
        delay=0
        if ((restarts > 0)); then
            delay=$((10 * 2 ** (restarts - 1)))
        fi
        restarts=$((restarts + 1))
        while ((delay > 0)) && [[ ! -e $d/$name.deleted ]]; do
            sleep 1
            delay=$((delay - 1))
        done
    done
    rm -f "$d/$name.pid"
}

start_pod() {
    pod "$@" &
    echo $! >"$WORK/$1/$2.supervisor"
}

# delete_pod SCENARIO NAME SIGNAL: the pod goes away (no restart); its container gets SIGNAL
delete_pod() {
    local d=$WORK/$1
    touch "$d/$2.deleted"
    ev "$1" pod_deleted "$2" "SIG$3"
    kill "-$3" "$(<"$d/$2.pid")"
}

# kill_container SCENARIO NAME SIGNAL: the container dies, the pod stays (restarted)
kill_container() {
    ev "$1" container_killed "$2" "SIG$3"
    kill "-$3" "$(<"$WORK/$1/$2.pid")"
}

# files of POD in the shared folder, oldest name first
pod_files() {
    local f
    for f in "$WORK/$1/chunks/$2"_*.mp3; do
        if [[ -e $f ]]; then
            echo "$f"
        fi
    done
}

# wait_files SCENARIO POD COUNT: until POD has created COUNT files; logs the newest
wait_files() {
    local n
    while true; do
        n=$(pod_files "$1" "$2" | wc -l)
        ((n >= $3)) && break
        sleep 0.05
    done
    ev "$1" segment_opened "$2" "$(basename "$(pod_files "$1" "$2" | tail -n 1)")"
}

# wait_size SCENARIO POD BYTES: until POD's newest file has BYTES or more
wait_size() {
    local f
    while true; do
        f=$(pod_files "$1" "$2" | tail -n 1)
        if [[ -n $f ]] && (($(stat -c %s "$f") >= $3)); then
            break
        fi
        sleep 0.05
    done
    ev "$1" size_reached "$2" "$(basename "$f") $(stat -c %s "$f") bytes"
}

# finish SCENARIO: snapshot the folder while the replicas run, then stop everything
finish() {
    local scen=$1 d=$WORK/$1 f p
    ev "$scen" snapshot "" "cp -p of the shared folder"
    mkdir -p "$d/snapshot"
    cp -p "$d"/chunks/*.mp3 "$d/snapshot/"
    for f in "$d"/*.supervisor; do
        p=$(basename "$f" .supervisor)
        if [[ ! -e $d/$p.deleted ]]; then
            touch "$d/$p.deleted"
            if [[ -e $d/$p.pid ]]; then
                kill -TERM "$(<"$d/$p.pid")" 2>/dev/null || true
            fi
        fi
    done
    for f in "$d"/*.supervisor; do
        wait "$(<"$f")" 2>/dev/null || true
    done
    # the pods' files after they stopped: a file that changed was still being written
    for f in "$d"/chunks/*.mp3; do
        printf '%s=%s\n' "$(basename "$f")" "$(stat -c '%s %.6Y' "$f")"
    done >"$d/after-stop.txt"
    for f in "$d"/source*.pid; do
        [[ -e $f ]] || continue
        kill -CONT "$(<"$f")" 2>/dev/null || true
        kill -TERM "$(<"$f")" 2>/dev/null || true
        rm -f "$f"
    done
}

# setup SCENARIO DESCRIPTION NAME_FORMAT [LOCAL_POD [DEAD_AIR [OTHER_KIND]]]
# OTHER_KIND: what a replica records besides the time code (loop | other | silence), named
# in the manifest's `source` of each file that holds no time code
setup() {
    local d=$WORK/$1
    {
        echo "scenario=$1"
        echo "description=$2"
        echo "segment_time=$SEGMENT_TIME"
        echo "name_format=$3"
        echo "local_pod=${4:-}"
        echo "other_kind=${6:-}"
    } >"$d/meta"
    printf '%s\n' "$EPOCHREALTIME" >"$d/t0"
    start_source "$1" 0 "${5:-}"
}

POD_FMT='<pod>_%Y%m%dT%H%M%S.mp3'
RS=ffmpeg-deployment-7c9f8d

# --- scenarios (times are seconds after the scenario's source started; the replicas
# start after 10 s so that Icecast's burst buffer is full, as on a long-running stream)

scenario_steady() {
    setup steady "Two replicas started 2.3 s apart, nothing goes wrong." "$POD_FMT"
    at steady 10 && start_pod steady "$RS-abcde" article
    at steady 12.3 && start_pod steady "$RS-fghij" article
    at steady 65 && finish steady
}

scenario_kill_replace() {
    setup kill-replace "Two replicas; one pod is SIGKILLed about 5 s into a segment (node loss) and a replacement pod with a new name starts 5 s later." "$POD_FMT"
    at kill-replace 10 && start_pod kill-replace "$RS-abcde" article
    at kill-replace 13.1 && start_pod kill-replace "$RS-fghij" article
    wait_files kill-replace "$RS-fghij" 4
    sleep 5 && delete_pod kill-replace "$RS-fghij" KILL
    sleep 5 && start_pod kill-replace "$RS-klmno" article
    at kill-replace 80 && finish kill-replace
}

scenario_sigterm() {
    setup sigterm "Two replicas; one pod is deleted gracefully (SIGTERM about 5 s into a segment: ffmpeg finalises the file) and a replacement pod with a new name starts 2 s later." "$POD_FMT"
    at sigterm 10 && start_pod sigterm "$RS-abcde" article
    at sigterm 11.7 && start_pod sigterm "$RS-fghij" article
    wait_files sigterm "$RS-fghij" 4
    sleep 5 && delete_pod sigterm "$RS-fghij" TERM
    sleep 2 && start_pod sigterm "$RS-klmno" article
    at sigterm 80 && finish sigterm
}

scenario_source_restart() {
    setup source-restart "Two replicas; the source client stops for 6 s. The replicas exit (code in events) and their containers are restarted in the same pods (same names) with the kubelet's back-off: at once (fails: no mount yet), then after 10 s." "$POD_FMT"
    at source-restart 10 && start_pod source-restart "$RS-abcde" article
    at source-restart 14.4 && start_pod source-restart "$RS-fghij" article
    at source-restart 40 && stop_source source-restart
    # continue the time code: broadcast time = wall time - (when broadcast second 0 began)
    at source-restart 46 && start_source source-restart "$(broadcast_now source-restart)"
    at source-restart 90 && finish source-restart
}

scenario_stall() {
    setup stall "Two replicas; the source client is SIGSTOPped for 10 s, then SIGCONTed (ffmpeg -re then catches up). The replicas keep running." "$POD_FMT"
    at stall 10 && start_pod stall "$RS-abcde" article
    at stall 12.9 && start_pod stall "$RS-fghij" article
    at stall 35 && kill -STOP "$(<"$WORK/stall/source.pid")" && ev stall source_sigstop "" "SIGSTOP to the source client"
    at stall 45 && kill -CONT "$(<"$WORK/stall/source.pid")" && ev stall source_sigcont "" "SIGCONT to the source client"
    at stall 80 && finish stall
}

scenario_copy_clock() {
    setup copy-clock "Two replicas with -c copy -segment_atclocktime 1 (stream copy, boundaries on wall-clock multiples of segment_time)." "$POD_FMT"
    at copy-clock 10 && start_pod copy-clock "$RS-abcde" copy-clock
    at copy-clock 13.6 && start_pod copy-clock "$RS-fghij" copy-clock
    at copy-clock 65 && finish copy-clock
}

scenario_local_variant() {
    setup local-variant "One recorder with the article's local command: names %Y%m%dT%H%M%S.mp3 without a pod prefix." '%Y%m%dT%H%M%S.mp3' local
    at local-variant 10 && start_pod local-variant local local
    at local-variant 55 && finish local-variant
}

scenario_zero_byte() {
    setup zero-byte "Two replicas; one container is SIGKILLed 1 s into a segment (as an OOM kill), leaving a 0-byte file; the kubelet restarts it at once in the same pod (same name)." "$POD_FMT"
    at zero-byte 10 && start_pod zero-byte "$RS-abcde" article
    at zero-byte 12.6 && start_pod zero-byte "$RS-fghij" article
    wait_files zero-byte "$RS-fghij" 4
    sleep 1 && kill_container zero-byte "$RS-fghij" KILL
    at zero-byte 75 && finish zero-byte
}

scenario_kill_late() {
    SEGMENT_TIME=80
    setup kill-late "segment_time 80 (so that a segment outgrows ffmpeg's 256-KiB write block at 32 kbps): one pod is SIGKILLed 3 s after its first file reached 262144 bytes and replaced 5 s later by a new pod; at the snapshot the other pod's first file is still being written and already 262144 bytes." "$POD_FMT"
    at kill-late 10 && start_pod kill-late "$RS-abcde" article
    at kill-late 12.2 && start_pod kill-late "$RS-fghij" article
    wait_size kill-late "$RS-abcde" 262144
    sleep 3 && delete_pod kill-late "$RS-abcde" KILL
    sleep 5 && start_pod kill-late "$RS-klmno" article
    sleep 5 && finish kill-late
}

scenario_dead_air() {
    SEGMENT_TIME=90
    setup dead-air "segment_time 90 (a file must hold more than SILENCE_SECONDS): the source's time code stops for 40 s (broadcast 12-52) and for 20 s (62-82), and carries a 100-Hz hum at -60 dBFS peak for 40 s (112-152). Both pods are deleted gracefully (SIGTERM) before the snapshot, so every file is finished." "$POD_FMT" "" 1
    at dead-air 10 && start_pod dead-air "$RS-abcde" article
    at dead-air 12.4 && start_pod dead-air "$RS-fghij" article
    at dead-air 160 && delete_pod dead-air "$RS-abcde" TERM && delete_pod dead-air "$RS-fghij" TERM
    sleep 2 && finish dead-air
}

# Issue 31: replicas that record different audio.  Replica A listens to the scenario's
# time-code mount throughout; replica B to a mount of its own.

scenario_other_source() {
    setup other-source "Two replicas on the time code; a rolling update (new pod klmno started, then fghij deleted with SIGTERM 2 s later) points replica B at another stream (mount /other-source-alt: a different programme, no time code) for the rest of the recording." "$POD_FMT" "" "" other
    start_source other-source 0 "" other other-source-alt
    at other-source 10 && start_pod other-source "$RS-abcde" article
    at other-source 12.4 && start_pod other-source "$RS-fghij" article
    at other-source 44 && start_pod other-source "$RS-klmno" article other-source-alt
    at other-source 46 && delete_pod other-source "$RS-fghij" TERM
    at other-source 78 && finish other-source
}

# B's mount carries the same time code from a second source client (its broadcast time
# continues the scenario's clock); when that client stops, Icecast moves B's connection to
# the fallback mount (<fallback-mount>, <fallback-override> 1): B's ffmpeg keeps running and
# its chain of files continues, on the fallback's audio.
scenario_fallback_loop() {
    setup fallback-loop "Replica B's mount (/fallback-loop-b, the same time code from a second source client) loses its source at broadcast 48 s: Icecast moves B's listener to the fallback mount playing a 4-s loop; B's ffmpeg keeps running (same pod, same process) and records the loop until the snapshot." "$POD_FMT" "" "" loop
    start_source fallback-loop 0 "" loop fallback-loop-fb
    at fallback-loop 3 && start_source fallback-loop "$(broadcast_now fallback-loop)" "" timecode fallback-loop-b
    at fallback-loop 10 && start_pod fallback-loop "$RS-abcde" article
    at fallback-loop 12.4 && start_pod fallback-loop "$RS-fghij" article fallback-loop-b
    at fallback-loop 48 && stop_source fallback-loop fallback-loop-b
    at fallback-loop 78 && finish fallback-loop
}

scenario_fallback_silence() {
    setup fallback-silence "As fallback-loop, but the fallback mount plays digital silence, and B's source comes back at broadcast 68 s (the time code continued): Icecast moves B's listener back (fallback-override). B's ffmpeg runs throughout." "$POD_FMT" "" "" silence
    start_source fallback-silence 0 "" silence fallback-silence-fb
    at fallback-silence 3 && start_source fallback-silence "$(broadcast_now fallback-silence)" "" timecode fallback-silence-b
    at fallback-silence 10 && start_pod fallback-silence "$RS-abcde" article
    at fallback-silence 12.4 && start_pod fallback-silence "$RS-fghij" article fallback-silence-b
    at fallback-silence 48 && stop_source fallback-silence fallback-silence-b
    at fallback-silence 68 && start_source fallback-silence "$(broadcast_now fallback-silence)" "" timecode fallback-silence-b
    at fallback-silence 90 && finish fallback-silence
}

# Issue 27: a same-name restart whose first file starts with Icecast's whole burst.  Replica
# B listens to a mount of its own carrying the same time code (as in fallback-*, but without
# a fallback): its source stops for 6 s, B's ffmpeg exits and its container is restarted in
# the same pod 20 s later (a back-off grown by two earlier restarts), when the mount's source
# has been back for 14 s: Icecast's burst (8.2 s) reaches back over audio replica A, which
# never stopped, also holds.
scenario_restart_burst() {
    setup restart-burst "Replica B's mount (/restart-burst-b, the same time code from a second source client) loses its source for 6 s at 40 s: B's ffmpeg exits and its container is restarted in the same pod (same names) after 20 s (its back-off grown by two earlier restarts), so its first new file starts with Icecast's whole burst (~8 s of audio before its name), all of it held by replica A, which runs throughout." "$POD_FMT"
    at restart-burst 3 && start_source restart-burst "$(broadcast_now restart-burst)" "" timecode restart-burst-b
    at restart-burst 10 && start_pod restart-burst "$RS-abcde" article
    at restart-burst 12.4 && POD_RESTARTS=2 start_pod restart-burst "$RS-fghij" article restart-burst-b
    at restart-burst 40 && stop_source restart-burst restart-burst-b
    at restart-burst 46 && start_source restart-burst "$(broadcast_now restart-burst)" "" timecode restart-burst-b
    at restart-burst 95 && finish restart-burst
}

# --- main ------------------------------------------------------------------------

start_icecast
echo "icecast2 on 127.0.0.1:$PORT, work dir $WORK" >&2
for s in "${SCENARIOS[@]}"; do
    mkdir -p "$WORK/$s/chunks"
    : >"$WORK/$s/events.tsv"
done
python3 "$HELPER" watch "$WORK" "${SCENARIOS[@]}" &
WATCH_PID=$!
declare -A RUNNER=()
for s in "${SCENARIOS[@]}"; do
    "scenario_${s//-/_}" >"$WORK/$s.log" 2>&1 &
    RUNNER[$s]=$!
done
failed=0
for s in "${SCENARIOS[@]}"; do
    if ! wait "${RUNNER[$s]}"; then
        echo "scenario $s failed:" >&2
        cat "$WORK/$s.log" >&2
        failed=1
    fi
done
kill "$WATCH_PID"
wait "$WATCH_PID" 2>/dev/null || true
WATCH_PID=
((failed == 0)) || exit 1

mkdir -p "$OUT"
for s in "${SCENARIOS[@]}"; do
    rm -rf "${OUT:?}/$s"
    mkdir -p "$OUT/$s"
    cp -p "$WORK/$s"/snapshot/*.mp3 "$OUT/$s/"
    python3 "$HELPER" manifest "$OUT/$s" "$WORK/$s"
done
du -sh "$OUT"
