"""One settings file: every knob is an environment variable with a default that runs
out of the box (SQLite, django-q2's ORM broker, DEBUG on). See the README for the list."""

import json
import os
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
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
            "TEST": {"NAME": os.getenv("SQLITE_TEST_PATH") or None},
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
# Refresh an OAuth2 access token this long before it expires.
TOKEN_REFRESH_MARGIN_SECONDS = envint("TOKEN_REFRESH_MARGIN_SECONDS", "900")

# Async runs: retry backoff (exponential with jitter), how often a running execution's
# process proves it is alive, when a silent one counts as dead, and how long results stay.
RETRY_BACKOFF_BASE_SECONDS = envfloat("RETRY_BACKOFF_BASE_SECONDS", "1")
RETRY_BACKOFF_MAX_SECONDS = envfloat("RETRY_BACKOFF_MAX_SECONDS", "60")
HEARTBEAT_SECONDS = envfloat("HEARTBEAT_SECONDS", "5")
EXECUTION_STALE_SECONDS = envfloat("EXECUTION_STALE_SECONDS", "60")
RESULT_RETENTION_DAYS = envfloat("RESULT_RETENTION_DAYS", "5")
IDEMPOTENCY_TTL_HOURS = envfloat("IDEMPOTENCY_TTL_HOURS", "24")
# A worker whose next queued run is due within this many seconds waits for it.
QUEUE_WAIT_SECONDS = envfloat("QUEUE_WAIT_SECONDS", "5")
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
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

if os.path.exists(BASE_DIR / "nangosite" / "local_settings.py"):
    from .local_settings import *  # noqa: F403
