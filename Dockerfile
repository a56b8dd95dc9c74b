# One image for the containers of compose.yaml, which mirrors deploy/Procfile (`make serve`): the
# same commands, each a service. (It cannot be built on the development machine, which reaches no
# container registry; keep it as simple as the Procfile.)

FROM node:20-bookworm-slim AS frontend
WORKDIR /app/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY frontend/ ./
RUN npm run build

FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    GRIDCAST_VAR_DIR=/var/lib/gridcast \
    ANALYTICS_DATA_PATH=/var/lib/gridcast/lake
WORKDIR /app
COPY pyproject.toml ./
RUN pip install --no-cache-dir --upgrade pip && pip install --no-cache-dir -e .
COPY . .
COPY --from=frontend /app/static/dist static/dist
# Static files are collected into the image (the embedded settings need no secret to do it).
RUN DJANGO_SETTINGS_MODULE=config.settings.embedded python manage.py collectstatic --noinput -v 0
EXPOSE 8000
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", \
     "--ws-per-message-deflate", "false", "--no-access-log", "--log-level", "warning"]
