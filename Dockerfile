# syntax=docker/dockerfile:1
# Both programs, built once, in two minimal runtime images (distroless: glibc, CA
# certificates, no shell) that run as a non-root user:
#   docker build --target exporter -t tickwatch-exporter .
#   docker build --target loadgen -t tickwatch-loadgen .
# The manifests in deploy/kubernetes/ use these images.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p tickwatch-exporter -p tickwatch-loadgen \
 && install -D -m 0755 target/release/tickwatch-exporter /out/tickwatch-exporter \
 && install -D -m 0755 target/release/tickwatch-loadgen /out/tickwatch-loadgen

FROM gcr.io/distroless/cc-debian12:nonroot AS loadgen
LABEL org.opencontainers.image.title="tickwatch-loadgen" \
      org.opencontainers.image.description="Market-data load for staging: synthetic or replayed feeds into WebSocket, Redis, Celery and MongoDB at exact open-loop rates" \
      org.opencontainers.image.source="https://example.invalid/tickwatch" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/tickwatch-loadgen /usr/local/bin/tickwatch-loadgen
COPY scenarios/ /etc/tickwatch/scenarios/
USER 65532:65532
WORKDIR /reports
# The live metrics of a run (--metrics-address).
EXPOSE 10089
ENTRYPOINT ["/usr/local/bin/tickwatch-loadgen"]
CMD ["run", "/etc/tickwatch/scenarios/xadd-smoke.toml", "--report-dir", "/reports"]

FROM gcr.io/distroless/cc-debian12:nonroot AS exporter
LABEL org.opencontainers.image.title="tickwatch-exporter" \
      org.opencontainers.image.description="Prometheus exporter for market-data platforms: Redis, Celery, MongoDB, WebSocket gateways and feed quality" \
      org.opencontainers.image.source="https://example.invalid/tickwatch" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/tickwatch-exporter /usr/local/bin/tickwatch-exporter
# The Kubernetes config: every target URL from the environment (REDIS_URL, ...).
COPY deploy/kubernetes/base/exporter.toml /etc/tickwatch/exporter.toml
USER 65532:65532
EXPOSE 10089
ENTRYPOINT ["/usr/local/bin/tickwatch-exporter"]
CMD ["--config", "/etc/tickwatch/exporter.toml"]
