# segment-selector: the CronJob image that archives recorded MP3 segments to Azure Storage.
#
#   az acr build --registry "$ACR_NAME" --image segment-selector:0.1.0 .
#   docker build -t segment-selector:dev .          (needs a Docker engine; none in CI here)
#
# Stage 1 builds the release binary with the same command scripts/validate-deploy.sh runs
# on Debian 12 in CI, so the glibc ABI of what CI builds is the one this image ships.
# Stage 2 is distroless/cc (glibc, libgcc, CA certificates, tzdata, /etc/passwd with the
# "nonroot" user 65532): no shell, no package manager. TLS is rustls with compiled-in
# Mozilla roots (webpki-roots); the image's CA bundle is there as well.
# Plain Dockerfile syntax on purpose (no BuildKit-only features), so the classic builder
# and ACR Tasks build it unchanged.
#
# checkov:skip=CKV_DOCKER_2: a run-to-completion CronJob has no long-lived process to health-check

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Only what the build needs (see .dockerignore): workspace manifest, lock file, crates.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
RUN cargo build --release --locked -p job --bin segment-selector \
 && install -D -m 0755 target/release/segment-selector /out/segment-selector

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="segment-selector" \
      org.opencontainers.image.description="Archives recorded MP3 segments to Azure Blob and Table Storage (Kubernetes CronJob)" \
      org.opencontainers.image.licenses="MIT"
COPY --from=build /out/segment-selector /usr/local/bin/segment-selector
# Numeric, so Kubernetes can verify runAsNonRoot without resolving a user name.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/segment-selector"]
