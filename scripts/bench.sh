#!/usr/bin/env bash
# Reproduces the figures of docs/BENCHMARKS.md on a 2-core Linux machine:
# server pinned to CPU 1, load generator (and sinks) on CPU 0.
#
#   bash scripts/bench.sh                 # everything (about 20 minutes)
#   RUNS=5 DURATION=30s bash scripts/bench.sh ingest e2e
#   bash scripts/bench.sh buffer          # 10 M events buffered, RSS samples
#   bash scripts/bench.sh micro           # Go micro-benchmarks
#   bash scripts/bench.sh overload        # 90 s e2e beyond capacity, RSS samples
#   bash scripts/bench.sh destinations    # e2e to the HTTP sink, kafka (kfake) and s3 (versitygw)
#   OUTAGE=10m bash scripts/bench.sh outage  # one of two destinations down under load, RSS samples
#   bash scripts/bench.sh dialects        # the ingest part through every dialect, compared with native
#
# Parts: machine ingest e2e e2erate buffer micro (the default), e2eplan, overload,
# destinations, outage and dialects (DIALECTS: which, default every
# cmd/loadgen -dialect; the comparison goes to dialects.txt).
# Environment: RUNS (3), DURATION (30s), OUT (/tmp/runnel-bench),
# LOAD_MAX (1.5: wait for the 1-minute load average to drop below it),
# LOAD_WAIT (300: seconds to wait at most), BUFFER_EVENTS (10000000),
# PORT (18480), E2E_RATE (250000: offered events/s of e2erate), NICE (unset; e.g. -15 runs the server, the load
# generator and the sinks with that scheduling priority, to measure on a
# machine shared with other work: each run reports how much CPU the
# server, the load generator and everything else got), REV (unset: build the working tree; a git revision: build
# that commit from `git archive`, with this checkout's cmd/loadgen if the
# commit has none), DESTS (http kafka s3: the destinations part), DEST_RATE
# (unset: as fast as possible; events/s: the destinations part at that
# offered load), OUTAGE
# (10m) and OUTAGE_RATE (50000 events/s: the outage part), VERSITYGW (the
# versitygw binary; default: on PATH or in $(go env GOPATH)/bin, where
# scripts/test.sh installs it). Raw logs and JSON summaries go to $OUT/<time>/.
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
DURATION=${DURATION:-30s}
OUT=${OUT:-/tmp/runnel-bench}
LOAD_MAX=${LOAD_MAX:-1.5}
LOAD_WAIT=${LOAD_WAIT:-300}
BUFFER_EVENTS=${BUFFER_EVENTS:-10000000}
PORT=${PORT:-18480}
SINK_PORT=$((PORT + 1))
E2E_RATE=${E2E_RATE:-250000}
DESTS=${DESTS:-http kafka s3}
DEST_RATE_ARGS=()
DEST_SUFFIX=""
[ -n "${DEST_RATE:-}" ] && DEST_RATE_ARGS=(-rate "$DEST_RATE") && DEST_SUFFIX="-rate$DEST_RATE"
OUTAGE=${OUTAGE:-10m}
OUTAGE_RATE=${OUTAGE_RATE:-50000}
GW_PORT=$((PORT + 2))
GW_ACCESS=benchak
GW_SECRET=benchsk0123456789
VERSITYGW=${VERSITYGW:-$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")}
WHAT=${*:-machine ingest e2e e2erate buffer micro}

RES="$OUT/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RES"
BIN="$OUT/bin"
mkdir -p "$BIN"
SRC=$PWD
if [ -n "${REV:-}" ]; then
	SRC="$OUT/src"
	rm -rf "$SRC"
	mkdir -p "$SRC"
	git archive "$REV" | tar -x -C "$SRC"
	[ -d "$SRC/cmd/loadgen" ] || cp -r cmd/loadgen "$SRC/cmd/"
	echo "building $(git rev-parse --short "$REV") in $SRC"
fi
if [ -n "${REV:-}" ]; then
	# -mod=mod: tolerate a commit whose go.sum misses lines (only this copy changes).
	(cd "$SRC" && GOFLAGS=-mod=mod go build -o "$BIN/runnel" ./cmd/runnel && GOFLAGS=-mod=mod go build -o "$BIN/loadgen" ./cmd/loadgen)
else
	go build -o "$BIN/runnel" ./cmd/runnel
	go build -o "$BIN/loadgen" ./cmd/loadgen
fi
command -v jq >/dev/null || { echo "bench.sh needs jq" >&2; exit 1; }

# With NICE, each process gets a session of its own (so an autogroup of its
# own: with kernel.sched_autogroup_enabled, plain nice only ranks processes
# within one session) and that autogroup's nice level.
PRIO=()
[ -n "${NICE:-}" ] && PRIO=(setsid -w sh -c 'echo "$0" >/proc/self/autogroup && exec "$@"' "$NICE")

SERVER_PID=""
SINK_PID=""
GW_PID=""
cleanup() {
	[ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null || true
	[ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null || true
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT

load1() { cut -d' ' -f1 /proc/loadavg; }

# wait_quiet: poll until the 1-minute load average is below LOAD_MAX (at
# most LOAD_WAIT seconds); prints the load it settled on.
wait_quiet() {
	local waited=0
	while awk -v l="$(load1)" -v m="$LOAD_MAX" 'BEGIN{exit !(l>=m)}'; do
		[ "$waited" -ge "$LOAD_WAIT" ] && { echo "load $(load1) still ≥ $LOAD_MAX after ${LOAD_WAIT}s, measuring anyway" >&2; break; }
		sleep 10
		waited=$((waited + 10))
	done
	load1
}

start_server() { # $1: data dir
	rm -rf "$1"
	"${PRIO[@]}" taskset -c 1 "$BIN/runnel" serve --data-dir "$1" --listen "127.0.0.1:$PORT" --log-level warn >"$1.log" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 100); do
		[ -s "$1/admin.token" ] && curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "server did not start, see $1.log" >&2
	exit 1
}

stop_server() {
	kill "$SERVER_PID"
	wait "$SERVER_PID" 2>/dev/null || true
	SERVER_PID=""
}

machine() {
	{
		echo "nproc: $(nproc)"
		echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
		grep -m1 -E 'flags' /proc/cpuinfo | grep -o -w -E 'avx2|avx512f' | sort -u | tr '\n' ' ' | sed 's/^/cpu flags: /'; echo
		echo "memory: $(free -m | awk '/^Mem:/{print $2" MiB"}')"
		echo "go: $(go version)"
		echo "kernel: $(uname -sr)"
		echo "nice: ${NICE:-0}"
		echo "disk for data dir: $(df -h "$OUT" | awk 'NR==2{print $1" "$2}')"
		if [ -n "${REV:-}" ]; then
			echo "commit: $(git rev-parse --short "$REV")"
		else
			echo "commit: $(git rev-parse --short HEAD 2>/dev/null) $(git status --porcelain 2>/dev/null | grep -q . && echo '(working tree with uncommitted changes)')"
		fi
	} | tee "$RES/machine.txt"
}

# one_run KIND N ARGS...: fresh server, one loadgen run, JSON line saved.
one_run() {
	local kind=$1 n=$2
	shift 2
	local l
	l=$(wait_quiet)
	start_server "$RES/$kind-$n.data"
	local tok="$RES/$kind-$n.data/admin.token"
	"${PRIO[@]}" taskset -c 0 "$BIN/loadgen" -url "http://127.0.0.1:$PORT" -token "@$tok" -pid "$SERVER_PID" -json "$@" >"$RES/$kind-$n.log" 2>&1
	local after
	after=$(load1)
	stop_server
	tail -1 "$RES/$kind-$n.log" | jq -c --arg lb "$l" --arg la "$after" '. + {load_before: ($lb|tonumber), load_after: ($la|tonumber)}' >>"$RES/$kind.jsonl"
	rm -rf "$RES/$kind-$n.data"
	jq -r '"\(.mode)\(if .dest then " " + .dest else "" end) run: \(.events_per_s|floor) ev/s accepted, \(.delivered_per_s // 0 | floor) ev/s delivered, p50 \(.p50_ms) ms, p99 \(.p99_ms) ms, peak RSS \(.server_peak_rss_mib) MiB, load \(.load_before)→\(.load_after), cpu% server \(.cpu.server_cpu_pct|floor) loadgen \(.cpu.loadgen_cpu_pct|floor) other \(.cpu.other_cpu_pct|floor)"' <(tail -1 "$RES/$kind.jsonl")
}

ingest() {
	for n in $(seq "$RUNS"); do
		one_run ingest "$n" -stream bench -create -template none -clients 16 -batch 100 -event-size 300 -duration "$DURATION"
	done
}

# dialects: the ingest part's settings (16 clients, 100 events of ~300 B
# per request, a stream without destinations) through each ingest dialect
# (cmd/loadgen -dialect: the same events in each dialect's shape), then the
# median events/s of each and its ratio to native's in dialects.txt.
dialects() {
	for d in ${DIALECTS:-native hec hec-raw bulk otlp-json otlp-proto collection eventsv2}; do
		for n in $(seq "$RUNS"); do
			echo -n "$d: "
			one_run "dialect-$d" "$n" -dialect "$d" -stream bench -create -template none -clients 16 -batch 100 -event-size 300 -duration "$DURATION"
		done
	done
	dialect_table
}

dialect_table() {
	local f native
	native=$(jq -s '(map(.events_per_s) | sort) as $v | $v[(($v|length)-1)/2|floor]' "$RES/dialect-native.jsonl" 2>/dev/null || echo 0)
	{
		printf '%-12s %5s %13s %14s %9s %8s %8s %10s\n' dialect runs "events/s med" "events/s best" "MB/s med" "p50 ms" "p99 ms" "vs native"
		for f in "$RES"/dialect-*.jsonl; do
			[ -s "$f" ] || continue
			jq -s -r --arg d "$(basename "$f" .jsonl)" --argjson nat "${native:-0}" '
				def med(f): (map(f) | sort) as $v | $v[(($v|length)-1)/2|floor];
				[($d | sub("^dialect-"; "")), length, (med(.events_per_s)|floor), (map(.events_per_s)|max|floor), (med(.mb_per_s)*10|floor/10),
				 med(.p50_ms), med(.p99_ms), (if $nat > 0 then (med(.events_per_s) / $nat * 100 | floor | tostring) + "%" else "-" end)]
				| @tsv' "$f"
		done | awk -F'\t' '{printf "%-12s %5s %13s %14s %9s %8s %8s %10s\n", $1, $2, $3, $4, $5, $6, $7, $8}'
	} | tee "$RES/dialects.txt"
}

e2e() {
	for n in $(seq "$RUNS"); do
		one_run e2e "$n" -mode e2e -clients 64 -batch 100 -event-size 300 -duration "$DURATION" -template variables
	done
	for n in $(seq "$RUNS"); do
		one_run e2e-none "$n" -mode e2e -clients 64 -batch 100 -event-size 300 -duration "$DURATION" -template none
	done
}

# e2eplan: end to end with issue 3's processing plan (parse json → mask
# e-mail and card → CEL filter → 8 variables), as fast as possible and at
# a fixed offered load (PLAN_RATE, default 150000).
e2eplan() {
	for n in $(seq "$RUNS"); do
		one_run e2e-plan "$n" -mode e2e -clients 64 -batch 100 -event-size 300 -duration "$DURATION" -template plan
	done
	for n in $(seq "$RUNS"); do
		one_run e2e-plan-rate "$n" -mode e2e -clients 64 -batch 100 -event-size 300 -duration "$DURATION" -template plan -rate "${PLAN_RATE:-150000}"
	done
}

# e2erate: the same at a fixed offered load, to see whether delivery keeps
# up (delivered/s during the load ≈ offered, no drain) and the RSS then.
e2erate() {
	for n in $(seq "$RUNS"); do
		one_run e2e-rate "$n" -mode e2e -clients 64 -batch 100 -event-size 300 -duration "$DURATION" -template variables -rate "$E2E_RATE"
	done
}

# overload: 90 s of e2e as fast as possible (ingest outruns delivery, the
# backlog grows to ~10 M events), server RSS sampled every 5 s until the
# backlog has drained.
overload() {
	local l
	l=$(wait_quiet)
	echo "overload: load before $l" | tee "$RES/overload-load.txt"
	start_server "$RES/overload.data"
	(
		echo "seconds rss_mib hwm_mib"
		local t0=$SECONDS
		while kill -0 "$SERVER_PID" 2>/dev/null; do
			awk -v t=$((SECONDS - t0)) '/^VmRSS:/{r=$2} /^VmHWM:/{h=$2} END{printf "%d %.1f %.1f\n", t, r/1024, h/1024}' "/proc/$SERVER_PID/status" 2>/dev/null || true
			sleep 5
		done
	) >"$RES/overload-rss.txt" &
	local sampler=$!
	"${PRIO[@]}" taskset -c 0 "$BIN/loadgen" -url "http://127.0.0.1:$PORT" -token "@$RES/overload.data/admin.token" -pid "$SERVER_PID" -json \
		-mode e2e -clients 64 -batch 100 -event-size 300 -duration 90s -drain-timeout 5m >"$RES/overload.log" 2>&1
	sleep 15
	stop_server
	wait "$sampler" 2>/dev/null || true
	rm -rf "$RES/overload.data"
	tail -1 "$RES/overload.log" | jq -c '{events_per_s, delivered_per_s, delivered_per_s_during_load, drain_seconds, server_peak_rss_mib, cpu}'
	awk 'NR>1{printf "%s:%s ", $1, $2} END{print "(seconds:RSS MiB)"}' "$RES/overload-rss.txt"
}

# buffer: a stream whose only destination answers 503; ingest
# BUFFER_EVENTS events and sample the server's RSS every 5 s during the
# ingest and for 60 s after it.
buffer() {
	local l
	l=$(wait_quiet)
	echo "buffer: load before $l" | tee "$RES/buffer-load.txt"
	start_server "$RES/buffer.data"
	"${PRIO[@]}" taskset -c 0 "$BIN/loadgen" -mode sink -listen "127.0.0.1:$SINK_PORT" -sink-status 503 -duration 2h -quiet >"$RES/buffer-sink.log" 2>&1 &
	SINK_PID=$!
	(
		echo "seconds rss_mib hwm_mib"
		local t0=$SECONDS
		while kill -0 "$SERVER_PID" 2>/dev/null; do
			awk -v t=$((SECONDS - t0)) '/^VmRSS:/{r=$2} /^VmHWM:/{h=$2} END{printf "%d %.1f %.1f\n", t, r/1024, h/1024}' "/proc/$SERVER_PID/status" 2>/dev/null || true
			sleep 5
		done
	) >"$RES/buffer-rss.txt" &
	local sampler=$!
	"${PRIO[@]}" taskset -c 0 "$BIN/loadgen" -url "http://127.0.0.1:$PORT" -token "@$RES/buffer.data/admin.token" -pid "$SERVER_PID" -json \
		-stream buffered -create -template none -dest-url "http://127.0.0.1:$SINK_PORT/" \
		-clients 16 -batch 100 -event-size 300 -events "$BUFFER_EVENTS" -duration 20m >"$RES/buffer.log" 2>&1
	echo "buffer: load after ingest $(load1)" | tee -a "$RES/buffer-load.txt"
	sleep 60
	curl -fsS -H "Authorization: Bearer $(cat "$RES/buffer.data/admin.token")" "http://127.0.0.1:$PORT/v1/streams/buffered/status" >"$RES/buffer-status.json" || true
	stop_server
	kill "$SINK_PID" 2>/dev/null || true
	wait "$SINK_PID" 2>/dev/null || true
	SINK_PID=""
	wait "$sampler" 2>/dev/null || true
	du -sh "$RES/buffer.data" | tee -a "$RES/buffer-load.txt"
	rm -rf "$RES/buffer.data"
	tail -1 "$RES/buffer.log" | jq -c . >"$RES/buffer.json"
	jq -r '"buffer: \(.events) events accepted at \(.events_per_s|floor) ev/s, peak RSS \(.server_peak_rss_mib) MiB"' "$RES/buffer.json"
	jq -r '"backlog: \(.destinations[0].backlog_events) events, \(.destinations[0].backlog_bytes) bytes, last status \(.destinations[0].last_status)"' "$RES/buffer-status.json" || true
	awk 'NR>1{print "  t=" $1 "s rss=" $2 "MiB hwm=" $3 "MiB"}' "$RES/buffer-rss.txt" | awk 'NR%6==1'
}

# start_gw DIR: versitygw on a fresh posix directory, pinned to CPU 0 (with
# the load generator and its sinks).
start_gw() {
	[ -x "$VERSITYGW" ] || { echo "versitygw not found at $VERSITYGW (scripts/test.sh installs it; or set VERSITYGW)" >&2; exit 1; }
	rm -rf "$1"
	mkdir -p "$1"
	"${PRIO[@]}" taskset -c 0 "$VERSITYGW" --access "$GW_ACCESS" --secret "$GW_SECRET" --port "127.0.0.1:$GW_PORT" --quiet posix "$1" >"$1.log" 2>&1 &
	GW_PID=$!
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$GW_PORT/" && return 0 # any answer (403) will do
		sleep 0.1
	done
	echo "versitygw did not start, see $1.log" >&2
	exit 1
}

stop_gw() { # $1: its directory, removed
	local cpu
	cpu=$(awk '{printf "%.1f", ($14 + $15) / 100}' "/proc/$GW_PID/stat" 2>/dev/null || echo "?")
	kill "$GW_PID"
	wait "$GW_PID" 2>/dev/null || true
	GW_PID=""
	echo "$1: $(du -sh "$1" | cut -f1) written, versitygw used ${cpu} s of CPU" | tee -a "$RES/gw.txt"
	rm -rf "$1"
}

# destinations: e2e as fast as possible (64 clients, template variables) to
# each of DESTS: http (the sink in the load generator), kafka (kfake in the
# load generator: 1 broker, 3 partitions, acknowledged records not stored)
# and s3 (versitygw, posix backend). Every destination batches 2000 events
# or 200 ms. The runs are interleaved, so that a change of the machine's
# load hits every destination alike. With DEST_RATE, at that offered load
# (-rate) instead, into e2e-<dest>-rate<DEST_RATE>.jsonl.
destinations() {
	local n d
	for n in $(seq "$RUNS"); do
		for d in $DESTS; do
			case $d in
			s3)
				start_gw "$RES/gw-$n"
				one_run "e2e-s3$DEST_SUFFIX" "$n" -mode e2e -dest s3 -s3-url "http://127.0.0.1:$GW_PORT" -s3-access "$GW_ACCESS" -s3-secret "$GW_SECRET" -s3-dir "$RES/gw-$n" \
					-clients 64 -batch 100 -event-size 300 -duration "$DURATION" -template variables -drain-timeout 10m "${DEST_RATE_ARGS[@]}"
				stop_gw "$RES/gw-$n"
				;;
			http | kafka)
				one_run "e2e-$d$DEST_SUFFIX" "$n" -mode e2e -dest "$d" -clients 64 -batch 100 -event-size 300 -duration "$DURATION" -template variables -drain-timeout 10m "${DEST_RATE_ARGS[@]}"
				;;
			*) echo "unknown destination $d (http kafka s3)" >&2; exit 2 ;;
			esac
		done
	done
}

# outage: a stream with two HTTP destinations under OUTAGE_RATE events/s for
# OUTAGE: the loadgen's sink, and a second sink in the loadgen that answers
# 503 to everything (the probe too) for the whole load and then 200
# (health.interval 5s). The server's RSS is sampled every 5 s through the
# outage, the drain of the second destination and 60 s after it.
outage() {
	local l
	l=$(wait_quiet)
	echo "outage: load before $l" | tee "$RES/outage-load.txt"
	start_server "$RES/outage.data"
	"${PRIO[@]}" taskset -c 0 "$BIN/loadgen" -url "http://127.0.0.1:$PORT" -token "@$RES/outage.data/admin.token" -pid "$SERVER_PID" -json \
		-mode e2e -dest http -outage "$OUTAGE" -outage-probe 5s -rate "$OUTAGE_RATE" -duration "$OUTAGE" \
		-clients 16 -batch 100 -event-size 300 -template variables -rss-every 5s -settle 60s -drain-timeout 30m >"$RES/outage.log" 2>&1
	echo "outage: load after $(load1)" | tee -a "$RES/outage-load.txt"
	stop_server
	rm -rf "$RES/outage.data"
	tail -1 "$RES/outage.log" | jq -c . >"$RES/outage.json"
	# The down destination's backlog: what the healthy one (which keeps up) has less what it has.
	jq -r '.rss[] | "\(.t|floor) \(.rss_mib*10|floor/10) \(.delivered) \(.down_delivered // 0) \(.delivered - (.down_delivered // 0))"' "$RES/outage.json" |
		sed '1i seconds rss_mib delivered down_delivered down_backlog_events' >"$RES/outage-rss.txt"
	jq -r '"outage: \(.events) events accepted at \(.events_per_s|floor)/s (p99 \(.p99_ms) ms), delivered to the healthy destination during the load \(.delivered_per_s_during_load|floor)/s, cpu% server \(.cpu.server_cpu_pct|floor) loadgen \(.cpu.loadgen_cpu_pct|floor) other \(.cpu.other_cpu_pct|floor)",
		"outage: second destination: \(.outage.delivered_during_outage) delivered while down, backlog \(.outage.backlog_events_at_end) events (\(.outage.backlog_bytes_at_end/1e6|floor) MB) when it came back; first delivery \(.outage.first_delivery_after_s*10|floor/10) s later, drained in \(.outage.drain_s|floor) s (\(.outage.delivered_per_s_after_back|floor)/s)",
		"outage: server RSS MiB during the outage start \(.rss_outage.start_mib|floor) mid \(.rss_outage.mid_mib|floor) end \(.rss_outage.end_mib|floor) peak \(.rss_outage.peak_mib|floor); drain peak \(.rss_outage.drain_peak_mib|floor), last \(.rss_outage.last_mib|floor), VmHWM \(.server_peak_rss_mib|floor)"' "$RES/outage.json" | tee -a "$RES/summary.txt"
	awk 'NR>1 && (NR-2)%12==0 {printf "%s:%s ", $1, $2} END{print "(seconds:RSS MiB, every minute)"}' "$RES/outage-rss.txt"
}

micro() {
	local l
	l=$(wait_quiet)
	echo "micro: load before $l" | tee "$RES/micro-load.txt"
	(cd "$SRC" && GOFLAGS=-mod=mod "${PRIO[@]}" go test -run '^$' -bench . -benchmem ./internal/ingest/... ./internal/template/ ./internal/delivery/ ./internal/destination/httpdest/) 2>&1 | tee "$RES/micro.txt"
	echo "micro: load after $(load1)" | tee -a "$RES/micro-load.txt"
}

# table KIND: best and median of the runs.
table() {
	[ -s "$RES/$1.jsonl" ] || return 0
	jq -s -r --arg k "$1" '
		def med(f): (map(f) | sort) as $v | $v[(($v|length)-1)/2|floor];
		def best(f): map(f) | max;
		def low(f): map(f) | min;
		"\($k) (\(length) runs)  events/s best \(best(.events_per_s)|floor) median \(med(.events_per_s)|floor)" +
		"  MB/s median \(med(.mb_per_s)*10|floor/10)" +
		"  p50 ms best \(low(.p50_ms)) median \(med(.p50_ms))  p99 ms best \(low(.p99_ms)) median \(med(.p99_ms))" +
		"  delivered/s best \(best(.delivered_per_s // 0)|floor) median \(med(.delivered_per_s // 0)|floor)" +
		" (during the load: median \(med(.delivered_per_s_during_load // 0)|floor))" +
		"  drain s median \(med(.drain_seconds // 0))" +
		"  peak RSS MiB max \(best(.server_peak_rss_mib))  load \(map(.load_before)|min)–\(map(.load_after)|max)" +
		"  other cpu% max \(best(.cpu.other_cpu_pct)|floor)"
	' "$RES/$1.jsonl" | tee -a "$RES/summary.txt"
}

for w in $WHAT; do
	case $w in
	machine) machine ;;
	ingest) ingest ;;
	e2e) e2e ;;
	e2erate) e2erate ;;
	overload) overload ;;
	buffer) buffer ;;
	micro) micro ;;
	destinations) destinations ;;
	outage) outage ;;
	dialects) dialects ;;
	e2eplan) e2eplan ;;
	*) echo "unknown part $w (machine ingest e2e e2erate e2eplan buffer micro overload destinations outage dialects)" >&2; exit 2 ;;
	esac
done
echo
table ingest
table e2e
table e2e-none
table e2e-rate
for d in $DESTS; do table "e2e-$d$DEST_SUFFIX"; done
echo "results in $RES"
