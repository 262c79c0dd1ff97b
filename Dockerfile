# The kok image: the `kok` command line, which the install chart's Deployments run as
# `kok operator run <name>`. Build from the repository root:
#   docker build -t ghcr.io/kok-dev/kok:0.1.0 .
# (No Docker engine exists on the machines kok is developed on, so this file is not built in CI.)

FROM node:20-bookworm-slim AS build
# better-sqlite3 compiles its native addon when no prebuilt binary matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /kok
COPY package.json package-lock.json ./
# Install scripts off (one would fetch a Pulumi plugin the operators never use); the one native addon is built explicitly.
RUN npm ci --ignore-scripts --no-audit --no-fund && npm rebuild better-sqlite3
COPY meta-cluster meta-cluster
COPY operators operators
COPY blueprints blueprints
COPY scripts scripts
COPY tsconfig.json tsconfig.build.json ./
# The compiled command (dist/): no TypeScript loader in the operators' processes (~75 MiB each).
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /kok
COPY --from=build /kok /kok
ENV NODE_ENV=production
# The chart runs the container as this user with a read-only root filesystem; the operators
# write only under /tmp, an emptyDir there. (tsx stays installed for `kok synth` of .ts blueprints.)
USER 65532:65532
ENTRYPOINT ["node", "dist/scripts/kok.js"]
CMD ["operator", "run"]
