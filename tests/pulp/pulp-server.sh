#!/usr/bin/env bash
# Starts a real Pulp 3 (pulpcore and pulp-rpm from PyPI, in the virtualenv VENV) on loopback for the
# publish tests: its own PostgreSQL cluster (Debian's postgresql 15, trust auth, loopback only), the
# database migrated, then pulpcore-api, pulpcore-content and one pulpcore-worker, all under DIR.
# Prints "api=URL content=URL" once the API answers. Stop everything with: kill -- -$(cat DIR/pgid)
# Usage: pulp-server.sh VENV DIR. Bounded: gives up after 180 s.
set -euo pipefail
venv=$1
dir=$2
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pg_port=$(free_port)
api_port=$(free_port)
content_port=$(free_port)
echo $$ > "$dir/pgid"

# PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
mkdir -p "$dir/pg"
chown postgres "$dir/pg"
chmod 0700 "$dir/pg"
runuser -u postgres -- "$pg_bin/initdb" -D "$dir/pg/data" --auth=trust -U postgres > "$dir/initdb.log"
runuser -u postgres -- "$pg_bin/postgres" -D "$dir/pg/data" -p "$pg_port" -k "$dir/pg" \
    -c listen_addresses=127.0.0.1 > "$dir/postgres.log" 2>&1 &
for _ in $(seq 1 60); do
    runuser -u postgres -- "$pg_bin/pg_isready" -h 127.0.0.1 -p "$pg_port" -q && break
    sleep 0.5
done
runuser -u postgres -- "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -q -c "CREATE DATABASE pulp"

mkdir -p "$dir/media" "$dir/work" "$dir/upload" "$dir/static"
python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())' > "$dir/db.key"
cat > "$dir/settings.py" <<SETTINGS
SECRET_KEY = "hostnet-test-only"
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "pulp", "USER": "postgres",
                         "HOST": "127.0.0.1", "PORT": "$pg_port"}}
MEDIA_ROOT = "$dir/media"
STATIC_ROOT = "$dir/static"
WORKING_DIRECTORY = "$dir/work"
FILE_UPLOAD_TEMP_DIR = "$dir/upload"
DB_ENCRYPTION_KEY = "$dir/db.key"
STORAGES = {"default": {"BACKEND": "pulpcore.app.models.storage.FileSystem"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
CONTENT_ORIGIN = "http://127.0.0.1:$content_port"
ALLOWED_CONTENT_CHECKSUMS = ["sha224", "sha256", "sha384", "sha512"]
SETTINGS
export PULP_SETTINGS="$dir/settings.py"
"$venv/bin/pulpcore-manager" migrate --noinput > "$dir/migrate.log" 2>&1
"$venv/bin/pulpcore-manager" reset-admin-password --password hostnet-test > "$dir/admin.log" 2>&1
"$venv/bin/pulpcore-api" --bind "127.0.0.1:$api_port" --workers 1 > "$dir/api.log" 2>&1 &
"$venv/bin/pulpcore-content" --bind "127.0.0.1:$content_port" --workers 1 > "$dir/content.log" 2>&1 &
"$venv/bin/pulpcore-worker" > "$dir/worker.log" 2>&1 &
for _ in $(seq 1 120); do
    if curl -sf -u admin:hostnet-test "http://127.0.0.1:$api_port/pulp/api/v3/status/" > /dev/null; then
        echo "api=http://127.0.0.1:$api_port content=http://127.0.0.1:$content_port"
        exit 0
    fi
    sleep 1
done
echo "pulp-server: the API did not answer within 120 s; logs in $dir" >&2
exit 1
