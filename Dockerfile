# OpenCloud Container Registry as a container image.
#
#   docker build -t opencloud --build-arg VERSION=$(node -p 'require("./package.json").version') \
#     --build-arg REVISION=$(git rev-parse HEAD) .
#
# The program lands where `opencloud install` puts it (/usr/lib/opencloud, with the `opencloud`
# command on PATH), runs as the user opencloud (uid 10001), and keeps blobs and state in the volume
# /var/lib/opencloud. An optional config file is
# read from /etc/opencloud/config.yaml; every key can also come as an OPENCLOUD_* variable.
# Air-gapped or mirrored: replace the images it starts from (node:20-bookworm, node:20-bookworm-slim,
# moby/buildkit:v0.16.0) with `--build-context node:20-bookworm=docker-image://…`
# (OpenCloud's own builds: "baseImages" in POST /api/v1/builds).

# buildctl, which OpenCloud runs for each build; the daemon stays outside the image (mount its
# socket at /run/buildkit/buildkitd.sock with its group added, or set buildkit.workers).
FROM moby/buildkit:v0.16.0 AS buildkit

# Compiles the server and the UI, then drops the development packages. The full image (not -slim)
# carries python3, make and g++: better-sqlite3 compiles from source where its prebuilt binary
# cannot be downloaded, against the headers that come with Node (no download from nodejs.org).
FROM node:20-bookworm AS build
ENV npm_config_nodedir=/usr/local \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
WORKDIR /src
# Dependencies first: this layer is reused until package.json or the lockfile changes.
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts && npm rebuild
COPY . .
RUN npm run build && npm prune --omit=dev \
 && mkdir -p /out && cp -a bin dist proto package.json node_modules /out/

# The runtime: Node and the program, nothing to compile with.
FROM node:20-bookworm-slim
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="OpenCloud Container Registry" \
      org.opencontainers.image.description="An OCI registry with a built-in BuildKit image builder" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
RUN groupadd --gid 10001 opencloud \
 && useradd --uid 10001 --gid opencloud --no-create-home --no-log-init --home-dir /var/lib/opencloud \
      --shell /usr/sbin/nologin opencloud \
 && ln -s /usr/lib/opencloud/bin/opencloud.js /usr/local/bin/opencloud \
 && mkdir -p /var/lib/opencloud /etc/opencloud \
 && chown opencloud:opencloud /var/lib/opencloud \
 && chmod 0750 /var/lib/opencloud
COPY --from=buildkit /usr/bin/buildctl /usr/local/bin/buildctl
COPY --from=build /out /usr/lib/opencloud
ENV NODE_ENV=production \
    OPENCLOUD_LISTEN=0.0.0.0:5000 \
    OPENCLOUD_DATA_DIR=/var/lib/opencloud
USER opencloud
WORKDIR /var/lib/opencloud
VOLUME /var/lib/opencloud
EXPOSE 5000
# /readyz on the port of OPENCLOUD_LISTEN: 200 once the state database and the blob store answer,
# 503 while they do not or while shutting down. Node is the only program here that speaks HTTP.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.OPENCLOUD_LISTEN.split(':').pop()+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# The server handles SIGTERM itself (drains requests, then exits 0), so it runs as PID 1 directly.
# Listening beyond loopback needs a user first (auth on), e.g.:
#   docker run --rm -i -v opencloud:/var/lib/opencloud IMAGE users add --admin admin --password-stdin
ENTRYPOINT ["node", "/usr/lib/opencloud/bin/opencloud.js"]
CMD ["serve"]
