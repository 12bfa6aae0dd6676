"""kill -9 of the core while calls are being recorded: every call the core answered has its event afterwards.

    suite_record_kill.py load LEDGER     # calls from 8 threads until the core dies; each answered call's
                                         # request id is appended to LEDGER (key ARN, request id) as it returns
    suite_record_kill.py verify LEDGER   # against the restarted core: every answered request id is an event
"""

import json
import sys
import threading

from cks_harness import *


def load(ledger_path):
    c = kms()
    keys = [c.create_key()["KeyMetadata"]["Arn"] for _ in range(4)]
    lock = threading.Lock()
    ledger = open(ledger_path, "a")
    counts = {"answered": 0}

    def worker(n):
        client = kms()
        blob = None
        i = 0
        while True:
            key = keys[(n + i) % len(keys)]
            i += 1
            try:
                if i % 3 == 0:
                    r = client.describe_key(KeyId=key)
                elif i % 3 == 1 or blob is None:
                    r = client.encrypt(KeyId=key, Plaintext=b"payload")
                    blob = r["CiphertextBlob"]
                else:
                    r = client.decrypt(CiphertextBlob=blob)
            except ClientError as e:
                r = e.response   # an answered refusal is recorded too
            except Exception:
                return           # the core is gone
            request_id = r.get("ResponseMetadata", {}).get("RequestId")
            if not request_id:
                continue
            with lock:
                ledger.write(json.dumps({"key": key, "request": request_id}) + "\n")
                ledger.flush()
                counts["answered"] += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ledger.close()
    print(f"answered {counts['answered']} calls before the core died")
    if counts["answered"] < 100:
        print("FAIL: too few calls answered before the kill to prove anything")
        sys.exit(1)


def verify(ledger_path):
    entries = [json.loads(line) for line in open(ledger_path) if line.strip()]
    p = principal("qa-auditor")
    trail = boto3.session.Session().client(
        "cloudtrail", endpoint_url=ENDPOINT, region_name=REGION,
        aws_access_key_id=p["accessKeyId"], aws_secret_access_key=p["secretAccessKey"])
    recorded = {}
    for key in sorted({e["key"] for e in entries}):
        for page in trail.get_paginator("lookup_events").paginate(
                LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": key}]):
            for event in page["Events"]:
                request = json.loads(event["CloudTrailEvent"])["requestID"]
                recorded[request] = recorded.get(request, 0) + 1
    missing = [e for e in entries if e["request"] not in recorded]
    print(f"{len(entries)} answered calls, {len(recorded)} events recorded for their keys, {len(missing)} missing")
    if missing:
        print("FAIL: answered calls without an event after kill -9:", missing[:10])
        sys.exit(1)
    # Each call of the load (DescribeKey, Encrypt, Decrypt) uses one key: one event each, however often the
    # log was folded or replayed.
    twice = [r for r, n in recorded.items() if n > 1]
    if twice:
        print("FAIL: calls recorded more than once (a replayed log folded twice):", twice[:10])
        sys.exit(1)
    print("PASS every answered call has its event")


if __name__ == "__main__":
    {"load": load, "verify": verify}[sys.argv[1]](sys.argv[2])
