"""The one settings module. Everything that differs between machines comes from the environment.

Embedded default (no variables set, ``DEBUG=true`` in ``.env``): SQLite, Celery tasks run inline,
e-mail to the console. Production: ``DATABASE_URL``, ``REDIS_URL``, ``EMAIL_URL`` and the secrets.
With ``DEBUG`` off a missing or weak secret stops start-up with a message naming the variable.
"""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Local overrides (written by `make run` on first use); real environment variables win.
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env", overwrite=False)


def _env_bool(name: str, default: bool) -> bool:
    try:
        return env.bool(name, default=default)
    except (ValueError, TypeError) as exc:  # pragma: no cover - exercised through subprocess tests
        raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {env.str(name)!r}") from exc


DEBUG = _env_bool("DEBUG", False)

# --- Secrets ------------------------------------------------------------------------------------
# Development defaults exist only while DEBUG is on; they are public and therefore worthless.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105
_DEV_FIELD_KEYS = ["ZGV2LW9ubHktZmllbGQta2V5LTAwMDAwMDAwMDAwMDA="]  # base64 of 32 bytes, dev only
_DEV_BLIND_INDEX_KEY = "dev-only-blind-index-key-0123456789abcdef"
_DEV_SMS_GATEWAY_SECRET = "dev-only-sms-gateway-secret-0123456789abcdef"  # noqa: S105
_DEV_MEMBER_SITE_SECRET = "dev-only-member-site-secret-0123456789abcdef"  # noqa: S105


def _required_secret(name: str, dev_default, *, validate) -> object:
    value = env.list(name, default=[]) if isinstance(dev_default, list) else env.str(name, default="")
    if not value:
        if DEBUG:
            return dev_default
        raise ImproperlyConfigured(f"{name} is not set; it is required when DEBUG is off.")
    problem = validate(value)
    if problem:
        raise ImproperlyConfigured(f"{name} is too weak or malformed: {problem}")
    if not DEBUG and value == dev_default:
        raise ImproperlyConfigured(f"{name} is the public development default; set a real secret.")
    return value


def _check_secret_key(value: str) -> str | None:
    if len(value) < 50 or len(set(value)) < 5:
        return "use at least 50 characters with at least 5 distinct ones"
    if value.startswith("django-insecure-"):
        return "a 'django-insecure-' key is for development only"
    return None


def _check_fernet_keys(values: list[str]) -> str | None:
    for position, key in enumerate(values, start=1):
        try:
            raw = base64.urlsafe_b64decode(key.encode())
        except (binascii.Error, ValueError):
            return f"key {position} is not url-safe base64"
        if len(raw) != 32:
            return f"key {position} must decode to 32 bytes (generate with Fernet.generate_key())"
    return None


def _check_hmac_key(value: str) -> str | None:
    if len(value) < 32:
        return "use at least 32 characters"
    return None


SECRET_KEY = _required_secret("SECRET_KEY", _DEV_SECRET_KEY, validate=_check_secret_key)
# PP-26: field encryption. A list; the first key encrypts, all keys decrypt (rotation without downtime).
FIELD_ENCRYPTION_KEYS = _required_secret(
    "FIELD_ENCRYPTION_KEYS", _DEV_FIELD_KEYS, validate=_check_fernet_keys
)
# Keyed hash for exact-value lookups of encrypted fields (blind index); its own key, never rotated
# casually because every index value depends on it.
BLIND_INDEX_KEY = _required_secret("BLIND_INDEX_KEY", _DEV_BLIND_INDEX_KEY, validate=_check_hmac_key)
# PP-12: the SMS gateway signs each inbound reply with HMAC-SHA256 under this shared secret.
SMS_GATEWAY_SECRET = _required_secret("SMS_GATEWAY_SECRET", _DEV_SMS_GATEWAY_SECRET, validate=_check_hmac_key)
# PP-05, PP-38, PP-39, PP-40: the member-facing web site and app sign the consent events they deliver
# (grants, withdrawals, policy versions seen and accepted) with HMAC-SHA256 under this shared secret.
MEMBER_SITE_SECRET = _required_secret("MEMBER_SITE_SECRET", _DEV_MEMBER_SITE_SECRET, validate=_check_hmac_key)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Applications -------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    # Staff sign-in: TOTP second factor, lockout after failed logins, Content-Security-Policy (issue 7).
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "csp",
    "simple_history",
    "import_export",
    "django_celery_beat",
    "accounts",
    "consents",
    "requests_desk",
    "retention",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files straight after the HTTPS redirect, before sessions: no database work for them.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    # A NUL in the query string is refused before sessions or any view touch the database.
    "accounts.privacy.request_guard.NulQueryGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language from the session/cookie or the browser's Accept-Language (issue 16)...
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # ...unless the staff user chose one: their preference wins (issue 16).
    "accounts.staff.language.StaffLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Idle and absolute session timeouts; it needs the user and the messages, and it runs before
    # the OTP checks so that an expired session is simply anonymous for them.
    "accounts.staff.security.SessionTimeoutMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Supervisors, compliance officers and superusers reach no page until their session is OTP-verified.
    "accounts.staff.security.OTPRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Records the acting staff user on every history row (design decision 7).
    "simple_history.middleware.HistoryRequestMiddleware",
    # Turns a lockout flagged during authentication into the lockout page; django-axes wants it last.
    "axes.middleware.AxesMiddleware",
]
# The lockout check runs before the password check (django-axes); ModelBackend does the login.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "accounts.StaffUser"
LOGIN_URL = "admin:login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

# --- Data ---------------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "pbo",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
# PP-26: a protected file larger than this is encrypted in segments of this many bytes (one in memory at a
# time when it is stored, downloaded or rotated: an access package of a million orders); smaller files are
# one Fernet token.
PROTECTED_FILE_SEGMENT_BYTES = env.int("PROTECTED_FILE_SEGMENT_BYTES", default=1 << 20)
if not 1 <= PROTECTED_FILE_SEGMENT_BYTES <= 64 << 20:
    raise ImproperlyConfigured("PROTECTED_FILE_SEGMENT_BYTES must be between 1 and 67108864 (64 MiB).")
MEDIA_URL = "/media-not-served/"  # uploaded files are only served through permission-checked views
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# WhiteNoise serves STATIC_ROOT in production (run `collectstatic` at deploy): hashed names and
# compressed copies, cached for a year. With DEBUG (development, tests) files come straight from the
# apps' static folders, so no collectstatic is needed.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Fixed when settings load (pytest-django turns DEBUG off later): with DEBUG, WhiteNoise looks files
# up in the apps' static folders at request time instead of indexing STATIC_ROOT at start-up.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

# --- E-mail -------------------------------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="privacy@exchange.example")

# --- Passwords and sessions ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# A session ends after SESSION_IDLE_TIMEOUT seconds without a request and, whatever the activity,
# SESSION_COOKIE_AGE seconds after sign-in (accounts.staff.security.SessionTimeoutMiddleware).
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 8)
SESSION_IDLE_TIMEOUT = env.int("SESSION_IDLE_TIMEOUT", default=15 * 60)
if SESSION_IDLE_TIMEOUT < 60:
    raise ImproperlyConfigured("SESSION_IDLE_TIMEOUT must be at least 60 seconds.")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# --- Staff sign-in (issue 7: second factor, lockout) ----------------------------------------------
# Supervisors, compliance officers and superusers must sign in with a TOTP code (accounts.staff.otp);
# other staff may enrol an authenticator. OTP_DEV_BYPASS lets the demo logins of `make run` in
# with their password only: on by default with DEBUG (set it to false to try two-factor sign-in
# locally), off by default without, and refused when DEBUG is off.
OTP_DEV_BYPASS = _env_bool("OTP_DEV_BYPASS", DEBUG)
if OTP_DEV_BYPASS and not DEBUG:
    raise ImproperlyConfigured(
        "OTP_DEV_BYPASS is for development only and is refused when DEBUG is off; unset it."
    )
# Staff without an authenticator set one up at their first sign-in (after re-entering the password).
# Off: only an administrator issues one (`manage.py enrol_otp EMAIL`).
OTP_SELF_ENROLMENT = _env_bool("OTP_SELF_ENROLMENT", True)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="Privacy back office")
# Doubling delay after each wrong code on a device (django-otp), on top of the lockout below.
OTP_TOTP_THROTTLE_FACTOR = 1

# django-axes: AXES_FAILURE_LIMIT failed sign-ins (wrong password or wrong code) for one user name
# from one address lock that pair out for AXES_COOLOFF_MINUTES.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The sign-in form's field and authenticate()'s keyword are "username" (the e-mail); axes would
# otherwise look for "email" (USERNAME_FIELD), find nothing and lock by address alone.
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.staff.security.lockout_response"
# Log lines name a keyed hash of the user name and address, never the e-mail itself (style rule 6).
AXES_CLIENT_STR_CALLABLE = "accounts.staff.security.client_str"
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "password", "otp_token"]
if AXES_FAILURE_LIMIT < 1:
    raise ImproperlyConfigured("AXES_FAILURE_LIMIT must be a positive number of failed sign-ins.")
if AXES_COOLOFF_TIME.total_seconds() < 60:
    raise ImproperlyConfigured("AXES_COOLOFF_MINUTES must be at least 1.")

# --- Content-Security-Policy (django-csp 4) -------------------------------------------------------
# Scripts and styles come from our own static files only: no inline script anywhere (our templates
# have none; tests/security/test_headers.py scans them). The one inline <style> of the Django admin
# (change_list.html, a changelist without actions) is allowed by its hash.
ADMIN_CHANGELIST_STYLE_HASH = "'sha256-blvLUW3UscWqsXGByNOqdBboM+ShWAuugp2mC/wbafU='"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", ADMIN_CHANGELIST_STYLE_HASH],
        "img-src": ["'self'"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Transport security (PP-26: encryption in transit) ------------------------------------------
SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = _env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# /health/ is called by the load balancer over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^health/$"]

# --- Internationalisation -----------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Issue 16: the language of letters to a requester whose language is not known (no member
# preference, nothing detected in the message). "en" keeps the letters sent before issue 16.
DEFAULT_LETTER_LANGUAGE = env.str("DEFAULT_LETTER_LANGUAGE", default="en")
if DEFAULT_LETTER_LANGUAGE not in dict(LANGUAGES):
    raise ImproperlyConfigured(
        f"DEFAULT_LETTER_LANGUAGE must be one of {', '.join(code for code, _ in LANGUAGES)}.")
# Short dates (the desk's deadlines) per language: config/formats/<language>/formats.py.
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Celery (config/celery.py reads the CELERY_ namespace) --------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
# Without a broker every task runs inline, in the caller's process (the embedded default).
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=50 * 60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=60 * 60)
# A task is acknowledged after it ran, and re-queued when its worker dies mid-way: jobs are
# idempotent, so running one twice is safe while losing one is not.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis re-delivers an unacknowledged task after the visibility timeout; it must outlast the
# longest job (the hard time limit) or a long erasure would run twice at the same time.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT * 2}
CELERY_RESULT_EXPIRES = 60 * 60 * 24
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Logging ------------------------------------------------------------------------------------
# No personal data is ever passed to a logger (style rule 6); SQL is never logged with parameters.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO", "handlers": ["console"], "propagate": False},
        # At DEBUG it logs the whole template context on every missing variable: a revealed value,
        # a member's page (issue 7, tests/security/test_canary_leaks.py). Kept at INFO whatever LOG_LEVEL.
        "django.template": {"level": "INFO"},
        # django-axes announces its configuration at every start; its sign-in records stay at INFO.
        "axes.apps": {"level": "WARNING"},
    },
}

# --- Product settings ---------------------------------------------------------------------------
DEMO_DATA_ALLOWED = _env_bool("DEMO_DATA_ALLOWED", DEBUG)

# PP-10: advanced (face) verification is required once a member's trading volume in the window
# exceeds the amount (USD equivalent).
ADVANCED_VERIFICATION_THRESHOLD = {
    "amount": env.str("ADVANCED_VERIFICATION_AMOUNT", default="50000"),
    "window_days": env.int("ADVANCED_VERIFICATION_WINDOW_DAYS", default=30),
}

# --- Retention (issue 5) --------------------------------------------------------------------------
# PP-33: cancelled accounts are anonymised after this many days.
CANCELLATION_GRACE_DAYS = env.int("CANCELLATION_GRACE_DAYS", default=30)
# PP-11: device and security records are deleted after this many days.
SECURITY_DATA_RETENTION_DAYS = env.int("SECURITY_DATA_RETENTION_DAYS", default=180)
# PP-13/PP-33: legal retention per data-map category, in days after the account closed; data
# declared "keep for legal retention" is pseudonymised at erasure and kept this long.
LEGAL_RETENTION_DAYS = {
    "transaction": env.int("LEGAL_RETENTION_TRANSACTION_DAYS", default=5 * 365),
    "account": env.int("LEGAL_RETENTION_ACCOUNT_DAYS", default=5 * 365),
}
# PP-02: a daily copy of the erasure records goes to this directory, outside the database (empty: off).
ERASURE_RECORDS_COPY_DIR = env.str("ERASURE_RECORDS_COPY_DIR", default="")
ERASURE_RECORDS_COPIES_KEPT = env.int("ERASURE_RECORDS_COPIES_KEPT", default=30)
# Members per erasure transaction: 1,000 reached 1,223 members/s a worker against 855 with 200 (fewer
# per-chunk statements and claims per member; bench/README.md section 12, issue 15).
ERASURE_CHUNK_SIZE = env.int("ERASURE_CHUNK_SIZE", default=1000)
# Claimers an approved erasure run is spread over (Celery chunk tasks; issue 15, requirement 5).
ERASURE_WORKERS = env.int("ERASURE_WORKERS", default=2)
# k-anonymity of the de-identified research export (PP-18).
DEIDENTIFIED_EXPORT_K = env.int("DEIDENTIFIED_EXPORT_K", default=5)
# PP-27: processing reviews and impact assessments falling due within this many days are reminded.
REVIEW_REMINDER_DAYS = env.int("REVIEW_REMINDER_DAYS", default=14)

# --- Request desk (issue 6) -----------------------------------------------------------------------
# PP-34: every request is answered within this many days of receipt.
REQUEST_DUE_DAYS = env.int("REQUEST_DUE_DAYS", default=15)
# Reminders to the assignee this many days before the due date; overdue requests go to supervisors.
REQUEST_REMINDER_DAYS = [int(d) for d in env.list("REQUEST_REMINDER_DAYS", default=["5", "2", "0"])]
# PP-31: a request of the same type by the same member within this window is a repeat.
REQUEST_REPEAT_WINDOW_DAYS = env.int("REQUEST_REPEAT_WINDOW_DAYS", default=180)
# PP-31: the currency a recorded fee is stated in (the fee notice names it; ISO 4217 code).
REQUEST_FEE_CURRENCY = env.str("REQUEST_FEE_CURRENCY", default="CNY")
# PP-41: the official contact addresses, used in every outgoing letter.
OFFICIAL_REQUESTS_EMAIL = env.str("OFFICIAL_REQUESTS_EMAIL", default="zhangtao@lianjingkeji.com")
OFFICIAL_COMPLAINTS_EMAIL = env.str("OFFICIAL_COMPLAINTS_EMAIL", default="customer_service@cpay.finance")
# PP-29: access-package download links expire after this many hours.
ACCESS_PACKAGE_LINK_HOURS = env.int("ACCESS_PACKAGE_LINK_HOURS", default=72)
# Origin put in front of links sent to members (e.g. https://privacy.exchange.example); empty: relative.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="")
if PUBLIC_BASE_URL and not PUBLIC_BASE_URL.startswith("https://") and not DEBUG:
    raise ImproperlyConfigured("PUBLIC_BASE_URL must start with https:// when DEBUG is off (links carry tokens).")
# PP-14: the scheduled job "requests_desk.ingest_mail" reads .eml files from this directory (empty: off).
INBOUND_MAIL_DIR = env.str("INBOUND_MAIL_DIR", default="")

# --- Consents (issue 4) ---------------------------------------------------------------------------
# PP-39: a major policy version's re-consent notices are sent by Celery tasks of this many each.
RECONSENT_CHUNK_SIZE = env.int("RECONSENT_CHUNK_SIZE", default=500)
if RECONSENT_CHUNK_SIZE < 1:
    raise ImproperlyConfigured("RECONSENT_CHUNK_SIZE must be a positive number of notices per task.")
