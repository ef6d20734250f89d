"""Settings of the test site: the session configuration sessionmon is built
around (DESIGN.md), with the database and secrets from the environment.

    DJANGO_DB           sqlite path, or postgres://user@host:port/dbname
    DJANGO_SECRET_KEY   the site's SECRET_KEY
    DJANGO_SERIALIZER   "json" (default) or "pickle" (a site sessionmon refuses)
    DJANGO_ENGINE       "db" (default) or "cached_db"
"""
import os
from urllib.parse import urlparse

SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "mysite",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "mysite.middleware.LastActivityMiddleware",
]
ROOT_URLCONF = "mysite.urls"

_db = os.environ["DJANGO_DB"]
if _db.startswith("postgres://"):
    _u = urlparse(_db)
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _u.path.lstrip("/"),
        "USER": _u.username or "postgres",
        "PASSWORD": _u.password or "",
        "HOST": _u.hostname or "127.0.0.1",
        "PORT": str(_u.port or 5432),
    }}
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _db}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

SESSION_ENGINE = "django.contrib.sessions.backends." + os.environ.get("DJANGO_ENGINE", "db")
SESSION_COOKIE_AGE = 1209600
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = False
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = False
if os.environ.get("DJANGO_SERIALIZER") == "pickle":
    SESSION_SERIALIZER = "django.contrib.sessions.serializers.PickleSerializer"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Fast hashing: these are test users.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "handlers": {"console": {"class": "logging.StreamHandler"}},
           "root": {"handlers": ["console"], "level": "WARNING"}}
