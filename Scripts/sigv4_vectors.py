#!/usr/bin/env python3
"""Generate SigV4 test vectors from botocore, once, for Tests/CKSWireTests/Vectors/botocore-sigv4.json.

The vectors pin what botocore's own KMS client sends (the real serializer and SigV4Auth, time pinned by
patching botocore.auth.get_current_datetime, see docs/swift-stack-notes P17) so the Swift signer and
verifier can be checked byte for byte without Python at test time.

It also cross-checks Tests/CKSWireTests/Vectors/aws-sigv4-test-suite.json (cases transcribed from the
public AWS SigV4 test suite) against botocore's SigV4Auth, so a transcription slip is caught here.

Usage (from the repo root): python3 Scripts/sigv4_vectors.py [--check]
  --check  regenerate in memory and compare with the committed file instead of writing it.
"""
import base64
import datetime
import json
import os
import sys

import botocore.auth
import botocore.session
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VECTORS = os.path.join(ROOT, "Tests", "CKSWireTests", "Vectors")

AKID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLETOKEN/with+slash=="

# (name, operation, params, region, endpoint, session token, pinned UTC time)
CASES = [
    ("list-keys-empty-params", "list_keys", {}, "us-east-1", "http://127.0.0.1:7911", None,
     datetime.datetime(2026, 11, 29, 19, 52, 5)),
    ("describe-custom-key-stores", "describe_custom_key_stores", {}, "us-east-1", "http://127.0.0.1:7911", None,
     datetime.datetime(2026, 11, 29, 19, 52, 5)),
    ("list-keys-paged", "list_keys", {"Limit": 1000, "Marker": "bWFya2VyLzEyMw=="}, "eu-west-2",
     "http://localhost:4566", None, datetime.datetime(2025, 1, 2, 3, 4, 5)),
    ("create-key-unicode-description", "create_key",
     {"Description": "clé résumé ☃ 漢字 \"quoted\"", "Origin": "AWS_CLOUDHSM",
      "CustomKeyStoreId": "cks-1234567890abcdef0", "Tags": [{"TagKey": "team", "TagValue": "a b"}]},
     "us-east-1", "http://127.0.0.1:7911", None, datetime.datetime(2026, 11, 29, 23, 59, 59)),
    ("schedule-key-deletion-session-token", "schedule_key_deletion",
     {"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "PendingWindowInDays": 7},
     "us-west-2", "http://127.0.0.1:7911", TOKEN, datetime.datetime(2026, 2, 28, 0, 0, 0)),
    ("create-custom-key-store-xks", "create_custom_key_store",
     {"CustomKeyStoreName": "ExampleXksStore", "CustomKeyStoreType": "EXTERNAL_KEY_STORE",
      "XksProxyUriEndpoint": "https://myproxy.xks.example.com", "XksProxyUriPath": "/kms/xks/v1",
      "XksProxyConnectivity": "PUBLIC_ENDPOINT",
      "XksProxyAuthenticationCredential": {"AccessKeyId": "ABCDE12345670EXAMPLE",
                                           "RawSecretAccessKey": "DXjSUawnel2fr6SKC7G25CNxTyWKE5PF9XX6H/u9pSo="}},
     "ap-southeast-2", "http://127.0.0.1:8080", None, datetime.datetime(2024, 8, 20, 23, 1, 43)),
    ("default-port-host", "describe_key", {"KeyId": "alias/my-key"}, "us-east-1",
     "http://kms.local", None, datetime.datetime(2026, 11, 29, 19, 52, 5)),
    ("generate-random-blob", "generate_random", {"NumberOfBytes": 32}, "us-east-1",
     "http://127.0.0.1:7911", TOKEN, datetime.datetime(2026, 11, 29, 19, 52, 5)),
]


def capture(operation, params, region, endpoint, token, when):
    """Runs the real boto KMS client with a pinned clock and returns the signed request it would send."""
    botocore.auth.get_current_datetime = lambda: when
    session = botocore.session.get_session()
    client = session.create_client("kms", region_name=region, endpoint_url=endpoint,
                                   aws_access_key_id=AKID, aws_secret_access_key=SECRET,
                                   aws_session_token=token)
    seen = {}

    def before_send(request, **_):
        seen["request"] = request
        return AWSResponse(request.url, 200, {"x-amzn-RequestId": "r"}, _Raw(b"{}"))

    client.meta.events.register("before-send.kms.*", before_send)
    getattr(client, operation)(**params)
    return seen["request"]


class _Raw:
    def __init__(self, data):
        self._data = data

    def stream(self, **_):
        yield self._data

    def read(self, *_):
        data, self._data = self._data, b""
        return data


def vector(name, operation, params, region, endpoint, token, when):
    request = capture(operation, params, region, endpoint, token, when)
    body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
    host = botocore.auth._host_from_url(request.url)
    headers = {k: v for k, v in request.headers.items()}
    auth = headers["Authorization"]
    auth = auth.decode() if isinstance(auth, bytes) else auth
    # Re-derive the intermediate strings with SigV4Auth on an equivalent request, so a mismatch in
    # Swift can be located (canonical request vs string to sign vs key derivation).
    botocore.auth.get_current_datetime = lambda: when
    probe = AWSRequest(method="POST", url=request.url, data=body,
                       headers={"Content-Type": _s(headers["Content-Type"]), "X-Amz-Target": _s(headers["X-Amz-Target"])})
    signer = botocore.auth.SigV4Auth(Credentials(AKID, SECRET, token), "kms", region)
    signer.add_auth(probe)
    probe_auth = _s(probe.headers["Authorization"])
    del probe.headers["Authorization"]  # the canonical request is what was signed, before the header existed
    creq = signer.canonical_request(probe)
    sts = signer.string_to_sign(probe, creq)
    assert probe_auth == auth, f"{name}: bare SigV4Auth disagrees with the client"
    return {
        "name": name,
        "operation": operation,
        "region": region,
        "service": "kms",
        "date": when.strftime("%Y%m%dT%H%M%SZ"),
        "sessionToken": token,
        "method": request.method,
        "path": "/",
        "query": "",
        "headers": [["Host", host], ["Content-Type", _s(headers["Content-Type"])],
                    ["X-Amz-Target", _s(headers["X-Amz-Target"])]],
        "bodyBase64": base64.b64encode(body).decode(),
        "expected": {
            "authorization": auth,
            "xAmzDate": _s(headers["X-Amz-Date"]),
            "xAmzSecurityToken": _s(headers.get("X-Amz-Security-Token")) if token else None,
            "canonicalRequest": creq,
            "stringToSign": sts,
        },
    }


def _s(value):
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else value


def check_aws_suite():
    """Every transcribed AWS test-suite case must sign identically with botocore's SigV4Auth."""
    with open(os.path.join(VECTORS, "aws-sigv4-test-suite.json")) as f:
        suite = json.load(f)
    when = datetime.datetime.strptime(suite["date"], "%Y%m%dT%H%M%SZ")
    failures = 0
    for case in suite["cases"]:
        botocore.auth.get_current_datetime = lambda: when
        query = ("?" + case["query"]) if case["query"] else ""
        request = AWSRequest(method=case["method"], url="https://example.amazonaws.com" + case["path"] + query,
                             data=case["body"].encode())
        for name, value in case["headers"]:
            if name.lower() in ("host", "x-amz-date"):
                continue  # botocore derives host from the URL and sets X-Amz-Date itself
            request.headers[name] = value  # HTTPHeaders appends, so repeated names stay repeated
        token = suite["sessionToken"] if case.get("signToken") else None
        signer = botocore.auth.SigV4Auth(Credentials(suite["accessKeyId"], suite["secretAccessKey"], token),
                                         suite["service"], suite["region"])
        signer.add_auth(request)
        got = _s(request.headers["Authorization"])
        del request.headers["Authorization"]
        creq = signer.canonical_request(request)
        if got != case["authorization"] or creq != case["canonicalRequest"]:
            failures += 1
            print(f"AWS suite case {case['name']}: botocore gives\n  {got}\n  expected {case['authorization']}\n"
                  f"  creq {creq!r}\n  want {case['canonicalRequest']!r}", file=sys.stderr)
    return failures


def main():
    out = {
        "generator": "Scripts/sigv4_vectors.py",
        "botocore": botocore.__version__,
        "accessKeyId": AKID,
        "secretAccessKey": SECRET,
        "vectors": [vector(*case) for case in CASES],
    }
    path = os.path.join(VECTORS, "botocore-sigv4.json")
    text = json.dumps(out, indent=2, ensure_ascii=False) + "\n"
    failures = check_aws_suite()
    if "--check" in sys.argv:
        with open(path) as f:
            if f.read() != text:
                print("botocore-sigv4.json differs from a fresh generation", file=sys.stderr)
                failures += 1
    else:
        with open(path, "w") as f:
            f.write(text)
        print(f"wrote {len(out['vectors'])} vectors to {os.path.relpath(path, ROOT)}")
    if failures:
        sys.exit(1)
    print("AWS test-suite transcription agrees with botocore")


if __name__ == "__main__":
    main()
