"""Django settings, read from the environment (12-factor).

Every value that differs between a laptop, CI and AWS comes from an environment variable; docs/configuration.md
lists them. Production refuses to start without ``DJANGO_SECRET_KEY``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from project.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# The test runners (pytest-django, `manage.py test`) get safe, fast defaults; nothing else does.
TESTING = "pytest" in sys.modules or sys.argv[1:2] == ["test"]

DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it (50+ random characters), or set DJANGO_DEBUG=1 for local work."
        )
    # Local and test runs only: a fixed, obviously unsafe key so sessions survive a restart.
    SECRET_KEY = "django-insecure-local-development-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG or TESTING else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "websockets_app",
    "project.chat",
    "infra",  # system checks of the Lambda wiring (infra/checks.py)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "project.middleware.LazyWhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"
WSGI_APPLICATION = "project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "project" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite file by default; PostgreSQL (psycopg 3) through DATABASE_URL, or, for the stack's own Aurora
# cluster, through DATABASE_HOST / DATABASE_PORT / DATABASE_NAME plus DATABASE_USER / DATABASE_PASSWORD, which
# infra.secrets fills at Lambda init from the RDS-managed secret (no URL anywhere, nothing to escape). A Lambda
# container keeps its connection between invocations for CONN_MAX_AGE seconds, checked before reuse when
# CONN_HEALTH_CHECKS is on.
# DATABASE_POOLED=1 (set by the template when RDS Proxy is in front; PgBouncer alike): a transaction-pooling proxy
# hands each transaction any server connection, so nothing may outlive one: no server-side cursors (.iterator()),
# no prepared statements, and CONN_MAX_AGE defaults to 0 so an idle container holds no client slot.
DATABASE_POOLED = env_bool("DATABASE_POOLED", False)
CONN_MAX_AGE = env_int("CONN_MAX_AGE", 0 if DATABASE_POOLED else 60, minimum=0)
if env_str("DATABASE_URL") or not env_str("DATABASE_HOST"):
    _database = dj_database_url.parse(
        env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=CONN_MAX_AGE,
        conn_health_checks=env_bool("CONN_HEALTH_CHECKS", True),
    )
else:
    for _required in ("DATABASE_NAME", "DATABASE_USER"):
        if not env_str(_required):
            raise ImproperlyConfigured(f"DATABASE_HOST is set but {_required} is not set.")
    _database = {
        # With credentials from the RDS-managed secret, a login refused after RDS rotated the password re-reads it.
        "ENGINE": "infra.postgresql" if env_str("DATABASE_SECRET_ARN") else "django.db.backends.postgresql",
        "HOST": env_str("DATABASE_HOST"),
        "PORT": env_str("DATABASE_PORT", "5432"),
        "NAME": env_str("DATABASE_NAME"),
        "USER": env_str("DATABASE_USER"),
        "PASSWORD": env_str("DATABASE_PASSWORD"),
        "CONN_MAX_AGE": CONN_MAX_AGE,
        "CONN_HEALTH_CHECKS": env_bool("CONN_HEALTH_CHECKS", True),
        # Aurora and RDS Proxy accept TLS; "verify-full" needs the RDS CA bundle in the package.
        "OPTIONS": {"sslmode": env_str("DATABASE_SSLMODE", "require")},
    }
DATABASES = {"default": _database}
if DATABASE_POOLED:
    if _database["ENGINE"] not in {"django.db.backends.postgresql", "infra.postgresql"}:
        raise ImproperlyConfigured("DATABASE_POOLED=1 needs a PostgreSQL database (DATABASE_URL or DATABASE_HOST).")
    _database["DISABLE_SERVER_SIDE_CURSORS"] = True
    _database.setdefault("OPTIONS", {})["prepare_threshold"] = None
# A database that does not answer fails the invocation after this many seconds instead of holding it until the
# Lambda timeout (psycopg's connect_timeout; libpq treats less than 2 as 2). A connect_timeout in DATABASE_URL wins.
connect_timeout = env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=2)  # read for any engine: a bad value always fails
if _database["ENGINE"] in (
    "django.db.backends.postgresql",
    "django.contrib.gis.db.backends.postgis",
    "infra.postgresql",
):
    _database.setdefault("OPTIONS", {}).setdefault("connect_timeout", connect_timeout)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Write-ahead logging lets readers and a writer work at once (the local gateway runs requests in threads) and,
    # with synchronous=NORMAL, a commit no longer waits for the disk; IMMEDIATE transactions take the write lock
    # up front instead of failing with "database is locked" halfway through.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", "transaction_mode": "IMMEDIATE"}
    )
    # Tests use a file, not Django's shared-cache in-memory database: shared cache locks tables instead of
    # waiting for the writer, so concurrent connections (the rate-limit and token race tests) could not run.
    DATABASES["default"]["TEST"] = {"NAME": env_str("DJANGO_TEST_SQLITE_PATH") or BASE_DIR / ".test-db.sqlite3"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Signing in (django.contrib.auth's views at /accounts/) leads to the chat example; signing out to the home page.
LOGIN_REDIRECT_URL = "chat:index"
LOGOUT_REDIRECT_URL = "home"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files: collected at build time and served by WhiteNoise from the same process (no S3 needed).
STATIC_URL = "static/"
STATIC_ROOT = env_str("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Pages link to the hashed names only, so collectstatic keeps just those (a smaller Lambda package).
WHITENOISE_KEEP_ONLY_HASHED_FILES = True

# Database sessions whose store ignores keys Django never issues (see project/sessions.py).
SESSION_ENGINE = "project.sessions"

# Cookies: share them with a WebSocket subdomain by setting the domain, e.g. ".example.com".
SESSION_COOKIE_NAME = env_str("DJANGO_SESSION_COOKIE_NAME", "sessionid")
SESSION_COOKIE_DOMAIN = env_str("DJANGO_SESSION_COOKIE_DOMAIN") or None
CSRF_COOKIE_DOMAIN = env_str("DJANGO_CSRF_COOKIE_DOMAIN") or None
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

# HTTPS: API Gateway terminates TLS and says so in X-Forwarded-Proto.
if env_bool("DJANGO_TRUST_X_FORWARDED_PROTO", True):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)

# Logging: one JSON object per line on stdout (CloudWatch-friendly), or plain text for a terminal. Errors are
# logged, never mailed: Django's default `mail_admins` handler is deliberately not attached. Both formatters
# redact WebSocket token values (websockets_app.redaction) from the whole line, Django's request reprs included.
LOG_LEVEL = env_str("DJANGO_LOG_LEVEL", "INFO").upper()
LOG_FORMAT = env_str("DJANGO_LOG_FORMAT", "json").lower()
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured("DJANGO_LOG_FORMAT must be 'json' or 'text'.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "infra.observability.RedactingPowertoolsFormatter"},
        "text": {
            "()": "websockets_app.redaction.RedactingFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s: %(message)s",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": LOG_FORMAT},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}

# The websockets_app's own settings; every key and its default is in websockets_app/conf.py.
WEBSOCKETS: dict[str, object] = {
    key: value
    for key, value in {
        "MANAGEMENT_ENDPOINT_URL": env_str("WEBSOCKETS_MANAGEMENT_ENDPOINT_URL") or None,
        "AWS_REGION": env_str("WEBSOCKETS_AWS_REGION") or None,
        "FANOUT_QUEUE_URL": env_str("WEBSOCKETS_FANOUT_QUEUE_URL") or None,
        "SEND_RATE_LIMIT_PER_SECOND": env_int("WEBSOCKETS_SEND_RATE_LIMIT_PER_SECOND", 0, minimum=0) or None,
        # e.g. "https://example.com,https://.example.com"; unset: no Origin check (manage.py check --deploy warns).
        "ALLOWED_ORIGINS": env_list("WEBSOCKETS_ALLOWED_ORIGINS", []) or None,
        # False when the WebSocket domain does not receive the site's session cookie: the token alone then
        # authenticates (see "WebSocket tokens" in docs/security.md).
        "TOKEN_REQUIRES_SESSION": env_bool("WEBSOCKETS_TOKEN_REQUIRES_SESSION", True),
        # Where browsers open the socket (the WebSocket API's stage URL or custom domain; ws://127.0.0.1:8001
        # locally); pages using websockets_app.mixins.WebSocketContextMixin need it.
        "CLIENT_URL": env_str("WEBSOCKETS_CLIENT_URL") or None,
        # The chat announces who comes and goes; the stale sweep announces those whose $disconnect never came.
        "PRESENCE_SWEEP_NOTICES": True,
    }.items()
    if value is not None
}

if TESTING:
    # Tests use plain HTTP through the test client and never run collectstatic.
    SECURE_SSL_REDIRECT = False
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    WHITENOISE_AUTOREFRESH = WHITENOISE_USE_FINDERS = True
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Management commands an operator may run inside Lambda with {"manage": "<command line>"} (infra.commands): each
# entry is a command with the arguments it may take ("[--flag]" optional, "<int>" / "<name>" a value; see
# "Management commands" in docs/admin-and-commands.md). A plain name allows the command without arguments. migrate
# only moves forward: something destructive such as "migrate <name> zero" needs an entry of its own.
LAMBDA_MANAGE_COMMANDS = env_list(
    "LAMBDA_MANAGE_COMMANDS",
    [
        "migrate [--noinput] [--no-input] [--check] [--plan]",
        "showmigrations [--list] [--plan] [<name>]",
        "check [--deploy]",
        "createcachetable",
        "clearsessions",
        "clearWebSocketSessions",
        "cleanupWebSocketTokens [--token-age <int>] [--rate-limit-age <int>]",
        "markStaleWebSocketSessions [--max-age <int>]",
        "trimChannelHistory",
    ],
)
