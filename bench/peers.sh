#!/usr/bin/env bash
# Runs the same load generator (bench/cmd/ftpload) against ftpgate, vsftpd,
# Pure-FTPd and ProFTPD on loopback and prints their figures side by side.
# Run by hand, as root (or with sudo): it installs Debian's vsftpd with
# apt-get when missing, and unpacks Debian's pure-ftpd and proftpd-core
# packages into a cache directory (the three conflict, so only one can be
# installed), after installing the libraries they need.
# Everything runs from a throwaway directory, on 127.0.0.1, and stops when
# the script ends.
#
#   bench/peers.sh                       512 MiB transfers, 32 clients
#   PEERS_SIZE=64MiB PEERS_C=8 bench/peers.sh
#   PEERS_DURATION=10s PEERS_IDLE=2000 PEERS_ROUNDS=5 bench/peers.sh
#   PEERS_MODES="small sessions" PEERS_SERVERS="ftpgate pure-ftpd" bench/peers.sh
#
# On a machine with two cores or more, every server runs on core 0 and the
# load generator on core 1 (taskset), so that a server's figures are one
# core's and the load generator never competes with it. The throughput
# modes run in PEERS_ROUNDS interleaved rounds (every server once a
# round); benchtable reports each figure's median over the rounds.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${PEERS_SIZE:-512MiB}
clients=${PEERS_C:-32}
duration=${PEERS_DURATION:-5s}
idle=${PEERS_IDLE:-1000}
settle=${PEERS_SETTLE:-5s} # idle sessions' wait before their memory is read
rounds=${PEERS_ROUNDS:-3}
modes=${PEERS_MODES:-retr stor small sessions latency} # idle runs first, unless PEERS_IDLE=0
servers=${PEERS_SERVERS:-ftpgate vsftpd pure-ftpd proftpd}
server_cpu="" load_cpu=""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
  server_cpu="taskset -c 0" load_cpu="taskset -c 1"
fi
cache=${PEERS_CACHE:-$HOME/.cache/ftpgate-bench-peers}

sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

# --- peers --------------------------------------------------------------
apt-cache policy vsftpd pure-ftpd proftpd-core | sed -n '1,3p;/^pure-ftpd/,+2p;/^proftpd-core/,+2p'
if ! command -v vsftpd >/dev/null 2>&1 && [ ! -x /usr/sbin/vsftpd ]; then
  echo "installing vsftpd"
  $sudo apt-get install -y -q vsftpd >/dev/null ||
    { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q vsftpd >/dev/null; }
fi
vsftpd=$(command -v vsftpd || echo /usr/sbin/vsftpd)
if [ -x /usr/sbin/pure-ftpd ] && command -v pure-pw >/dev/null 2>&1; then
  pureftpd=/usr/sbin/pure-ftpd
  purepw=$(command -v pure-pw)
else
  pureftpd=$cache/root/usr/sbin/pure-ftpd
  purepw=$cache/root/usr/bin/pure-pw
  if [ ! -x "$pureftpd" ]; then
    echo "unpacking pure-ftpd into $cache (it conflicts with the installed vsftpd)"
    $sudo apt-get install -y -q libsodium23 libcap2 libssl3 libpam0g libcrypt1 >/dev/null
    mkdir -p "$cache/root"
    (cd "$cache" && rm -f pure-ftpd_*.deb && apt-get download pure-ftpd >/dev/null 2>&1 ||
      { $sudo apt-get update -q >/dev/null && apt-get download pure-ftpd >/dev/null; })
    dpkg-deb -x "$cache"/pure-ftpd_*.deb "$cache/root"
  fi
fi
if [ -x /usr/sbin/proftpd ]; then
  proftpd=/usr/sbin/proftpd
else
  proftpd=$cache/proftpd/root/usr/sbin/proftpd
  if [ ! -x "$proftpd" ]; then
    echo "unpacking proftpd-core into $cache/proftpd (it conflicts with the installed vsftpd)"
    $sudo apt-get install -y -q libhiredis0.14 libmemcached11 libmemcachedutil2 libpcre2-posix3 \
      libidn2-0 libacl1 libcap2 libssl3 libpam0g libcrypt1 >/dev/null
    mkdir -p "$cache/proftpd/root"
    (cd "$cache/proftpd" && rm -f proftpd-core_*.deb && apt-get download proftpd-core >/dev/null 2>&1 ||
      { $sudo apt-get update -q >/dev/null && apt-get download proftpd-core >/dev/null; })
    dpkg-deb -x "$cache"/proftpd/proftpd-core_*.deb "$cache/proftpd/root"
  fi
fi

# --- throwaway tree -----------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/ftpgate-peers.XXXXXX")
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
  if [ -n "${ftpuser:-}" ]; then $sudo userdel "$ftpuser" 2>/dev/null || true; fi
}
trap cleanup EXIT

echo "building ftpgate and ftpload"
go build -o "$work/ftpgate" ./cmd/ftpgate
go build -o "$work/ftpload" ./bench/cmd/ftpload
go build -o "$work/benchtable" ./bench/cmd/benchtable

# free_port prints a loopback port nobody listens on.
free_port() {
  local p i
  for i in $(seq 1 200); do
    p=$((20000 + RANDOM % 10000))
    if ! ss -Htln "sport = :$p" | grep -q .; then echo "$p"; return; fi
  done
  echo "no free port" >&2; return 1
}

# wait_port waits (at most 10 s) until something listens on port $1.
wait_port() {
  local i
  for i in $(seq 1 100); do
    ss -Htln "sport = :$1" | grep -q . && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2; return 1
}

nobody=$(id -u nobody)
nogroup=$(id -g nobody)

# vsftpd: anonymous with write access to /pub (its root must not be
# writable), as a throwaway system user whose home is that root.
mkdir -p "$work/vsftpd/pub" "$work/empty"
ftpuser=ftpbench$$
$sudo useradd --system --no-create-home --home-dir "$work/vsftpd" --shell /usr/sbin/nologin "$ftpuser"
chown "$ftpuser" "$work/vsftpd/pub"
vport=$(free_port)
cat >"$work/vsftpd.conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$vport
background=NO
anonymous_enable=YES
local_enable=NO
write_enable=YES
anon_upload_enable=YES
anon_mkdir_write_enable=YES
anon_other_write_enable=YES
anon_root=$work/vsftpd
anon_umask=022
no_anon_password=YES
ftp_username=$ftpuser
secure_chroot_dir=$work/empty
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
max_clients=0
max_per_ip=0
pasv_enable=YES
xferlog_enable=NO
dirmessage_enable=NO
ssl_enable=NO
vsftpd_log_file=/dev/null
CONF
$server_cpu "$vsftpd" "$work/vsftpd.conf" &
pids+=($!)
vpid=$!

# Pure-FTPd: a virtual user from pure-pw, chrooted to its directory. pure-pw
# stores an Argon2 hash (about 2.5 s of CPU per login here), which would
# make its sessions and idle figures measure the hash; the user's hash is
# replaced by the same SHA-512 crypt as ProFTPD's (Pure-FTPd checks it with
# crypt(3)), so that every peer pays the same cheap hash per login.
mkdir -p "$work/pure"
chown "$nobody:$nogroup" "$work/pure"
printf 'bench\nbench\n' | "$purepw" useradd bench -u "$nobody" -g "$nogroup" -d "$work/pure" -f "$work/pureftpd.passwd" >/dev/null
sha512=$(openssl passwd -6 bench)
awk -F: -v OFS=: -v h="$sha512" '$1 == "bench" { $2 = h } { print }' "$work/pureftpd.passwd" >"$work/pureftpd.passwd.new"
mv "$work/pureftpd.passwd.new" "$work/pureftpd.passwd"
"$purepw" mkdb "$work/pureftpd.pdb" -f "$work/pureftpd.passwd"
pport=$(free_port)
$server_cpu "$pureftpd" -S "127.0.0.1,$pport" -l "puredb:$work/pureftpd.pdb" -E -A -H -c 5000 -C 5000 -u 1 &
pids+=($!)
ppid_=$!

# ProFTPD: a virtual user in an AuthUserFile (SHA-512 crypt, as
# /etc/shadow has), chrooted to its directory; one process per session,
# as ProFTPD always runs.
mkdir -p "$work/proftpd"
chown "$nobody:$nogroup" "$work/proftpd"
echo "bench:$(openssl passwd -6 bench):$nobody:$nogroup::$work/proftpd:/usr/sbin/nologin" >"$work/proftpd.passwd"
chmod 600 "$work/proftpd.passwd"
fport=$(free_port)
cat >"$work/proftpd.conf" <<CONF
ServerType standalone
ServerName "bench"
DefaultAddress 127.0.0.1
Port $fport
SocketBindTight on
UseIPv6 off
User nobody
Group $(id -gn nobody)
UseReverseDNS off
WtmpLog off
TransferLog none
SystemLog $work/proftpd.log
SyslogLevel warn
PidFile $work/proftpd.pid
ScoreboardFile $work/proftpd.scoreboard
DelayEngine off
MaxInstances 5000
MaxClients none
TimeoutIdle 0
TimeoutNoTransfer 0
AuthOrder mod_auth_file.c
AuthUserFile $work/proftpd.passwd
AuthPAM off
RequireValidShell off
DefaultRoot ~
AllowOverwrite on
Umask 022
CONF
$server_cpu "$proftpd" -n -c "$work/proftpd.conf" 2>"$work/proftpd.err" &
pids+=($!)
fpid=$!

# ftpgate, the built binary, logging warnings only (the peers log no
# transfers either). Its default caps on the passive ports one user (16)
# and one address (32) hold are lifted: every client here is the same user
# on 127.0.0.1, and the peers have no such caps.
mkdir -p "$work/ftpgate-root"
$server_cpu "$work/ftpgate" serve --listen 127.0.0.1:0 --root "$work/ftpgate-root" --user bench:bench \
  --log-level warn --idle-timeout 0 --limit-passive-per-user -1 --limit-passive-per-ip -1 >"$work/ftpgate.out" 2>"$work/ftpgate.err" &
pids+=($!)
gpid=$!
for i in $(seq 1 100); do
  grep -q 'listening on' "$work/ftpgate.out" && break
  sleep 0.1
done
gaddr=$(sed -n 's/^ftpgate: listening on //p' "$work/ftpgate.out" | head -n1)
[ -n "$gaddr" ] || { echo "ftpgate did not start:"; cat "$work/ftpgate.err"; exit 1; }
wait_port "$vport"
wait_port "$pport"
wait_port "$fport"

out=$work/results.txt
# run NAME PID ADDR USER PASS DIR MODE...: the modes against one server.
run() {
  local name=$1 pid=$2 addr=$3 user=$4 pass=$5 dir=$6 mode
  shift 6
  for mode in "$@"; do
    echo "== $name $mode" >&2
    $load_cpu "$work/ftpload" -name "$name" -pid "$pid" -addr "$addr" -user "$user" -pass "$pass" -dir "$dir" \
      -mode "$mode" -size "$size" -c "$([ "$mode" = idle ] && echo "$idle" || echo "$clients")" \
      -duration "$duration" -settle "$settle" | tee -a "$out" ||
      echo "   ($name $mode failed)" >&2
  done
}
# all MODE...: the modes against every server of PEERS_SERVERS in turn.
all() {
  local s
  for s in $servers; do
    case $s in
    ftpgate) run ftpgate "$gpid" "$gaddr" bench bench / "$@" ;;
    vsftpd) run vsftpd "$vpid" "127.0.0.1:$vport" anonymous x /pub "$@" ;;
    pure-ftpd) run pure-ftpd "$ppid_" "127.0.0.1:$pport" bench bench / "$@" ;;
    proftpd) run proftpd "$fpid" "127.0.0.1:$fport" bench bench / "$@" ;;
    *) echo "unknown server $s in PEERS_SERVERS" >&2; return 1 ;;
    esac
  done
}
[ "$idle" = 0 ] || all idle # first, while every server is fresh
for round in $(seq 1 "$rounds"); do
  echo "== round $round of $rounds" >&2
  # shellcheck disable=SC2086 # modes is a list
  all $modes
done

echo
echo "Server CPU is that of each server's process tree (/proc/PID/stat, children included)."
echo "Figures are medians over $rounds rounds${server_cpu:+; servers on core 0, the load generator on core 1}."
"$work/benchtable" <"$out"
