"""``s3``: a bucket of Amazon S3 or an S3-compatible store (MinIO, Ceph, R2...), through obstore.

Paths are keys under the System's ``prefix``. A put is atomic in S3 (a reader sees the old
object or the new one, a multipart upload included), so :meth:`S3Connection.write_file` puts
directly; a move is a copy then a delete. Listing follows the store's continuation tokens page
by page. The store's own retries are few and short: a flow step retries with its own policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlink.connectors import schemas
from interlink.connectors.base import Connection, Connector
from interlink.connectors.spec import Capability, ConnectorSpec

FILE_CAPABILITIES = (
    Capability("trigger", "a Flow's watch trigger starts a run per new or changed file"),
    Capability("read", "file steps list and read files"),
    Capability("write", "file steps write (atomically), move and delete files"),
)

SPEC = ConnectorSpec(
    name="s3",
    title="Amazon S3 and S3-compatible stores",
    description="A bucket of Amazon S3 or an S3-compatible store (MinIO, Ceph, R2), as files.",
    interface="files",
    config=schemas.connection(
        {
            "bucket": {"type": "string", "minLength": 3, "description": "the bucket's name"},
            "endpoint": {
                "type": "string",
                "pattern": "^https?://[^/?#@]+/?$",
                "description": "the store's URL, for an S3-compatible one (default: AWS's for "
                "the region); http:// is allowed",
            },
            "region": {"type": "string", "default": "us-east-1", "description": "the region"},
            "prefix": {
                "type": "string",
                "pattern": "^([^/]+/)*[^/]*$",
                "default": "",
                "description": "the key prefix the System's paths are under (its root folder)",
            },
            "accessKeyId": {
                "type": "string",
                "writeOnly": True,
                "description": "access key id, as a ${secret:NAME} reference (without keys the "
                "process's AWS environment or instance role is used)",
            },
            "secretAccessKey": {
                "type": "string",
                "writeOnly": True,
                "description": "secret access key, as a ${secret:NAME} reference",
            },
            "pathStyle": {
                "type": "boolean",
                "default": True,
                "description": "the bucket in the URL's path (endpoint/bucket/key), as most "
                "S3-compatible stores want; false puts it in the host name (bucket.endpoint)",
            },
            "timeout": {
                "type": "integer",
                "minimum": 1,
                "maximum": 600,
                "default": 30,
                "description": "seconds a request may take",
            },
        },
        required=["bucket"],
        dependentRequired={
            "accessKeyId": ["secretAccessKey"],
            "secretAccessKey": ["accessKeyId"],
        },
    ),
    capabilities=FILE_CAPABILITIES,
    example="""\
apiVersion: interlink/v1
kind: System
metadata: {name: invoice-bucket, owner: finance}
spec:
  domain: finance
  connector: s3
  connection:
    bucket: acme-invoices
    region: eu-west-1
    prefix: incoming
    accessKeyId: ${secret:invoices-s3-key-id}
    secretAccessKey: ${secret:invoices-s3-secret}
""",
)


class S3Connector(Connector):
    spec = SPEC

    async def open(self, config: Mapping[str, Any], system: str) -> Connection:
        from interlink.connectors.s3_client import open_connection  # obstore: on first use

        return await open_connection(config, system)
