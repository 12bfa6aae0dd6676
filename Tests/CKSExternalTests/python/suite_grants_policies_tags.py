"""Who may use a key: grants (and what a grant authorizes), key policies, tags; UpdateAlias,
UpdateKeyDescription, ReEncrypt and GenerateDataKeyWithoutPlaintext, with AWS's shapes and errors."""

import datetime
import json

from cks_harness import *

ACCOUNT = "111122223333"
READER_ARN = f"arn:aws:iam::{ACCOUNT}:user/qa-reader"
OPERATOR_ARN = f"arn:aws:iam::{ACCOUNT}:user/qa-operator"
ADMIN_ARN = f"arn:aws:iam::{ACCOUNT}:user/qa-admin"
GRANT_ID_RE = re.compile(r"^[0-9a-f]{64}$")


@case
def create_and_list_grants():
    c = kms()
    key = c.create_key()["KeyMetadata"]
    r = c.create_grant(KeyId=key["KeyId"], GranteePrincipal=READER_ARN, RetiringPrincipal=OPERATOR_ARN,
                       Operations=["Encrypt", "Decrypt"], Name="app-grant",
                       Constraints={"EncryptionContextSubset": {"app": "billing"}})
    check(GRANT_ID_RE.match(r["GrantId"]), f"GrantId {r['GrantId']} is 64 hex digits")
    check(r["GrantToken"], "a GrantToken is returned")
    grants = c.list_grants(KeyId=key["KeyId"])
    eq(grants["Truncated"], False, "one grant: not truncated")
    eq(len(grants["Grants"]), 1, "ListGrants count")
    g = grants["Grants"][0]
    eq(g["KeyId"], key["Arn"], "GrantListEntry KeyId is the key ARN")
    eq(g["GrantId"], r["GrantId"], "GrantId")
    eq(g["Name"], "app-grant", "Name")
    eq(g["GranteePrincipal"], READER_ARN, "GranteePrincipal")
    eq(g["RetiringPrincipal"], OPERATOR_ARN, "RetiringPrincipal")
    eq(g["IssuingAccount"], f"arn:aws:iam::{ACCOUNT}:root", "IssuingAccount")
    eq(sorted(g["Operations"]), ["Decrypt", "Encrypt"], "Operations")
    eq(g["Constraints"], {"EncryptionContextSubset": {"app": "billing"}}, "Constraints")
    check(isinstance(g["CreationDate"], datetime.datetime), "CreationDate is a timestamp")
    # filters
    eq(len(c.list_grants(KeyId=key["KeyId"], GrantId=r["GrantId"])["Grants"]), 1, "GrantId filter")
    eq(len(c.list_grants(KeyId=key["KeyId"], GranteePrincipal=OPERATOR_ARN)["Grants"]), 0, "GranteePrincipal filter (no match)")
    eq(len(c.list_grants(KeyId=key["KeyId"], GranteePrincipal=READER_ARN)["Grants"]), 1, "GranteePrincipal filter")
    # by key ARN too; aliases are refused as KMS does
    eq(len(c.list_grants(KeyId=key["Arn"])["Grants"]), 1, "ListGrants by key ARN")
    c.create_alias(AliasName=unique("alias/grants"), TargetKeyId=key["KeyId"])
    retirable = c.list_retirable_grants(RetiringPrincipal=OPERATOR_ARN)
    check(any(x["GrantId"] == r["GrantId"] for x in retirable["Grants"]), "ListRetirableGrants lists the grant")


@case
def grant_authorizes_its_grantee():
    c = kms()
    reader = kms(principal_name="qa-reader")
    key = c.create_key()["KeyMetadata"]["KeyId"]
    # no kms:Encrypt for the reader in the principals file: refused without a grant
    expect_error("AccessDeniedException", reader.encrypt, KeyId=key, Plaintext=b"x",
                 contains=[READER_ARN, "kms:Encrypt"])
    g = c.create_grant(KeyId=key, GranteePrincipal=READER_ARN, Operations=["Encrypt"],
                       Constraints={"EncryptionContextEquals": {"app": "billing"}})
    blob = reader.encrypt(KeyId=key, Plaintext=b"secret", EncryptionContext={"app": "billing"})["CiphertextBlob"]
    # the constraint holds: another context is refused
    expect_error("AccessDeniedException", reader.encrypt, KeyId=key, Plaintext=b"x", EncryptionContext={"app": "other"})
    # Decrypt is not in the grant
    expect_error("AccessDeniedException", reader.decrypt, CiphertextBlob=blob, EncryptionContext={"app": "billing"})
    eq(c.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "billing"})["Plaintext"], b"secret", "admin decrypts")
    # revoked: refused again
    c.revoke_grant(KeyId=key, GrantId=g["GrantId"])
    expect_error("AccessDeniedException", reader.encrypt, KeyId=key, Plaintext=b"x", EncryptionContext={"app": "billing"})
    # a grant names the principal by ARN: a grant to someone else does not help
    c.create_grant(KeyId=key, GranteePrincipal=OPERATOR_ARN, Operations=["Encrypt"])
    expect_error("AccessDeniedException", reader.encrypt, KeyId=key, Plaintext=b"x")


@case
def grant_errors():
    c = kms()
    key = c.create_key()["KeyMetadata"]["KeyId"]
    unknown = "0" * 64
    expect_error("NotFoundException", c.revoke_grant, KeyId=key, GrantId=unknown, message=f"Grant ID {unknown} not found")
    expect_error("NotFoundException", c.retire_grant, KeyId=key, GrantId=unknown)
    expect_error("InvalidGrantIdException", c.revoke_grant, KeyId=key, GrantId="not-a-grant")
    expect_error("InvalidGrantTokenException", c.retire_grant, GrantToken="bogus-token")
    expect_error("InvalidArnException", c.create_grant, KeyId=key, GranteePrincipal="nobody", Operations=["Encrypt"])
    expect_error("ValidationException", c.create_grant, KeyId=key, GranteePrincipal=READER_ARN,
                 Operations=["Sign"])
    expect_error("NotFoundException", c.create_grant, KeyId="11111111-2222-3333-4444-555555555555",
                 GranteePrincipal=READER_ARN, Operations=["Encrypt"])
    expect_error("InvalidGrantTokenException", c.encrypt, KeyId=key, Plaintext=b"x", GrantTokens=["nope"])
    # pending deletion: no new grants
    c.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    expect_error("KMSInvalidStateException", c.create_grant, KeyId=key, GranteePrincipal=READER_ARN,
                 Operations=["Encrypt"], contains="is pending deletion")


@case
def retire_grant_rules():
    c = kms()
    key = c.create_key()["KeyMetadata"]["KeyId"]
    operator = kms(principal_name="qa-operator")   # no kms:RetireGrant in the principals file
    reader = kms(principal_name="qa-reader")
    g = c.create_grant(KeyId=key, GranteePrincipal=ADMIN_ARN, RetiringPrincipal=READER_ARN, Operations=["Decrypt"])
    # wrong principal
    expect_error("AccessDeniedException", operator.retire_grant, KeyId=key, GrantId=g["GrantId"], contains="kms:RetireGrant")
    # the retiring principal retires by token
    reader.retire_grant(GrantToken=g["GrantToken"])
    eq(c.list_grants(KeyId=key)["Grants"], [], "the retired grant is gone")
    # a grantee with RetireGrant in its operations retires by key and id
    g2 = c.create_grant(KeyId=key, GranteePrincipal=OPERATOR_ARN, Operations=["Decrypt", "RetireGrant"])
    operator.retire_grant(KeyId=key, GrantId=g2["GrantId"])
    eq(c.list_grants(KeyId=key)["Grants"], [], "retired by its grantee")


@case
def grants_paginate_past_one_thousand():
    c = kms(region="ap-south-1")
    key = c.create_key()["KeyMetadata"]["KeyId"]
    created = set()
    for i in range(1050):
        created.add(c.create_grant(KeyId=key, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:role/r{i % 7}",
                                   Operations=["Decrypt"])["GrantId"])
    pages = list(c.get_paginator("list_grants").paginate(KeyId=key))
    check(len(pages) >= 11, f"default page size 50 → at least 11 pages, got {len(pages)}")
    ids = [g["GrantId"] for p in pages for g in p["Grants"]]
    eq(len(ids), len(set(ids)), "no grant repeated across pages")
    eq(set(ids), created, "every grant listed")
    for i, p in enumerate(pages):
        eq(p["Truncated"], i != len(pages) - 1, f"page {i} Truncated")
    big = list(c.get_paginator("list_grants").paginate(KeyId=key, PaginationConfig={"PageSize": 100}))
    check(all(len(p["Grants"]) <= 100 for p in big), "pages of at most 100")
    eq(sum(len(p["Grants"]) for p in big), 1050, "1050 grants with PageSize 100")
    r5 = [g for p in c.get_paginator("list_grants").paginate(KeyId=key, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:role/r5")
          for g in p["Grants"]]
    eq(len(r5), 150, "grantee filter across pages")
    expect_error("InvalidMarkerException", c.list_grants, KeyId=key, Marker="garbage")


@case
def key_policies():
    c = kms()
    key = c.create_key()["KeyMetadata"]["KeyId"]
    default = c.get_key_policy(KeyId=key, PolicyName="default")
    eq(default["PolicyName"], "default", "PolicyName")
    doc = json.loads(default["Policy"])
    eq(doc["Id"], "key-default-1", "default policy Id")
    eq(doc["Statement"][0]["Principal"], {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "default policy principal")
    eq(c.get_key_policy(KeyId=key)["Policy"], default["Policy"], "PolicyName is optional")
    eq(c.list_key_policies(KeyId=key)["PolicyNames"], ["default"], "ListKeyPolicies")
    policy = ('{"Version":"2012-10-17",  "Statement":[{"Sid":"app","Effect":"Allow",'
              f'"Principal":{{"AWS":["{READER_ARN}","arn:aws:iam::{ACCOUNT}:role/app"]}},'
              '"Action":"kms:Decrypt","Resource":"*"}]}')
    c.put_key_policy(KeyId=key, PolicyName="default", Policy=policy)
    eq(c.get_key_policy(KeyId=key)["Policy"], policy, "the policy is returned verbatim")
    created = c.create_key(Policy=policy)["KeyMetadata"]["KeyId"]
    eq(c.get_key_policy(KeyId=created)["Policy"], policy, "CreateKey Policy is kept verbatim")
    expect_error("MalformedPolicyDocumentException", c.put_key_policy, KeyId=key, Policy="{not json")
    expect_error("MalformedPolicyDocumentException", c.put_key_policy, KeyId=key, Policy='{"Version":"2012-10-17"}')
    expect_error("MalformedPolicyDocumentException", c.create_key, Policy="[1,2]")
    expect_error("NotFoundException", c.get_key_policy, KeyId=key, PolicyName="other", message="No such policy exists")
    big = '{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Sid":"' + "x" * 33000 + '"}]}'
    expect_error("LimitExceededException", c.put_key_policy, KeyId=key, Policy=big)
    expect_error("ValidationException", kms(validate=False).put_key_policy, KeyId=key, Policy="")


@case
def tags():
    c = kms()
    key = c.create_key(Tags=[{"TagKey": "owner", "TagValue": "billing"}, {"TagKey": "env", "TagValue": ""}])["KeyMetadata"]["KeyId"]
    eq(c.list_resource_tags(KeyId=key)["Tags"], [{"TagKey": "env", "TagValue": ""}, {"TagKey": "owner", "TagValue": "billing"}],
       "CreateKey Tags, by tag key")
    c.tag_resource(KeyId=key, Tags=[{"TagKey": "owner", "TagValue": "payments"}, {"TagKey": "team", "TagValue": "a"}])
    tags = {t["TagKey"]: t["TagValue"] for t in c.list_resource_tags(KeyId=key)["Tags"]}
    eq(tags, {"env": "", "owner": "payments", "team": "a"}, "TagResource adds and overwrites")
    c.untag_resource(KeyId=key, TagKeys=["env", "absent"])
    eq({t["TagKey"] for t in c.list_resource_tags(KeyId=key)["Tags"]}, {"owner", "team"}, "UntagResource")
    expect_error("TagException", c.tag_resource, KeyId=key, Tags=[{"TagKey": "aws:owner", "TagValue": "x"}])
    expect_error("TagException", c.tag_resource, KeyId=key,
                 Tags=[{"TagKey": "dup", "TagValue": "1"}, {"TagKey": "dup", "TagValue": "2"}])
    expect_error("TagException", c.tag_resource, KeyId=key,
                 Tags=[{"TagKey": f"t{i}", "TagValue": "v"} for i in range(49)])
    expect_error("TagException", c.create_key, Tags=[{"TagKey": f"t{i}", "TagValue": "v"} for i in range(51)])
    expect_error("ValidationException", kms(validate=False).tag_resource, KeyId=key,
                 Tags=[{"TagKey": "k" * 129, "TagValue": "v"}])
    # 50 tags fit; pages of at most 50
    many = c.create_key(Tags=[{"TagKey": f"t{i:02d}", "TagValue": "v"} for i in range(50)])["KeyMetadata"]["KeyId"]
    pages = list(c.get_paginator("list_resource_tags").paginate(KeyId=many, PaginationConfig={"PageSize": 20}))
    eq(sum(len(p["Tags"]) for p in pages), 50, "50 tags over pages")
    eq(len(pages), 3, "pages of 20")
    c.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    expect_error("KMSInvalidStateException", c.tag_resource, KeyId=key, Tags=[{"TagKey": "a", "TagValue": "b"}])
    eq(len(c.list_resource_tags(KeyId=key)["Tags"]), 2, "tags of a key pending deletion can still be listed")


@case
def update_alias_and_description():
    c = kms()
    old = c.create_key(Description="old")["KeyMetadata"]["KeyId"]
    new = c.create_key()["KeyMetadata"]["KeyId"]
    name = unique("alias/app")
    c.create_alias(AliasName=name, TargetKeyId=old)
    expect_error("AlreadyExistsException", c.create_alias, AliasName=name, TargetKeyId=new)
    blob = c.encrypt(KeyId=name, Plaintext=b"payload")["CiphertextBlob"]
    c.update_alias(AliasName=name, TargetKeyId=new)
    eq(c.describe_key(KeyId=name)["KeyMetadata"]["KeyId"], new, "the alias points at the new key")
    entry = [a for a in c.list_aliases(KeyId=new)["Aliases"] if a["AliasName"] == name][0]
    check(entry["LastUpdatedDate"] >= entry["CreationDate"], "LastUpdatedDate set")
    expect_error("NotFoundException", c.update_alias, AliasName=unique("alias/none"), TargetKeyId=new, contains="is not found")
    # ReEncrypt moves the ciphertext to the new key
    moved = c.re_encrypt(CiphertextBlob=blob, DestinationKeyId=name)
    eq(moved["SourceKeyId"].split("/")[-1], old, "SourceKeyId")
    eq(moved["KeyId"].split("/")[-1], new, "KeyId (destination)")
    eq(c.decrypt(CiphertextBlob=moved["CiphertextBlob"])["Plaintext"], b"payload", "re-encrypted ciphertext decrypts")
    c.disable_key(KeyId=old)
    expect_error("DisabledException", c.re_encrypt, CiphertextBlob=blob, DestinationKeyId=new)
    # the old key pending deletion can no longer be an alias target
    c.schedule_key_deletion(KeyId=old, PendingWindowInDays=7)
    expect_error("KMSInvalidStateException", c.update_alias, AliasName=name, TargetKeyId=old)
    c.update_key_description(KeyId=new, Description="replacement")
    eq(c.describe_key(KeyId=new)["KeyMetadata"]["Description"], "replacement", "UpdateKeyDescription")
    expect_error("KMSInvalidStateException", c.update_key_description, KeyId=old, Description="x")
    g = c.generate_data_key_without_plaintext(KeyId=new, KeySpec="AES_256")
    check("Plaintext" not in g, "no Plaintext")
    eq(len(c.decrypt(CiphertextBlob=g["CiphertextBlob"])["Plaintext"]), 32, "the data key decrypts to 32 bytes")


@case
def grants_go_with_the_key():
    c = kms(region="sa-east-1")
    key = c.create_key()["KeyMetadata"]["KeyId"]
    c.create_grant(KeyId=key, GranteePrincipal=READER_ARN, Operations=["Decrypt"])
    c.tag_resource(KeyId=key, Tags=[{"TagKey": "a", "TagValue": "b"}])
    c.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    eq(len(c.list_grants(KeyId=key)["Grants"]), 1, "grants stay while the key is pending deletion")
    advance(8 * DAY, region="sa-east-1")
    expect_error("NotFoundException", c.list_grants, KeyId=key)


if __name__ == "__main__":
    main()
