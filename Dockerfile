# consent-enricher container image: the binary only, as a non-root user.
# Build:  docker build -t consent-enricher .
# Run:    docker run --rm -e CONSENT_ENRICHER__PSEUDONYM__KEY=... consent-enricher run --config /etc/consent-enricher/config.toml
# Health: GET :9464/health/live and /health/ready (probed by Kubernetes / compose, not by
# a HEALTHCHECK here: the slim runtime has no HTTP client).

# --- build: rdkafka's bundled librdkafka needs cmake, a C toolchain and OpenSSL headers
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake build-essential libssl-dev pkg-config zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY crates ./crates
COPY benches ./benches
COPY examples ./examples
COPY schemas ./schemas
COPY testdata ./testdata
COPY tests ./tests
COPY config ./config
RUN cargo build --release --locked --bin consent-enricher \
 && cp target/release/consent-enricher /consent-enricher

# --- runtime: glibc + OpenSSL 3 + CA roots for TLS to Kafka
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 ca-certificates zlib1g \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 enricher \
 && useradd --system --uid 10001 --gid enricher --no-create-home --shell /usr/sbin/nologin enricher
COPY --from=build /consent-enricher /usr/local/bin/consent-enricher
USER 10001:10001
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/consent-enricher"]
CMD ["run", "--config", "/etc/consent-enricher/config.toml"]
