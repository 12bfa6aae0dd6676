"""Creating and connecting CloudHSM key stores: both connect failure paths (semantics 1.3, 6.6),
FAILED and its only way out, the state table 1.2, and CreateCustomKeyStore's checks."""

from cks_harness import *


@case
def synchronous_failure_leaves_store_disconnected():
    c = kms()
    store_id, cluster = new_cloudhsm_store(c)
    # Take every HSM away: connect needs at least one (CloudHsmClusterInvalidConfigurationException or
    # CloudHsmClusterNotActiveException are the documented immediate failures).
    admin("UpdateCloudHsmCluster", {"ClusterId": cluster["ClusterId"], "HsmCount": 0})
    eq(cluster_info(cluster["ClusterId"]).get("HsmCount"), 0, "HsmCount after UpdateCloudHsmCluster")
    expect_error(("CloudHsmClusterInvalidConfigurationException", "CloudHsmClusterNotActiveException"),
                 c.connect_custom_key_store, CustomKeyStoreId=store_id)
    entry = store(c, store_id)
    eq(entry["ConnectionState"], "DISCONNECTED", "state after an immediate connect failure (semantics 1.3)")
    check("ConnectionErrorCode" not in entry, f"no ConnectionErrorCode unless FAILED: {entry}")
    # With one HSM back, connect works (1 is enough to connect).
    admin("UpdateCloudHsmCluster", {"ClusterId": cluster["ClusterId"], "HsmCount": 1})
    connect(c, store_id)


@case
def asynchronous_failure_invalid_credentials_and_recovery():
    c = kms()
    cluster = new_cluster()
    store_id, _ = new_cloudhsm_store(c, cluster=cluster, password="wrong-password-1")
    out = c.connect_custom_key_store(CustomKeyStoreId=store_id)
    eq(strip_meta(out), {}, "ConnectCustomKeyStore returns {} even when the connection will fail")
    eq(state(c, store_id), "CONNECTING", "state right after connect")
    wait_store_state(c, store_id, "FAILED")
    entry = store(c, store_id)
    eq(entry.get("ConnectionErrorCode"), "INVALID_CREDENTIALS", "ConnectionErrorCode for a wrong kmsuser password")
    # FAILED: Connect and Update are refused; Disconnect is the way out (table 1.2).
    expect_error("CustomKeyStoreInvalidStateException", c.connect_custom_key_store, CustomKeyStoreId=store_id)
    expect_error("CustomKeyStoreInvalidStateException", c.update_custom_key_store, CustomKeyStoreId=store_id,
                 KeyStorePassword=KMSUSER_PASSWORD)
    expect_error("CustomKeyStoreInvalidStateException", c.create_key, CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")
    eq(state(c, store_id), "FAILED", "state after refused calls")
    disconnect(c, store_id)
    entry = store(c, store_id)
    check("ConnectionErrorCode" not in entry, f"ConnectionErrorCode must go with FAILED: {entry}")
    # Fix the password while DISCONNECTED, then connect.
    c.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword=KMSUSER_PASSWORD)
    connect(c, store_id)


@case
def asynchronous_failure_injected_fault_and_recovery():
    c = kms()
    store_id, _ = new_cloudhsm_store(c)
    admin("SetConnectionFault", {"CustomKeyStoreId": store_id, "ConnectionErrorCode": "NETWORK_ERRORS"})
    c.connect_custom_key_store(CustomKeyStoreId=store_id)
    wait_store_state(c, store_id, "FAILED")
    eq(store(c, store_id).get("ConnectionErrorCode"), "NETWORK_ERRORS", "ConnectionErrorCode of the injected fault")
    # The fault holds until cleared: disconnect, connect again → FAILED again.
    disconnect(c, store_id)
    c.connect_custom_key_store(CustomKeyStoreId=store_id)
    wait_store_state(c, store_id, "FAILED")
    disconnect(c, store_id)
    admin("SetConnectionFault", {"CustomKeyStoreId": store_id, "ConnectionErrorCode": None})
    connect(c, store_id)


@case
def state_table_for_connect_and_disconnect():
    c = kms()
    store_id, _ = new_cloudhsm_store(c)
    expect_error("CustomKeyStoreInvalidStateException", c.disconnect_custom_key_store, CustomKeyStoreId=store_id)
    c.connect_custom_key_store(CustomKeyStoreId=store_id)
    # Connect while CONNECTING: accepted, no change (semantics 1.2 note 1).
    c.connect_custom_key_store(CustomKeyStoreId=store_id)
    eq(state(c, store_id), "CONNECTING", "connect while CONNECTING")
    expect_error("CustomKeyStoreInvalidStateException", c.create_key, CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")
    expect_error("CustomKeyStoreInvalidStateException", c.update_custom_key_store, CustomKeyStoreId=store_id,
                 NewCustomKeyStoreName=unique("renamed"))
    wait_store_state(c, store_id, "CONNECTED")
    c.connect_custom_key_store(CustomKeyStoreId=store_id)
    eq(state(c, store_id), "CONNECTED", "connect while CONNECTED: 200, no change")
    # A CloudHSM store may be renamed while CONNECTED, nothing else (semantics 1.2 note 2).
    new_name = unique("renamed")
    c.update_custom_key_store(CustomKeyStoreId=store_id, NewCustomKeyStoreName=new_name)
    eq(store(c, store_id)["CustomKeyStoreName"], new_name, "name after a rename while CONNECTED")
    expect_error("CustomKeyStoreInvalidStateException", c.update_custom_key_store, CustomKeyStoreId=store_id,
                 KeyStorePassword="another-password")
    c.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    eq(state(c, store_id), "DISCONNECTING", "state right after disconnect")
    expect_error("CustomKeyStoreInvalidStateException", c.connect_custom_key_store, CustomKeyStoreId=store_id)
    expect_error("CustomKeyStoreInvalidStateException", c.disconnect_custom_key_store, CustomKeyStoreId=store_id)
    wait_store_state(c, store_id, "DISCONNECTED")
    # Disconnect also works from CONNECTING.
    c.connect_custom_key_store(CustomKeyStoreId=store_id)
    eq(state(c, store_id), "CONNECTING", "reconnecting")
    c.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    wait_store_state(c, store_id, "DISCONNECTED")


@case
def generate_random_needs_a_connected_cloudhsm_store():
    c = kms()
    store_id, _ = new_cloudhsm_store(c)
    expect_error("CustomKeyStoreInvalidStateException", c.generate_random, NumberOfBytes=16, CustomKeyStoreId=store_id)
    connect(c, store_id)
    out = c.generate_random(NumberOfBytes=16, CustomKeyStoreId=store_id)
    eq(len(out["Plaintext"]), 16, "GenerateRandom length")
    expect_error("CustomKeyStoreNotFoundException", c.generate_random, NumberOfBytes=16, CustomKeyStoreId="cks-0123456789abcdef0")


@case
def create_store_checks_the_cluster():
    region = "ap-southeast-2"  # its own region: its own quota and clusters
    c = kms(region=region)
    cluster = new_cluster(region=region)
    # unknown cluster
    expect_error("CloudHsmClusterNotFoundException", c.create_custom_key_store,
                 CustomKeyStoreName=unique("s"), CloudHsmClusterId="cluster-234567abcde",
                 TrustAnchorCertificate=cluster["TrustAnchorCertificate"], KeyStorePassword=KMSUSER_PASSWORD)
    # wrong trust anchor
    expect_error("IncorrectTrustAnchorException", c.create_custom_key_store,
                 CustomKeyStoreName=unique("s"), CloudHsmClusterId=cluster["ClusterId"],
                 TrustAnchorCertificate=BOGUS_TRUST_ANCHOR, KeyStorePassword=KMSUSER_PASSWORD)
    # only one HSM: creating needs two
    small = new_cluster(hsm_count=1, region=region)
    expect_error("CloudHsmClusterInvalidConfigurationException", c.create_custom_key_store,
                 CustomKeyStoreName=unique("s"), CloudHsmClusterId=small["ClusterId"],
                 TrustAnchorCertificate=small["TrustAnchorCertificate"], KeyStorePassword=KMSUSER_PASSWORD)
    # no HSM at all: not active or invalid configuration
    empty = new_cluster(region=region)
    admin("UpdateCloudHsmCluster", {"ClusterId": empty["ClusterId"], "HsmCount": 0}, region=region)
    expect_error(("CloudHsmClusterNotActiveException", "CloudHsmClusterInvalidConfigurationException"),
                 c.create_custom_key_store,
                 CustomKeyStoreName=unique("s"), CloudHsmClusterId=empty["ClusterId"],
                 TrustAnchorCertificate=empty["TrustAnchorCertificate"], KeyStorePassword=KMSUSER_PASSWORD)
    name = unique("first")
    store_id, _ = new_cloudhsm_store(c, name=name, cluster=cluster)
    # cluster already used by another store
    expect_error("CloudHsmClusterInUseException", c.create_custom_key_store,
                 CustomKeyStoreName=unique("s"), CloudHsmClusterId=cluster["ClusterId"],
                 TrustAnchorCertificate=cluster["TrustAnchorCertificate"], KeyStorePassword=KMSUSER_PASSWORD)
    # name already used
    other = new_cluster(region=region)
    expect_error("CustomKeyStoreNameInUseException", c.create_custom_key_store,
                 CustomKeyStoreName=name, CloudHsmClusterId=other["ClusterId"],
                 TrustAnchorCertificate=other["TrustAnchorCertificate"], KeyStorePassword=KMSUSER_PASSWORD)
    # nothing was created by the refused calls
    stores = [s for p in c.get_paginator("describe_custom_key_stores").paginate() for s in p["CustomKeyStores"]]
    eq([s["CustomKeyStoreId"] for s in stores], [store_id], f"stores in {region} after refused creates")


@case
def quota_of_ten_stores_per_account_and_region():
    region = "sa-east-1"
    c = kms(region=region)
    created = []
    for i in range(10):
        created.append(new_cloudhsm_store(c, name=f"quota-{i}", region=region)[0])
    cluster = new_cluster(region=region)
    expect_error("LimitExceededException", c.create_custom_key_store,
                 CustomKeyStoreName="quota-10", CloudHsmClusterId=cluster["ClusterId"],
                 TrustAnchorCertificate=cluster["TrustAnchorCertificate"], KeyStorePassword=KMSUSER_PASSWORD)
    # XKS stores count too, in any state.
    expect_error("LimitExceededException", new_xks_store, client=c, proxy=new_proxy(region=region))
    # another region has its own quota
    other_region = kms(region="ca-central-1")
    new_cloudhsm_store(other_region, region="ca-central-1")
    # freeing one makes room again
    c.delete_custom_key_store(CustomKeyStoreId=created[0])
    new_cloudhsm_store(c, cluster=cluster, region=region)


@case
def racing_creates_keep_the_rules():
    """Concurrent requests are serialized so the rules hold (issue 2 "Persistence")."""
    from concurrent.futures import ThreadPoolExecutor
    region = "me-south-1"
    clusters = [new_cluster(region=region) for _ in range(6)]
    name = unique("race")

    def create(args):
        client = kms(region=region)
        cluster, store_name = args
        try:
            return client.create_custom_key_store(
                CustomKeyStoreName=store_name, CloudHsmClusterId=cluster["ClusterId"],
                TrustAnchorCertificate=cluster["TrustAnchorCertificate"], KeyStorePassword=KMSUSER_PASSWORD)["CustomKeyStoreId"]
        except ClientError as e:
            return e.response["Error"]["Code"]

    # the same name 6 times at once: exactly one store
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(create, [(clusters[i], name) for i in range(6)]))
    winners = [r for r in results if r.startswith("cks-")]
    eq(len(winners), 1, f"stores created under one name by 6 racing creates ({results})")
    check(all(r == "CustomKeyStoreNameInUseException" for r in results if not r.startswith("cks-")), f"losers: {results}")
    # 11 different stores at once with 9 places left (quota 10): exactly 9 more, 2 LimitExceededException
    fresh = [new_cluster(region=region) for _ in range(11)]
    with ThreadPoolExecutor(11) as pool:
        results = list(pool.map(create, [(fresh[i], unique(f"q{i}")) for i in range(11)]))
    created = [r for r in results if r.startswith("cks-")]
    eq(len(created), 9, f"stores created by 11 racing creates with 9 places left ({results})")
    eq(sorted(r for r in results if not r.startswith("cks-")), ["LimitExceededException"] * 2, "the refused creates")
    listed = kms(region=region).describe_custom_key_stores()["CustomKeyStores"]
    eq(len(listed), 10, "stores listed after racing creates")


@case
def create_store_required_fields_per_type():
    raw = kms(validate=False, region="eu-north-1")
    cluster = new_cluster(region="eu-north-1")
    # CloudHSM without a password / trust anchor / cluster: refused, nothing created
    for missing in ("KeyStorePassword", "TrustAnchorCertificate", "CloudHsmClusterId"):
        params = dict(CustomKeyStoreName=unique("req"), CloudHsmClusterId=cluster["ClusterId"],
                      TrustAnchorCertificate=cluster["TrustAnchorCertificate"], KeyStorePassword=KMSUSER_PASSWORD)
        del params[missing]
        try:
            raw.create_custom_key_store(**params)
        except ClientError as e:
            check(e.response["Error"]["Code"] in ("ValidationException", "CloudHsmClusterNotFoundException",
                                                   "IncorrectTrustAnchorException"),
                  f"CreateCustomKeyStore without {missing}: {e.response['Error']}")
        else:
            raise AssertionError(f"CreateCustomKeyStore without {missing} succeeded (semantics 1.5 required fields)")
    expect_error("ValidationException", raw.create_custom_key_store, CustomKeyStoreName=unique("pw"),
                 CloudHsmClusterId=cluster["ClusterId"], TrustAnchorCertificate=cluster["TrustAnchorCertificate"],
                 KeyStorePassword="short",
                 contains=["at 'keyStorePassword' failed to satisfy constraint: Member must have length greater than or equal to 7"])
    expect_error("ValidationException", raw.create_custom_key_store, CustomKeyStoreName=unique("id"),
                 CloudHsmClusterId="cluster-1", TrustAnchorCertificate=cluster["TrustAnchorCertificate"],
                 KeyStorePassword=KMSUSER_PASSWORD, contains="at 'cloudHsmClusterId' failed to satisfy constraint")
    expect_error("ValidationException", raw.create_custom_key_store, CustomKeyStoreName="x" * 257,
                 CloudHsmClusterId=cluster["ClusterId"], TrustAnchorCertificate=cluster["TrustAnchorCertificate"],
                 KeyStorePassword=KMSUSER_PASSWORD,
                 contains="at 'customKeyStoreName' failed to satisfy constraint: Member must have length less than or equal to 256")
    stores = kms(region="eu-north-1").describe_custom_key_stores()["CustomKeyStores"]
    eq(stores, [], "stores after refused creates")


if __name__ == "__main__":
    main()
