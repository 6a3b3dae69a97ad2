# syntax=docker/dockerfile:1
# The dgi image: one process per container — `dgi run --node sstN`, `dgi simulate`, or any
# other subcommand (the entry point is dgi). docs/deployment.md has the recipe.
#
#   docker build -t smartgrid-dgi .                                  # the package alone
#   docker build --build-arg EXTRAS=grid,cosim -t smartgrid-dgi .   # with pandapower, HELICS, mosaik
#   docker build --build-arg DGI_UID=$(id -u) -t smartgrid-dgi .    # key files you own stay readable
#
# Two stages: the first builds a wheel and installs it with its dependencies into a virtualenv;
# the second copies only that virtualenv onto a fresh slim base (no compiler, no pip cache, no
# sources, no dev extra).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG EXTRAS=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY config ./config
COPY controller ./controller
COPY device_drivers ./device_drivers
COPY simulators ./simulators
COPY hil ./hil
RUN python -m venv /opt/dgi \
 && /opt/dgi/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/dgi/bin/pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
 && /opt/dgi/bin/pip install --no-cache-dir \
      "$(ls /wheels/*.whl)${EXTRAS:+[$EXTRAS]}"

FROM ${PYTHON_IMAGE}
ARG DGI_UID=10001
# The key and token files must be owned by the user that reads them, mode 600 (the node
# refuses others): build with DGI_UID = the owner of the files you mount.
RUN groupadd --system --gid "${DGI_UID}" dgi \
 && useradd --system --uid "${DGI_UID}" --gid dgi --home-dir /var/lib/dgi --shell /usr/sbin/nologin dgi \
 && mkdir -p /etc/dgi /var/lib/dgi \
 && chown dgi:dgi /var/lib/dgi
COPY --from=build /opt/dgi /opt/dgi
ENV PATH=/opt/dgi/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DGI_HEALTH_URL=http://127.0.0.1:8101/healthz
USER dgi
WORKDIR /var/lib/dgi
VOLUME ["/var/lib/dgi"]
# The API (see the site file's nodes[].api) and the peer port (UDP, nodes[].peer).
EXPOSE 8101/tcp 9101/udp
# /healthz answers while the node's API process lives (it exits with its node). Python, not
# curl: the slim base has no curl. Set DGI_HEALTH_URL to the node's API address.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['DGI_HEALTH_URL'], timeout=2)"]
# dgi run saves its state and writes the failsafe setpoints on SIGTERM (docs/deployment.md).
STOPSIGNAL SIGTERM
ENTRYPOINT ["dgi"]
CMD ["--help"]
