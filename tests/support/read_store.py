"""Makes buckets and reads objects back with each store's own client (boto3, google-cloud-storage,
azure-storage-blob), for tests/support/stores.rs; never with object_store, which is under test.

Usage: read_store.py create STORE BUCKET
       read_store.py download STORE BUCKET PREFIX DIR   (prints the keys read, as a JSON list)
STORE is JSON from stores.rs: {"kind": "s3compat"|"gcs"|"azure", "url": ..., and credentials}.
"""

import json
import os
import sys


def s3_client(store):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=store["url"],
        aws_access_key_id=store["access_key_id"],
        aws_secret_access_key=store["secret_access_key"],
        region_name=store["region"],
        config=Config(s3={"addressing_style": "path"}),
    )


def gcs_client(store):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project=store["project"],
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": store["url"]},
    )


def azure_client(store):
    from azure.storage.blob import BlobServiceClient

    credential = {"account_name": store["account"], "account_key": store["key"]}
    return BlobServiceClient(store["url"], credential=credential)


def create(store, bucket):
    kind = store["kind"]
    if kind == "s3compat":
        s3_client(store).create_bucket(Bucket=bucket)
    elif kind == "gcs":
        gcs_client(store).create_bucket(bucket)
    elif kind == "azure":
        azure_client(store).create_container(bucket)
    else:
        sys.exit(f"unknown store kind {kind}")


def objects(store, bucket, prefix):
    """(key, function returning the object's bytes) for every object under prefix."""
    kind = store["kind"]
    if kind == "s3compat":
        s3 = s3_client(store)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for o in page.get("Contents", []):
                key = o["Key"]
                yield key, lambda key=key: s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    elif kind == "gcs":
        for blob in gcs_client(store).list_blobs(bucket, prefix=prefix):
            yield blob.name, blob.download_as_bytes
    elif kind == "azure":
        container = azure_client(store).get_container_client(bucket)
        for blob in container.list_blobs(name_starts_with=prefix):
            yield blob.name, lambda name=blob.name: container.download_blob(name).readall()
    else:
        sys.exit(f"unknown store kind {kind}")


def download(store, bucket, prefix, out_dir):
    keys = []
    root = os.path.realpath(out_dir)
    for key, read in objects(store, bucket, prefix):
        path = os.path.realpath(os.path.join(root, key))
        if not path.startswith(root + os.sep):
            sys.exit(f"key {key!r} would be written outside {out_dir}")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(read())
        keys.append(key)
    print(json.dumps(sorted(keys)))


if __name__ == "__main__":
    command, store, bucket, *rest = sys.argv[1:]
    store = json.loads(store)
    if command == "create":
        create(store, bucket)
    elif command == "download":
        download(store, bucket, *rest)
    else:
        sys.exit(f"unknown command {command}")
