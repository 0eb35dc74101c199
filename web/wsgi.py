"""WSGI entry point for gunicorn: `gunicorn web.wsgi:app`."""

from config import load_settings
from monitor.logs import configure_logging
from web import create_app

settings = load_settings()
configure_logging(settings.log_level, settings.log_format)
app = create_app(settings)
