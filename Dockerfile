# The monitor job in a slim image. `docker compose up -d` builds and runs it (see
# docker-compose.yml); on its own:
#   docker build -t monitor .
#   docker run -d -v "$PWD/state:/app/state" monitor
# It needs BuildKit (Docker's default builder since 23.0) for RUN --mount and COPY --chmod.

# The exact Python and Debian release, so that builds a week apart start from the same
# base. Pinned by tag, not yet by digest: the digest was not at hand when this was written.
# To pin it byte for byte, append the one that
# `docker buildx imagetools inspect python:3.12.14-slim-bookworm` prints (@sha256:…).
# Bookworm, because its util-linux (essential there) ships setpriv, which the entrypoint
# uses to drop root.
FROM python:3.12.14-slim-bookworm AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# --- wheel: builds the package; the source tree stays in this stage ---------------------
FROM base AS wheel
WORKDIR /src
COPY .lock/requirements-build.txt .lock/
RUN pip install --require-hashes -r .lock/requirements-build.txt
COPY pyproject.toml README.md ./
COPY monitor/ ./monitor/
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

# --- the image ----------------------------------------------------------------------------
FROM base

# A fixed, unprivileged account. The entrypoint makes the state volume its own.
RUN groupadd --system --gid 10001 monitor \
    && useradd --system --uid 10001 --gid monitor --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin monitor

# Dependencies first, pinned and hash-checked by the lock (runtime plus the `postgres`
# extra), so that a code change reuses this layer instead of installing them again.
COPY .lock/requirements.txt /tmp/requirements.txt
RUN pip install --require-hashes -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the package, from the wheel stage: site-packages holds the only copy of the code.
RUN --mount=type=bind,from=wheel,source=/wheels,target=/tmp/wheels \
    pip install --no-deps /tmp/wheels/monitor-*.whl

COPY --chmod=0755 monitor/data/docker-entrypoint.sh /usr/local/bin/docker-entrypoint

# /app is the project folder as `make run` sees it: the configuration below (compose
# mounts the host's project folder over it, read-only) and the state volume. Relative
# paths in monitor.yaml resolve against it. PYTHONSAFEPATH keeps the working folder off
# sys.path, so a mounted source tree can never shadow the installed package.
WORKDIR /app
COPY monitor.yaml ./
COPY rules/ ./rules/
COPY templates/ ./templates/
ENV MONITOR_CONFIG=/app/monitor.yaml \
    PYTHONSAFEPATH=1

# Runtime data: the SQLite database and the digest files.
RUN install --directory --owner=10001 --group=10001 /app/state /app/state/digests
VOLUME ["/app/state"]

USER 10001:10001

# `monitor health` exits 0 while the scheduler's last tick is recent. It goes through the
# entrypoint like the job, so it runs as uid 10001 even when the container starts as root.
HEALTHCHECK --interval=60s --timeout=10s --start-period=90s --retries=3 \
    CMD ["docker-entrypoint", "health"]

ENTRYPOINT ["docker-entrypoint"]
CMD ["run"]
