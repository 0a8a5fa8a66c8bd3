"""Every Redis key the gateway uses, in one place. All carry the configured prefix.

DNC cache (one generation at a time; a missing `dnc:current` means incomplete):
  {p}dnc:current            "<generation> <buckets> <last change applied>"
  {p}dnc:building           the same, while a rebuild runs
  {p}dnc:rebuild-lock       the token of the process rebuilding (renewed while it runs)
  {p}dnc:generation-seq     counter: the number of the last generation begun
  {p}dnc:<gen>:<bucket>     hash: field = number // buckets, value = scope "m" | "a",
                            optionally "|<expires epoch seconds, rounded up>"
Attempts:
  {p}att:<e164>             sorted set of attempt times (ms), member = call id
Idempotency:
  {p}idem:<token>:<request> "P|<body hash>|<call id>" while pending (a day, so that a
                            retry after a crash finds the call id),
                            "D|<body hash>|<answer JSON>" once answered (a day)

The scripts build bucket and attempt keys themselves from the prefixes given to them
(`dnc_prefix` + "<gen>:<bucket>", `attempts_prefix` + "<e164>"); the members whose names
end in `prefix` are such beginnings of keys, not keys. Every key above is built here and
nowhere else (tests/unit/test_keys.py holds this list and the members equal).
"""

from __future__ import annotations


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.dnc_current = f"{prefix}dnc:current"
        self.dnc_building = f"{prefix}dnc:building"
        self.dnc_rebuild_lock = f"{prefix}dnc:rebuild-lock"
        self.dnc_generation_seq = f"{prefix}dnc:generation-seq"
        # what the scripts put "<gen>:<bucket>" after (precheck, change, lookup)
        self.dnc_prefix = f"{prefix}dnc:"
        # what attempts_restore.lua puts "<e164>" after
        self.attempts_prefix = f"{prefix}att:"

    def dnc_bucket_prefix(self, generation: int) -> str:
        return f"{self.dnc_prefix}{generation}:"

    def dnc_bucket(self, generation: int, bucket: int) -> str:
        return f"{self.dnc_prefix}{generation}:{bucket}"

    def attempts(self, e164: str) -> str:
        return f"{self.attempts_prefix}{e164}"

    def idempotency(self, token_id: str, request_id: str) -> str:
        return f"{self.prefix}idem:{token_id}:{request_id}"
