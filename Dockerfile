# syntax=docker/dockerfile:1
#
# step-posture-connector: a step-ca webhook that allows device certificates only for managed
# devices.
#
#   docker build -t step-posture-connector:0.1.0 .
#   docker build --build-arg RUN_TESTS=1 -t step-posture-connector:0.1.0 .   # test first
#
# The image runs as the distroless "nonroot" user (UID/GID 65532) with no shell. Mount the
# certificate, key and device list (and a .env, if you use one) at /etc/step-posture-connector,
# which is the working directory; pass secrets as files with WEBHOOK_SECRETS_FILE and
# JAMF_CLIENT_SECRET_FILE. See docker-compose.yml and docs/setup-guide.md.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
ARG RUN_TESTS=0
WORKDIR /build
COPY . .
# The target directory and the registry are build caches; the binary is copied out of them.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/build/target \
    if [ "$RUN_TESTS" = "1" ]; then cargo test --workspace --locked; fi \
    && cargo build --release --locked -p step-posture-connector \
    && install -D -m 0755 target/release/step-posture-connector /out/step-posture-connector

# glibc and libgcc, nothing else: no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/step-posture-connector /usr/local/bin/step-posture-connector
WORKDIR /etc/step-posture-connector
USER nonroot:nonroot
EXPOSE 9443
STOPSIGNAL SIGTERM
# `healthcheck` GETs /livez: on METRICS_ADDR when it is set (required with ENABLE_MTLS=1,
# since the webhook port then wants a client certificate), else https://127.0.0.1:$PORT.
# It exits 0 or 1, as Docker expects.
HEALTHCHECK --interval=30s --timeout=6s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/step-posture-connector", "healthcheck", "--timeout", "5"]
ENTRYPOINT ["/usr/local/bin/step-posture-connector"]
CMD ["serve"]
