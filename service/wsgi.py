"""WSGI entry point: ``gunicorn service.wsgi:app`` (configured by environment variables)."""

from service import create_app

app = create_app()
