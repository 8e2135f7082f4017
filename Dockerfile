# syntax=docker/dockerfile:1
# Build stage: the Swift toolchain plus the C libraries the package links.
FROM swift:6.3-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libhiredis-dev libphonenumber-dev zlib1g-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
# Resolve first so dependency fetching is cached apart from source changes.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product marketplace \
    && swift build -c release --static-swift-stdlib --product nango-emulator \
    && mkdir -p /staging \
    && cp "$(swift build -c release --show-bin-path)/marketplace" "$(swift build -c release --show-bin-path)/nango-emulator" /staging/ \
    && find -L "$(swift build -c release --show-bin-path)" -maxdepth 1 -name '*.resources' -exec cp -R {} /staging/ \;

# Run stage: only the runtime libraries.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libhiredis0.14 libphonenumber8 ca-certificates tzdata curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /app --shell /usr/sbin/nologin marketplace
WORKDIR /app
COPY --from=build --chown=marketplace:marketplace /staging /app
COPY --chown=marketplace:marketplace pipelines.yaml /app/pipelines.yaml
USER marketplace
ENV SERVER_HOST=0.0.0.0 SERVER_PORT=8080 LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s CMD curl -fsS http://127.0.0.1:8080/health/ready || exit 1
ENTRYPOINT ["./marketplace"]
CMD ["serve"]
