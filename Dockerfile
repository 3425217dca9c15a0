# syntax=docker/dockerfile:1
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ENVIRONMENT=production

RUN groupadd --system --gid 10001 mdmatch \
    && useradd --system --uid 10001 --gid mdmatch --home-dir /app --shell /usr/sbin/nologin mdmatch

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN pip install --no-cache-dir .

USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

# `serve` migrates to head, seeds reference data, then serves. DATABASE_URL, JWT_SECRET and the
# STRIPE_* secrets come from the environment; production refuses to start without them.
CMD ["mdmatch", "serve", "--host", "0.0.0.0", "--port", "8000"]
