"""Command-line access to the core's admin API for the aws CLI and tmux suites:
    python3 cks_admin.py <Op> ['<json body>']
prints the JSON answer on stdout (exit 0), or the error body on stderr (exit 1).
Signs like a KMS request (botocore SigV4Auth) with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY."""

import json
import sys

from cks_harness import AdminError, admin

if __name__ == "__main__":
    op = sys.argv[1]
    body = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    try:
        print(json.dumps(admin(op, body)))
    except AdminError as e:
        sys.stderr.write(json.dumps({"status": e.status, "__type": e.code, "message": e.message}) + "\n")
        sys.exit(1)
