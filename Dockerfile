# kafka-cluster-exporter. Build: docker build -t kafka-cluster-exporter .
# Run:   docker run -p 9340:9340 -v $PWD/config.yaml:/etc/kafka-cluster-exporter/config.yaml kafka-cluster-exporter
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
# confluent-kafka ships manylinux wheels with librdkafka inside: no compiler needed.
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --no-create-home exporter
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER 10001
EXPOSE 9340
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9340/healthz', timeout=2)"
ENTRYPOINT ["kafka-cluster-exporter", "--config", "/etc/kafka-cluster-exporter/config.yaml"]
