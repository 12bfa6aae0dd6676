"""The use record through CloudTrail's own LookupEvents on the core's endpoint (SigV4 service `cloudtrail`):
every call that touches a key, answered or refused, newest first, in CloudTrail's shapes; boto3's paginator."""

import datetime
import json

from cks_harness import *

ACCOUNT = "111122223333"


def trail(principal_name="qa-auditor", region=None, validate=True):
    p = principal(principal_name)
    return boto3.session.Session().client(
        "cloudtrail", endpoint_url=ENDPOINT, region_name=region or REGION,
        aws_access_key_id=p["accessKeyId"], aws_secret_access_key=p["secretAccessKey"],
        config=Config(retries={"total_max_attempts": 1}, parameter_validation=validate))


def events_for(arn, region=None, **kw):
    pages = trail(region=region).get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": arn}], **kw)
    return [e for p in pages for e in p["Events"]]


@case
def every_use_is_recorded_newest_first():
    c = kms()
    key = c.create_key()["KeyMetadata"]
    arn, key_id = key["Arn"], key["KeyId"]
    c.describe_key(KeyId=key_id)
    blob = c.encrypt(KeyId=arn, Plaintext=b"x")["CiphertextBlob"]
    c.decrypt(CiphertextBlob=blob)
    expect_error("AccessDeniedException", kms(principal_name="qa-reader").encrypt, KeyId=key_id, Plaintext=b"x")
    c.disable_key(KeyId=key_id)
    expect_error("DisabledException", c.decrypt, CiphertextBlob=blob)
    c.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    expect_error("KMSInvalidStateException", c.encrypt, KeyId=key_id, Plaintext=b"x")
    got = events_for(arn)
    names = [e["EventName"] for e in got]
    eq(names, ["Encrypt", "ScheduleKeyDeletion", "Decrypt", "DisableKey", "Encrypt", "Decrypt", "Encrypt", "DescribeKey"],
       "events newest first")
    times = [e["EventTime"] for e in got]
    eq(times, sorted(times, reverse=True), "EventTime newest first")
    details = [json.loads(e["CloudTrailEvent"]) for e in got]
    eq([d.get("errorCode") for d in details],
       ["KMSInvalidStateException", None, "DisabledException", None, "AccessDeniedException", None, None, None],
       "errorCode of each event")
    for e, d in zip(got, details):
        eq(e["EventSource"], "kms.amazonaws.com", "EventSource")
        eq(e["Resources"], [{"ResourceType": "AWS::KMS::Key", "ResourceName": arn}], "Resources")
        eq(d["eventID"], e["EventId"], "eventID matches EventId")
        eq(d["eventName"], e["EventName"], "eventName")
        eq(d["eventSource"], "kms.amazonaws.com", "eventSource")
        eq(d["awsRegion"], REGION, "awsRegion")
        eq(d["recipientAccountId"], ACCOUNT, "recipientAccountId")
        check("keyId" in d["requestParameters"], f"requestParameters.keyId in {d}")
        check(d["userIdentity"]["arn"].startswith(f"arn:aws:iam::{ACCOUNT}:user/"), f"userIdentity {d['userIdentity']}")
        eq(d["userIdentity"]["accountId"], ACCOUNT, "userIdentity.accountId")
    eq(details[4]["userIdentity"]["arn"], f"arn:aws:iam::{ACCOUNT}:user/qa-reader", "the refused caller")
    eq(got[4]["Username"], "qa-reader", "Username of the refused caller")
    eq(details[6]["requestParameters"]["keyId"], arn, "requestParameters.keyId as the caller gave it")
    check("is pending deletion" in details[0]["errorMessage"], f"errorMessage {details[0].get('errorMessage')}")
    # GetKeyLastUsage agrees with the record: the last successful cryptographic use
    usage = c.get_key_last_usage(KeyId=key_id)["KeyLastUsage"]
    eq(usage["CloudTrailEventId"], got[5]["EventId"], "GetKeyLastUsage CloudTrailEventId = the last Decrypt's EventId")
    eq(usage["Operation"], "Decrypt", "GetKeyLastUsage Operation")


@case
def lookup_attributes_and_window():
    c = kms(region="eu-west-3")
    k1 = c.create_key()["KeyMetadata"]
    k2 = c.create_key()["KeyMetadata"]
    c.create_alias(AliasName="alias/ct-lookup", TargetKeyId=k1["KeyId"])
    c.describe_key(KeyId="alias/ct-lookup")
    c.encrypt(KeyId=k2["KeyId"], Plaintext=b"y")
    t = trail(region="eu-west-3")
    by_alias = events_for(k1["Arn"], region="eu-west-3")
    eq([e["EventName"] for e in by_alias], ["DescribeKey", "CreateAlias"], "an alias resolves to its key's events")
    enc = t.lookup_events(LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "Encrypt"}])["Events"]
    eq([e["Resources"][0]["ResourceName"] for e in enc], [k2["Arn"]], "EventName filter")
    mine = t.lookup_events(LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "qa-admin"}])["Events"]
    check(len(mine) >= 3, "Username filter")
    eq(t.lookup_events(LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "s3.amazonaws.com"}])["Events"],
       [], "another event source has no events here")
    check(t.lookup_events(LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": "kms.amazonaws.com"}])["Events"],
          "kms.amazonaws.com events")
    one = enc[0]["EventId"]
    eq([e["EventId"] for e in t.lookup_events(LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": one}])["Events"]],
       [one], "EventId filter")
    # the window: events of the last 90 simulated days only
    advance(91 * DAY, region="eu-west-3")
    eq(events_for(k2["Arn"], region="eu-west-3"), [], "events older than 90 days are gone")
    now_ = datetime.datetime.now(datetime.timezone.utc)
    eq(t.lookup_events(StartTime=now_ - datetime.timedelta(days=400), EndTime=now_ - datetime.timedelta(days=200))["Events"],
       [], "an empty window")


@case
def lookup_errors_and_permission():
    t = trail()
    raw = trail(validate=False)
    expect_error("InvalidMaxResultsException", raw.lookup_events, MaxResults=51)
    expect_error("InvalidLookupAttributesException", t.lookup_events, LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "Encrypt"}, {"AttributeKey": "Username", "AttributeValue": "x"}])
    now_ = datetime.datetime.now(datetime.timezone.utc)
    expect_error("InvalidTimeRangeException", t.lookup_events, StartTime=now_, EndTime=now_ - datetime.timedelta(hours=1))
    expect_error("InvalidNextTokenException", t.lookup_events, NextToken="not-a-token")
    # cloudtrail:LookupEvents is its own permission: kms:* does not include it
    expect_error("AccessDeniedException", trail(principal_name="qa-admin").lookup_events,
                 contains="cloudtrail:LookupEvents")
    # a request signed for kms is refused by the cloudtrail operation
    status, _, body = raw_request("com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
                                  access_key=principal("qa-auditor")["accessKeyId"],
                                  secret=principal("qa-auditor")["secretAccessKey"], service="kms")
    eq(status, 400, f"signed for the wrong service: {body!r}")
    check(b"InvalidSignatureException" in body or b"IncompleteSignature" in body, f"wrong-service signature refused: {body!r}")


@case
def paginator_over_more_than_one_thousand_events():
    c = kms(region="ca-central-1")
    key = c.create_key()["KeyMetadata"]
    for _ in range(1100):
        c.describe_key(KeyId=key["KeyId"])
    pages = list(trail(region="ca-central-1").get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": key["Arn"]}]))
    check(all(len(p["Events"]) <= 50 for p in pages), "at most 50 events a page")
    ids = [e["EventId"] for p in pages for e in p["Events"]]
    eq(len(ids), 1100, "1100 DescribeKey events over pages")
    eq(len(set(ids)), 1100, "no event repeated")
    check("NextToken" not in pages[-1], "no NextToken on the last page")
    small = list(trail(region="ca-central-1").get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "ResourceName", "AttributeValue": key["Arn"]}],
        PaginationConfig={"PageSize": 7, "MaxItems": 30}))
    eq(sum(len(p["Events"]) for p in small), 30, "PageSize 7, MaxItems 30")


@case
def grant_use_is_attributed_to_the_grant():
    c = kms(region="eu-north-1")
    key = c.create_key()["KeyMetadata"]
    g = c.create_grant(KeyId=key["KeyId"], GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:user/qa-reader", Operations=["Encrypt"])
    kms(principal_name="qa-reader", region="eu-north-1").encrypt(KeyId=key["KeyId"], Plaintext=b"z")
    top = events_for(key["Arn"], region="eu-north-1")[0]
    d = json.loads(top["CloudTrailEvent"])
    eq((top["EventName"], top["Username"]), ("Encrypt", "qa-reader"), "the grantee's Encrypt")
    eq(d["additionalEventData"]["authorizedBy"], "grant:" + g["GrantId"], "authorized by the grant")


if __name__ == "__main__":
    main()
