"""Where the heavy operations run: ``local`` (in this process, the default) or ``ray`` (a Ray cluster).

The local engine is the code of each operation itself (``featurize``, ``ingest``, ...); this package holds the
engine choice and the Ray engine, which imports Ray only when it is asked for (the ``ray`` extra).

Every engine reads the same store and writes through the store's keyed, locked write path (``Store.write`` under
``writer_lock``, ``StoredKeys``), from the driver: a Ray job stores every row exactly once, and a job that is
interrupted (Ctrl-C, SIGKILL, a lost node) is completed by running it again.

A cluster shares one store: a folder on a file system every node mounts at the same path (NFS, Lustre, a cloud
file share), or an object-store URI that LanceDB supports (``s3://bucket/store``, ``gs://...``, ``az://...``).
An in-memory store (``memory://``) lives in one process and cannot be used with Ray.
"""

from __future__ import annotations

from socialfusion.backends._options import ENGINES, RayOptions, check_engine

__all__ = ["ENGINES", "RayOptions", "check_engine"]
