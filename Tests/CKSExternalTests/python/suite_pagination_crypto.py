"""Pagination with boto3's own paginators over more than one page (semantics 3.4), and the
Encrypt / Decrypt / GenerateDataKey round trip through custom-key-store keys (real AES-GCM)."""

from cks_harness import *


def pages(client, op, page_size, **kw):
    return list(client.get_paginator(op).paginate(PaginationConfig={"PageSize": page_size}, **kw))


def check_page_shape(pages_, list_key, page_size, what):
    check(len(pages_) > 1, f"{what}: expected more than one page, got {len(pages_)}")
    for i, p in enumerate(pages_):
        items = p[list_key]
        check(len(items) <= page_size, f"{what} page {i}: {len(items)} items > Limit {page_size}")
        last = i == len(pages_) - 1
        eq(p.get("Truncated"), not last, f"{what} page {i} Truncated")
        if last:
            check("NextMarker" not in p, f"{what}: NextMarker on the last page")
        else:
            check(p.get("NextMarker"), f"{what} page {i}: Truncated without NextMarker")


@case
def list_keys_pages():
    region = "us-west-2"
    c = kms(region=region)
    created = {c.create_key(Description=f"k{i}")["KeyMetadata"]["KeyId"] for i in range(23)}
    # one pending deletion: ListKeys lists every state
    pending = next(iter(created))
    c.schedule_key_deletion(KeyId=pending, PendingWindowInDays=7)
    ps = pages(c, "list_keys", 5)
    check_page_shape(ps, "Keys", 5, "ListKeys")
    ids = [k["KeyId"] for p in ps for k in p["Keys"]]
    eq(len(ids), len(set(ids)), "ListKeys repeats no key across pages")
    eq(set(ids), created, "ListKeys over all pages")
    for p in ps:
        for k in p["Keys"]:
            eq(set(k), {"KeyId", "KeyArn"}, "ListKeys entry fields")
            check(k["KeyArn"].endswith(":key/" + k["KeyId"]) and f":{region}:" in k["KeyArn"], f"KeyArn {k['KeyArn']}")
    # default Limit is 100: 23 keys fit in one page
    one = c.list_keys()
    eq((len(one["Keys"]), one["Truncated"]), (23, False), "ListKeys without Limit")
    # a marker stays valid while keys are added; nothing repeats, nothing earlier is lost
    first = c.list_keys(Limit=10)
    check(first["Truncated"] and first.get("NextMarker"), "first page of 10 of 23 is truncated")
    extra = c.create_key()["KeyMetadata"]["KeyId"]
    rest = list(c.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 10, "StartingToken": first["NextMarker"]}))
    later = [k["KeyId"] for p in rest for k in p["Keys"]]
    seen = [k["KeyId"] for k in first["Keys"]] + later
    eq(len(seen), len(set(seen)), "keys repeated across pages after an insert")
    eq(set(seen) - {extra}, created, "every earlier key listed once after an insert between pages")

@case
def list_aliases_pages():
    region = "us-west-1"
    c = kms(region=region)
    k = c.create_key()["KeyMetadata"]["KeyId"]
    names = {f"alias/page-{i:02d}-{uuid.uuid4().hex[:6]}" for i in range(17)}
    for n in names:
        c.create_alias(AliasName=n, TargetKeyId=k)
    ps = pages(c, "list_aliases", 4)
    check_page_shape(ps, "Aliases", 4, "ListAliases")
    listed = [a["AliasName"] for p in ps for a in p["Aliases"]]
    eq(len(listed), len(set(listed)), "ListAliases repeats no alias")
    check(names <= set(listed), f"missing aliases: {names - set(listed)}")
    for p in ps:
        for a in p["Aliases"]:
            if a["AliasName"] in names:
                eq(a.get("TargetKeyId"), k, "alias TargetKeyId")
                check(a.get("AliasArn", "").endswith(":" + a["AliasName"]), f"AliasArn {a.get('AliasArn')}")
    by_key = [a["AliasName"] for p in c.get_paginator("list_aliases").paginate(KeyId=k, PaginationConfig={"PageSize": 5})
              for a in p["Aliases"]]
    eq(set(by_key), names, "ListAliases(KeyId) over pages")


@case
def describe_custom_key_stores_pages():
    region = "eu-central-1"
    c = kms(region=region)
    created = set()
    for i in range(7):
        created.add(new_cloudhsm_store(c, name=f"page-hsm-{i}", region=region)[0])
    for i in range(3):
        created.add(new_xks_store(c, name=f"page-xks-{i}", region=region)[0])
    ps = pages(c, "describe_custom_key_stores", 3)
    check_page_shape(ps, "CustomKeyStores", 3, "DescribeCustomKeyStores")
    ids = [s["CustomKeyStoreId"] for p in ps for s in p["CustomKeyStores"]]
    eq(len(ids), len(set(ids)), "DescribeCustomKeyStores repeats no store")
    eq(set(ids), created, "DescribeCustomKeyStores over all pages")
    # markers are opaque and bound to their operation
    marker = c.list_keys(Limit=1)
    if marker.get("NextMarker"):
        expect_error("InvalidMarkerException", c.describe_custom_key_stores, Marker=marker["NextMarker"])


@case
def encrypt_decrypt_generate_data_key_round_trip():
    c = kms()
    store_id, _ = connected_cloudhsm_store(c)
    hsm = hsm_key(c, store_id)
    plain = c.create_key()["KeyMetadata"]
    for md in (hsm, plain):
        kid = md["KeyId"]
        secret = b"\x00\x01 the application's secret \xff" * 3
        enc = c.encrypt(KeyId=kid, Plaintext=secret, EncryptionContext={"app": "billing"})
        eq(enc["KeyId"], md["Arn"], "Encrypt returns the key ARN")
        eq(enc.get("EncryptionAlgorithm"), "SYMMETRIC_DEFAULT", "EncryptionAlgorithm")
        check(secret not in enc["CiphertextBlob"], "ciphertext contains the plaintext")
        dec = c.decrypt(CiphertextBlob=enc["CiphertextBlob"], EncryptionContext={"app": "billing"})
        eq(dec["Plaintext"], secret, "Decrypt(Encrypt(x))")
        eq(dec["KeyId"], md["Arn"], "Decrypt names the key ARN")
        expect_error("InvalidCiphertextException", c.decrypt, CiphertextBlob=enc["CiphertextBlob"],
                     EncryptionContext={"app": "other"})
        tampered = bytearray(enc["CiphertextBlob"])
        tampered[-1] ^= 0x01
        expect_error("InvalidCiphertextException", c.decrypt, CiphertextBlob=bytes(tampered),
                     EncryptionContext={"app": "billing"})
        # two encryptions of the same plaintext differ (random IV)
        again = c.encrypt(KeyId=kid, Plaintext=secret, EncryptionContext={"app": "billing"})["CiphertextBlob"]
        check(again != enc["CiphertextBlob"], "two Encrypt calls gave the same ciphertext")
        dk = c.generate_data_key(KeyId=kid, KeySpec="AES_256")
        eq(len(dk["Plaintext"]), 32, "GenerateDataKey AES_256 plaintext length")
        eq(c.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"], dk["Plaintext"], "Decrypt(data key)")
        dk16 = c.generate_data_key(KeyId=kid, NumberOfBytes=16)
        eq(len(dk16["Plaintext"]), 16, "GenerateDataKey NumberOfBytes=16")
    # a ciphertext of one key does not decrypt under another
    ct = c.encrypt(KeyId=hsm["KeyId"], Plaintext=b"mine")["CiphertextBlob"]
    expect_error("IncorrectKeyException", c.decrypt, CiphertextBlob=ct, KeyId=plain["KeyId"])
    # usage is recorded (GetKeyLastUsage) after a successful crypto call
    usage = c.get_key_last_usage(KeyId=hsm["KeyId"])
    check(usage.get("KeyLastUsage"), f"GetKeyLastUsage after use: {strip_meta(usage)}")
    # What a teardown step does to the application: disconnected → crypto fails with KMSInvalidStateException
    disconnect(c, store_id)
    expect_error("KMSInvalidStateException", c.decrypt, CiphertextBlob=ct)
    expect_error("KMSInvalidStateException", c.generate_data_key, KeyId=hsm["KeyId"], KeySpec="AES_256")
    connect(c, store_id)
    eq(c.decrypt(CiphertextBlob=ct)["Plaintext"], b"mine", "Decrypt after reconnect")
    # Scheduled for deletion: the application breaks (and can be saved by cancelling)
    c.schedule_key_deletion(KeyId=hsm["KeyId"], PendingWindowInDays=7)
    expect_error(("KMSInvalidStateException", "DisabledException"), c.decrypt, CiphertextBlob=ct)
    c.cancel_key_deletion(KeyId=hsm["KeyId"])
    c.enable_key(KeyId=hsm["KeyId"])
    eq(c.decrypt(CiphertextBlob=ct)["Plaintext"], b"mine", "Decrypt after cancel + enable")


if __name__ == "__main__":
    main()
