"""KMS keys and aliases, kept with their key material so data encrypted before a restart decrypts after it.

moto's ciphertext names the key id and is sealed with the key's ``key_material``; a replayed ``CreateKey``
would make a new id and new material. So every change to a key records the whole key (kind ``"kms"``, key =
key id): its attributes, its material (base64), its grants and tags, and the RSA/ECC private key moto keeps
for signing as PEM (the object itself cannot be pickled). Each alias is a record of its own (kind
``"kms-alias"``, key = alias name) naming its target key.

``restore`` runs before provisioning: it puts the keys back into moto's backend under their own ids and ARNs,
then the aliases; ``marketplace.local.provision`` then finds each alias and reuses its key.
"""

from __future__ import annotations

import base64
import functools
import inspect
import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from marketplace.local import durable
from marketplace.local.durable.codec import tagged, untagged
from marketplace.local.durable.store import DataStore, Put

log = logging.getLogger("marketplace.local")

KIND = "kms"
ALIAS_KIND = "kms-alias"

_LOCK = threading.RLock()  # a change and the record of its result, one at a time: records follow moto's order
_INSTALLED = "_marketplace_durable_kms"

# Backend methods that change a key, and the argument naming it (``None``: any key may have changed).
_KEY_CHANGES: dict[str, str | None] = {
    "create_key": None,  # the result names it
    "update_key_description": "key_id",
    "delete_key": "key_id",
    "enable_key_rotation": "key_id",
    "disable_key_rotation": "key_id",
    "rotate_key_on_demand": "key_id",
    "put_key_policy": "key_id",
    "enable_key": "key_id",
    "disable_key": "key_id",
    "schedule_key_deletion": "key_id",
    "cancel_key_deletion": "key_id",
    "tag_resource": "arn",
    "untag_resource": "arn",
    "create_grant": "key_id",
    "revoke_grant": "key_id",
    "retire_grant": None,
}
_ALIAS_CHANGES = ("create_alias", "update_alias", "delete_alias")


# --------------------------------------------------------------------------------------------- encoding


def _private_key(key: Any) -> dict[str, Any] | None:
    from cryptography.hazmat.primitives import serialization

    holder = getattr(key, "private_key", None)
    if holder is None:
        return None
    pem = holder.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return {
        "class": type(holder).__name__,
        "pem": pem.decode(),
        "attributes": {n: tagged(v) for n, v in vars(holder).items() if n != "private_key"},
    }


def encode_key(backend: Any, key: Any) -> bytes:
    """The record of one moto ``Key`` (with its material, grants, tags and private key)."""
    attributes = {n: tagged(v) for n, v in vars(key).items()
                  if n not in ("private_key", "grants", "aliases", "key_material")}
    value = {
        "account": key.account_id,
        "region": key.region,
        "key_id": key.id,
        "arn": key.arn,
        "key_material": base64.b64encode(key.key_material).decode(),
        "attributes": attributes,
        "private_key": _private_key(key),
        "grants": [tagged(vars(grant)) for grant in key.grants.values()],
        "tags": backend.tagger.list_tags_for_resource(key.id).get("Tags", []),
    }
    return json.dumps(value, sort_keys=True).encode()


def _decode_private_key(stored: dict[str, Any] | None, key_spec: str) -> Any:
    from cryptography.hazmat.primitives import serialization
    from moto.kms import utils

    if stored is None:
        return utils.generate_private_key(key_spec)
    cls: Any = getattr(utils, str(stored["class"]), None)
    if not isinstance(cls, type):
        log.warning("KMS restore: unknown private key class %s; a new one is made", stored["class"])
        return utils.generate_private_key(key_spec)
    holder: Any = object.__new__(cls)
    for name, value in stored["attributes"].items():
        setattr(holder, name, untagged(value))
    holder.private_key = serialization.load_pem_private_key(stored["pem"].encode(), password=None)
    return holder


def decode_key(value: bytes) -> tuple[str, str, Any, list[dict[str, str]]]:
    """``(account, region, Key, tags)`` from a record, built without generating anything."""
    from moto.kms.models import Grant, Key

    stored = json.loads(value)
    key: Any = Key.__new__(Key)
    for name, attribute in stored["attributes"].items():
        setattr(key, name, untagged(attribute))
    key.id, key.arn = stored["key_id"], stored["arn"]
    key.account_id, key.region = stored["account"], stored["region"]
    key.key_material = base64.b64decode(stored["key_material"])
    key.private_key = _decode_private_key(stored.get("private_key"), key.key_spec)
    key.grants = {}
    for grant_attributes in stored.get("grants", []):
        grant: Any = Grant.__new__(Grant)
        for name, attribute in grant_attributes.items():
            setattr(grant, name, untagged(attribute))
        key.grants[grant.id] = grant
    key.aliases = {}
    return stored["account"], stored["region"], key, list(stored.get("tags", []))


# --------------------------------------------------------------------------------------------- hooks


def install() -> None:
    """Record every key and alias change moto makes (idempotent; nothing is written while no store is active)."""
    from moto.kms.models import KmsBackend

    for name, argument in _KEY_CHANGES.items():
        original = getattr(KmsBackend, name)
        if not getattr(original, _INSTALLED, False):
            setattr(KmsBackend, name, _key_hook(original, name, argument))
    for name in _ALIAS_CHANGES:
        original = getattr(KmsBackend, name)
        if not getattr(original, _INSTALLED, False):
            setattr(KmsBackend, name, _alias_hook(original))


def _key_hook(operation: Callable[..., Any], name: str, argument: str | None) -> Callable[..., Any]:
    signature = inspect.signature(operation)

    @functools.wraps(operation)
    def run(backend: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            aliases_before = _aliases_of(backend, name, signature, args, kwargs)
            result = operation(backend, *args, **kwargs)
            store = durable.active()
            if store is not None:
                key_ids = _changed_keys(backend, name, argument, signature, args, kwargs, result)
                changes = [_key_change(backend, key_id) for key_id in key_ids]
                changes += [_alias_change(backend, alias) for alias in aliases_before]
                store.apply(changes)
            return result

    setattr(run, _INSTALLED, True)
    return run


def _alias_hook(operation: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(operation)

    @functools.wraps(operation)
    def run(backend: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            result = operation(backend, *args, **kwargs)
            store = durable.active()
            if store is not None:
                alias_name = str(signature.bind(backend, *args, **kwargs).arguments["alias_name"])
                store.apply([_alias_change(backend, backend.get_alias_name(alias_name))])
            return result

    setattr(run, _INSTALLED, True)
    return run


def _aliases_of(backend: Any, name: str, signature: inspect.Signature, args: tuple[Any, ...],
                kwargs: dict[str, Any]) -> list[str]:
    """Before ``delete_key``: the aliases the key takes with it."""
    if name != "delete_key":
        return []
    key = backend.keys.get(str(signature.bind(backend, *args, **kwargs).arguments["key_id"]))
    return list(key.aliases) if key is not None else []


def _changed_keys(backend: Any, name: str, argument: str | None, signature: inspect.Signature,
                  args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> Iterable[str]:
    if name == "create_key":
        return [str(result.id)]
    if argument is None:
        return list(backend.keys)
    named = str(signature.bind(backend, *args, **kwargs).arguments[argument])
    try:
        return [str(backend.any_id_to_key_id(named))]
    except Exception:  # an id moto resolved its own way: record every key rather than guess
        return list(backend.keys)


def _key_change(backend: Any, key_id: str) -> Put:
    key = backend.keys.get(key_id)
    return Put(KIND, key_id, None if key is None else encode_key(backend, key))


def _alias_change(backend: Any, alias_name: str) -> Put:
    for key in backend.keys.values():
        if alias_name in key.aliases:
            value = {"account": backend.account_id, "region": backend.region_name,
                     "alias_name": alias_name, "target_key_id": key.id}
            return Put(ALIAS_KIND, alias_name, json.dumps(value, sort_keys=True).encode())
    return Put(ALIAS_KIND, alias_name, None)


# --------------------------------------------------------------------------------------------- restore


def restore(store: DataStore) -> None:
    """Put every stored key (same id, ARN and material) and alias back into moto's KMS backends.

    Run before provisioning, so that provisioning finds the aliases and reuses their keys."""
    from moto.kms.models import Alias, kms_backends

    alias_class: Any = Alias  # a CloudFormation model: abstract to the type checker only
    with durable.restoring(), _LOCK:
        for _, value in store.scan(KIND):
            account, region, key, tags = decode_key(value)
            backend = kms_backends[account][region]
            backend.keys[key.id] = key
            if tags:
                backend.tagger.tag_resource(key.id, tags)
        for alias_name, value in store.scan(ALIAS_KIND):
            stored = json.loads(value)
            backend = kms_backends[stored["account"]][stored["region"]]
            target = backend.keys.get(stored["target_key_id"])
            if target is None:
                log.warning("KMS restore: alias %s names key %s, which is not stored; alias skipped",
                            alias_name, stored["target_key_id"])
                continue
            target.aliases[alias_name] = alias_class(account_id=stored["account"], region=stored["region"],
                                               name=alias_name, key=target)
