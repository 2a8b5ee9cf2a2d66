#!/bin/sh
# Container entrypoint of the Fargate services. ECS injects database and cache credentials
# from Secrets Manager as separate variables (it cannot template a URL); the services read
# DATABASE_URL, DATABASE_REPLICA_URL and REDIS_URL (common/config.ts). This composes them,
# drops the raw secrets from the environment, and hands over to the server given as $1.
# Generated credentials exclude URL-reserved characters (cdk/database-stack.ts), so no
# escaping is needed.
set -eu

# With DATABASE_IAM_AUTH=true the URL carries no password: the pools sign an IAM token per
# connection (query-api/db/iam-auth-token.ts).
if [ "${DATABASE_IAM_AUTH:-}" = "true" ] && [ -z "${DATABASE_URL:-}" ] && [ -n "${DATABASE_HOST:-}" ]; then
  database_path="${DATABASE_PORT:-5432}/${DATABASE_NAME}?sslmode=verify-full"
  export DATABASE_URL="postgres://${DATABASE_USERNAME}@${DATABASE_HOST}:${database_path}"
  if [ -n "${DATABASE_REPLICA_HOST:-}" ]; then
    export DATABASE_REPLICA_URL="postgres://${DATABASE_USERNAME}@${DATABASE_REPLICA_HOST}:${database_path}"
  fi
elif [ -n "${DATABASE_PASSWORD:-}" ] && [ -z "${DATABASE_URL:-}" ]; then
  database_auth="${DATABASE_USERNAME}:${DATABASE_PASSWORD}"
  database_path="${DATABASE_PORT:-5432}/${DATABASE_NAME}?sslmode=verify-full"
  export DATABASE_URL="postgres://${database_auth}@${DATABASE_HOST}:${database_path}"
  if [ -n "${DATABASE_REPLICA_HOST:-}" ]; then
    export DATABASE_REPLICA_URL="postgres://${database_auth}@${DATABASE_REPLICA_HOST}:${database_path}"
  fi
fi

if [ -n "${REDIS_AUTH_TOKEN:-}" ] && [ -z "${REDIS_URL:-}" ]; then
  export REDIS_URL="rediss://:${REDIS_AUTH_TOKEN}@${REDIS_HOST}:${REDIS_PORT:-6379}"
fi

# The platform's own keys (Assignment and Flag Evaluation functions, the split-URL edge
# function) are always accepted.
if [ -n "${INTERNAL_API_KEY:-}" ]; then
  export API_KEYS="${API_KEYS:+${API_KEYS},}${INTERNAL_API_KEY}"
fi
if [ -n "${EDGE_API_KEY:-}" ]; then
  export API_KEYS="${API_KEYS:+${API_KEYS},}${EDGE_API_KEY}"
fi

unset DATABASE_USERNAME DATABASE_PASSWORD REDIS_AUTH_TOKEN INTERNAL_API_KEY EDGE_API_KEY
exec node "$@"
