# gce-metadata-emulator as a container: a compose sidecar that other services reach as
# metadata.google.internal. Runs as an unprivileged user on port 8080.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY emulator ./emulator
COPY config ./config
RUN pip install . && useradd --create-home --uid 10001 emulator

USER emulator
WORKDIR /home/emulator
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --retries=5 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/emulator/health', timeout=2)"]
ENTRYPOINT ["gce-metadata-emulator"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
