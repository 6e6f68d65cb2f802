"""WSGI entry point, used by `runserver`, any WSGI server and the Lambda HTTP handler."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

application = get_wsgi_application()
