"""KMS keys survive a restart of the local runtime with their ids, ARNs and key material: data encrypted before
decrypts after, aliases name the same keys, and provisioning reuses the restored keys."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from marketplace.local import durable
from marketplace.local.durable import kms as durable_kms
from marketplace.local.durable.store import DataStore
from marketplace.local.provision import provision
from marketplace.platform import resources as r
from tests.integration.durable import active_store


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DataStore]:
    with active_store(tmp_path, monkeypatch, durable_kms.install) as data:
        yield data


def _aliases(kms: object) -> dict[str, str]:
    listed = kms.list_aliases()["Aliases"]  # type: ignore[attr-defined]
    return {a["AliasName"]: a["TargetKeyId"] for a in listed if not a["AliasName"].startswith("alias/aws/")}


def test_ciphertexts_and_data_keys_decrypt_after_a_restart(store: DataStore) -> None:
    with mock_aws():
        deployment = provision("test")
        kms = boto3.client("kms")
        data_key = deployment.key_ids["data"]
        ciphertext = kms.encrypt(KeyId=data_key, Plaintext=b"secret", EncryptionContext={"a": "b"})["CiphertextBlob"]
        generated = kms.generate_data_key(KeyId=r.DATA_KEY.alias("test"), KeySpec="AES_256")
        kms.tag_resource(KeyId=data_key, Tags=[{"TagKey": "team", "TagValue": "market"}])
        kms.update_key_description(KeyId=data_key, Description="changed")
        kms.disable_key_rotation(KeyId=deployment.key_ids["assets"])
        kms.create_alias(AliasName="alias/extra", TargetKeyId=data_key)
        kms.update_alias(AliasName="alias/extra", TargetKeyId=deployment.key_ids["sync"])
        kms.create_alias(AliasName="alias/gone", TargetKeyId=data_key)
        kms.delete_alias(AliasName="alias/gone")
        kms.disable_key(KeyId=deployment.key_ids["signing"])
        kms.enable_key(KeyId=deployment.key_ids["signing"])
        grant_id = kms.create_grant(KeyId=data_key, GranteePrincipal="arn:aws:iam::123456789012:root",
                                    Operations=["Decrypt"])["GrantId"]
        before = {k: kms.describe_key(KeyId=k)["KeyMetadata"] for k in deployment.key_ids.values()}
        aliases_before = _aliases(kms)

    assert store.get("kms-alias", "alias/gone") is None
    with mock_aws():  # a new process: moto's backends are empty
        durable_kms.restore(store)
        kms = boto3.client("kms")
        assert _aliases(kms) == aliases_before
        again = provision("test")
        assert again.key_ids == deployment.key_ids
        assert _aliases(kms) == aliases_before
        for key_id, metadata in before.items():
            assert kms.describe_key(KeyId=key_id)["KeyMetadata"] == metadata
        assert kms.decrypt(CiphertextBlob=ciphertext, EncryptionContext={"a": "b"})["Plaintext"] == b"secret"
        assert kms.decrypt(CiphertextBlob=generated["CiphertextBlob"])["Plaintext"] == generated["Plaintext"]
        assert kms.describe_key(KeyId="alias/extra")["KeyMetadata"]["KeyId"] == deployment.key_ids["sync"]
        assert kms.list_resource_tags(KeyId=data_key)["Tags"] == [{"TagKey": "team", "TagValue": "market"}]
        assert kms.get_key_rotation_status(KeyId=deployment.key_ids["data"])["KeyRotationEnabled"]
        assert [g["GrantId"] for g in kms.list_grants(KeyId=data_key)["Grants"]] == [grant_id]
        # new work with the restored keys
        fresh = kms.generate_data_key(KeyId=data_key, NumberOfBytes=16)
        assert kms.decrypt(CiphertextBlob=fresh["CiphertextBlob"])["Plaintext"] == fresh["Plaintext"]
        assert len(kms.list_keys()["Keys"]) == len(r.KEYS)


def test_asymmetric_keys_keep_their_private_key(store: DataStore) -> None:
    with mock_aws():
        kms = boto3.client("kms")
        key_id = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]["KeyId"]
        signature = kms.sign(KeyId=key_id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
        public = kms.get_public_key(KeyId=key_id)["PublicKey"]
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        kms.cancel_key_deletion(KeyId=key_id)
        kms.enable_key(KeyId=key_id)
    with mock_aws():
        durable_kms.restore(store)
        kms = boto3.client("kms")
        assert kms.get_public_key(KeyId=key_id)["PublicKey"] == public
        assert kms.verify(KeyId=key_id, Message=b"m", Signature=signature,
                          SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"]
        assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"


def test_a_pending_deletion_survives(store: DataStore) -> None:
    with mock_aws():
        kms = boto3.client("kms")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
        deletion = kms.describe_key(KeyId=key_id)["KeyMetadata"]["DeletionDate"]
    with mock_aws():
        durable_kms.restore(store)
        metadata = boto3.client("kms").describe_key(KeyId=key_id)["KeyMetadata"]
        assert (metadata["KeyState"], metadata["DeletionDate"]) == ("PendingDeletion", deletion)


def test_record_holds_the_key_material(store: DataStore) -> None:
    with mock_aws():
        kms = boto3.client("kms")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        from moto.kms.models import kms_backends

        material = kms_backends["123456789012"]["us-east-1"].keys[key_id].key_material
    stored = store.get("kms", key_id)
    assert stored is not None and base64.b64encode(material).decode().encode() in stored


def test_provision_on_an_empty_backend_creates_keys(store: DataStore) -> None:
    durable.activate(None)
    with mock_aws():
        deployment = provision("test")
        kms = boto3.client("kms")
        assert set(_aliases(kms)) == {k.alias("test") for k in r.KEYS}
        assert sorted(deployment.key_ids.values()) == sorted(_aliases(kms).values())


def test_nothing_is_written_without_an_active_store(store: DataStore) -> None:
    durable.activate(None)
    with mock_aws():
        kms = boto3.client("kms")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName="alias/x", TargetKeyId=key_id)
    assert list(store.scan("kms")) == [] and list(store.scan("kms-alias")) == []


def test_a_failed_call_records_nothing(store: DataStore) -> None:
    with mock_aws():
        kms = boto3.client("kms")
        with pytest.raises(ClientError):
            kms.create_alias(AliasName="alias/x", TargetKeyId="00000000-0000-0000-0000-000000000000")
        with pytest.raises(ClientError):
            kms.enable_key_rotation(KeyId="00000000-0000-0000-0000-000000000000")
    assert list(store.scan("kms")) == [] and list(store.scan("kms-alias")) == []
    assert store.writes == 0
