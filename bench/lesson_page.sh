#!/usr/bin/env bash
# Requests per second and latency of an anonymous lesson page, served by the production WSGI server (waitress)
# with the demo data. Not a test: run it by hand and copy the figures into README.md "Performance".
#
#   bench/lesson_page.sh [PORT]            (environment: LESSON, DURATION, CONNECTIONS, THREADS)
#
# Two runs: the full page (no cookies, so every request is a first visit that renders the page and starts a
# session), then a returning visitor who sends its session cookie and the page's ETag and gets 304.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${1:-5099}"
LESSON="${LESSON:-a1-pictures-can-change}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-50}"
THREADS="${THREADS:-2}"
PORTAL="${PORTAL:-.venv/bin/portal}"

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null
  else
    echo "wrk is missing: sudo apt-get install wrk" >&2
    exit 1
  fi
fi

INSTANCE="$(mktemp -d /tmp/portal-bench.XXXXXX)"
export PORTAL_INSTANCE_PATH="$INSTANCE"
export PORTAL_DEMO_PASSWORD="bench-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')"
"$PORTAL" serve --demo --no-background --port "$PORT" >"$INSTANCE/server.log" 2>&1 &
SERVER=$!
cleanup() {
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  rm -rf "$INSTANCE"
}
trap cleanup EXIT

BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 60); do
  curl -fs "$BASE/healthz" >/dev/null 2>&1 && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$INSTANCE/server.log" >&2; exit 1; }
  sleep 0.5
done
URL="$BASE/lessons/$LESSON"
HEADERS="$(curl -fs -D - -o "$INSTANCE/page.html" "$URL")"
ETAG="$(printf '%s' "$HEADERS" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')"
COOKIE="$(printf '%s' "$HEADERS" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -1)"
[ -n "$ETAG" ] && [ -n "$COOKIE" ] || { echo "no ETag or session cookie on $URL" >&2; exit 1; }
STATUS="$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" -H "If-None-Match: $ETAG" "$URL")"
[ "$STATUS" = 304 ] || { echo "expected 304 for a matching ETag, got $STATUS" >&2; exit 1; }

echo "$(nproc) CPU(s), $(uname -sr), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "page: $URL ($(wc -c <"$INSTANCE/page.html") bytes)"
run() {
  local label="$1"; shift
  local out
  out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" "$URL")"
  printf '\n== %s ==\n%s\n' "$label" "$out"
  SUMMARY+="$(printf '%-32s %10s req/s   latency avg %-9s p50 %-9s p99 %s' "$label" \
    "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '/^ +Latency / {print $2; exit}' <<<"$out")" \
    "$(awk '/^ +50% / {print $2}' <<<"$out")" "$(awk '/^ +99% / {print $2}' <<<"$out")")"$'\n'
}
SUMMARY=""
run "full page (200, first visit)"
run "revalidated (304, ETag)" -H "Cookie: $COOKIE" -H "If-None-Match: $ETAG"
printf '\nwrk -t%s -c%s -d%s against %s\n%s' "$THREADS" "$CONNECTIONS" "$DURATION" "$URL" "$SUMMARY"
