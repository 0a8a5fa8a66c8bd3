"""Every Redis key the gateway uses, in one place. All carry the configured prefix.

DNC cache (one generation at a time; a missing `dnc:current` means incomplete):
  {p}dnc:current            "<generation> <buckets> <last change applied>"
  {p}dnc:building           the same, while a rebuild runs
  {p}dnc:<gen>:<bucket>     hash: field = number // buckets, value = scope "m" | "a",
                            optionally "|<expires epoch seconds, rounded up>"
Attempts:
  {p}att:<e164>             sorted set of attempt times (ms), member = call id
Idempotency:
  {p}idem:<token>:<request> "P|<body hash>|<call id>" while pending (a day, so that a
                            retry after a crash finds the call id),
                            "D|<body hash>|<answer JSON>" once answered (a day)
"""

from __future__ import annotations


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.dnc_current = f"{prefix}dnc:current"
        self.dnc_building = f"{prefix}dnc:building"
        self.dnc_rebuild_lock = f"{prefix}dnc:rebuild-lock"

    def dnc_bucket_prefix(self, generation: int) -> str:
        return f"{self.prefix}dnc:{generation}:"

    def dnc_bucket(self, generation: int, bucket: int) -> str:
        return f"{self.prefix}dnc:{generation}:{bucket}"

    def attempts(self, e164: str) -> str:
        return f"{self.prefix}att:{e164}"

    def idempotency(self, token_id: str, request_id: str) -> str:
        return f"{self.prefix}idem:{token_id}:{request_id}"
