"""Durability: `suite_restart.py write STATE` makes acknowledged writes and records what it saw;
the Swift harness then kills the core with SIGKILL at once and restarts it on the same data dir;
`suite_restart.py verify STATE` checks that nothing was lost, the simulated clock offset included,
and that time-based changes derived from persisted timestamps still happen after the restart."""

import sys

from cks_harness import *

OFFSET_SECONDS = 3 * DAY + 1234


def write(path):
    c = kms()
    wall_before = time.time()
    clock_before = now()
    # a connected store with keys in several states, aliases, a pending deletion
    store_id, cluster = connected_cloudhsm_store(c)
    enabled = hsm_key(c, store_id, Description="enabled")["KeyId"]
    disabled = hsm_key(c, store_id, Description="disabled")["KeyId"]
    pending = hsm_key(c, store_id, Description="pending")["KeyId"]
    c.disable_key(KeyId=disabled)
    alias = f"alias/{unique('durable')}"
    c.create_alias(AliasName=alias, TargetKeyId=enabled)
    ct = c.encrypt(KeyId=enabled, Plaintext=b"survives kill -9")["CiphertextBlob"]
    deletion = epoch(c.schedule_key_deletion(KeyId=pending, PendingWindowInDays=7)["DeletionDate"])
    # a FAILED store with its code
    failed_id, _ = new_cloudhsm_store(c, password="wrong-password-2")
    c.connect_custom_key_store(CustomKeyStoreId=failed_id)
    wait_store_state(c, failed_id, "FAILED")
    # a store caught mid-CONNECTING: its completion must come from persisted timestamps
    connecting_id, _ = new_cloudhsm_store(c)
    c.connect_custom_key_store(CustomKeyStoreId=connecting_id)
    # an XKS store and an ordinary key
    xks_id, _ = new_xks_store(c)
    plain = c.create_key(Description="plain")["KeyMetadata"]["KeyId"]
    # move the simulated clock; the very last acknowledged write before the kill
    advanced_to = advance(OFFSET_SECONDS)
    state_ = {
        "wall_before": wall_before, "clock_before": clock_before, "advanced_to": advanced_to,
        "offset": advanced_to - time.time(),
        "store_id": store_id, "cluster_id": cluster["ClusterId"], "enabled": enabled, "disabled": disabled,
        "pending": pending, "deletion": deletion, "alias": alias, "ciphertext": base64.b64encode(ct).decode(),
        "connecting_id": connecting_id, "failed_id": failed_id, "xks_id": xks_id, "plain": plain,
        "stores": {s["CustomKeyStoreId"]: {k: v for k, v in s.items() if k not in ("CreationDate",)}
                   for s in c.describe_custom_key_stores()["CustomKeyStores"]},
        "keys": sorted(all_key_ids(c)),
    }
    # connecting_id is reported from the store list above (it may have completed meanwhile)
    with open(path, "w") as f:
        json.dump(state_, f, default=str)


@case
def nothing_lost():
    with open(STATE) as f:
        s = json.load(f)
    c = kms()
    # the clock offset survived: now ≈ wall + recorded offset (never back to the pre-advance clock)
    clock = now()
    check(clock >= s["advanced_to"], f"simulated clock went back after restart: {clock} < {s['advanced_to']}")
    drift = abs((clock - time.time()) - s["offset"])
    check(drift < 60, f"clock offset changed across the restart by {drift:.1f}s (was {s['offset']:.1f}s)")
    eq(sorted(all_key_ids(c)), s["keys"], "ListKeys after restart")
    stores = {x["CustomKeyStoreId"]: x for x in c.describe_custom_key_stores()["CustomKeyStores"]}
    eq(set(stores), set(s["stores"]), "store ids after restart")
    for sid, before in s["stores"].items():
        after = {k: v for k, v in stores[sid].items() if k != "CreationDate"}
        if sid == s["connecting_id"]:
            # CONNECTING took 20 simulated minutes and the clock moved 3 days: it must be CONNECTED now
            eq(after["ConnectionState"], "CONNECTED", "a store CONNECTING at the kill, after the clock passed")
            continue
        eq(json.dumps(after, sort_keys=True, default=str), json.dumps(before, sort_keys=True, default=str),
           f"store {sid} after restart")
    eq(stores[s["failed_id"]].get("ConnectionErrorCode"), "INVALID_CREDENTIALS", "FAILED code after restart")
    eq(key_state(c, s["enabled"]), "Enabled", "enabled key")
    eq(key_state(c, s["disabled"]), "Disabled", "disabled key")
    md = c.describe_key(KeyId=s["pending"])["KeyMetadata"]
    eq(md["KeyState"], "PendingDeletion", "pending key")
    check(abs(epoch(md["DeletionDate"]) - s["deletion"]) < 1, f"DeletionDate changed: {md['DeletionDate']} vs {s['deletion']}")
    eq(c.describe_key(KeyId=s["alias"])["KeyMetadata"]["KeyId"], s["enabled"], "alias after restart")
    eq(c.decrypt(CiphertextBlob=base64.b64decode(s["ciphertext"]))["Plaintext"], b"survives kill -9",
       "decrypt a ciphertext made before the kill")
    eq(key_state(c, s["plain"]), "Enabled", "ordinary key")
    # the waiting period still ends on time after the restart
    remaining = s["deletion"] - now()
    check(remaining > 0, "the 7-day window cannot be over yet (3 days advanced)")
    advance(int(remaining) - 30)
    eq(key_state(c, s["pending"]), "PendingDeletion", "pending key just before its DeletionDate")
    advance(90)
    wait_until(lambda: key_gone(c, s["pending"]), "the pending key deleted at its DeletionDate after the restart")


if __name__ == "__main__":
    phase, STATE = sys.argv[1], sys.argv[2]
    if phase == "write":
        write(STATE)
    else:
        sys.argv = sys.argv[:1]
        main()
