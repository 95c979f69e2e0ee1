# gce-metadata-emulator as a container: the compose sidecar that other services reach as
# metadata.google.internal (see docker-compose.yml). Runs as an unprivileged user.
#
# The base image is a build argument, for places where python:3.11-slim cannot be pulled:
#   docker build --build-arg BASE_IMAGE=my-registry/debian-python:bookworm .
# Any Debian-like image with python3 and its venv module works.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/gce-metadata-emulator/bin:$PATH \
    GCE_METADATA_EMULATOR_HOST=0.0.0.0 GCE_METADATA_EMULATOR_PORT=8080
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY emulator ./emulator
COPY config ./config
RUN python3 -m venv /opt/gce-metadata-emulator \
 && pip install /src \
 && rm -rf /src \
 && useradd --create-home --uid 10001 emulator

USER emulator
WORKDIR /home/emulator
EXPOSE 8080
# Serve elsewhere by setting GCE_METADATA_EMULATOR_PORT (compose sets 80): `serve` and this
# check both read it, so the check follows the port actually served.
HEALTHCHECK --interval=2s --timeout=3s --start-period=30s --retries=5 \
  CMD ["gce-metadata-emulator", "health"]
ENTRYPOINT ["gce-metadata-emulator"]
CMD ["serve"]
