#!/usr/bin/env bash
# Renders real frames of `sessionmon demo` to PNG for the README: the main
# table, the detail view, a confirm dialog, and the grouping by user and by
# IP with the login sparklines. It builds sessionmon from this checkout,
# runs the demo in a private tmux server at a fixed size, lets the traffic
# simulator run (the sparklines count logins per minute, so they need a few
# minutes to show a shape), presses the keys an operator would, captures
# each frame with its colours (tmux capture-pane -e), and renders it cell
# by cell to SVG (ansi2svg, next to this script: freeze was tried and drops
# reverse video and bold) and then to PNG with rsvg-convert.
#
#   docs/screenshots/render.sh             # about 3 minutes
#   WAIT=30 docs/screenshots/render.sh     # quicker, flatter sparklines
#
# Needs: Go, tmux, rsvg-convert (Debian: librsvg2-bin) and the DejaVu Sans
# Mono font (fonts-dejavu-core). Run as root on Debian/Ubuntu it installs
# what is missing with apt-get.
set -euo pipefail

cd "$(dirname "$0")/../.."
out=docs/screenshots
wait_s=${WAIT:-150}
cols=${COLS:-120}
rows=${ROWS:-34}
font="DejaVu Sans Mono"

missing=()
command -v tmux >/dev/null || missing+=(tmux)
command -v curl >/dev/null || missing+=(curl)
command -v rsvg-convert >/dev/null || missing+=(librsvg2-bin)
fc-list 2>/dev/null | grep -q "$font" || missing+=(fonts-dejavu-core fontconfig)
if ((${#missing[@]})); then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
	else
		echo "render.sh: install ${missing[*]} first (Debian/Ubuntu package names)" >&2
		exit 1
	fi
fi

tmp=$(mktemp -d)
sock="sessionmon-shots-$$"
cleanup() {
	tmux -L "$sock" kill-server 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "building sessionmon…"
go build -o "$tmp/sessionmon" .
go build -o "$tmp/ansi2svg" ./docs/screenshots/ansi2svg

# A private tmux server with no user configuration, at a fixed size, in a
# 256-colour terminal with true colour (what most operators' terminals do).
tmux -L "$sock" -f /dev/null new-session -d -s demo -x "$cols" -y "$rows" \
	"env TERM=xterm-256color COLORTERM=truecolor NO_COLOR= $tmp/sessionmon demo --db $tmp/demo.db --operator oncall-jane --users 60"
tmux -L "$sock" set-option -g status off >/dev/null

key() { tmux -L "$sock" send-keys -t demo "$@"; }
snap() { # name: capture the pane with its colours
	tmux -L "$sock" capture-pane -e -p -t demo >"$tmp/$1.ansi"
}
alive() { tmux -L "$sock" has-session -t demo 2>/dev/null; }

run() { # seconds: let the demo run
	for ((i = 0; i < $1; i++)); do
		sleep 1
		alive || { echo "render.sh: the demo exited" >&2; exit 1; }
	done
}

echo "letting the demo run for ${wait_s}s…"
run 3
# The login server's address is in the status line at start.
url=$(tmux -L "$sock" capture-pane -p -t demo | grep -o 'http://127\.0\.0\.1:[0-9]*' | head -1)
[[ -n $url ]] || { echo "render.sh: no login server address on the screen" >&2; exit 1; }
run $((wait_s * 2 / 3))

snap table
key Enter
sleep 2
snap detail
key Escape
sleep 1
key x
sleep 1
snap confirm
key n

# A bad morning, scripted against the demo's real login server: one
# account logs in from two dozen browsers, and a few passwords are wrong
# (fewer than the throttle's 20 per IP, so the simulator still logs in).
for i in $(seq 1 24); do
	curl -s -o /dev/null -d "username=alice&password=wonderland" "$url/login"
done
for u in bob mallory; do
	for i in 1 2 3; do
		curl -s -o /dev/null -d "username=$u&password=not-the-password" "$url/login"
	done
done
run $((wait_s - 3 - wait_s * 2 / 3))
key g
sleep 3
snap groups
key Escape
key q

for f in table detail confirm groups; do
	"$tmp/ansi2svg" -title "sessionmon demo" -font "$font" -font-size 14 <"$tmp/$f.ansi" >"$tmp/$f.svg"
	rsvg-convert "$tmp/$f.svg" -o "$out/$f.png"
	echo "wrote $out/$f.png"
done
