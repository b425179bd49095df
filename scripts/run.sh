#!/usr/bin/env bash
# Start the product with demo data: migrate, seed, a Celery worker with beat, and the web server.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBUG="${DEBUG:-1}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
PY=.venv/bin/python
mkdir -p var/log

# Two database roles (docs/operations.md): migrations run as the owner; the product runs as a role that
# owns nothing, for which the audit trail is append-only.
if [ -z "${DATABASE_URL:-}" ]; then
  # The embedded server: this script is its superuser, so it sets both roles up itself.
  DATABASE_USER=postgres $PY manage.py db_roles --create
  DATABASE_USER=backoffice_owner $PY manage.py migrate --noinput
  export DATABASE_USER=backoffice_app
elif [ -n "${DATABASE_OWNER_URL:-}" ]; then
  DATABASE_URL="$DATABASE_OWNER_URL" $PY manage.py migrate --noinput
else
  echo "warning: DATABASE_OWNER_URL is not set: migrating with the application's own login" \
    "(one role for both, the trail not protected from it; see docs/operations.md)" >&2
  $PY manage.py migrate --noinput
fi
$PY manage.py seed_demo | tee var/log/seed_demo.log

# One worker consuming all three queues that also runs the one beat scheduler (schedules are edited in the
# admin); production runs a pool per queue and a beat of its own (docs/operations.md).
.venv/bin/celery -A backoffice worker -Q intake,reconciliation,housekeeping --beat --loglevel INFO --concurrency 2 \
  --schedule var/celerybeat-schedule > var/log/celery.log 2>&1 &
WORKER_PID=$!
trap 'kill "$WORKER_PID" 2>/dev/null || true; wait "$WORKER_PID" 2>/dev/null || true' EXIT INT TERM

cat <<MSG

  Clearing back office is starting at http://$HOST:$PORT/
  Celery worker + beat log: var/log/celery.log
  Demo logins (see above): clerk, checker, admin, staffadmin, auditor — password <name>-demo-2026
  Stop with Ctrl-C.

MSG
$PY manage.py runserver "$HOST:$PORT"
