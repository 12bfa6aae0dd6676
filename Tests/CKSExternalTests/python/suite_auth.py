"""Permissions (principals file `allow` patterns), SigV4 verification (issue 2 "Principals and
permissions", semantics 3.3/3.5) and account isolation. Needs the principals qa-admin, qa-other,
qa-reader and qa-operator (the Swift harness writes them)."""

import datetime
from unittest import mock

from cks_harness import *


def as_(name, **kw):
    return kms(principal_name=name, **kw)


@case
def restricted_principal_is_denied_and_nothing_changes():
    c = kms()
    store_id, _ = new_cloudhsm_store(c)
    reader = as_("qa-reader")
    # allowed: Describe*, List*, Get*
    eq(store(reader, store_id)["ConnectionState"], "DISCONNECTED", "reader sees the store")
    reader.list_keys()
    account = principal("qa-reader")["account"]
    e = expect_error("AccessDeniedException", reader.delete_custom_key_store, CustomKeyStoreId=store_id,
                     contains=["is not authorized to perform: kms:DeleteCustomKeyStore on resource: ",
                               f"arn:aws:iam::{account}:user/qa-reader", "User: "])
    eq(state(c, store_id), "DISCONNECTED", "store after a denied delete")
    expect_error("AccessDeniedException", reader.connect_custom_key_store, CustomKeyStoreId=store_id,
                 contains="kms:ConnectCustomKeyStore")
    eq(state(c, store_id), "DISCONNECTED", "store after a denied connect")
    expect_error("AccessDeniedException", reader.create_key, contains="kms:CreateKey")
    expect_error("AccessDeniedException", reader.create_custom_key_store, CustomKeyStoreName=unique("denied"),
                 CloudHsmClusterId="cluster-234567abcdefg", TrustAnchorCertificate="x", KeyStorePassword="passw0rd",
                 contains="kms:CreateCustomKeyStore")
    names = [s["CustomKeyStoreName"] for s in c.describe_custom_key_stores()["CustomKeyStores"]]
    check(not any(n.startswith("denied") for n in names), f"a denied create made a store: {names}")

    operator = as_("qa-operator")
    operator.connect_custom_key_store(CustomKeyStoreId=store_id)      # allowed: kms:Connect*
    wait_store_state(c, store_id, "CONNECTED")
    k = operator.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")["KeyMetadata"]["KeyId"]
    expect_error("AccessDeniedException", operator.disable_key, KeyId=k, contains="kms:DisableKey")
    eq(key_state(c, k), "Enabled", "key after a denied DisableKey")
    operator.schedule_key_deletion(KeyId=k, PendingWindowInDays=7)
    advance(7 * DAY + 60)
    wait_until(lambda: key_gone(c, k), "key deleted")
    operator.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    wait_store_state(c, store_id, "DISCONNECTED")
    expect_error("AccessDeniedException", operator.delete_custom_key_store, CustomKeyStoreId=store_id,
                 contains="kms:DeleteCustomKeyStore")
    eq(state(c, store_id), "DISCONNECTED", "store after a denied delete")
    c.delete_custom_key_store(CustomKeyStoreId=store_id)


@case
def admin_api_needs_cks_permissions():
    reader = principal("qa-reader")
    try:
        admin("CreateCloudHsmCluster", {"HsmCount": 2, "KmsUserPassword": KMSUSER_PASSWORD},
              access_key=reader["accessKeyId"], secret=reader["secretAccessKey"])
    except AdminError as e:
        eq(e.code, "AccessDeniedException", "admin call by a principal without cks:*")
        check("cks:CreateCloudHsmCluster" in (e.message or ""), f"the message names the action: {e.message!r}")
    else:
        raise AssertionError("CksAdmin.CreateCloudHsmCluster by qa-reader (no cks:*) succeeded")
    before = now()
    try:
        admin("AdvanceClock", {"Seconds": 3600}, access_key=reader["accessKeyId"], secret=reader["secretAccessKey"])
    except AdminError as e:
        eq(e.code, "AccessDeniedException", "AdvanceClock by a principal without cks:*")
    else:
        raise AssertionError("CksAdmin.AdvanceClock by qa-reader succeeded")
    check(now() - before < 600, "a denied AdvanceClock must not move the clock")


@case
def wrong_secret_unknown_key_and_missing_authorization():
    admin_key = principal("qa-admin")["accessKeyId"]
    bad = kms(access_key=admin_key, secret="wrong-secret-wrong-secret-wrong-secret00")
    expect_error("InvalidSignatureException", bad.list_keys,
                 message="The request signature we calculated does not match the signature you provided. "
                         "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
    unknown = kms(access_key="AKIAUNKNOWNUNKNOWN00", secret="whatever-whatever-whatever-whatever-0000")
    expect_error("UnrecognizedClientException", unknown.list_keys,
                 message="The security token included in the request is invalid.")
    status, headers, body = raw_request("TrentService.ListKeys", b"{}", sign=False)
    eq(status, 400, "status without Authorization")
    eq(json.loads(body).get("__type", "").split("#")[-1], "MissingAuthenticationTokenException",
       f"error without Authorization ({body!r})")
    check("x-amzn-requestid" in headers, "x-amzn-RequestId on an error response")
    status, _, body = raw_request("TrentService.ListKeys", b"{}", sign=False,
                                  headers={"Authorization": "AWS4-HMAC-SHA256 Credential=garbage"})
    eq(status, 400, "status with a malformed Authorization")
    eq(json.loads(body).get("__type", "").split("#")[-1], "IncompleteSignatureException",
       f"error with a malformed Authorization ({body!r})")
    # A body changed after signing fails the signature.
    request = AWSRequest(method="POST", url=ENDPOINT + "/", data=b'{"Limit": 5}',
                         headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"})
    p = principal("qa-admin")
    SigV4Auth(Credentials(p["accessKeyId"], p["secretAccessKey"]), "kms", REGION).add_auth(request)
    prepared = request.prepare()
    url = urllib.parse.urlsplit(ENDPOINT)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.request("POST", "/", body=b'{"Limit": 6}', headers=dict(prepared.headers.items()))
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    eq(json.loads(data).get("__type", "").split("#")[-1], "InvalidSignatureException", "tampered body")


def skewed_client(offset):
    fixed = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + offset
    return mock.patch.object(botocore.auth, "get_current_datetime", lambda *a, **k: fixed), fixed


@case
def clock_skew_over_five_minutes_is_refused():
    c = kms()
    patch, fixed = skewed_client(datetime.timedelta(minutes=-10))
    with patch:
        e = expect_error("InvalidSignatureException", c.list_keys, contains=["Signature expired: ", " is now earlier than ", "- 5 min.)"])
    stamp = fixed.strftime("%Y%m%dT%H%M%SZ")
    check(e.response["Error"]["Message"].startswith(f"Signature expired: {stamp} is now earlier than "),
          f"skew message {e.response['Error']['Message']!r} should start with the request's X-Amz-Date {stamp}")
    patch, _ = skewed_client(datetime.timedelta(minutes=10))
    with patch:
        expect_error("InvalidSignatureException", c.list_keys, contains=["Signature not yet current: ", "+ 5 min.)"])
    # Four minutes is within the window; and the simulated clock does not count (wall clock only).
    advance(3 * DAY)
    patch, _ = skewed_client(datetime.timedelta(minutes=-4))
    with patch:
        c.list_keys()


@case
def other_accounts_resources_are_invisible():
    c = kms()
    other = as_("qa-other")
    store_id, _ = connected_cloudhsm_store(c)
    k = hsm_key(c, store_id)
    alias = f"alias/{unique('mine')}"
    c.create_alias(AliasName=alias, TargetKeyId=k["KeyId"])
    expect_error("CustomKeyStoreNotFoundException", other.describe_custom_key_stores, CustomKeyStoreId=store_id)
    expect_error("CustomKeyStoreNotFoundException", other.connect_custom_key_store, CustomKeyStoreId=store_id)
    expect_error("CustomKeyStoreNotFoundException", other.disconnect_custom_key_store, CustomKeyStoreId=store_id)
    expect_error("CustomKeyStoreNotFoundException", other.delete_custom_key_store, CustomKeyStoreId=store_id)
    expect_error("CustomKeyStoreNotFoundException", other.create_key, CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")
    listed = [s["CustomKeyStoreId"] for s in other.describe_custom_key_stores()["CustomKeyStores"]]
    check(store_id not in listed, "another account's store listed")
    expect_error("NotFoundException", other.describe_key, KeyId=k["KeyId"])
    expect_error("NotFoundException", other.describe_key, KeyId=k["Arn"])
    expect_error("NotFoundException", other.schedule_key_deletion, KeyId=k["KeyId"])
    expect_error("NotFoundException", other.describe_key, KeyId=alias)
    check(k["KeyId"] not in all_key_ids(other), "another account's key in ListKeys")
    other_aliases = [a["AliasName"] for p in other.get_paginator("list_aliases").paginate() for a in p["Aliases"]]
    check(alias not in other_aliases, "another account's alias listed")
    # the same alias name is free in the other account
    mine = other.create_key()["KeyMetadata"]["KeyId"]
    other.create_alias(AliasName=alias, TargetKeyId=mine)
    eq(c.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"], k["KeyId"], "alias resolves per account")
    eq(state(c, store_id), "CONNECTED", "store untouched by the other account")
    eq(key_state(c, k["KeyId"]), "Enabled", "key untouched by the other account")


if __name__ == "__main__":
    main()
