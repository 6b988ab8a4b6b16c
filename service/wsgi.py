"""WSGI entry point: ``gunicorn service.wsgi:app`` (configured by environment variables).

Add ``--worker-class service.gunicorn_worker.ProblemSyncWorker`` (``ProblemThreadWorker`` with
``--threads``) so that requests gunicorn refuses itself also get problem bodies;
``python -m service.server`` does this for you.
"""

from service import create_app

app = create_app()
