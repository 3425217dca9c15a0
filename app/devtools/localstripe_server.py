"""Run localstripe (the Stripe emulator) bound to loopback only, with a private state file.

localstripe's own CLI binds every interface and pickles its state to a fixed /tmp path shared by
all instances; this launcher fixes both. Usage: python -m app.devtools.localstripe_server PORT
(state file from LOCALSTRIPE_STATE).
"""

from __future__ import annotations

import os
import pickle
import sys
from typing import Any

from aiohttp import web
from localstripe import resources, server


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8420
    path = os.environ.get("LOCALSTRIPE_STATE", "var/localstripe.pickle")

    def dump_to_disk(self: Any) -> None:
        with open(path, "wb") as f:
            pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)

    resources.Store.dump_to_disk = dump_to_disk
    web.run_app(server.app, host="127.0.0.1", port=port, print=None)


if __name__ == "__main__":
    main()
