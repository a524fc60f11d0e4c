# The sopflow image: the web app, the Prefect deployments server and the CLI.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md package.json package-lock.json ./
COPY models models
COPY services services
COPY flows flows
COPY webapp webapp
COPY sopflow sopflow
# Front-end files first (htmx; the SOP editor bundled by esbuild), so that `pip install .`
# packages them with the web app.
RUN npm ci --no-audit --no-fund \
    && mkdir -p webapp/static/vendor \
    && cp node_modules/htmx.org/dist/htmx.min.js webapp/static/vendor/ \
    && npm run --silent build:editor \
    && rm -rf node_modules \
    && pip install .
COPY migrations migrations
COPY sop_definitions sop_definitions
RUN useradd --create-home sopflow && mkdir -p /app/instance && chown sopflow /app/instance
USER sopflow
EXPOSE 5000
CMD ["sopflow", "web", "--host", "0.0.0.0", "--port", "5000", "--workers", "4"]
