"""The safe teardown path of the seed (DeleteCustomKeyStore.txt), end to end with boto3:
cluster (admin API) → create store → connect → CONNECTED → keys + aliases → schedule deletion →
window passes → keys gone → disconnect → DISCONNECTED → delete → store gone."""

from cks_harness import *


@case
def cloudhsm_store_safe_teardown():
    c = kms()
    cluster = new_cluster()
    name = unique("seed-store")
    created = c.create_custom_key_store(
        CustomKeyStoreName=name,
        CloudHsmClusterId=cluster["ClusterId"],
        TrustAnchorCertificate=cluster["TrustAnchorCertificate"],
        KeyStorePassword=KMSUSER_PASSWORD,
    )
    store_id = created["CustomKeyStoreId"]
    check(re.fullmatch(r"cks-[0-9a-f]{17}", store_id), f"CustomKeyStoreId {store_id!r} is not cks- + 17 hex (semantics 1.5)")
    check(created["ResponseMetadata"].get("RequestId"), "no x-amzn-RequestId on CreateCustomKeyStore")

    entry = store(c, store_id)
    eq(entry["ConnectionState"], "DISCONNECTED", "a new store's ConnectionState (semantics 1.1)")
    eq(entry["CustomKeyStoreName"], name, "CustomKeyStoreName")
    eq(entry["CustomKeyStoreType"], "AWS_CLOUDHSM", "CustomKeyStoreType default")
    eq(entry["CloudHsmClusterId"], cluster["ClusterId"], "CloudHsmClusterId")
    eq(entry["TrustAnchorCertificate"], cluster["TrustAnchorCertificate"], "TrustAnchorCertificate")
    check("ConnectionErrorCode" not in entry, f"ConnectionErrorCode present while not FAILED: {entry}")
    check("KeyStorePassword" not in entry, "KeyStorePassword must never be returned")
    check(abs(epoch(entry["CreationDate"]) - now()) < 120, f"CreationDate {entry['CreationDate']} not near the core's now")
    # the name filter finds it too
    by_name = c.describe_custom_key_stores(CustomKeyStoreName=name)["CustomKeyStores"]
    eq([s["CustomKeyStoreId"] for s in by_name], [store_id], "DescribeCustomKeyStores(CustomKeyStoreName)")

    # Connect is asynchronous: 200 {} at once, CONNECTING, then CONNECTED once the simulated time passes.
    out = c.connect_custom_key_store(CustomKeyStoreId=store_id)
    eq(strip_meta(out), {}, "ConnectCustomKeyStore body")
    eq(state(c, store_id), "CONNECTING", "state right after ConnectCustomKeyStore (semantics 1.3)")
    wait_store_state(c, store_id, "CONNECTED")

    keys = [hsm_key(c, store_id, Description=f"seed key {i}") for i in range(3)]
    for k in keys:
        eq(k["KeyState"], "Enabled", "new key state")
        eq(k["Origin"], "AWS_CLOUDHSM", "Origin")
        eq(k["CustomKeyStoreId"], store_id, "CustomKeyStoreId on the key")
        eq(k["CloudHsmClusterId"], cluster["ClusterId"], "CloudHsmClusterId on the key")
    aliases = []
    for i, k in enumerate(keys):
        alias = f"alias/{unique('seed')}"
        c.create_alias(AliasName=alias, TargetKeyId=k["KeyId"])
        aliases.append(alias)
    listed = {a["AliasName"]: a.get("TargetKeyId") for p in c.get_paginator("list_aliases").paginate() for a in p["Aliases"]}
    for alias, k in zip(aliases, keys):
        eq(listed.get(alias), k["KeyId"], f"ListAliases target of {alias}")

    # Connected and holding keys: refused (which of the two reasons wins is undocumented).
    expect_error(("CustomKeyStoreInvalidStateException", "CustomKeyStoreHasCMKsException"),
                 c.delete_custom_key_store, CustomKeyStoreId=store_id)

    # Schedule deletion of every key (ListKeys + DescribeKey to find them, as AWS's own doc does).
    in_store = [k["KeyId"] for k in
                (c.describe_key(KeyId=kid)["KeyMetadata"] for kid in all_key_ids(c))
                if k.get("CustomKeyStoreId") == store_id]
    eq(sorted(in_store), sorted(k["KeyId"] for k in keys), "keys found in the store via ListKeys + DescribeKey")
    t0 = now()
    for kid in in_store:
        r = c.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
        eq(r["KeyState"], "PendingDeletion", "ScheduleKeyDeletion KeyState")
        eq(r["PendingWindowInDays"], 7, "ScheduleKeyDeletion PendingWindowInDays")
        check(r["KeyId"].startswith("arn:aws:kms:"), f"ScheduleKeyDeletion KeyId must be the key ARN, got {r['KeyId']!r}")
        dd = epoch(r["DeletionDate"])
        check(abs(dd - (t0 + 7 * DAY)) < 300, f"DeletionDate {dd} is not now+7 days ({t0 + 7 * DAY})")
        md = c.describe_key(KeyId=kid)["KeyMetadata"]
        eq(md["KeyState"], "PendingDeletion", "DescribeKey state after scheduling")
        eq(md["Enabled"], False, "Enabled after scheduling (semantics 2.4)")
        check("DeletionDate" in md, "DescribeKey has no DeletionDate while PendingDeletion (semantics 2.6)")

    # Still blocked while keys are pending deletion (seed: cannot contain any KMS keys).
    c.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    wait_store_state(c, store_id, "DISCONNECTED")
    expect_error("CustomKeyStoreHasCMKsException", c.delete_custom_key_store, CustomKeyStoreId=store_id)
    # Reconnect so that the cluster's key material can really be deleted (semantics 6.3).
    connect(c, store_id)
    for kid in in_store:
        eq(key_state(c, kid), "PendingDeletion", "PendingDeletion kept across disconnect/reconnect")

    # Window not over: keys still there.
    advance(6 * DAY)
    for kid in in_store:
        eq(key_state(c, kid), "PendingDeletion", "key state before the waiting period ends")
    advance(1 * DAY + 60)
    wait_until(lambda: all(key_gone(c, kid) for kid in in_store), "every key deleted after the window")
    arns = {k["KeyId"]: k["Arn"] for k in keys}
    for kid in in_store:
        expect_error("NotFoundException", c.describe_key, KeyId=kid, message=f"Key '{arns[kid]}' does not exist")
    remaining = all_key_ids(c)
    check(not (set(in_store) & remaining), f"deleted keys still in ListKeys: {set(in_store) & remaining}")
    listed = {a["AliasName"] for p in c.get_paginator("list_aliases").paginate() for a in p["Aliases"]}
    check(not (set(aliases) & listed), f"aliases of deleted keys still listed: {set(aliases) & listed}")
    # Connected at the end of the window: nothing orphaned.
    eq(cluster_info(cluster["ClusterId"]).get("OrphanedKeyMaterial", []), [], "orphaned key material when connected")

    # Disconnect, wait, delete.
    expect_error("CustomKeyStoreInvalidStateException", c.delete_custom_key_store, CustomKeyStoreId=store_id)
    disconnect(c, store_id)
    out = c.delete_custom_key_store(CustomKeyStoreId=store_id)
    eq(strip_meta(out), {}, "DeleteCustomKeyStore body")
    expect_error("CustomKeyStoreNotFoundException", c.describe_custom_key_stores, CustomKeyStoreId=store_id)
    expect_error("CustomKeyStoreNotFoundException", c.describe_custom_key_stores, CustomKeyStoreName=name)
    all_ids = [s["CustomKeyStoreId"] for p in c.get_paginator("describe_custom_key_stores").paginate() for s in p["CustomKeyStores"]]
    check(store_id not in all_ids, "deleted store still listed")
    # The cluster is not touched by DeleteCustomKeyStore (seed), and can back a new store.
    info = cluster_info(cluster["ClusterId"])
    eq(info.get("HsmCount"), 2, "cluster HSM count after the store was deleted")
    again, _ = new_cloudhsm_store(c, cluster=cluster)
    check(again != store_id, "a new store on the same cluster gets a new id")


@case
def external_key_store_safe_teardown():
    c = kms()
    store_id, proxy = new_xks_store(c)
    connect(c, store_id)
    k = c.create_key(CustomKeyStoreId=store_id, Origin="EXTERNAL_KEY_STORE", XksKeyId="ext-key-1")["KeyMetadata"]
    eq(k["Origin"], "EXTERNAL_KEY_STORE", "Origin")
    eq(k.get("XksKeyConfiguration"), {"Id": "ext-key-1"}, "XksKeyConfiguration")
    c.schedule_key_deletion(KeyId=k["KeyId"], PendingWindowInDays=30)
    disconnect(c, store_id)
    eq(key_state(c, k["KeyId"]), "PendingDeletion", "PendingDeletion wins over Unavailable (semantics 2.2)")
    expect_error("CustomKeyStoreHasCMKsException", c.delete_custom_key_store, CustomKeyStoreId=store_id)
    advance(30 * DAY + 60)
    wait_until(lambda: key_gone(c, k["KeyId"]), "the external key store's key deleted")
    c.delete_custom_key_store(CustomKeyStoreId=store_id)
    expect_error("CustomKeyStoreNotFoundException", c.describe_custom_key_stores, CustomKeyStoreId=store_id)
    # KMS never touches external keys: the same external key can back a key in a new store.
    again, _ = new_xks_store(c, proxy=new_proxy(external_key_ids=["ext-key-1"]))
    connect(c, again)
    c.create_key(CustomKeyStoreId=again, Origin="EXTERNAL_KEY_STORE", XksKeyId="ext-key-1")


if __name__ == "__main__":
    main()
