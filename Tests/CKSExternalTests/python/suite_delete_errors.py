"""Every error DeleteCustomKeyStore lists in the seed (DeleteCustomKeyStore.txt), with boto3,
and that a refused delete changes nothing."""

from cks_harness import *


def assert_unchanged(c, store_id, expected_state):
    eq(state(c, store_id), expected_state, f"store {store_id} state after a refused DeleteCustomKeyStore")


@case
def has_cmks_with_unavailable_keys():
    c = kms()
    store_id, _ = connected_cloudhsm_store(c)
    keys = [hsm_key(c, store_id)["KeyId"] for _ in range(2)]
    disconnect(c, store_id)
    for k in keys:
        eq(key_state(c, k), "Unavailable", "key state in a disconnected store (semantics 2.2)")
    expect_error("CustomKeyStoreHasCMKsException", c.delete_custom_key_store, CustomKeyStoreId=store_id)
    assert_unchanged(c, store_id, "DISCONNECTED")
    for k in keys:
        eq(key_state(c, k), "Unavailable", "key state after a refused delete")


@case
def has_cmks_with_only_pending_deletion_keys():
    c = kms()
    store_id, _ = connected_cloudhsm_store(c)
    k = hsm_key(c, store_id)["KeyId"]
    c.schedule_key_deletion(KeyId=k, PendingWindowInDays=7)
    disconnect(c, store_id)
    expect_error("CustomKeyStoreHasCMKsException", c.delete_custom_key_store, CustomKeyStoreId=store_id)
    assert_unchanged(c, store_id, "DISCONNECTED")
    eq(key_state(c, k), "PendingDeletion", "pending key after a refused delete")
    # One second before the deletion date the key still blocks the delete.
    dd = epoch(c.describe_key(KeyId=k)["KeyMetadata"]["DeletionDate"])
    advance(max(0, int(dd - now()) - 5))
    expect_error("CustomKeyStoreHasCMKsException", c.delete_custom_key_store, CustomKeyStoreId=store_id)
    advance(120)
    wait_until(lambda: key_gone(c, k), "the pending key deleted after its DeletionDate")
    c.delete_custom_key_store(CustomKeyStoreId=store_id)


@case
def invalid_state_connecting():
    c = kms()
    store_id, _ = new_cloudhsm_store(c)
    c.connect_custom_key_store(CustomKeyStoreId=store_id)
    eq(state(c, store_id), "CONNECTING", "state right after connect")
    expect_error("CustomKeyStoreInvalidStateException", c.delete_custom_key_store, CustomKeyStoreId=store_id)
    assert_unchanged(c, store_id, "CONNECTING")


@case
def invalid_state_connected_empty_store():
    c = kms()
    store_id, _ = connected_cloudhsm_store(c)
    expect_error("CustomKeyStoreInvalidStateException", c.delete_custom_key_store, CustomKeyStoreId=store_id)
    assert_unchanged(c, store_id, "CONNECTED")


@case
def invalid_state_disconnecting():
    c = kms()
    store_id, _ = connected_cloudhsm_store(c)
    c.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    eq(state(c, store_id), "DISCONNECTING", "state right after DisconnectCustomKeyStore (simulated 30 s)")
    expect_error("CustomKeyStoreInvalidStateException", c.delete_custom_key_store, CustomKeyStoreId=store_id)
    assert_unchanged(c, store_id, "DISCONNECTING")
    wait_store_state(c, store_id, "DISCONNECTED")
    c.delete_custom_key_store(CustomKeyStoreId=store_id)


@case
def invalid_state_failed():
    c = kms()
    store_id, _ = new_cloudhsm_store(c, password="not-the-kmsuser-password")
    c.connect_custom_key_store(CustomKeyStoreId=store_id)
    wait_store_state(c, store_id, "FAILED")
    eq(store(c, store_id).get("ConnectionErrorCode"), "INVALID_CREDENTIALS", "ConnectionErrorCode")
    expect_error("CustomKeyStoreInvalidStateException", c.delete_custom_key_store, CustomKeyStoreId=store_id)
    assert_unchanged(c, store_id, "FAILED")
    # The way out of FAILED is Disconnect; then Delete works on the empty store.
    disconnect(c, store_id)
    c.delete_custom_key_store(CustomKeyStoreId=store_id)


@case
def not_found_unknown_and_deleted_ids():
    c = kms()
    expect_error("CustomKeyStoreNotFoundException", c.delete_custom_key_store, CustomKeyStoreId="cks-0123456789abcdef0")
    expect_error("CustomKeyStoreNotFoundException", c.delete_custom_key_store, CustomKeyStoreId="not-a-store-id")
    store_id, _ = new_cloudhsm_store(c)
    c.delete_custom_key_store(CustomKeyStoreId=store_id)
    expect_error("CustomKeyStoreNotFoundException", c.delete_custom_key_store, CustomKeyStoreId=store_id)


@case
def not_found_other_account_and_other_region():
    c = kms()
    store_id, _ = new_cloudhsm_store(c)
    if "qa-other" in principals():
        other = kms(principal_name="qa-other")
        expect_error("CustomKeyStoreNotFoundException", other.delete_custom_key_store, CustomKeyStoreId=store_id)
    elsewhere = kms(region="eu-west-1")
    expect_error("CustomKeyStoreNotFoundException", elsewhere.delete_custom_key_store, CustomKeyStoreId=store_id)
    assert_unchanged(c, store_id, "DISCONNECTED")
    c.delete_custom_key_store(CustomKeyStoreId=store_id)


@case
def validation_of_the_id():
    raw = kms(validate=False)
    expect_error("ValidationException", raw.delete_custom_key_store, CustomKeyStoreId="",
                 message="1 validation error detected: Value '' at 'customKeyStoreId' failed to satisfy constraint: "
                         "Member must have length greater than or equal to 1")
    long_id = "cks-" + "a" * 61
    expect_error("ValidationException", raw.delete_custom_key_store, CustomKeyStoreId=long_id,
                 message=f"1 validation error detected: Value '{long_id}' at 'customKeyStoreId' failed to satisfy "
                         "constraint: Member must have length less than or equal to 64")
    expect_error("ValidationException", raw.delete_custom_key_store,
                 message="1 validation error detected: Value null at 'customKeyStoreId' failed to satisfy constraint: "
                         "Member must not be null")


if __name__ == "__main__":
    main()
