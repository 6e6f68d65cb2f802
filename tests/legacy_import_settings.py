"""Project settings plus the original package (django-aws-api-gateway-websockets), on a database of the test's own
(LEGACY_IMPORT_DATABASE_URL): only the import test's subprocess uses them, so no other test sees the legacy tables."""

import os

import dj_database_url

from project.settings import *  # noqa: F403
from project.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "django_aws_api_gateway_websockets"]
DATABASES = {"default": dj_database_url.parse(os.environ["LEGACY_IMPORT_DATABASE_URL"])}
# Both apps give the user model reverse accessors of the same names; only the import scenario runs with both.
SILENCED_SYSTEM_CHECKS = ["fields.E304", "fields.E305"]
