"""Key states of custom-key-store keys across disconnect and reconnect (semantics 2.2, 6.4), the
key-state table 2.3 with its message templates, and orphaned key material (semantics 2.4, 6.3)."""

from cks_harness import *


@case
def states_across_disconnect_and_reconnect():
    c = kms()
    store_id, _ = connected_cloudhsm_store(c)
    enabled = hsm_key(c, store_id)["KeyId"]
    disabled = hsm_key(c, store_id)["KeyId"]
    pending = hsm_key(c, store_id)["KeyId"]
    cancel_while_down = hsm_key(c, store_id)["KeyId"]
    enable_while_down = hsm_key(c, store_id)["KeyId"]
    c.disable_key(KeyId=disabled)
    c.disable_key(KeyId=enable_while_down)
    c.schedule_key_deletion(KeyId=pending, PendingWindowInDays=30)
    c.schedule_key_deletion(KeyId=cancel_while_down, PendingWindowInDays=30)

    disconnect(c, store_id)
    eq(key_state(c, enabled), "Unavailable", "Enabled key while disconnected")
    eq(key_state(c, disabled), "Unavailable", "Disabled key while disconnected")
    eq(key_state(c, pending), "PendingDeletion", "PendingDeletion key while disconnected (PendingDeletion wins)")
    md = c.describe_key(KeyId=pending)["KeyMetadata"]
    check("DeletionDate" in md, "DeletionDate kept while disconnected")

    # Enable/Disable on Unavailable: success, no visible change until reconnect (footnote 12).
    c.enable_key(KeyId=enable_while_down)
    eq(key_state(c, enable_while_down), "Unavailable", "state after EnableKey on an Unavailable key")
    # CancelKeyDeletion works without reconnecting; the key shows Unavailable until then (semantics 2.4).
    r = c.cancel_key_deletion(KeyId=cancel_while_down)
    check(r["KeyId"].startswith("arn:aws:kms:"), f"CancelKeyDeletion KeyId must be the ARN: {r['KeyId']!r}")
    eq(key_state(c, cancel_while_down), "Unavailable", "cancelled key while the store is disconnected")
    # ScheduleKeyDeletion is allowed on an Unavailable key.
    r = c.schedule_key_deletion(KeyId=enabled, PendingWindowInDays=7)
    eq(r["KeyState"], "PendingDeletion", "ScheduleKeyDeletion on an Unavailable key")
    c.cancel_key_deletion(KeyId=enabled)
    # Crypto on an Unavailable key: KMSInvalidStateException "<arn> is unavailable." (footnote 11)
    arn = c.describe_key(KeyId=disabled)["KeyMetadata"]["Arn"]
    expect_error("KMSInvalidStateException", c.encrypt, KeyId=disabled, Plaintext=b"x", message=f"{arn} is unavailable.")
    # Creating keys needs CONNECTED
    expect_error("CustomKeyStoreInvalidStateException", c.create_key, CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")

    connect(c, store_id)
    eq(key_state(c, disabled), "Disabled", "Disabled restored after reconnect")
    eq(key_state(c, pending), "PendingDeletion", "PendingDeletion after reconnect")
    eq(key_state(c, cancel_while_down), "Disabled", "CancelKeyDeletion → Disabled after reconnect")
    eq(key_state(c, enable_while_down), "Enabled", "EnableKey while Unavailable takes effect after reconnect")
    eq(key_state(c, enabled), "Disabled", "a key scheduled and cancelled while disconnected is Disabled")


@case
def connect_failure_keeps_keys_unavailable():
    c = kms()
    store_id, _ = connected_cloudhsm_store(c)
    k = hsm_key(c, store_id)["KeyId"]
    disconnect(c, store_id)
    admin("SetConnectionFault", {"CustomKeyStoreId": store_id, "ConnectionErrorCode": "NETWORK_ERRORS"})
    c.connect_custom_key_store(CustomKeyStoreId=store_id)
    wait_store_state(c, store_id, "FAILED")
    eq(key_state(c, k), "Unavailable", "key state while the store is FAILED")
    disconnect(c, store_id)
    admin("SetConnectionFault", {"CustomKeyStoreId": store_id, "ConnectionErrorCode": None})
    connect(c, store_id)
    eq(key_state(c, k), "Enabled", "key state after a successful reconnect")


@case
def key_state_table_messages():
    c = kms()
    store_id, _ = connected_cloudhsm_store(c)
    k = hsm_key(c, store_id)
    kid, arn = k["KeyId"], k["Arn"]
    check(arn == f"arn:aws:kms:{REGION}:{arn.split(':')[4]}:key/{kid}", f"key ARN {arn!r}")
    expect_error("KMSInvalidStateException", c.cancel_key_deletion, KeyId=kid, message=f"{arn} is not pending deletion.")
    c.disable_key(KeyId=kid)
    eq(key_state(c, kid), "Disabled", "after DisableKey")
    expect_error("DisabledException", c.encrypt, KeyId=kid, Plaintext=b"x", message=f"{arn} is disabled.")
    expect_error("DisabledException", c.generate_data_key, KeyId=kid, KeySpec="AES_256", message=f"{arn} is disabled.")
    c.enable_key(KeyId=kid)
    ct = c.encrypt(KeyId=kid, Plaintext=b"kept")["CiphertextBlob"]
    c.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
    expect_error("KMSInvalidStateException", c.schedule_key_deletion, KeyId=kid, PendingWindowInDays=7,
                 message=f"{arn} is pending deletion.")
    expect_error("KMSInvalidStateException", c.enable_key, KeyId=kid, message=f"{arn} is pending deletion.")
    expect_error("KMSInvalidStateException", c.disable_key, KeyId=kid, message=f"{arn} is pending deletion.")
    expect_error("KMSInvalidStateException", c.create_alias, AliasName=f"alias/{unique('p')}", TargetKeyId=kid,
                 message=f"{arn} is pending deletion.")
    # crypto on a pending key: footnote [2]/[3] (DisabledException or KMSInvalidStateException, "is pending deletion.")
    expect_error(("KMSInvalidStateException", "DisabledException"), c.encrypt, KeyId=kid, Plaintext=b"x",
                 message=f"{arn} is pending deletion.")
    expect_error(("KMSInvalidStateException", "DisabledException"), c.decrypt, CiphertextBlob=ct,
                 message=f"{arn} is pending deletion.")
    # DescribeKey, ListAliases, GetKeyLastUsage stay allowed
    c.describe_key(KeyId=kid)
    c.list_aliases(KeyId=kid)
    c.get_key_last_usage(KeyId=kid)
    r = c.cancel_key_deletion(KeyId=kid)
    eq(key_state(c, kid), "Disabled", "CancelKeyDeletion → Disabled (semantics 2.4)")
    md = c.describe_key(KeyId=kid)["KeyMetadata"]
    check("DeletionDate" not in md, f"DeletionDate after cancel: {md}")
    # unknown keys: AWS's texts (semantics 2.3 "Real AWS message samples")
    unknown = "11111111-2222-3333-4444-555555555555"
    unknown_arn = arn.rsplit("/", 1)[0] + "/" + unknown
    expect_error("NotFoundException", c.describe_key, KeyId=unknown, message=f"Key '{unknown_arn}' does not exist")
    expect_error("NotFoundException", c.schedule_key_deletion, KeyId=unknown, message=f"Key '{unknown_arn}' does not exist")
    expect_error("NotFoundException", c.describe_key, KeyId="fake-key-id", message="Invalid keyId 'fake-key-id'")


@case
def describe_key_fields():
    c = kms()
    store_id, cluster = connected_cloudhsm_store(c)
    md = hsm_key(c, store_id, Description="described")
    d = c.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
    for field, want in [("Origin", "AWS_CLOUDHSM"), ("CustomKeyStoreId", store_id),
                        ("CloudHsmClusterId", cluster["ClusterId"]), ("KeyManager", "CUSTOMER"),
                        ("CustomerMasterKeySpec", "SYMMETRIC_DEFAULT"), ("KeySpec", "SYMMETRIC_DEFAULT"),
                        ("EncryptionAlgorithms", ["SYMMETRIC_DEFAULT"]), ("MultiRegion", False),
                        ("KeyUsage", "ENCRYPT_DECRYPT"), ("Enabled", True), ("KeyState", "Enabled"),
                        ("Description", "described")]:
        eq(d.get(field), want, f"DescribeKey {field} (semantics 2.6)")
    check(re.fullmatch(r"\d{12}", d.get("AWSAccountId", "")), f"AWSAccountId {d.get('AWSAccountId')!r}")
    check(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", d["KeyId"]), f"KeyId {d['KeyId']!r}")
    check("DeletionDate" not in d and "CurrentKeyMaterialId" not in d, f"unexpected fields: {d}")
    # by ARN and by alias
    eq(c.describe_key(KeyId=d["Arn"])["KeyMetadata"]["KeyId"], d["KeyId"], "DescribeKey by ARN")
    alias = f"alias/{unique('d')}"
    c.create_alias(AliasName=alias, TargetKeyId=d["KeyId"])
    eq(c.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"], d["KeyId"], "DescribeKey by alias")
    # not allowed in a custom key store: asymmetric keys, multi-Region keys, a mismatched origin
    for extra in [dict(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY"), dict(MultiRegion=True)]:
        try:
            c.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM", **extra)
        except ClientError as e:
            check(e.response["Error"]["Code"] in ("UnsupportedOperationException", "ValidationException"),
                  f"CreateKey {extra} in a custom key store: {e.response['Error']}")
        else:
            raise AssertionError(f"CreateKey {extra} in a custom key store succeeded (semantics 2.1)")
    try:
        c.create_key(CustomKeyStoreId=store_id)  # Origin defaults to AWS_KMS
    except ClientError as e:
        check(e.response["Error"]["Code"] in ("UnsupportedOperationException", "ValidationException"),
              f"CreateKey with CustomKeyStoreId and Origin AWS_KMS: {e.response['Error']}")
    else:
        raise AssertionError("CreateKey with CustomKeyStoreId and the default Origin AWS_KMS succeeded (semantics 2.1)")
    expect_error("CustomKeyStoreNotFoundException", c.create_key, CustomKeyStoreId="cks-0123456789abcdef0",
                 Origin="AWS_CLOUDHSM")


@case
def key_last_usage():
    c = kms()
    store_id, _ = connected_cloudhsm_store(c)
    advance(40 * DAY)       # the simulated clock runs ahead of the wall clock from here on
    k = hsm_key(c, store_id)
    created = epoch(c.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["CreationDate"])
    u = c.get_key_last_usage(KeyId=k["KeyId"])
    check(abs(epoch(u["KeyCreationDate"]) - created) < 1, f"KeyCreationDate {u['KeyCreationDate']} vs CreationDate {created}")
    # "The date from which KMS began recording cryptographic activity for this key, or the date the
    # KMS key was created, whichever is later" [M GetKeyLastUsageResponse.TrackingStartDate]
    check(epoch(u["TrackingStartDate"]) >= created - 1,
          f"TrackingStartDate {u['TrackingStartDate']} is before the key's creation {u['KeyCreationDate']} "
          "(must be the later of tracking start and creation)")
    check(not u.get("KeyLastUsage"), f"KeyLastUsage of an unused key: {u.get('KeyLastUsage')}")
    ct = c.encrypt(KeyId=k["KeyId"], Plaintext=b"x")
    used = c.get_key_last_usage(KeyId=k["KeyId"])["KeyLastUsage"]
    eq(used.get("Operation"), "Encrypt", "KeyLastUsage.Operation")
    check(abs(epoch(used["Timestamp"]) - now()) < 120, f"KeyLastUsage.Timestamp {used['Timestamp']} vs the core's now {now()}")
    eq(used.get("KmsRequestId"), ct["ResponseMetadata"]["RequestId"], "KeyLastUsage.KmsRequestId = the Encrypt request id")


@case
def orphaned_key_material_when_disconnected_at_deletion():
    c = kms()
    store_id, cluster = connected_cloudhsm_store(c)
    kept_connected = hsm_key(c, store_id)["KeyId"]
    c.schedule_key_deletion(KeyId=kept_connected, PendingWindowInDays=7)
    advance(7 * DAY + 60)
    wait_until(lambda: key_gone(c, kept_connected), "key deleted while connected")
    eq(cluster_info(cluster["ClusterId"]).get("OrphanedKeyMaterial", []), [],
       "orphaned key material after a deletion while connected")

    orphan = hsm_key(c, store_id)["KeyId"]
    c.schedule_key_deletion(KeyId=orphan, PendingWindowInDays=7)
    disconnect(c, store_id)
    advance(7 * DAY + 60)
    wait_until(lambda: key_gone(c, orphan), "key deleted while the store is disconnected")
    info = cluster_info(cluster["ClusterId"])
    orphaned = info.get("OrphanedKeyMaterial")
    check(isinstance(orphaned, list) and len(orphaned) == 1,
          f"DescribeCloudHsmClusters must show one orphaned key material for {orphan}: {info}")
    check(orphan in json.dumps(orphaned), f"the orphaned entry names the deleted key {orphan}: {orphaned}")
    # the store can then be deleted; the cluster and its orphaned material stay
    c.delete_custom_key_store(CustomKeyStoreId=store_id)
    check(cluster_info(cluster["ClusterId"]).get("OrphanedKeyMaterial"), "orphaned material stays after the store is deleted")


if __name__ == "__main__":
    main()
