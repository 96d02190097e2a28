#!/usr/bin/env bash
# An S3-compatible server for the attachment tests: moto in server mode (from PyPI), on
# 127.0.0.1:$1 (default 9000), with the bucket $2 (default hotline-test). Started only if nothing
# answers there yet.
set -euo pipefail
port="${1:-9000}"
bucket="${2:-hotline-test}"
if ! command -v moto_server >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check 'moto[server]' >/dev/null
fi
if ! curl -fsS "http://127.0.0.1:$port/" >/dev/null 2>&1; then
    nohup moto_server -H 127.0.0.1 -p "$port" >/tmp/hotline-moto.log 2>&1 &
    for _ in $(seq 1 100); do
        curl -fsS "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
        sleep 0.1
    done
fi
python3 - "$port" "$bucket" <<'PY'
import sys, boto3
port, bucket = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="test",
                  aws_secret_access_key="test", region_name="us-east-1")
if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
    s3.create_bucket(Bucket=bucket)
PY
