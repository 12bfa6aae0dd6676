"""Bad input and the wire protocol (semantics 3.1-3.4, 6.8): validation messages in AWS's form,
PendingWindowInDays 7..30, Limit 1..1000, markers, serialization errors, unknown targets,
body size, request ids."""

from cks_harness import *

VALIDATION_PREFIX = "1 validation error detected: "


@case
def pending_window_in_days_is_seven_to_thirty():
    c = kms()
    k = c.create_key()["KeyMetadata"]["KeyId"]
    for days in (6, 31):
        expect_error("ValidationException", c.schedule_key_deletion, KeyId=k, PendingWindowInDays=days,
                     message="PendingWindowInDays must be between 7 and 30")
        eq(key_state(c, k), "Enabled", f"key state after a refused window of {days}")
    for days in (7, 30):
        t0 = now()
        r = c.schedule_key_deletion(KeyId=k, PendingWindowInDays=days)
        eq(r["PendingWindowInDays"], days, "PendingWindowInDays echoed")
        check(abs(epoch(r["DeletionDate"]) - (t0 + days * DAY)) < 300, f"DeletionDate for {days} days")
        c.cancel_key_deletion(KeyId=k)
        c.enable_key(KeyId=k)
    t0 = now()
    r = c.schedule_key_deletion(KeyId=k)
    eq(r["PendingWindowInDays"], 30, "default PendingWindowInDays")
    check(abs(epoch(r["DeletionDate"]) - (t0 + 30 * DAY)) < 300, "default DeletionDate is 30 days out")


@case
def limit_bounds_in_aws_form():
    raw = kms(validate=False)
    for op in (raw.list_keys, raw.list_aliases, raw.describe_custom_key_stores):
        expect_error("ValidationException", op, Limit=0,
                     message=VALIDATION_PREFIX + "Value '0' at 'limit' failed to satisfy constraint: "
                             "Member must have value greater than or equal to 1")
        expect_error("ValidationException", op, Limit=1001,
                     message=VALIDATION_PREFIX + "Value '1001' at 'limit' failed to satisfy constraint: "
                             "Member must have value less than or equal to 1000")
        op(Limit=1)
        op(Limit=1000)


@case
def two_violations_are_both_reported():
    raw = kms(validate=False)
    e = expect_error("ValidationException", raw.list_keys, Limit=0, Marker="")
    msg = e.response["Error"]["Message"]
    check(msg.startswith("2 validation errors detected: "), f"two violations: {msg!r}")
    check("'limit'" in msg and "'marker'" in msg and "; " in msg, f"both members named, '; '-separated: {msg!r}")


@case
def bad_markers():
    c = kms()
    raw = kms(validate=False)
    for op in (c.list_keys, c.list_aliases, c.describe_custom_key_stores):
        expect_error("InvalidMarkerException", op, Marker="this-is-not-a-marker-we-gave-you")
    expect_error("ValidationException", raw.list_keys, Marker="m" * 1025,
                 contains="at 'marker' failed to satisfy constraint: Member must have length less than or equal to 1024")


@case
def generate_random_bounds():
    raw = kms(validate=False)
    expect_error("ValidationException", raw.generate_random, NumberOfBytes=1025,
                 message=VALIDATION_PREFIX + "Value '1025' at 'numberOfBytes' failed to satisfy constraint: "
                         "Member must have value less than or equal to 1024")
    expect_error("ValidationException", raw.generate_random, NumberOfBytes=0,
                 message=VALIDATION_PREFIX + "Value '0' at 'numberOfBytes' failed to satisfy constraint: "
                         "Member must have value greater than or equal to 1")
    eq(len(raw.generate_random(NumberOfBytes=1024)["Plaintext"]), 1024, "GenerateRandom 1024")


@case
def describe_custom_key_stores_filters():
    c = kms()
    store_id, _ = new_cloudhsm_store(c)
    name = store(c, store_id)["CustomKeyStoreName"]
    expect_error("CustomKeyStoreNotFoundException", c.describe_custom_key_stores, CustomKeyStoreId="cks-0123456789abcdef0")
    expect_error("CustomKeyStoreNotFoundException", c.describe_custom_key_stores, CustomKeyStoreName=unique("nope"))
    # both filters: undocumented; a client error, most likely ValidationException (semantics 1.5)
    try:
        c.describe_custom_key_stores(CustomKeyStoreId=store_id, CustomKeyStoreName=name)
    except ClientError as e:
        status = e.response["ResponseMetadata"]["HTTPStatusCode"]
        check(400 <= status < 500, f"both filters: status {status}")
    else:
        raise AssertionError("DescribeCustomKeyStores with both CustomKeyStoreId and CustomKeyStoreName succeeded")


@case
def aliases_rules():
    c = kms()
    k = c.create_key()["KeyMetadata"]["KeyId"]
    alias = f"alias/{unique('v')}"
    c.create_alias(AliasName=alias, TargetKeyId=k)
    expect_error("AlreadyExistsException", c.create_alias, AliasName=alias, TargetKeyId=k)
    expect_error("NotFoundException", c.create_alias, AliasName=f"alias/{unique('v')}",
                 TargetKeyId="11111111-2222-3333-4444-555555555555")
    c.delete_alias(AliasName=alias)
    expect_error("NotFoundException", c.delete_alias, AliasName=alias)


def raw_json(target, body, **kw):
    status, headers, data = raw_request(target, body, **kw)
    try:
        decoded = json.loads(data.decode() or "null")
    except ValueError:
        decoded = data
    return status, headers, decoded


def error_type(decoded):
    return decoded.get("__type", "").split("#")[-1] if isinstance(decoded, dict) else None


@case
def wire_protocol_errors():
    status, headers, body = raw_json("TrentService.ListKeys", b'{"Limit": ')
    eq((status, error_type(body)), (400, "SerializationException"), f"malformed JSON: {body!r}")
    check(body.get("message") or body.get("Message"), "SerializationException has a message")
    status, _, body = raw_json("TrentService.ListKeys", b'[1, 2]')
    eq((status, error_type(body)), (400, "SerializationException"), f"non-object body: {body!r}")
    status, _, body = raw_json("TrentService.ListKeys", b'{"Limit": "ten"}')
    eq((status, error_type(body)), (400, "SerializationException"), f"wrong JSON type: {body!r}")
    status, _, body = raw_json("TrentService.NoSuchOperation", b'{}')
    eq((status, error_type(body)), (400, "UnknownOperationException"), f"unknown target: {body!r}")
    status, _, body = raw_json("CksAdmin.NoSuchOperation", b'{}')
    eq((status, error_type(body)), (400, "UnknownOperationException"), f"unknown admin target: {body!r}")
    # empty body = {} (semantics 3.1); unknown members are ignored (semantics 6.13)
    status, headers, body = raw_json("TrentService.ListKeys", b'')
    eq(status, 200, f"empty body: {body!r}")
    check(isinstance(body.get("Keys"), list) and "Truncated" in body, f"ListKeys body: {body!r}")
    eq(headers.get("content-type", "").split(";")[0], "application/x-amz-json-1.1", "response Content-Type")
    check(headers.get("x-amzn-requestid"), "x-amzn-RequestId on success")
    status, _, body = raw_json("TrentService.ListKeys", b'{"Limit": 5, "SomethingNew": {"x": 1}}')
    eq(status, 200, f"unknown member: {body!r}")
    # timestamps are JSON numbers of epoch seconds (semantics 3.2)
    status, _, body = raw_json("TrentService.CreateKey", b'{"Description": "ts"}')
    eq(status, 200, f"CreateKey: {body!r}")
    check(isinstance(body["KeyMetadata"]["CreationDate"], (int, float)),
          f"CreationDate must be a JSON number: {body['KeyMetadata']['CreationDate']!r}")
    # request ids differ per request
    ids = {raw_request("TrentService.ListKeys", b"{}")[1].get("x-amzn-requestid") for _ in range(3)}
    eq(len(ids), 3, f"distinct request ids: {ids}")


@case
def oversized_body_is_refused():
    big = b'{"Description": "' + b"a" * (1 << 20) + b'"}'
    status, _, body = raw_json("TrentService.CreateKey", big)
    check(400 <= status < 500, f"a body over 1 MiB must get a 4xx, got {status} {str(body)[:200]!r}")
    # the server still answers afterwards
    eq(raw_request("TrentService.ListKeys", b"{}")[0], 200, "server alive after the oversized body")


@case
def validation_of_key_ids_and_names():
    raw = kms(validate=False)
    expect_error("ValidationException", raw.describe_key, KeyId="",
                 message=VALIDATION_PREFIX + "Value '' at 'keyId' failed to satisfy constraint: "
                         "Member must have length greater than or equal to 1")
    expect_error("ValidationException", raw.describe_key,
                 message=VALIDATION_PREFIX + "Value null at 'keyId' failed to satisfy constraint: Member must not be null")
    expect_error("NotFoundException", raw.describe_key, KeyId="not-a-key")
    expect_error("ValidationException", raw.create_custom_key_store, CustomKeyStoreName="",
                 CloudHsmClusterId="cluster-234567abcdefg", TrustAnchorCertificate="x", KeyStorePassword="passw0rd",
                 contains="at 'customKeyStoreName' failed to satisfy constraint: Member must have length greater than or equal to 1")


if __name__ == "__main__":
    main()
