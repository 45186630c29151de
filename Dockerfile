# syntax=docker/dockerfile:1
# wirefeed worker image.
#   docker build -t wirefeed:0.1.0 .
#   docker run --rm -e WIREFEED_BOOTSTRAP_SERVERS=kafka:9092 -p 9108:9108 wirefeed:0.1.0
#
# Stage 1 (builder) installs the locked dependencies (--require-hashes, wheels only)
# into a virtualenv, then the package itself with --no-deps. Stage 2 (runtime)
# copies only that virtualenv onto a clean slim image: no compiler, no pip cache,
# no source tree. Both stages use the same base so the venv's interpreter links resolve.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
# Dependencies first: this layer is cached until the lock file changes.
COPY requirements/main.lock requirements/main.lock
RUN pip install --require-hashes --only-binary=:all: -r requirements/main.lock
COPY pyproject.toml README.m[d] ./
COPY consumer ./consumer
# The dedup kernels (band table, facts, MinHash) compile here once as a check that numba
# works on this base (the cache goes to /tmp, not into the venv: the runtime compiles
# into its own /tmp).
RUN pip install --no-deps . \
 && python -m compileall -q /opt/venv \
 && wirefeed --version \
 && python -c "from consumer.dedup import factscan, kernels, minhash; \
    kernels.warm(); factscan.warm(); minhash.warm()"

FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="wirefeed" \
      org.opencontainers.image.description="Streaming consumer for news-agency wire feeds: parse, deduplicate and republish stories exactly once over Kafka." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="wirefeed authors" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim"
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    WIREFEED_METRICS_PORT=9108
# Fixed, non-root UID/GID 10001: matches runAsUser in deploy/k8s.
RUN groupadd --system --gid 10001 wirefeed \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin wirefeed
COPY --from=builder /opt/venv /opt/venv
WORKDIR /tmp
USER 10001:10001
EXPOSE 9108
STOPSIGNAL SIGTERM
# slim has no curl: probe /healthz with the standard library (non-2xx raises -> exit 1).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('WIREFEED_METRICS_PORT', '9108'), timeout=4)"]
ENTRYPOINT ["wirefeed"]
CMD ["run"]
