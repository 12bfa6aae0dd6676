"""External key stores: CksAdmin.CreateXksProxy, creating, connecting, keys, and their errors
(semantics 1.5, 2.1, issue 2 "Simulated backends")."""

from cks_harness import *


def xks_params(proxy, **overrides):
    params = dict(
        CustomKeyStoreName=unique("xks"),
        CustomKeyStoreType="EXTERNAL_KEY_STORE",
        XksProxyConnectivity="PUBLIC_ENDPOINT",
        XksProxyUriEndpoint=proxy["UriEndpoint"],
        XksProxyUriPath=proxy["UriPath"],
        XksProxyAuthenticationCredential={"AccessKeyId": proxy["AccessKeyId"],
                                          "RawSecretAccessKey": proxy["RawSecretAccessKey"]},
    )
    params.update(overrides)
    return params


@case
def create_describe_connect_external_key_store():
    c = kms()
    proxy = new_proxy(external_key_ids=["ext-a", "ext-b"])
    name = unique("xks")
    store_id = c.create_custom_key_store(**xks_params(proxy, CustomKeyStoreName=name))["CustomKeyStoreId"]
    check(re.fullmatch(r"cks-[0-9a-f]{17}", store_id), f"id {store_id!r}")
    entry = store(c, store_id)
    eq(entry["CustomKeyStoreType"], "EXTERNAL_KEY_STORE", "CustomKeyStoreType")
    eq(entry["ConnectionState"], "DISCONNECTED", "new XKS store state")
    cfg = entry.get("XksProxyConfiguration", {})
    eq(cfg.get("Connectivity"), "PUBLIC_ENDPOINT", "XksProxyConfiguration.Connectivity")
    eq(cfg.get("AccessKeyId"), proxy["AccessKeyId"], "XksProxyConfiguration.AccessKeyId")
    eq(cfg.get("UriEndpoint"), proxy["UriEndpoint"], "XksProxyConfiguration.UriEndpoint")
    eq(cfg.get("UriPath"), proxy["UriPath"], "XksProxyConfiguration.UriPath")
    check(proxy["RawSecretAccessKey"] not in json.dumps(entry, default=str), "the proxy secret is never returned")
    check("CloudHsmClusterId" not in entry and "TrustAnchorCertificate" not in entry,
          f"CloudHSM fields on an XKS store: {entry}")
    expect_error("CustomKeyStoreInvalidStateException", c.create_key, CustomKeyStoreId=store_id,
                 Origin="EXTERNAL_KEY_STORE", XksKeyId="ext-a")
    connect(c, store_id)

    md = c.create_key(CustomKeyStoreId=store_id, Origin="EXTERNAL_KEY_STORE", XksKeyId="ext-a")["KeyMetadata"]
    eq(md["Origin"], "EXTERNAL_KEY_STORE", "Origin")
    eq(md["CustomKeyStoreId"], store_id, "CustomKeyStoreId")
    eq(md.get("XksKeyConfiguration"), {"Id": "ext-a"}, "XksKeyConfiguration")
    check("CloudHsmClusterId" not in md, "no CloudHsmClusterId on an XKS key (semantics 2.6)")
    eq(md["KeySpec"], "SYMMETRIC_DEFAULT", "KeySpec")
    eq(md["KeyUsage"], "ENCRYPT_DECRYPT", "KeyUsage")
    eq(md["KeyManager"], "CUSTOMER", "KeyManager")
    eq(md["MultiRegion"], False, "MultiRegion")
    # the external key exists but is used: XksKeyAlreadyInUseException; unknown: XksKeyNotFoundException
    expect_error("XksKeyAlreadyInUseException", c.create_key, CustomKeyStoreId=store_id,
                 Origin="EXTERNAL_KEY_STORE", XksKeyId="ext-a")
    expect_error("XksKeyNotFoundException", c.create_key, CustomKeyStoreId=store_id,
                 Origin="EXTERNAL_KEY_STORE", XksKeyId="no-such-external-key")
    c.create_key(CustomKeyStoreId=store_id, Origin="EXTERNAL_KEY_STORE", XksKeyId="ext-b")

    # crypto through the external key store
    ct = c.encrypt(KeyId=md["KeyId"], Plaintext=b"xks secret")["CiphertextBlob"]
    eq(c.decrypt(CiphertextBlob=ct)["Plaintext"], b"xks secret", "XKS Decrypt(Encrypt(x))")
    # GenerateRandom never takes an external key store id
    expect_error("UnsupportedOperationException", c.generate_random, NumberOfBytes=8, CustomKeyStoreId=store_id)


@case
def create_errors_against_the_proxy():
    c = kms()
    proxy = new_proxy()
    unregistered = dict(proxy, UriEndpoint=f"https://{uuid.uuid4().hex[:10]}.unregistered.example.com")
    expect_error("XksProxyUriUnreachableException", c.create_custom_key_store, **xks_params(unregistered))
    wrong_secret = dict(proxy, RawSecretAccessKey="Z" * 43)
    expect_error("XksProxyIncorrectAuthenticationCredentialException", c.create_custom_key_store,
                 **xks_params(wrong_secret))
    wrong_key = dict(proxy, AccessKeyId="ZZZZZZZZZZZZZZZZZZZZ")
    expect_error("XksProxyIncorrectAuthenticationCredentialException", c.create_custom_key_store,
                 **xks_params(wrong_key))
    store_id = c.create_custom_key_store(**xks_params(proxy))["CustomKeyStoreId"]
    expect_error("XksProxyUriInUseException", c.create_custom_key_store, **xks_params(proxy))
    # the name rule holds across store types
    name = store(c, store_id)["CustomKeyStoreName"]
    expect_error("CustomKeyStoreNameInUseException", c.create_custom_key_store,
                 **xks_params(new_proxy(), CustomKeyStoreName=name))


@case
def create_validation_in_aws_form():
    raw = kms(validate=False)
    proxy = new_proxy()
    expect_error("ValidationException", raw.create_custom_key_store,
                 **xks_params(proxy, XksProxyUriEndpoint="http://plain.example.com"),
                 contains=["1 validation error detected: Value 'http://plain.example.com' at 'xksProxyUriEndpoint' "
                           "failed to satisfy constraint: Member must satisfy regular expression pattern"])
    expect_error("ValidationException", raw.create_custom_key_store,
                 **xks_params(proxy, XksProxyUriPath="/not/the/right/path"),
                 contains=["at 'xksProxyUriPath' failed to satisfy constraint"])
    expect_error("ValidationException", raw.create_custom_key_store,
                 **xks_params(proxy, XksProxyAuthenticationCredential={"AccessKeyId": "lowercase-not-allowed1",
                                                                       "RawSecretAccessKey": XKS_SECRET}),
                 contains=["at 'xksProxyAuthenticationCredential.accessKeyId' failed to satisfy constraint"])
    expect_error("ValidationException", raw.create_custom_key_store,
                 **xks_params(proxy, CustomKeyStoreType="NOT_A_TYPE"),
                 contains=["at 'customKeyStoreType' failed to satisfy constraint: Member must satisfy enum value set"])
    # VPC connectivity needs the endpoint service name
    try:
        raw.create_custom_key_store(**xks_params(proxy, XksProxyConnectivity="VPC_ENDPOINT_SERVICE"))
    except ClientError as e:
        check(e.response["Error"]["Code"] in ("ValidationException", "XksProxyInvalidConfigurationException",
                                               "XksProxyVpcEndpointServiceNotFoundException"),
              f"VPC_ENDPOINT_SERVICE without XksProxyVpcEndpointServiceName: {e.response['Error']}")
    else:
        raise AssertionError("VPC_ENDPOINT_SERVICE without XksProxyVpcEndpointServiceName was accepted (semantics 1.5)")
    expect_error("CustomKeyStoreNotFoundException", raw.describe_custom_key_stores,
                 CustomKeyStoreName="never-created-" + uuid.uuid4().hex)


@case
def update_rules_for_external_key_stores():
    c = kms()
    proxy = new_proxy()
    store_id, _ = new_xks_store(c, proxy=proxy)
    connect(c, store_id)
    # While CONNECTED: name, credential and UriPath may change (semantics 1.2 note 3); the endpoint may not.
    c.update_custom_key_store(CustomKeyStoreId=store_id, NewCustomKeyStoreName=unique("xks-renamed"))
    c.update_custom_key_store(CustomKeyStoreId=store_id, XksProxyAuthenticationCredential={
        "AccessKeyId": proxy["AccessKeyId"], "RawSecretAccessKey": proxy["RawSecretAccessKey"]})
    eq(state(c, store_id), "CONNECTED", "state after a credential update while CONNECTED")
    expect_error("CustomKeyStoreInvalidStateException", c.update_custom_key_store, CustomKeyStoreId=store_id,
                 XksProxyUriEndpoint="https://elsewhere.example.com")
    expect_error("CustomKeyStoreInvalidStateException", c.update_custom_key_store, CustomKeyStoreId=store_id,
                 XksProxyConnectivity="PUBLIC_ENDPOINT")
    # CloudHSM-only fields are not for external key stores
    try:
        c.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword="some-password")
    except ClientError as e:
        check(e.response["Error"]["Code"] != "KMSInternalException", f"KeyStorePassword on XKS: {e.response['Error']}")


@case
def injected_fault_on_external_key_store():
    c = kms()
    store_id, _ = new_xks_store(c)
    admin("SetConnectionFault", {"CustomKeyStoreId": store_id, "ConnectionErrorCode": "XKS_PROXY_TIMED_OUT"})
    c.connect_custom_key_store(CustomKeyStoreId=store_id)
    wait_store_state(c, store_id, "FAILED")
    eq(store(c, store_id).get("ConnectionErrorCode"), "XKS_PROXY_TIMED_OUT", "ConnectionErrorCode")
    disconnect(c, store_id)
    admin("SetConnectionFault", {"CustomKeyStoreId": store_id, "ConnectionErrorCode": None})
    connect(c, store_id)


@case
def admin_proxy_validation():
    # A proxy needs its fields; the admin API answers with the same error format.
    try:
        admin("CreateXksProxy", {"UriPath": "/kms/xks/v1"})
    except AdminError as e:
        eq(e.status, 400, "admin error status")
        check(e.code in ("ValidationException", "SerializationException"), f"admin error code {e.code}")
        check(e.message, "admin error without a message")
    else:
        raise AssertionError("CksAdmin.CreateXksProxy without UriEndpoint/credentials succeeded")


if __name__ == "__main__":
    main()
