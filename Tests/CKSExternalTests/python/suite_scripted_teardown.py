"""The scripted teardown (`cks teardown STORE --wait`, issue 5 "Scripted") checked from outside with boto3.
    suite_scripted_teardown.py setup STATE      a target store with keys, and bystanders that must survive
    suite_scripted_teardown.py unchanged STATE  nothing changed (after --dry-run or a refused run)
    suite_scripted_teardown.py verify STATE     the target store and its keys are gone and nothing else is
    suite_scripted_teardown.py pending STATE    every target key is pending deletion (a teardown waiting), nothing else changed
    suite_scripted_teardown.py setup-abort STATE  a store with 5 keys, 2 of them disabled beforehand
    suite_scripted_teardown.py restored STATE   after an abort with --enable-again: the 2 Disabled, the 3 Enabled
The core runs with a large --time-scale, so the waiting period passes in seconds of wall time."""

import sys

from cks_harness import *


def setup(path):
    c = kms()
    target, cluster = connected_cloudhsm_store(c)
    keys = [hsm_key(c, target, Description=f"target {i}")["KeyId"] for i in range(5)]
    c.create_alias(AliasName=f"alias/{unique('target')}", TargetKeyId=keys[0])
    c.encrypt(KeyId=keys[1], Plaintext=b"recently used")      # flagged by the use check
    c.disable_key(KeyId=keys[2])
    bystander, _ = connected_cloudhsm_store(c)
    others = [hsm_key(c, bystander)["KeyId"] for _ in range(2)]
    plain = c.create_key(Description="ordinary")["KeyMetadata"]["KeyId"]
    snapshot = {k: key_state(c, k) for k in keys + others + [plain]}
    with open(path, "w") as f:
        json.dump({"target": target, "cluster": cluster["ClusterId"], "keys": keys, "bystander": bystander,
                   "others": others, "plain": plain, "snapshot": snapshot}, f)


def setup_abort(path):
    c = kms()
    target, cluster = connected_cloudhsm_store(c)
    keys = [hsm_key(c, target, Description=f"abort {i}")["KeyId"] for i in range(5)]
    for k in keys[:2]:
        c.disable_key(KeyId=k)
    with open(path, "w") as f:
        json.dump({"target": target, "cluster": cluster["ClusterId"], "keys": keys, "disabled": keys[:2],
                   "enabled": keys[2:]}, f)


def load():
    with open(STATE) as f:
        return json.load(f)


@case
def unchanged():
    s = load()
    c = kms()
    eq(state(c, s["target"]), "CONNECTED", "target store state")
    for k, before in s["snapshot"].items():
        eq(key_state(c, k), before, f"key {k} state")


@case
def target_gone_and_nothing_else():
    s = load()
    c = kms()
    expect_error("CustomKeyStoreNotFoundException", c.describe_custom_key_stores, CustomKeyStoreId=s["target"])
    for k in s["keys"]:
        check(key_gone(c, k), f"target key {k} still exists")
    eq(state(c, s["bystander"]), "CONNECTED", "the bystander store")
    for k in s["others"] + [s["plain"]]:
        eq(key_state(c, k), s["snapshot"][k], f"bystander key {k}")
    # the store stayed connected through the wait: no orphaned key material on its cluster
    eq(cluster_info(s["cluster"]).get("OrphanedKeyMaterial", []), [], "orphaned key material on the target's cluster")


@case
def target_keys_pending_deletion():
    """A teardown waiting for deletion: every target key is PendingDeletion, the store still CONNECTED."""
    s = load()
    c = kms()
    eq(state(c, s["target"]), "CONNECTED", "target store state")
    for k in s["keys"]:
        eq(key_state(c, k), "PendingDeletion", f"target key {k}")
    for k in s.get("others", []) + ([s["plain"]] if "plain" in s else []):
        eq(key_state(c, k), s["snapshot"][k], f"bystander key {k}")


@case
def restored_as_before():
    """An abort with --enable-again: the keys disabled before the teardown stay Disabled, the others are Enabled."""
    s = load()
    c = kms()
    eq(state(c, s["target"]), "CONNECTED", "target store state")
    for k in s["disabled"]:
        eq(key_state(c, k), "Disabled", f"key {k} (Disabled before the teardown)")
    for k in s["enabled"]:
        eq(key_state(c, k), "Enabled", f"key {k} (Enabled before the teardown)")


if __name__ == "__main__":
    phase, STATE = sys.argv[1], sys.argv[2]
    if phase == "setup":
        setup(STATE)
    elif phase == "setup-abort":
        setup_abort(STATE)
    else:
        sys.argv = [sys.argv[0], {"unchanged": "unchanged", "verify": "target_gone_and_nothing_else",
                                   "pending": "target_keys_pending_deletion",
                                   "restored": "restored_as_before"}[phase]]
        main()
