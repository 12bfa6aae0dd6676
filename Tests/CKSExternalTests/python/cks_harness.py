"""Shared helpers for the boto3 suites that run against a started `cks serve`.

The Swift harness (Tests/CKSExternalTests) starts the core and passes, through the environment:
CKS_ENDPOINT, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_DEFAULT_REGION (the admin principal)
and CKS_PRINCIPALS_FILE (every principal the core knows).

Each suite file registers its checks with @case and calls main(). A check raises on a mismatch;
the runner prints PASS/FAIL lines with the full detail (operation, input, expected, actual) and exits
non-zero when anything failed, so the Swift test can show the report.
"""

import base64
import contextlib
import http.client
import json
import os
import re
import sys
import time
import traceback
import urllib.parse
import uuid

import boto3
import botocore
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

ENDPOINT = os.environ.get("CKS_ENDPOINT", "http://127.0.0.1:7911")
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
ADMIN_KEY = os.environ.get("AWS_ACCESS_KEY_ID", "")
ADMIN_SECRET = os.environ.get("AWS_SECRET_ACCESS_KEY", "")

# A trust anchor the simulated cluster hands out is what stores must present; this one is for mismatches.
BOGUS_TRUST_ANCHOR = "-----BEGIN CERTIFICATE-----\nMIIBbogus\n-----END CERTIFICATE-----"
KMSUSER_PASSWORD = "kmsuser-pass-1"
CONNECT_SECONDS = 20 * 60 + 5      # a little more than the default simulated CONNECTING duration
DISCONNECT_SECONDS = 31            # a little more than the default simulated DISCONNECTING duration
DAY = 24 * 3600


# ---------------------------------------------------------------------------------------------
# Principals and clients
# ---------------------------------------------------------------------------------------------

def principals():
    """Every principal in the core's principals file, by name."""
    path = os.environ.get("CKS_PRINCIPALS_FILE")
    if not path:
        return {}
    with open(path) as f:
        return {p["name"]: p for p in json.load(f)["principals"]}


def principal(name):
    found = principals().get(name)
    if found is None:
        raise AssertionError(f"principal {name!r} is not in {os.environ.get('CKS_PRINCIPALS_FILE')}")
    return found


def kms(access_key=None, secret=None, region=None, validate=True, principal_name=None):
    """A boto3 KMS client on the core. validate=False sends what botocore would refuse client-side."""
    if principal_name is not None:
        p = principal(principal_name)
        access_key, secret = p["accessKeyId"], p["secretAccessKey"]
    return boto3.session.Session().client(
        "kms",
        endpoint_url=ENDPOINT,
        region_name=region or REGION,
        aws_access_key_id=access_key or ADMIN_KEY,
        aws_secret_access_key=secret or ADMIN_SECRET,
        config=Config(retries={"total_max_attempts": 1}, parameter_validation=validate,
                      connect_timeout=5, read_timeout=30),
    )


class AdminError(Exception):
    """An error answer of the admin API (same {"__type","message"} body as KMS)."""

    def __init__(self, status, code, message, body):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.body = status, code, message, body


def raw_request(target, body=b"{}", access_key=None, secret=None, region=None, headers=None,
                sign=True, content_type="application/x-amz-json-1.1", method="POST", path="/",
                service="kms"):
    """Sends one request by hand (SigV4-signed with botocore unless sign=False).
    Returns (status, headers dict with lower-case names, body bytes)."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    all_headers = {}
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    if target is not None:
        all_headers["X-Amz-Target"] = target
    all_headers.update(headers or {})
    request = AWSRequest(method=method, url=ENDPOINT + path, data=body, headers=all_headers)
    if sign:
        creds = Credentials(access_key or ADMIN_KEY, secret or ADMIN_SECRET)
        SigV4Auth(creds, service, region or REGION).add_auth(request)
    prepared = request.prepare()
    url = urllib.parse.urlsplit(ENDPOINT)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        send_headers = {k: v for k, v in prepared.headers.items()}
        conn.request(method, path, body=prepared.body, headers=send_headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def admin(op, body=None, access_key=None, secret=None, region=None):
    """Calls CksAdmin.<op>, signed like a KMS request. Returns the decoded JSON or raises AdminError."""
    status, headers, data = raw_request("CksAdmin." + op, json.dumps(body or {}).encode(),
                                        access_key=access_key, secret=secret, region=region)
    try:
        decoded = json.loads(data.decode() or "{}")
    except ValueError:
        raise AssertionError(f"CksAdmin.{op}({body}) answered {status} with a body that is not JSON: {data[:300]!r}")
    if status != 200:
        code = decoded.get("__type", "?").split("#")[-1]
        raise AdminError(status, code, decoded.get("message", decoded.get("Message")), decoded)
    return decoded


def now():
    """The core's simulated clock (epoch seconds)."""
    return admin("GetClock")["Now"]


def advance(seconds, region=None):
    return admin("AdvanceClock", {"Seconds": seconds}, region=region)["Now"]


# ---------------------------------------------------------------------------------------------
# Assertions that say what was called with what, what was expected and what came back
# ---------------------------------------------------------------------------------------------

def _call_text(fn, kwargs):
    name = getattr(fn, "__name__", str(fn))
    shown = {k: (v if not isinstance(v, (bytes, bytearray)) or len(v) < 40 else f"<{len(v)} bytes>")
             for k, v in kwargs.items()}
    return f"{name}({json.dumps(shown, default=str)})"


def expect_error(code, fn, message=None, contains=None, status=400, **kwargs):
    """Calls fn(**kwargs) and requires a ClientError with __type `code` (or one of a tuple of codes).
    message: exact text required; contains: str or list of substrings required in the message."""
    try:
        result = fn(**kwargs)
    except ClientError as e:
        err = e.response.get("Error", {})
        got_code = err.get("Code")
        got_message = err.get("Message", "")
        got_status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        problems = []
        if got_code != code and not (isinstance(code, tuple) and got_code in code):
            problems.append(f"code {got_code!r}, expected {code!r}")
        if message is not None and got_message != message:
            problems.append(f"message {got_message!r}, expected exactly {message!r}")
        for part in ([contains] if isinstance(contains, str) else (contains or [])):
            if part not in (got_message or ""):
                problems.append(f"message {got_message!r} lacks {part!r}")
        if not got_message:
            problems.append("empty message")
        if status is not None and got_status != status:
            problems.append(f"HTTP status {got_status}, expected {status}")
        if problems:
            raise AssertionError(f"{_call_text(fn, kwargs)}: " + "; ".join(problems))
        return e
    raise AssertionError(f"{_call_text(fn, kwargs)}: succeeded with {strip_meta(result)!r}, expected {code}")


def expect_admin_error(code, op, body=None, contains=None, **kw):
    try:
        result = admin(op, body, **kw)
    except AdminError as e:
        if e.code != code:
            raise AssertionError(f"CksAdmin.{op}({body}): {e.code} {e.message!r}, expected {code}")
        for part in ([contains] if isinstance(contains, str) else (contains or [])):
            if part not in (e.message or ""):
                raise AssertionError(f"CksAdmin.{op}({body}): message {e.message!r} lacks {part!r}")
        return e
    raise AssertionError(f"CksAdmin.{op}({body}): succeeded with {result!r}, expected {code}")


@contextlib.contextmanager
def known_defect(defect_id, description):
    """Wraps a check that fails because of a reported defect of the core: a failure inside prints
    `KNOWN-DEFECT <id>` (the Swift harness records it as a known issue); a pass prints `FIXED <id>`
    (the Swift harness fails, so the marker is removed once the defect is fixed)."""
    try:
        yield
    except AssertionError as e:
        print(f"KNOWN-DEFECT {defect_id}: {description} :: {e}", flush=True)
        return
    print(f"FIXED {defect_id}: {description} (remove the known_defect marker)", flush=True)


def eq(actual, expected, what):
    if actual != expected:
        raise AssertionError(f"{what}: got {actual!r}, expected {expected!r}")


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def strip_meta(response):
    if isinstance(response, dict):
        return {k: v for k, v in response.items() if k != "ResponseMetadata"}
    return response


def epoch(value):
    """boto3 parses timestamps to datetime; compare as epoch seconds."""
    if hasattr(value, "timestamp"):
        return value.timestamp()
    return float(value)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(predicate, what, timeout=15.0, interval=0.05):
    """Polls predicate() until it returns a truthy value (returned) or raises after timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value {last!r}")


# ---------------------------------------------------------------------------------------------
# Fixtures: clusters, proxies, stores, keys
# ---------------------------------------------------------------------------------------------

def new_cluster(hsm_count=2, password=KMSUSER_PASSWORD, region=None):
    """Creates a simulated CloudHSM cluster; returns {"ClusterId", "TrustAnchorCertificate"}."""
    out = admin("CreateCloudHsmCluster", {"HsmCount": hsm_count, "KmsUserPassword": password}, region=region)
    check(out.get("ClusterId", "").startswith("cluster-"), f"CreateCloudHsmCluster returned {out!r}")
    check(out.get("TrustAnchorCertificate"), f"CreateCloudHsmCluster returned no TrustAnchorCertificate: {out!r}")
    return out


def cluster_info(cluster_id, region=None):
    clusters = admin("DescribeCloudHsmClusters", {}, region=region)
    for c in clusters.get("Clusters", []):
        if c.get("ClusterId") == cluster_id:
            return c
    raise AssertionError(f"cluster {cluster_id} not in DescribeCloudHsmClusters: {clusters!r}")


def new_cloudhsm_store(client, name=None, cluster=None, password=KMSUSER_PASSWORD, region=None):
    """Creates a CloudHSM key store (DISCONNECTED). Returns (store_id, cluster)."""
    cluster = cluster or new_cluster(region=region)
    out = client.create_custom_key_store(
        CustomKeyStoreName=name or unique("hsm-store"),
        CloudHsmClusterId=cluster["ClusterId"],
        TrustAnchorCertificate=cluster["TrustAnchorCertificate"],
        KeyStorePassword=password,
    )
    return out["CustomKeyStoreId"], cluster


XKS_ACCESS_KEY = "ABCDEFGHIJKLMNOPQRST"                       # [A-Z2-7]{20,30}
XKS_SECRET = "K3xksSecretAccessKeyForTheProxy0123456789abcd"    # [a-zA-Z0-9/+=]{43,64}


def new_proxy(external_key_ids=("ext-key-1", "ext-key-2"), endpoint=None, path="/kms/xks/v1",
              access_key=XKS_ACCESS_KEY, secret=XKS_SECRET, region=None):
    endpoint = endpoint or f"https://{uuid.uuid4().hex[:12]}.xks.example.com"
    admin("CreateXksProxy", {"UriEndpoint": endpoint, "UriPath": path, "AccessKeyId": access_key,
                             "RawSecretAccessKey": secret, "ExternalKeyIds": list(external_key_ids)},
          region=region)
    return {"UriEndpoint": endpoint, "UriPath": path, "AccessKeyId": access_key, "RawSecretAccessKey": secret}


def new_xks_store(client, proxy=None, name=None, region=None):
    proxy = proxy or new_proxy(region=region)
    out = client.create_custom_key_store(
        CustomKeyStoreName=name or unique("xks-store"),
        CustomKeyStoreType="EXTERNAL_KEY_STORE",
        XksProxyConnectivity="PUBLIC_ENDPOINT",
        XksProxyUriEndpoint=proxy["UriEndpoint"],
        XksProxyUriPath=proxy["UriPath"],
        XksProxyAuthenticationCredential={"AccessKeyId": proxy["AccessKeyId"],
                                          "RawSecretAccessKey": proxy["RawSecretAccessKey"]},
    )
    return out["CustomKeyStoreId"], proxy


def store(client, store_id):
    out = client.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"]
    eq(len(out), 1, f"DescribeCustomKeyStores(CustomKeyStoreId={store_id}) entries")
    return out[0]


def state(client, store_id):
    return store(client, store_id)["ConnectionState"]


def wait_store_state(client, store_id, wanted, advance_by=None, timeout=15.0):
    """Polls the store until ConnectionState == wanted; while it is CONNECTING/DISCONNECTING,
    advances the simulated clock (advance_by seconds, default: past the transient duration)."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        s = state(client, store_id)
        if not seen or seen[-1] != s:
            seen.append(s)
        if s == wanted:
            return s
        if s == "CONNECTING":
            advance(advance_by or CONNECT_SECONDS)
        elif s == "DISCONNECTING":
            advance(advance_by or DISCONNECT_SECONDS)
        else:
            time.sleep(0.05)
    raise AssertionError(f"store {store_id} never reached {wanted}; states seen {seen}")


def connect(client, store_id):
    out = client.connect_custom_key_store(CustomKeyStoreId=store_id)
    eq(strip_meta(out), {}, "ConnectCustomKeyStore response body")
    return wait_store_state(client, store_id, "CONNECTED")


def disconnect(client, store_id):
    out = client.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    eq(strip_meta(out), {}, "DisconnectCustomKeyStore response body")
    return wait_store_state(client, store_id, "DISCONNECTED")


def connected_cloudhsm_store(client, region=None):
    store_id, cluster = new_cloudhsm_store(client, region=region)
    connect(client, store_id)
    return store_id, cluster


def connected_xks_store(client, proxy=None, region=None):
    store_id, proxy = new_xks_store(client, proxy=proxy, region=region)
    connect(client, store_id)
    return store_id, proxy


def hsm_key(client, store_id, **extra):
    out = client.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM", **extra)
    return out["KeyMetadata"]


def key_state(client, key_id):
    return client.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]


def key_gone(client, key_id):
    try:
        client.describe_key(KeyId=key_id)
        return False
    except ClientError as e:
        if e.response["Error"]["Code"] == "NotFoundException":
            return True
        raise


def all_key_ids(client):
    return {k["KeyId"] for page in client.get_paginator("list_keys").paginate() for k in page["Keys"]}


# ---------------------------------------------------------------------------------------------
# The runner
# ---------------------------------------------------------------------------------------------

CHECKS = []


def case(fn):
    """Registers a check of the suite (run in file order by main())."""
    CHECKS.append(fn)
    return fn


def main():
    wanted = set(sys.argv[1:])
    failures = []
    started = time.monotonic()
    for fn in CHECKS:
        if wanted and fn.__name__ not in wanted:
            continue
        t0 = time.monotonic()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - every failure is reported, the run goes on
            detail = traceback.format_exc()
            failures.append((fn.__name__, e, detail))
            print(f"FAIL {fn.__name__} ({time.monotonic() - t0:.2f}s)\n{_indent(detail)}", flush=True)
        else:
            print(f"PASS {fn.__name__} ({time.monotonic() - t0:.2f}s)", flush=True)
    total = len([f for f in CHECKS if not wanted or f.__name__ in wanted])
    print(f"== {total - len(failures)}/{total} passed in {time.monotonic() - started:.1f}s", flush=True)
    if failures:
        print("== failures:", flush=True)
        for name, e, _ in failures:
            print(f"  - {name}: {e}", flush=True)
    sys.exit(1 if failures else 0)


def _indent(text):
    return "\n".join("    " + line for line in text.rstrip().splitlines())
