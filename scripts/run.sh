#!/usr/bin/env bash
# Start the product with demo data: migrate, seed, a Celery worker with beat, and the web server.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBUG="${DEBUG:-1}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
PY=.venv/bin/python
mkdir -p var/log

$PY manage.py migrate --noinput
$PY manage.py seed_demo | tee var/log/seed_demo.log

# One worker that also runs the beat scheduler (schedules are edited in the admin).
.venv/bin/celery -A backoffice worker --beat --loglevel INFO --concurrency 2 \
  --schedule var/celerybeat-schedule > var/log/celery.log 2>&1 &
WORKER_PID=$!
trap 'kill "$WORKER_PID" 2>/dev/null || true; wait "$WORKER_PID" 2>/dev/null || true' EXIT INT TERM

cat <<MSG

  Clearing back office is starting at http://$HOST:$PORT/
  Celery worker + beat log: var/log/celery.log
  Demo logins (see above): clerk, checker, admin, auditor — password <name>-demo-2026
  Stop with Ctrl-C.

MSG
$PY manage.py runserver "$HOST:$PORT"
