# kafka-cluster-exporter's image, one file for both builds (README "Container image"):
#   Docker:  docker build -t kafka-cluster-exporter .                  (bases: the public python:3.11-slim)
#   local:   scripts/build-image.sh  (buildah; bases built from Debian's packages, no registry needed)
# Run:       docker run -p 9340:9340 --read-only -v $PWD/config.yaml:/etc/kafka-cluster-exporter/config.yaml:ro \
#              kafka-cluster-exporter
# Both bases only need `python3` on PATH (python:3.11-slim has it in /usr/local/bin, Debian in /usr/bin): the
# exporter lives in a virtualenv at /opt/venv made by that python3, so no path below depends on the base.
# BUILD_BASE needs the venv module with ensurepip (pip); BASE only python3 and CA certificates.
ARG BUILD_BASE=python:3.11-slim
ARG BASE=python:3.11-slim

FROM ${BUILD_BASE} AS build
WORKDIR /src
# /opt/build has pip to build wheels; /opt/venv, the one that ships, gets no pip or setuptools.
RUN python3 -m venv /opt/build && python3 -m venv --without-pip /opt/venv
COPY pyproject.toml README.md ./
COPY exporter ./exporter
# confluent-kafka ships manylinux wheels with librdkafka inside: no compiler needed. The .pyc files are made
# here, hash-checked (SOURCE_DATE_EPOCH) so copying cannot make them stale: at run time nothing is compiled
# or written, which a read-only root filesystem requires.
# A current pip first: Debian's 23.0 cannot build a wheel from a setup.py-only sdist (pure-sasl) without `wheel`.
RUN /opt/build/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/build/bin/pip wheel --no-cache-dir --wheel-dir /wheels . \
 && SOURCE_DATE_EPOCH=0 /opt/build/bin/pip --python /opt/venv/bin/python3 install --no-cache-dir --no-index /wheels/*.whl

FROM ${BASE}
# A plain passwd line: useradd is not in every base (Debian's essential set has none).
RUN echo 'exporter:x:10001:10001:kafka-cluster-exporter:/nonexistent:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'exporter:x:10001:' >> /etc/group \
 && mkdir -p /etc/kafka-cluster-exporter
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 9340
# /healthz answers 200 while the process serves; it stays open under basic auth. With another
# web.listen_address port or TLS (--web.config.file), override this check.
HEALTHCHECK --interval=30s --timeout=3s CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9340/healthz', timeout=2)"]
# The config is mounted at this path; arguments after the image name are appended (`check`, `plan ...`).
ENTRYPOINT ["kafka-cluster-exporter", "--config", "/etc/kafka-cluster-exporter/config.yaml"]
