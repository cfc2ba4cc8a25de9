#!/usr/bin/env bash
# Rebuild tests/data/vehicles/ (the dealership folder set) from the Debian packages its photos ship in.
# Needs apt (run `apt-get update` once). Every source is listed in tests/data/vehicles/SOURCES.md.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="$repo/tests/data/vehicles"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download tuxpaint-stamps-default opencv-doc >/dev/null
for deb in *.deb; do dpkg -x "$deb" x; done
tp=x/usr/share/tuxpaint/stamps/vehicles
cv=x/usr/share/doc/opencv-doc/opencv4/html
mkdir -p "$out"/{car,truck,bus}
cp "$tp/auto/sedan.png" "$tp/auto/sportscar2.png" "$tp/auto/beetle.png" "$tp/race/indycar.png" "$out/car/"
cp "$tp/auto/truck.png" "$tp/emergency/firetruck.png" "$tp/garbagetruck.png" "$tp/construction/dumper.png" "$out/truck/"
cp "$cv/bus_det.jpg" "$cv/pexels_double_decker_bus.jpg" "$tp/masstransit/green_korean_bus.png" "$out/bus/"
dpkg-deb -f tuxpaint-stamps-default_*.deb Package Version
dpkg-deb -f opencv-doc_*.deb Package Version
find "$out" -type f \( -name '*.png' -o -name '*.jpg' \) -print0 | sort -z | xargs -0 sha256sum | sed "s#$repo/##"
