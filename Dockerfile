# One image for the api, worker, scheduler and migrate services (see docker-compose.yml).

# Stage 1: the web app. `npm run build` runs codegen (frontend/codegen.ts reads ../schema.graphql, the SDL at the
# repository root), then tsc and vite build into frontend/dist. Nothing of this stage but dist reaches the image.
FROM node:22-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY schema.graphql /src/schema.graphql
COPY frontend/ ./
RUN npm run build

# Stage 2: the studio, which serves the built app at / (`studio serve`, studio_gql/routes/frontend.py).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# bubblewrap: the sandbox of Python `code` steps. Inside a container it also needs user namespaces, which Docker's
# default seccomp profile refuses: without them those steps fail with SandboxUnavailable, saying how to enable them.
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md alembic.ini ./
COPY studio_shared ./studio_shared
COPY studio_worker ./studio_worker
COPY studio_gql ./studio_gql
COPY alembic ./alembic
RUN pip install -e . && useradd --system --home /app studio && mkdir -p /app/.studio && chown studio /app/.studio

COPY --from=frontend /src/frontend/dist ./frontend/dist
# Where `studio serve` looks for the build (settings.frontend_dir; this is also its default for this layout).
ENV STUDIO_FRONTEND_DIR=/app/frontend/dist

USER studio
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["studio", "serve", "--host", "0.0.0.0", "--port", "8000"]
