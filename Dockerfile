# syntax=docker/dockerfile:1.7
# One image for both Fargate services (cdk/api-stack.ts): the ECS task's command picks the
# server, `query-api/server.js` (QUERY_API_PORT 8080) or `ingest/server.js` (INGEST_PORT 8081).
# Built by `cdk deploy` from this directory (ContainerImage.fromAsset); `cdk synth` only
# records it. The build stage transpiles the TypeScript file by file (no bundling, so the
# runtime resolves the same node_modules the tests ran against).

FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY common ./common
COPY ingest ./ingest
COPY processors ./processors
COPY query-api ./query-api
COPY edge ./edge
RUN find common ingest processors query-api edge -name '*.ts' ! -name '*.test.ts' ! -path '*/test-support/*' \
      ! -path 'query-api/ui/src/*' \
      > /tmp/sources \
 && npx esbuild $(cat /tmp/sources) --outdir=dist --outbase=. --platform=node --format=esm \
      --target=node22 --sourcemap \
 && find common ingest processors query-api edge -type f \( -name '*.json' -o -name '*.sql' \) \
      ! -path '*/fixtures/*' -exec cp --parents {} dist/ \; \
 && npx tsx query-api/ui/build-ui.ts --out-dir dist/query-api/ui/dist

FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production \
    LISTEN_HOST=0.0.0.0 \
    NODE_OPTIONS=--enable-source-maps \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/rds-global-bundle.pem
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
# Aurora's TLS certificates chain to the RDS CAs, which Node does not trust by default.
ADD --chmod=644 https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem
COPY --from=build /app/dist ./
COPY --chmod=755 cdk/container/entrypoint.sh /usr/local/bin/service-entrypoint
USER node
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/service-entrypoint"]
CMD ["query-api/server.js"]
