# The Atilax service image (docs/deployment.md): `docker build -t atilax .`, then `docker run atilax` runs
# `atilax run` on the configuration in its ATILAX_* environment. The same image runs every `atilax` command
# (`docker run atilax db migrate`) and, with `dask` as the entrypoint, the Dask scheduler and workers.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The source tree stays in /opt/atilax (read-only at run time): the install is editable, as in the README, and the
# service reads the bundled rule chains, dashboards and proto/ from it.
WORKDIR /opt/atilax
COPY pyproject.toml README.md ./
COPY proto ./proto
COPY engines ./engines
COPY tb_bridge ./tb_bridge
COPY rulechains ./rulechains
COPY dashboards ./dashboards
COPY examples ./examples
# The README's install; then the Edge protocol code is generated once, here, not by the unprivileged user at run time.
RUN python3 -m venv .venv && . .venv/bin/activate && pip install -e . \
    && python -c "from tb_bridge.transport.edge_proto import load; load()"
ENV PATH=/opt/atilax/.venv/bin:$PATH

# Non-root: the service's own files (SQLite fallback, model files) under /var/lib/atilax, Numba's cache in its home.
RUN useradd --system --uid 10001 --create-home --home-dir /home/atilax --shell /usr/sbin/nologin atilax \
    && mkdir -p /var/lib/atilax/models \
    && chown -R atilax:atilax /var/lib/atilax
USER atilax
WORKDIR /var/lib/atilax
ENV ATILAX_ML__MODEL_DIR=/var/lib/atilax/models
VOLUME ["/var/lib/atilax"]
# 8000: the HTTP API (api.enabled), 8090: the REST ingress (transport rest)
EXPOSE 8000 8090

ENTRYPOINT ["atilax"]
CMD ["run"]
