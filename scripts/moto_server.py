"""moto's server (moto[server] from PyPI) as the X-Ray API stand-in for the tests, with one fix:
moto answers GetTraceSummaries with "Users": {} where the X-Ray API has a list, and the AWS SDK
for Rust (rightly) refuses to parse that. Arguments are moto_server's (-H HOST -p PORT)."""

import sys

from moto.xray import models

_summary = models.SegmentCollection.summary


def summary(self, *args, **kwargs):
    result = _summary(self, *args, **kwargs)
    for trace in result["TraceSummaries"]:
        trace["Users"] = []
    return result


models.SegmentCollection.summary = summary

from moto.server import main  # noqa: E402  (after the fix is in place)

sys.exit(main())
