# The monitor job in a slim image. Build and run with `docker compose up -d`
# (see docker-compose.yml), or on its own:
#   docker build -t monitor .
#   docker run -d -v "$PWD/state:/app/state" monitor
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed, unprivileged account; uid 10001 must be able to write the state volume.
RUN groupadd --system --gid 10001 monitor \
    && useradd --system --uid 10001 --gid monitor --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin monitor

WORKDIR /app

# The package and its runtime dependencies only (no dev extras). The bundled sample
# feed travels as package data inside monitor/data/.
COPY pyproject.toml README.md ./
COPY monitor/ ./monitor/
RUN pip install . \
    && rm -rf build ./*.egg-info

# Configuration the job reads at run time; compose mounts the host copies over these.
COPY rules/ ./rules/
COPY templates/ ./templates/
COPY monitor.yaml ./

# Runtime data: the SQLite database and the digest files.
RUN mkdir -p /app/state/digests && chown -R monitor:monitor /app/state
VOLUME ["/app/state"]

USER monitor

# `monitor health` exits 0 while the scheduler's last tick is recent.
HEALTHCHECK --interval=60s --timeout=10s --start-period=90s --retries=3 \
    CMD ["monitor", "health"]

ENTRYPOINT ["monitor"]
CMD ["run"]
