#!/bin/sh
# Run inside a throwaway loopback-only netns:  PROTO=tcp|udp|both [GUM=1] [EXTRA='chromium flags'] unshare -n ./run3.sh [blockudp]
# Starts a toy ICE-lite responder (TCP passive 127.0.0.1:8189 with RFC 4571 framing, UDP 127.0.0.1:8190),
# then headless Chromium (probe.mjs) offers, gets a hand-made ice-lite answer, and reports the pair it used.
D=$(dirname "$(readlink -f "$0")")
ip link set lo up
if [ "$1" = blockudp ]; then   # kill UDP in this netns only: FIB rule before the local table
  ip rule add pref 10 ipproto udp blackhole; ip rule add pref 100 table local; ip rule del pref 0
  ip -6 rule add pref 10 ipproto udp blackhole; ip -6 rule add pref 100 table local; ip -6 rule del pref 0
fi
python3 -m http.server 8000 --bind 127.0.0.1 --directory "$D" >/dev/null 2>&1 & P1=$!
python3 "$D/stunsrv.py" 8189 > /tmp/icetcp-srv.log 2>&1 & P2=$!
python3 "$D/udpsrv.py" > /tmp/icetcp-udp.log 2>&1 & P3=$!
trap 'kill $P1 $P2 $P3 2>/dev/null' EXIT INT TERM HUP PIPE
sleep 0.5
timeout 60 node "$D/probe.mjs" 2>/dev/null > /tmp/icetcp-probe.out; cat /tmp/icetcp-probe.out
echo "--- tcp responder"; head -8 /tmp/icetcp-srv.log; echo "--- udp responder"; head -3 /tmp/icetcp-udp.log
