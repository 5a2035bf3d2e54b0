# One image for the api, worker, scheduler and migrate services (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md alembic.ini ./
COPY studio_shared ./studio_shared
COPY studio_worker ./studio_worker
COPY studio_gql ./studio_gql
COPY alembic ./alembic
RUN pip install -e . && useradd --system --home /app studio && mkdir -p /app/.studio && chown studio /app/.studio

USER studio
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["studio", "serve", "--host", "0.0.0.0", "--port", "8000"]
