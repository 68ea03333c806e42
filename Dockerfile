# shoal as a container: one self-contained executable (a Node single
# executable application, see scripts/build-bin.ts) on a small glibc image.
#
#   docker build -t shoal .
#   docker run -d --name shoal -v shoal-data:/data -p 4710:4710 shoal
#   docker exec shoal shoal id          # the CLI, inside the container
#
# The repo (config.json, identity.key, rpc.token, ...) lives in the /data
# volume; keep the volume to keep the node's identity. The daemon runs as
# uid 10001: a bind-mounted host directory must be writable by it
# (chown 10001:10001 DIR), a named volume is set up automatically.
#
# The RPC port (4711) stays on the container's loopback by default, so only
# `docker exec shoal shoal ...` can use it. For an app outside the container,
# opt in explicitly:
#
#   docker run -d --name shoal -v shoal-data:/data \
#     -p 4710:4710 -p 127.0.0.1:4711:4711 \
#     shoal daemon --rpc 0.0.0.0:4711
#
#   - --rpc 0.0.0.0:4711 makes the daemon listen on all of the container's
#     interfaces (or set "rpc": "0.0.0.0:4711" in /data/config.json);
#   - -p 127.0.0.1:4711:4711 publishes it on the host's loopback only. Never
#     publish 4711 on all host interfaces (-p 4711:4711);
#   - every request needs "Authorization: Bearer TOKEN" with the token from
#     /data/rpc.token, which is new at each daemon start: read it again after
#     a restart (`docker exec shoal cat /data/rpc.token`, or from the volume);
#   - the daemon checks the Host header: localhost:4711 and 127.0.0.1:4711
#     are accepted. Any other value, e.g. another host port
#     (-p 127.0.0.1:9000:4711 gives "127.0.0.1:9000") or another container
#     calling http://shoal:4711 ("shoal:4711"), must be listed, exactly as
#     sent, in /data/config.json: "rpcAllowedHosts": ["shoal:4711"].
#
# mDNS (on by default) only finds peers on the container's own network; use
# `--network host` to find peers on the LAN, or `daemon --no-mdns` to turn it
# off. Peers must be able to reach the published p2p port 4710.

# ---- build: bundle the CLI and make dist/shoal ----
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY scripts ./scripts
RUN npm run build:bin

# ---- run: the executable only ----
FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 shoal \
 && useradd --system --uid 10001 --gid shoal --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin shoal \
 && install -d -o shoal -g shoal -m 0700 /data
COPY --from=build /src/dist/shoal /usr/local/bin/shoal
ENV SHOAL_HOME=/data
VOLUME /data
WORKDIR /data
USER 10001:10001
# p2p (TCP). The RPC port 4711 is not exposed: see above.
EXPOSE 4710/tcp
# The daemon stops cleanly on SIGTERM within 5 s (docker stop waits 10 s).
STOPSIGNAL SIGTERM
# Talks to the daemon over its RPC port on the container's loopback; exits 1
# unless the node reports status "ok": "degraded" (too few storage peers for
# the configured replicas, so writes fail or keep fewer copies) is unhealthy
# too. A single-node container needs "replicas": 1 in /data/config.json (or
# `daemon --replicas 1`) to be healthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/shoal", "health"]
ENTRYPOINT ["/usr/local/bin/shoal"]
CMD ["daemon"]
