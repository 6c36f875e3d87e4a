#!/usr/bin/env bash
# Start the backing servers the integration tests use, if one is not running (the commands of this machine's image).
set -uo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local name=$1 port=$2
  for _ in $(seq 1 60); do listening "$port" && { echo "$name is up on $port"; return 0; }; sleep 0.5; done
  echo "$name did not come up on port $port" >&2
  return 1
}

if ! listening 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if ! listening 3306; then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
if ! listening 6379; then
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
if ! listening 5672; then
  rabbitmq-server -detached || true
fi

status=0
wait_port PostgreSQL 5432 || status=1
wait_port MariaDB 3306 || status=1
wait_port Redis 6379 || status=1
wait_port RabbitMQ 5672 || status=1
exit $status
