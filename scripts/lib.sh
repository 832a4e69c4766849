# shellcheck shell=bash
# Shell functions shared by scripts/run, scripts/test and tests/harness/pgcluster.
#
# It is sourced, never run: the caller sets `set -euo pipefail` and may set
# GRID_PROG (the name its messages carry) before sourcing. The functions:
#   deps_ensure          check the Debian packages the project needs; install the
#                        missing ones when root, print the sudo line otherwise
#   build_dir DIR OPT..  configure DIR with meson (once) and build it with ninja
#   cluster_*            a private PostgreSQL cluster in a directory: unix socket
#                        only, trust auth, superuser `postgres`, log in DIR/log
#   results_summarize    count TAP cases in meson's testlog.json files
#
# Layout of a cluster directory DIR: DIR/data (PGDATA), DIR/run (the socket),
# DIR/log (the server log). PostgreSQL refuses to run as root, so when we are
# root every server program runs as an unprivileged user (GRID_PG_USER, default
# `postgres`). That user must be able to reach DIR; when it cannot (a checkout
# under /root) or when the socket path would be too long for a unix socket, the
# cluster lives in /var/tmp/gridd-<hash of DIR> and DIR becomes a symlink to it.

GRID_PROG=${GRID_PROG:-$(basename -- "$0")}
GRID_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)

# The packages a fresh Debian machine needs to build, test and run everything.
# The PostgreSQL server package is checked apart (see deps_missing).
GRID_PACKAGES=(gcc pkg-config meson ninja-build python3 libuv1-dev libprotobuf-c-dev
	protobuf-c-compiler libpq-dev postgresql-contrib libsodium-dev libssl-dev)

# The socket file PostgreSQL creates in DIR/run, for the sun_path length check.
GRID_PG_PORT=5432
GRID_PG_SOCKET_NAME=".s.PGSQL.$GRID_PG_PORT"

msg() {
	printf '%s: %s\n' "$GRID_PROG" "$*" >&2
}

die() {
	msg "$@"
	exit 1
}

# ---------------------------------------------------------------------------
# Debian packages

# Prints the names of the given packages that are installed.
pkgs_installed() {
	local name status
	while read -r name status; do
		if [[ $status == "install ok installed" ]]; then
			echo "$name"
		fi
	done < <(dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null || true)
}

# Any versioned PostgreSQL server package (postgresql-15, postgresql-16, ...)
# will do; the metapackage `postgresql` pulls in the distribution's one.
pg_server_installed() {
	pkgs_installed postgresql 'postgresql-[0-9]*' | grep -E '^postgresql(-[0-9]+)?$' >/dev/null
}

# The server package to ask apt for: postgresql-15 where the archive has it
# (Debian 12), else whatever `postgresql` means on this release.
pg_server_package() {
	if apt-cache show postgresql-15 >/dev/null 2>&1; then
		echo postgresql-15
	else
		echo postgresql
	fi
}

# Prints the missing packages, one per line.
deps_missing() {
	local p
	local -A have=()
	while read -r p; do
		have[$p]=1
	done < <(pkgs_installed "${GRID_PACKAGES[@]}")
	for p in "${GRID_PACKAGES[@]}"; do
		[[ -n ${have[$p]:-} ]] || echo "$p"
	done
	pg_server_installed || pg_server_package
}

# Installs what is missing when root; otherwise prints the exact command to
# run and exits 1. Prints nothing and touches nothing when all is there.
deps_ensure() {
	local missing log
	if ! command -v dpkg-query >/dev/null 2>&1; then
		msg "warning: not a Debian system, cannot check packages; assuming the build tools are installed"
		return 0
	fi
	mapfile -t missing < <(deps_missing)
	((${#missing[@]} == 0)) && return 0

	if ((EUID != 0)); then
		msg "missing packages: ${missing[*]}"
		msg "install them with:"
		printf '  sudo apt-get install -y %s\n' "${missing[*]}" >&2
		exit 1
	fi

	msg "installing missing packages: ${missing[*]}"
	log=$(mktemp)
	if ! DEBIAN_FRONTEND=noninteractive apt-get update >"$log" 2>&1; then
		cat -- "$log" >&2
		rm -f -- "$log"
		die "apt-get update failed"
	fi
	# Which server package exists is only known once the lists are fresh.
	mapfile -t missing < <(deps_missing)
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >"$log" 2>&1; then
		tail -n 40 -- "$log" >&2
		rm -f -- "$log"
		die "apt-get install failed"
	fi
	rm -f -- "$log"
	mapfile -t missing < <(deps_missing)
	((${#missing[@]} == 0)) || die "still missing after apt-get install: ${missing[*]}"
	msg "packages installed"
}

# pkgs_ensure PKG...: like deps_ensure, for packages only some tools need
# (bench/run's redis-server): installs the missing ones when root, else
# prints the apt-get line and exits 1.
pkgs_ensure() {
	local p missing=() log
	local -A have=()
	command -v dpkg-query >/dev/null 2>&1 || return 0
	while read -r p; do
		have[$p]=1
	done < <(pkgs_installed "$@")
	for p in "$@"; do
		[[ -n ${have[$p]:-} ]] || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	if ((EUID != 0)); then
		msg "missing packages: ${missing[*]}"
		printf '  sudo apt-get install -y %s\n' "${missing[*]}" >&2
		exit 1
	fi
	msg "installing ${missing[*]}"
	log=$(mktemp)
	if ! { DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >"$log" 2>&1 ||
		{ DEBIAN_FRONTEND=noninteractive apt-get update >>"$log" 2>&1 &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >>"$log" 2>&1; }; }; then
		tail -n 40 -- "$log" >&2
		rm -f -- "$log"
		die "apt-get install ${missing[*]} failed"
	fi
	rm -f -- "$log"
}

# ---------------------------------------------------------------------------
# Building

# Prints "name=value" for each option of the configured build directory $1
# that differs from the wanted "-Dname=value" arguments that follow.
build_options_differing() {
	local dir=$1
	shift
	meson introspect "$dir" --buildoptions | python3 -c '
import json, sys
have = {o["name"]: o["value"] for o in json.load(sys.stdin)}
def norm(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return ",".join(str(x) for x in v)
    return str(v)
for arg in sys.argv[1:]:
    name, _, want = arg[2:].partition("=")
    if name not in have or norm(have[name]) != want:
        print(name + "=" + want)
' "$@"
}

# Runs a command with its output in LOG; on failure shows LOG and dies with
# the message that follows "--".
run_logged() {
	local log=$1
	shift
	local argv=()
	while [[ $1 != -- ]]; do
		argv+=("$1")
		shift
	done
	shift
	if ! "${argv[@]}" >"$log" 2>&1; then
		cat -- "$log" >&2
		rm -f -- "$log"
		die "$@"
	fi
}

# build_dir DIR [-Dname=value ...]: configures DIR (relative to the repository
# root) with meson once, or again when an option differs, and builds it.
# Quiet on success; the whole compiler output on failure.
build_dir() {
	local dir=$1
	shift
	local bdir=$GRID_ROOT/$dir log differing warnings
	log=$(mktemp)
	if [[ ! -f $bdir/meson-private/coredata.dat ]]; then
		run_logged "$log" meson setup "$bdir" "$GRID_ROOT" "$@" -- "meson setup $dir failed"
	else
		differing=$(build_options_differing "$bdir" "$@" 2>/dev/null) || differing="(unknown)"
		if [[ -n $differing ]]; then
			local opts=()
			mapfile -t opts <<<"$differing"
			[[ $differing == "(unknown)" ]] || msg "setting ${opts[*]} in $dir"
			# A directory another meson version configured refuses to be
			# reconfigured: start it afresh then.
			if [[ $differing == "(unknown)" ]] ||
				! meson configure "$bdir" "${opts[@]/#/-D}" >"$log" 2>&1; then
				msg "configuring $dir from scratch"
				run_logged "$log" meson setup --wipe "$bdir" "$GRID_ROOT" "$@" -- "meson setup --wipe $dir failed"
			fi
		fi
	fi

	run_logged "$log" ninja -C "$bdir" -- "build failed in $dir"
	warnings=$(grep -c 'warning:' "$log" || true)
	mv -- "$log" "$bdir/meson-logs/ninja.log"
	if ((warnings > 0)); then
		msg "built $dir ($warnings compiler warnings: $dir/meson-logs/ninja.log)"
	else
		msg "built $dir"
	fi
}

# ---------------------------------------------------------------------------
# PostgreSQL

# Prints the directory holding initdb, pg_ctl and psql: PG_BINDIR if set, else
# pg_config's answer when it has a server there (libpq-dev may be newer than
# the server), else the newest /usr/lib/postgresql/*/bin.
pg_bindir() {
	local dir
	if [[ -n ${PG_BINDIR:-} ]]; then
		[[ -x $PG_BINDIR/initdb ]] || die "PG_BINDIR=$PG_BINDIR has no initdb"
		echo "$PG_BINDIR"
		return 0
	fi
	if dir=$(pg_config --bindir 2>/dev/null) && [[ -x $dir/initdb && -x $dir/pg_ctl ]]; then
		echo "$dir"
		return 0
	fi
	dir=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
	[[ -x $dir/initdb && -x $dir/pg_ctl ]] ||
		die "no PostgreSQL server programs found (install postgresql-15, or set PG_BINDIR)"
	echo "$dir"
}

# The user the server programs run as.
cluster_owner() {
	if ((EUID == 0)); then
		echo "${GRID_PG_USER:-postgres}"
	else
		id -un
	fi
}

# Runs a command as the cluster owner. The working directory is / because
# ours (a checkout under /root, say) may be closed to that user.
as_cluster_owner() {
	if ((EUID != 0)); then
		"$@"
		return
	fi
	local user
	user=$(cluster_owner)
	id -u -- "$user" >/dev/null 2>&1 ||
		die "user '$user' does not exist; PostgreSQL cannot run as root (set GRID_PG_USER)"
	if command -v runuser >/dev/null 2>&1; then
		(cd / && runuser -u "$user" -- "$@")
	else
		(cd / && setpriv --reuid="$user" --regid="$(id -g -- "$user")" --init-groups -- "$@")
	fi
}

# The absolute path of DIR as given (symlinks not followed), and the real
# directory the cluster lives in (DIR itself or its /var/tmp target).
cluster_path() {
	realpath -m -s -- "$1"
}

cluster_realdir() {
	realpath -m -- "$1"
}

# True when DIR cannot host the cluster itself: the owner cannot reach it, or
# the socket path would not fit a sockaddr_un (107 bytes).
cluster_needs_relocation() {
	local dir=$1
	local sock="$dir/run/$GRID_PG_SOCKET_NAME"
	((${#sock} > 100)) && return 0
	if ((EUID == 0)); then
		! as_cluster_owner test -x "$(dirname -- "$dir")"
	else
		return 1
	fi
}

owned_by_us_or() {
	local owner
	owner=$(stat -c %U -- "$2")
	[[ $owner == "$(id -un)" || $owner == "$1" ]]
}

# Makes sure the cluster directory for DIR exists and belongs to the owner;
# prints the real directory.
cluster_prepare() {
	local dir real user hash
	dir=$(cluster_path "$1")
	user=$(cluster_owner)
	mkdir -p -- "$(dirname -- "$dir")"

	if [[ -L $dir ]]; then
		real=$(cluster_realdir "$dir")
	elif cluster_needs_relocation "$dir"; then
		hash=$(printf '%s' "$dir" | sha256sum | cut -c1-12)
		real="${GRID_PG_RELOCATE_DIR:-/var/tmp}/gridd-$hash"
		if [[ -e $dir ]]; then
			rmdir -- "$dir" 2>/dev/null ||
				die "$dir is not reachable by user '$user' and not empty; cannot host a cluster there"
		fi
		# The name is predictable and /var/tmp open to all: never follow a
		# symlink someone planted there, nor use a directory of a stranger.
		if [[ -L $real ]] || { [[ -e $real ]] && ! owned_by_us_or "$user" "$real"; }; then
			die "$real exists and is not ours; remove it or set GRID_PG_RELOCATE_DIR"
		fi
		mkdir -p -- "$real"
		ln -s -- "$real" "$dir"
	else
		real=$dir
	fi

	mkdir -p -- "$real"
	if ((EUID == 0)); then
		chown -- "$user:" "$real"
	fi
	chmod 0755 "$real"
	echo "$real"
}

cluster_initialized() {
	[[ -f $(cluster_realdir "$1")/data/PG_VERSION ]]
}

cluster_require() {
	cluster_initialized "$1" || die "no PostgreSQL cluster in $1 (run: pgcluster init $1)"
}

# Quotes a value for a postgresql.conf string.
conf_quote() {
	printf "'%s'" "${1//\'/\'\'}"
}

# Quotes a value for a libpq conninfo string when it needs it.
conninfo_quote() {
	local v=$1
	if [[ -z $v || $v =~ [[:space:]\'\\] ]]; then
		v=${v//\\/\\\\}
		v=${v//\'/\\\'}
		printf "'%s'" "$v"
	else
		printf '%s' "$v"
	fi
}

# cluster_init DIR [durable|throwaway]: initdb's a cluster in DIR unless one is
# there already. A throwaway cluster (tests) skips fsync: it survives any
# process crash, only not a machine crash, and is much faster.
cluster_init() {
	local dir=$1 kind=${2:-durable}
	local real bindir locale=C
	[[ $kind == durable || $kind == throwaway ]] || die "cluster kind must be durable or throwaway, not '$kind'"
	cluster_initialized "$dir" && return 0
	bindir=$(pg_bindir)
	real=$(cluster_prepare "$dir")
	if locale -a 2>/dev/null | grep -ix 'c\.utf-\?8' >/dev/null; then
		locale=C.UTF-8
	fi

	local args=(-D "$real/data" -U postgres --auth=trust --encoding=UTF8 --locale="$locale")
	[[ $kind == throwaway ]] && args+=(--no-sync)
	as_cluster_owner mkdir -p -- "$real/run"
	if ! as_cluster_owner "$bindir/initdb" "${args[@]}" >"$real/initdb.log" 2>&1; then
		cat -- "$real/initdb.log" >&2
		die "initdb failed in $real/data"
	fi

	{
		echo
		echo "# Added by gridd's scripts/lib.sh: a private cluster reachable only"
		echo "# through its own unix socket."
		echo "listen_addresses = ''"
		echo "unix_socket_directories = $(conf_quote "$real/run")"
		echo "port = $GRID_PG_PORT"
		echo "max_connections = 200"
		if [[ $kind == throwaway ]]; then
			echo "fsync = off"
			echo "full_page_writes = off"
			echo "shared_buffers = 32MB"
		fi
	} >>"$real/data/postgresql.conf"
}

# Exit status of pg_ctl status: 0 running, 3 stopped, 4 no cluster.
cluster_status() {
	local dir=$1 real
	cluster_initialized "$dir" || return 4
	real=$(cluster_realdir "$dir")
	as_cluster_owner "$(pg_bindir)/pg_ctl" -D "$real/data" status >/dev/null 2>&1
}

cluster_start() {
	local dir=$1 real rc=0
	cluster_require "$dir"
	cluster_status "$dir" || rc=$?
	((rc == 0)) && return 0
	real=$(cluster_realdir "$dir")
	if ! as_cluster_owner "$(pg_bindir)/pg_ctl" -D "$real/data" -l "$real/log" -w -t 60 -s start >/dev/null 2>&1; then
		msg "PostgreSQL did not start; the end of $real/log:"
		tail -n 20 -- "$real/log" >&2 || true
		die "could not start the cluster in $dir"
	fi
}

# cluster_stop DIR [fast|immediate|smart]: stops the server if it runs.
cluster_stop() {
	local dir=$1 mode=${2:-fast} real rc=0
	case $mode in
	fast | immediate | smart) ;;
	*) die "stop mode must be fast, immediate or smart, not '$mode'" ;;
	esac
	cluster_require "$dir"
	cluster_status "$dir" || rc=$?
	((rc == 3)) && return 0
	real=$(cluster_realdir "$dir")
	if ! as_cluster_owner "$(pg_bindir)/pg_ctl" -D "$real/data" -m "$mode" -w -t 60 -s stop >/dev/null 2>&1; then
		msg "PostgreSQL did not stop; the end of $real/log:"
		tail -n 20 -- "$real/log" >&2 || true
		die "could not stop the cluster in $dir"
	fi
}

# Stops the cluster (immediately: it is being thrown away) and removes DIR
# and, when DIR was a symlink to it, its /var/tmp directory.
cluster_destroy() {
	local dir real
	dir=$(cluster_path "$1")
	[[ -e $dir || -L $dir ]] || return 0
	real=$(cluster_realdir "$dir")
	if cluster_initialized "$dir"; then
		cluster_stop "$dir" immediate || true
	fi
	if [[ -L $dir ]]; then
		rm -rf -- "$real"
		rm -f -- "$dir"
	else
		rm -rf -- "$dir"
	fi
}

# Stops, immediately, every server still running from a cluster directory
# below DIR (tests that forgot theirs), so that DIR can be removed.
clusters_stop_under() {
	local pidfile bindir
	bindir=$(pg_bindir)
	while IFS= read -r -d '' pidfile; do
		as_cluster_owner "$bindir/pg_ctl" -D "$(dirname -- "$pidfile")" -m immediate -w -s stop \
			>/dev/null 2>&1 || true
	done < <(find "$1" -path '*/data/postmaster.pid' -print0 2>/dev/null)
}

# The libpq conninfo string for database $2 (default postgres) in DIR.
cluster_url() {
	local dir=$1 db=${2:-postgres}
	echo "host=$(conninfo_quote "$(cluster_realdir "$dir")/run") port=$GRID_PG_PORT user=postgres dbname=$(conninfo_quote "$db")"
}

# Runs psql against database $2 of the cluster in DIR, with the remaining
# arguments. psql runs as the caller: the socket accepts everyone (trust).
cluster_psql() {
	local dir=$1 db=$2
	shift 2
	"$(pg_bindir)/psql" -X -v ON_ERROR_STOP=1 -q -d "$(cluster_url "$dir" "$db")" "$@"
}

cluster_createdb() {
	local dir=$1 db=$2 found
	found=$(printf "SELECT 1 FROM pg_database WHERE datname = :'db'\n" |
		cluster_psql "$dir" postgres -tA -v db="$db") || die "cannot query the cluster in $dir"
	[[ $found == 1 ]] && return 0
	"$(pg_bindir)/createdb" -h "$(cluster_realdir "$dir")/run" -p "$GRID_PG_PORT" -U postgres -- "$db" ||
		die "could not create database $db"
}

# ---------------------------------------------------------------------------
# Test results

# results_summarize LABEL:RC:DIR ...: counts the TAP cases of each build
# directory's meson-logs/testlog.json (RC is meson test's exit status there),
# prints a summary per build and the failed cases, then the skipped count (if
# any) and, as the last line, "N passed, N failed". Returns 1 if any failed.
results_summarize() {
	python3 - "$@" <<'EOF'
import json, os, re, sys

TAP = re.compile(r'^(not ok|ok)\b(?:\s*\d+)?\s*(?:-\s*)?([^#]*?)\s*(#.*)?$')
total = {"passed": 0, "failed": 0, "skipped": 0}

for arg in sys.argv[1:]:
    label, rc, path = arg.split(":", 2)
    rc = int(rc)
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    failed = []
    programs = 0
    log = os.path.join(path, "meson-logs", "testlog.json")
    try:
        with open(log, encoding="utf-8", errors="replace") as f:
            runs = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError) as e:
        runs = []
    for run in runs:
        programs += 1
        name = run.get("name", "?")
        result = run.get("result", "")
        code = run.get("returncode")
        cases = {"passed": 0, "failed": 0, "skipped": 0}
        for line in (run.get("stdout") or "").splitlines():
            m = TAP.match(line.strip())
            if not m:
                continue
            verdict, case, directive = m.group(1), m.group(2), (m.group(3) or "")
            if re.search(r"#\s*skip", directive, re.I):
                cases["skipped"] += 1
            elif verdict == "ok":
                cases["passed"] += 1
            elif re.search(r"#\s*todo", directive, re.I):
                cases["skipped"] += 1  # an expected failure
            else:
                cases["failed"] += 1
                failed.append(f"{name}: {case or line.strip()}")
        bad = result not in ("OK", "SKIP", "EXPECTEDFAIL")
        # A TAP program that skips all its cases exits 77, which meson's TAP
        # protocol reports as an error: that is a skip, not a failure.
        if bad and code == 77 and cases["failed"] == 0:
            bad = False
            if cases["skipped"] == 0 and cases["passed"] == 0:
                cases["skipped"] = 1
        if bad and cases["failed"] == 0:
            cases["failed"] = 1
            if result == "TIMEOUT":
                why = "timed out"
            elif result == "INTERRUPT":
                why = "interrupted"
            elif code is not None and code < 0:
                why = f"killed by signal {-code}"
            else:
                why = f"exited with status {code} ({result.lower()})"
            failed.append(f"{name}: {why}")
        if not bad and sum(cases.values()) == 0:
            # A plain exit-code test: one case.
            cases["skipped" if result == "SKIP" else "passed"] = 1
        for k in counts:
            counts[k] += cases[k]
    if not runs:
        # Nothing ran: a broken setup, or test names that match nothing.
        counts["failed"] += 1
        if rc != 0:
            failed.append(f"meson test in {path} failed (status {rc}) before running tests")
        else:
            failed.append(f"no tests ran in {path}")
    line = f"{label}: {programs} programs, {counts['passed']} passed, {counts['failed']} failed"
    if counts["skipped"]:
        line += f", {counts['skipped']} skipped"
    print(line)
    for f in failed:
        print(f"  FAILED {label} {f}")
    for k in total:
        total[k] += counts[k]

if total["skipped"]:
    print(f"{total['skipped']} skipped")
print(f"{total['passed']} passed, {total['failed']} failed")
sys.exit(1 if total["failed"] else 0)
EOF
}
