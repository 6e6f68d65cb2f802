"""Settings of the standalone project: Django's auth, contenttypes and sessions, and websockets_app.

The database is SQLite at STANDALONE_DATABASE (a file the test makes in a temporary directory); the Management API
endpoint the sends go to is STANDALONE_MANAGEMENT_ENDPOINT (a stub on 127.0.0.1 in the test).
"""

from __future__ import annotations

import os

SECRET_KEY = "standalone-test-only"
DEBUG = False
ALLOWED_HOSTS = ["a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "websockets_app",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "tests.standalone.urls"
WSGI_APPLICATION = "tests.standalone.wsgi.application"

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["STANDALONE_DATABASE"]}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

WEBSOCKETS = {
    "MANAGEMENT_ENDPOINT_URL": os.environ["STANDALONE_MANAGEMENT_ENDPOINT"],
    "AWS_REGION": "eu-west-1",
    "ALLOWED_ORIGINS": ["https://www.example.com"],
}
