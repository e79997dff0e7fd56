"""One settings file: every knob is an environment variable with a default that runs
out of the box (SQLite, django-q2's ORM broker, DEBUG on). See the README for the list."""

import json
import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str) -> bool:
    return os.getenv(name, default).strip().lower() in ("1", "true", "yes", "on")


def envint(name: str, default: str) -> int:
    return int(os.getenv(name, default))


def envfloat(name: str, default: str) -> float:
    return float(os.getenv(name, default))


def database_from_url(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL: unsupported scheme {parts.scheme!r} (use postgres://)")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")) or "postgres",
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "CONN_MAX_AGE": envint("DB_CONN_MAX_AGE", "600"),
        # Off by default: a health check is one more round trip (SELECT 1) in every
        # request. Without it, a request that finds its connection dead after a database
        # restart fails once (and its run is retried or swept), and Django reconnects.
        "CONN_HEALTH_CHECKS": envbool("DB_CONN_HEALTH_CHECKS", "False"),
        # Server-side parameters let psycopg prepare a statement the fifth time a
        # connection runs it, so PostgreSQL stops parsing and planning the hot queries
        # (trigger, claim, end of run) every time. Turn off behind a pooler that cannot
        # keep prepared statements (PgBouncer in transaction mode before 1.21).
        "OPTIONS": (
            {"server_side_binding": True, "prepare_threshold": 5}
            if envbool("DB_PREPARED_STATEMENTS", "True")
            else {}
        ),
    }


SECRET_KEY = os.getenv("SECRET_KEY", "dev-only-insecure-secret-key-change-me")
DEBUG = envbool("DEBUG", "True")
ALLOWED_HOSTS = [h.strip() for h in os.getenv("ALLOWED_HOSTS", "*").split(",") if h.strip()]
# Fernet key that encrypts connection credentials, OAuth client secrets, signing keys and
# environment variables at rest. Unset, a key is derived from SECRET_KEY (fine for DEBUG;
# a system check refuses that outside DEBUG).
ENCRYPTION_KEY = os.getenv("ENCRYPTION_KEY", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_q",
    "integrations",
    "executions",
    "webhooks",
    "connect",
]

MIDDLEWARE = [
    # /health, /ready and /metrics, before the Host check and the HTTPS redirect.
    "nangosite.ops.ProbesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files from the web process itself, under `make run` and gunicorn alike: from
    # the apps' folders when DEBUG, else the compressed, hashed copies `collectstatic`
    # wrote to STATIC_ROOT (served with a far-future Cache-Control).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "nangosite.pages.Sessions",
    "django.middleware.common.CommonMiddleware",
    "nangosite.boundary.StorablePathAndQuery",
    # These four, and Sessions above, are Django's own, for every path but the JSON API's
    # (nangosite/pages.py): it keeps no session and takes its key on every request.
    "nangosite.pages.Csrf",
    "nangosite.pages.Authentication",
    "nangosite.pages.Messages",
    "nangosite.pages.FrameOptions",
]

ROOT_URLCONF = "nangosite.urls"
WSGI_APPLICATION = "nangosite.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

if os.getenv("DATABASE_URL"):
    DATABASES = {"default": database_from_url(os.environ["DATABASE_URL"])}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.getenv("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            "CONN_MAX_AGE": None,
            "OPTIONS": {
                # WAL lets the web server read while the worker writes; IMMEDIATE takes
                # the write lock at BEGIN so concurrent writers queue instead of failing
                # with "database is locked" half-way through a transaction.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
            },
            # The test database is a file, as in production: SQLite's in-memory shared
            # cache fails at once ("database table is locked") where threads of one test
            # (a worker, the heartbeat) write at the same time, instead of waiting.
            "TEST": {
                "NAME": os.getenv("SQLITE_TEST_PATH")
                or os.path.join(tempfile.gettempdir(), f"nangosite-test-{os.getpid()}.sqlite3")
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = os.getenv("STATIC_ROOT", str(BASE_DIR / "var" / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # collectstatic names each file by its content's hash and writes gzip copies beside it.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["integrations.auth.SecretKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["integrations.auth.HasEnvironment"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["nangosite.api.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "nangosite.api.exception_handler",
    "UNAUTHENTICATED_USER": None,
}

# How long a process trusts a secret key it has already checked (seconds; 0 = never).
AUTH_CACHE_SECONDS = envfloat("AUTH_CACHE_SECONDS", "5")
# How long a process reuses an action's live version (seconds; 0 = never): a deploy or
# a disable reaches every process within this.
FUNCTION_CACHE_SECONDS = envfloat("FUNCTION_CACHE_SECONDS", "2")
# What a 503 (the database unreachable) tells clients to wait before retrying, seconds.
RETRY_AFTER_SECONDS = envint("RETRY_AFTER_SECONDS", "2")
# Largest request body the API reads (the action input sits in it).
MAX_REQUEST_BYTES = envint("MAX_REQUEST_BYTES", str(10 * 1024 * 1024))
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BYTES

# Where `deploy` and `dryrun` look for function files.
FUNCTIONS_DIR = Path(os.getenv("FUNCTIONS_DIR", str(BASE_DIR / "functions")))
# Packages (top-level names, comma-separated) function files may import besides the
# standard library, nango and the tree's own lib/ modules; any other import is refused at
# deploy, since its code would not be part of the version that runs.
FUNCTION_ALLOWED_IMPORTS = os.getenv("FUNCTION_ALLOWED_IMPORTS", "")
# Hard ceiling for any action's run time; an action may ask for less, never more.
ACTION_TIMEOUT_SECONDS = envfloat("ACTION_TIMEOUT_SECONDS", "900")
ACTION_MAX_OUTPUT_BYTES = envint("ACTION_MAX_OUTPUT_BYTES", "2097152")
# A sync run's record is written once, when it ends; one still running after this many
# seconds gets its row then, so that it shows (and can be cancelled) while it runs.
SYNC_RECORD_AFTER_SECONDS = envfloat("SYNC_RECORD_AFTER_SECONDS", "1")
# Threads that run sync actions inside one web process (a timed-out run frees its thread
# as soon as the function's code gets control back).
RUNNER_THREADS = envint("RUNNER_THREADS", "64")
# Outbound provider calls: per-request timeout and backoff for retries.
PROVIDER_TIMEOUT_SECONDS = envfloat("PROVIDER_TIMEOUT_SECONDS", "30")
PROVIDER_BACKOFF_BASE_SECONDS = envfloat("PROVIDER_BACKOFF_BASE_SECONDS", "1")
PROVIDER_BACKOFF_MAX_SECONDS = envfloat("PROVIDER_BACKOFF_MAX_SECONDS", "600")
# A /proxy call's budget for its attempts and retry waits until the provider starts to
# answer (streaming the answer back is not limited by it).
PROXY_TIMEOUT_SECONDS = envfloat("PROXY_TIMEOUT_SECONDS", "120")
# JSON map of provider name to base URL, to point a provider at a sandbox or a local fake:
# PROVIDER_BASE_URL_OVERRIDES='{"github": "http://127.0.0.1:9000"}'.
PROVIDER_BASE_URL_OVERRIDES = json.loads(os.getenv("PROVIDER_BASE_URL_OVERRIDES") or "{}")
# Where end users reach this platform: the OAuth2 callback (`<PUBLIC_URL>/oauth/callback`,
# the redirect URI to register with each provider) and the connect links are built on it.
PUBLIC_URL = os.getenv("PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
# Refresh an OAuth2 access token this long before it expires.
TOKEN_REFRESH_MARGIN_SECONDS = envint("TOKEN_REFRESH_MARGIN_SECONDS", "900")

# Async runs: retry backoff (exponential with jitter), how often a running execution's
# process proves it is alive, when a silent one counts as dead, and how long results stay.
RETRY_BACKOFF_BASE_SECONDS = envfloat("RETRY_BACKOFF_BASE_SECONDS", "1")
RETRY_BACKOFF_MAX_SECONDS = envfloat("RETRY_BACKOFF_MAX_SECONDS", "60")
HEARTBEAT_SECONDS = envfloat("HEARTBEAT_SECONDS", "2")
EXECUTION_STALE_SECONDS = envfloat("EXECUTION_STALE_SECONDS", "10")
RESULT_RETENTION_DAYS = envfloat("RESULT_RETENTION_DAYS", "5")
IDEMPOTENCY_TTL_HOURS = envfloat("IDEMPOTENCY_TTL_HOURS", "24")
# A worker whose next queued run is due within this many seconds waits for it.
QUEUE_WAIT_SECONDS = envfloat("QUEUE_WAIT_SECONDS", "5")
# A runnable run left waiting this long with a free slot means its drain loops are gone
# (their process died, a wake-up was lost): the reaper starts new ones. A webhook due this
# long ago lost its message: the reaper sends it again.
QUEUE_STALL_SECONDS = envfloat("QUEUE_STALL_SECONDS", "3")
# How long one drain task runs before it hands its queue to a fresh task (environments
# take turns on the workers; capped so a task ends before Q_TIMEOUT).
DRAIN_SLICE_SECONDS = envfloat("DRAIN_SLICE_SECONDS", "10")
# How long a run's final write waits for an unreachable database before giving up (the
# run stays held, so it is not presumed dead meanwhile).
FINAL_WRITE_RETRY_SECONDS = envfloat("FINAL_WRITE_RETRY_SECONDS", "60")
# A queued async run that has not started after this long ends failed (Nango: 24 h).
QUEUED_RUN_TTL_HOURS = envfloat("QUEUED_RUN_TTL_HOURS", "24")
# How often the sweep (stale runs, due retries, pruning) runs, in minutes.
SWEEP_MINUTES = envint("SWEEP_MINUTES", "1")

# Outgoing webhooks: per-attempt timeout, attempts per delivery (network errors, 5xx, 408
# and 429 are retried; 3xx and other 4xx are not), and the exponential backoff between
# attempts (with jitter).
WEBHOOK_TIMEOUT_SECONDS = envfloat("WEBHOOK_TIMEOUT_SECONDS", "20")
WEBHOOK_MAX_ATTEMPTS = envint("WEBHOOK_MAX_ATTEMPTS", "5")
WEBHOOK_BACKOFF_BASE_SECONDS = envfloat("WEBHOOK_BACKOFF_BASE_SECONDS", "10")
WEBHOOK_BACKOFF_MAX_SECONDS = envfloat("WEBHOOK_BACKOFF_MAX_SECONDS", "3600")
# How long a worker reuses an environment's webhook URLs and toggle (seconds; 0 = never).
WEBHOOK_SETTINGS_CACHE_SECONDS = envfloat("WEBHOOK_SETTINGS_CACHE_SECONDS", "5")

REDIS_URL = os.getenv("REDIS_URL", "")
Q_CLUSTER = {
    "name": os.getenv("Q_NAME", "nangosite"),
    "workers": envint("Q_WORKERS", "2"),
    "timeout": envint("Q_TIMEOUT", "960"),
    "retry": envint("Q_RETRY", "1020"),
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "poll": envfloat("Q_POLL", "0.2"),
    # Executions record their own outcome; django-q2's success rows would only add writes.
    "save_limit": envint("Q_SAVE_LIMIT", "-1"),
    "sync": envbool("Q_SYNC", "False"),
}
# Webhook deliveries have their own django-q2 queue and cluster, so they never wait behind
# action runs: `Q_CLUSTER_NAME=<WEBHOOK_QUEUE> manage.py qcluster` serves it (`make run`
# starts one). Its workers only wait on receivers.
WEBHOOK_QUEUE = os.getenv("WEBHOOK_QUEUE", f"{Q_CLUSTER['name']}-webhooks")
Q_CLUSTER["ALT_CLUSTERS"] = {WEBHOOK_QUEUE: {"workers": envint("Q_WEBHOOK_WORKERS", "2")}}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# /metrics (Prometheus) answers only with `Authorization: Bearer <METRICS_TOKEN>`; unset,
# it is off (404) and nothing is counted. PROMETHEUS_MULTIPROC_DIR (prometheus_client's own
# variable) shares the counts of a machine's processes: see nangosite/lib/metrics.py.
METRICS_TOKEN = os.getenv("METRICS_TOKEN", "")

# OpenTelemetry traces of runs (nangosite/lib/tracing.py), over OTLP/HTTP, when an endpoint
# is set in OpenTelemetry's own variables; the exporter reads the others it knows
# (OTEL_EXPORTER_OTLP_HEADERS, ..._TIMEOUT, OTEL_BSP_SCHEDULE_DELAY...).
OTEL_TRACES_ENDPOINT = os.getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (
    os.getenv("OTEL_EXPORTER_OTLP_ENDPOINT", "").rstrip("/") + "/v1/traces"
    if os.getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    else ""
)
OTEL_SERVICE_NAME = os.getenv("OTEL_SERVICE_NAME", "nangosite")

# `json`: one JSON object per line (nangosite/lib/logs.py); anything else: text.
LOG_FORMAT = os.getenv("LOG_FORMAT", "text").strip().lower()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "main": {
            "()": "nangosite.lib.logs."
            + ("JsonFormatter" if LOG_FORMAT == "json" else "TextFormatter")
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "main"}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

if os.path.exists(BASE_DIR / "nangosite" / "local_settings.py"):
    from .local_settings import *  # noqa: F403
