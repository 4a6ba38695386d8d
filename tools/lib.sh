# shellcheck shell=bash
# LIB_PID and LIB_PORT are read by the scripts that source this file.
# shellcheck disable=SC2034
#
# tools/lib.sh: helpers shared by tools/deps, tools/dev and tools/bench. Sourced, never run.
#
# Conventions: functions are named lib_*; messages go to stderr (stdout stays free for what a
# command is asked to print, e.g. `tools/dev stack up`); a function that starts a process
# leaves its pid in LIB_PID, because a $(...) capture would make the process a grandchild
# that `wait` cannot see.

LIB_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LIB_NAME="$(basename "$0")"
LIB_PID=
LIB_PORTS_TAKEN=" "
LIB_BIN="$LIB_ROOT/.tools/bin"

lib_log() {
	printf '%s: %s\n' "$LIB_NAME" "$*" >&2
}

lib_warn() {
	printf '%s: warning: %s\n' "$LIB_NAME" "$*" >&2
}

lib_die() {
	printf '%s: error: %s\n' "$LIB_NAME" "$*" >&2
	exit 1
}

# Puts Go on PATH; fails with the reason when the toolchain is not where this machine kind has it.
lib_need_go() {
	case ":$PATH:" in
	*:/usr/local/go/bin:*) ;;
	*) PATH="/usr/local/go/bin:$PATH" ;;
	esac
	export PATH
	# Go needs a cache directory; a bare environment (no HOME) gets one inside .tools/.
	if [ -z "${HOME:-}" ] && [ -z "${GOCACHE:-}" ]; then
		export GOCACHE="$LIB_ROOT/.tools/go/cache" GOPATH="$LIB_ROOT/.tools/go"
	fi
	command -v go >/dev/null 2>&1 ||
		lib_die "Go not found (expected /usr/local/go/bin/go); install Go 1.22+ there first"
}

# lib_need CMD...: fails naming the first command that is missing and how to get it.
lib_need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || lib_die "'$c' not found; run 'make deps' (tools/deps) first"
	done
}

# lib_port_open HOST PORT: true when something accepts TCP connections there (1 s at most).
lib_port_open() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# lib_port_free PORT: true when no socket of any state uses the local port, so a listener can
# bind it on 127.0.0.1, and this shell has not handed it out already.
lib_port_free() {
	case "$LIB_PORTS_TAKEN" in
	*" $1 "*) return 1 ;;
	esac
	[ -z "$(ss -Htan "sport = :$1" 2>/dev/null)" ]
}

# lib_free_port: prints a free loopback port below the kernel's ephemeral range (32768+), so a
# client connection cannot take it between the check and the bind. Call it without $(...) when
# several ports are needed in one shell: it sets LIB_PORT and remembers it as taken.
LIB_PORT=
lib_free_port() {
	local i p
	for i in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000))
		if lib_port_free "$p"; then
			LIB_PORTS_TAKEN="$LIB_PORTS_TAKEN$p "
			LIB_PORT=$p
			return 0
		fi
		: "$i"
	done
	lib_die "no free port found in 20000-31999"
}

# lib_wait_port HOST PORT SECONDS [PID]: waits until the port accepts; fails early when PID dies.
lib_wait_port() {
	local host=$1 port=$2 secs=$3 pid=${4:-} i
	for i in $(seq 1 $((secs * 10))); do
		if lib_port_open "$host" "$port"; then
			return 0
		fi
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		sleep 0.1
		: "$i"
	done
	return 1
}

# lib_mongo_ping HOST PORT: sends the MongoDB command {ping: 1, $db: "admin"} as one OP_MSG and
# succeeds when the reply carries ok: 1.0. A TCP accept alone does not prove FerretDB answers.
lib_mongo_ping() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 3 bash -c '
		exec 3<>"/dev/tcp/$0/$1" || exit 1
		# header: length 51, requestID 1, responseTo 0, opCode 2013 (OP_MSG); flags 0;
		# section kind 0; BSON {ping: int32 1, $db: "admin"} (30 bytes).
		printf "\x33\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xdd\x07\x00\x00" >&3
		printf "\x00\x00\x00\x00\x00" >&3
		printf "\x1e\x00\x00\x00\x10ping\x00\x01\x00\x00\x00\x02\$db\x00\x06\x00\x00\x00admin\x00\x00" >&3
		len=$(head -c 4 <&3 | od -An -tu4 | tr -d " ")
		[ -n "$len" ] && [ "$len" -gt 4 ] && [ "$len" -lt 65536 ] || exit 1
		# "ok" as a double 1.0: type 0x01, "ok\0", then 1.0 little-endian.
		head -c $((len - 4)) <&3 | od -An -v -tx1 | tr -d " \n" |
			grep -q "016f6b00000000000000f03f"
	' "$1" "$2" 2>/dev/null
}

# lib_redis_ping HOST PORT: true when Redis answers PING with PONG.
lib_redis_ping() {
	[ "$(timeout 2 redis-cli -h "$1" -p "$2" ping 2>/dev/null)" = "PONG" ]
}

# lib_wait_ready KIND HOST PORT SECONDS [PID]: waits until a mongodb or redis server answers
# its ping (not only accepts); fails early when PID dies.
lib_wait_ready() {
	local kind=$1 host=$2 port=$3 secs=$4 pid=${5:-} i
	for i in $(seq 1 $((secs * 10))); do
		if "lib_${kind}_ping" "$host" "$port"; then
			return 0
		fi
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		sleep 0.1
		: "$i"
	done
	return 1
}

# lib_uri_hostport URI DEFAULT_PORT: prints "HOST PORT" of a mongodb:// or redis:// URI (the
# first host of a list; credentials and path dropped).
lib_uri_hostport() {
	local rest=${1#*://} host port
	rest=${rest%%/*}
	rest=${rest%%\?*}
	rest=${rest%%,*}
	rest=${rest##*@}
	case "$rest" in
	\[*\]:*) host=${rest%:*} port=${rest##*:} ;;
	\[*\]) host=$rest port=$2 ;;
	*:*) host=${rest%%:*} port=${rest##*:} ;;
	*) host=$rest port=$2 ;;
	esac
	host=${host#[}
	host=${host%]}
	[ -n "$host" ] || host=127.0.0.1
	printf '%s %s\n' "$host" "$port"
}

# lib_is_loopback HOST: true for the names of this machine that we may start servers on.
lib_is_loopback() {
	case "$1" in
	127.* | localhost | ::1) return 0 ;;
	*) return 1 ;;
	esac
}

# lib_start_ferretdb PORT DATADIR LOGFILE: FerretDB on 127.0.0.1:PORT in the background; pid in
# LIB_PID. DATADIR is created and made absolute (the SQLite URL needs both and a trailing /).
lib_start_ferretdb() {
	local port=$1 dir=$2 log=$3
	[ -x "$LIB_BIN/ferretdb" ] || lib_die "$LIB_BIN/ferretdb missing; run 'make deps' (tools/deps)"
	mkdir -p "$dir"
	dir="$(cd "$dir" && pwd)"
	"$LIB_BIN/ferretdb" --listen-addr "127.0.0.1:$port" --sqlite-url "file:$dir/" \
		--log-level warn >>"$log" 2>&1 </dev/null &
	LIB_PID=$!
}

# lib_start_redis PORT DATADIR LOGFILE: a throwaway redis-server (no persistence) on
# 127.0.0.1:PORT in the background; pid in LIB_PID.
lib_start_redis() {
	local port=$1 dir=$2 log=$3
	lib_need redis-server
	mkdir -p "$dir"
	dir="$(cd "$dir" && pwd)"
	redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
		--daemonize no --dir "$dir" --logfile "" >>"$log" 2>&1 </dev/null &
	LIB_PID=$!
}

# lib_stop_pid PID [NAME] [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 10). Only for
# pids this script started or recorded itself.
lib_stop_pid() {
	local pid=$1 name=${2:-process} secs=${3:-10} i
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 $((secs * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
		: "$i"
	done
	if kill -0 "$pid" 2>/dev/null; then
		lib_warn "$name (pid $pid) ignored SIGTERM for ${secs}s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	# Reap it when it is our child; harmless otherwise.
	wait "$pid" 2>/dev/null || true
}

# lib_make_cert DIR: a new self-signed certificate DIR/server.pem and key DIR/key.pem (P-256,
# CN=localhost, SAN for 127.0.0.1 and localhost, 825 days), over what is there.
lib_make_cert() {
	local d=$1
	lib_need openssl
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/key.pem" -out "$d/server.pem" -days 825 -subj "/CN=localhost" \
		-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1 ||
		lib_die "openssl could not create the certificate in $d"
	chmod 600 "$d/key.pem"
}

# lib_ensure_cert: cert/server.pem and cert/key.pem (lib_make_cert) unless both exist.
lib_ensure_cert() {
	local d="$LIB_ROOT/cert"
	if [ -s "$d/server.pem" ] && [ -s "$d/key.pem" ]; then
		return 0
	fi
	lib_make_cert "$d"
	lib_log "created self-signed certificate $d/server.pem (key $d/key.pem)"
}
