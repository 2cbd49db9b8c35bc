"""SSH key pairs: create (server-generated RSA), register (public key), list, delete.

registerSSHKeyPair is CloudStack's webhook smoke-test event source: like ManagementServerImpl's
`@ActionEvent(REGISTER.SSH.KEYPAIR, "registering ssh keypair", async = true)` it records a
`Started` and a `Completed` event, both published only after the transaction commits.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid as uuidlib
import warnings
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import or_, select

from csapi import events
from csapi.api.acl import finalize_owner, visibility
from csapi.api.context import TYPE_PROJECT, CallContext
from csapi.api.errors import InvalidParameterValue
from csapi.api.listing import page_query
from csapi.api.params import Params
from csapi.api.registry import (
    ACL_LIST_PARAMS,
    PROJECT_PARAM,
    EventSpec,
    Kind,
    ListResult,
    Param,
    ResponseObject,
    SuccessResult,
    command,
    obj,
)
from csapi.db.models import Account, Domain, Project, SSHKeyPair
from csapi.seed import now

KEY_LENGTH = 2048  # CloudStack's `ssh.key.length` default
KEY_TYPES = ("ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521", "ssh-ed25519")
REGISTER = EventSpec("REGISTER.SSH.KEYPAIR", "registering ssh keypair")
RESOURCE_TYPE = "SSHKeyPair"

_FIELDS = (
    ("id", "string", "ID of the ssh keypair"),
    ("name", "string", "Name of the keypair"),
    ("account", "string", "the owner of the keypair"),
    ("domainid", "string", "the domain id of the keypair owner"),
    ("domain", "string", "the domain name of the keypair owner"),
    ("projectid", "string", "the project id of the keypair owner"),
    ("project", "string", "the project name of the keypair owner"),
    ("fingerprint", "string", "Fingerprint of the public key"),
    ("hasannotations", "boolean", "whether this resource has annotations"),
)
SSH_KEYPAIR = obj("sshkeypair", *_FIELDS)  # listSSHKeyPairs
KEYPAIR = obj("keypair", *_FIELDS)  # registerSSHKeyPair
CREATED_KEYPAIR = ResponseObject("keypair", KEYPAIR.fields + obj(
    "keypair", ("privatekey", "string", "Private key")).fields)  # createSSHKeyPair

OWNER_PARAMS = (
    Param("account", description="an optional account for the ssh key. Must be used with "
          "domainId."),
    Param("domainid", "uuid", description="an optional domainId for the ssh key. If the account "
          "parameter is used, domainId must also be used.", entity=Domain,
          related="listDomains"),
    Param("projectid", "uuid", description="an optional project for the ssh key",
          entity=Project, related="listProjects"),
)


def fingerprint(public_key: str) -> str:
    """SSHKeysHelper.getPublicKeyFingerprint: MD5 of the key blob, hex bytes joined by ':'."""
    parts = public_key.split(" ")
    digest = hashlib.md5(base64.b64decode(parts[1]), usedforsecurity=False).digest()
    return ":".join(f"{b:02x}" for b in digest)


def normalise_public_key(material: str) -> str | None:
    """SSHKeysHelper.getPublicKeyFromKeyMaterial (`type base64`, comment dropped), plus a real
    parse of the key so that garbage is refused."""
    if " " not in material:
        try:
            material = base64.b64decode(material + "=" * (-len(material) % 4)).decode()
        except (binascii.Error, ValueError):
            return None
    if not material.startswith(KEY_TYPES) or " " not in material:
        return None
    parts = material.split(" ")
    if len(parts) < 2 or not parts[1].strip():
        return None
    key = f"{parts[0]} {parts[1].strip()}"  # decoded material may end with a newline
    try:
        with warnings.catch_warnings():  # DSA keys load with a deprecation warning
            warnings.simplefilter("ignore")
            serialization.load_ssh_public_key(key.encode())
    except (ValueError, TypeError, binascii.Error):
        return None
    return key


def keypair_view(db: Any, pair: SSHKeyPair, private_key: str | None = None) -> dict[str, Any]:
    account = db.get(Account, pair.account_id)
    domain = db.get(Domain, pair.domain_id)
    project = None
    if account is not None and account.type == TYPE_PROJECT:
        project = db.scalar(select(Project).where(Project.project_account_id == account.id))
    view = {
        "id": pair.uuid, "name": pair.keypair_name,
        "account": account.account_name if account else None,
        "domainid": domain.uuid if domain else None, "domain": domain.name if domain else None,
        "projectid": project.uuid if project else None,
        "project": project.name if project else None,
        "fingerprint": pair.fingerprint, "hasannotations": False,
    }
    if private_key is not None:
        view["privatekey"] = private_key
    return view


def _find(ctx: CallContext, owner: Account, name: str) -> SSHKeyPair | None:
    return ctx.db.scalar(select(SSHKeyPair).where(
        SSHKeyPair.account_id == owner.id, SSHKeyPair.domain_id == owner.domain_id,
        SSHKeyPair.keypair_name == name))


def _save(ctx: CallContext, owner: Account, name: str, public_key: str) -> SSHKeyPair:
    pair = SSHKeyPair(uuid=str(uuidlib.uuid4()), account_id=owner.id, domain_id=owner.domain_id,
                      keypair_name=name, fingerprint=fingerprint(public_key),
                      public_key=public_key, created=now())
    ctx.db.add(pair)
    ctx.db.flush()
    return pair


@command(
    "createSSHKeyPair",
    description="Create a new keypair and returns the private key",
    params=[Param("name", required=True, description="Name of the keypair"), *OWNER_PARAMS],
    response=CREATED_KEYPAIR,
)
def create_ssh_key_pair(ctx: CallContext, p: Params) -> dict[str, Any]:
    name: str = p["name"]
    if not name.strip():
        raise InvalidParameterValue("Please specify a valid name for the key pair. The key name "
                                    "can't be empty")
    owner = finalize_owner(ctx, p["account"], p["domainid"], p["projectid"])
    if _find(ctx, owner, name) is not None:
        raise InvalidParameterValue(f"A key pair with name '{name}' already exists.")
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_LENGTH)
    public_key = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    private_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()).decode()
    pair = _save(ctx, owner, name, public_key)
    # The private key is answered once and never stored.
    return keypair_view(ctx.db, pair, private_key)


@command(
    "registerSSHKeyPair",
    description="Register a public key in a keypair under a certain name",
    params=[
        Param("name", required=True, description="Name of the keypair"),
        Param("publickey", required=True, description="Public key material of the keypair",
              length=5120),
        *OWNER_PARAMS,
    ],
    response=KEYPAIR,
    event=REGISTER,
)
def register_ssh_key_pair(ctx: CallContext, p: Params) -> dict[str, Any]:
    owner = finalize_owner(ctx, p["account"], p["domainid"], p["projectid"])
    # The event belongs to the project when one is named (CallContext.setProject).
    event_owner = owner if owner.type == TYPE_PROJECT else ctx.account
    name: str = p["name"]
    if _find(ctx, owner, name) is not None:
        raise InvalidParameterValue(f"A key pair with name '{name}' already exists for this "
                                    "account.")
    public_key = normalise_public_key(p["publickey"])
    if public_key is None:
        raise InvalidParameterValue("Public key is invalid")
    duplicate = ctx.db.scalar(select(SSHKeyPair.id).where(
        SSHKeyPair.account_id == owner.id, SSHKeyPair.domain_id == owner.domain_id,
        SSHKeyPair.public_key == public_key))
    if duplicate is not None:
        raise InvalidParameterValue(f"A key pair with key '{p['publickey']}' already exists "
                                    "for this account.")
    events.record(ctx.db, ctx.pending_events, event_type=REGISTER.type,
                  description="Registering ssh keypair", user=ctx.user, account=event_owner,
                  state="Started")
    pair = _save(ctx, owner, name, public_key)
    ctx.event_details.update(account=event_owner, resource_type=RESOURCE_TYPE,
                             resource_id=pair.id, resource_uuid=pair.uuid)
    return keypair_view(ctx.db, pair)


@command(
    "listSSHKeyPairs",
    description="List registered keypairs",
    params=[
        *ACL_LIST_PARAMS,
        PROJECT_PARAM,
        Param("id", "uuid", description="the ID of the ssh keypair", entity=SSHKeyPair,
              since="4.17"),
        Param("name", description="A key pair name to look for"),
        Param("fingerprint", description="A public key fingerprint to look for"),
    ],
    response=SSH_KEYPAIR,
    kind=Kind.LIST,
)
def list_ssh_key_pairs(ctx: CallContext, p: Params) -> ListResult:
    project = p["projectid"]
    if isinstance(project, Project) and project.removed is not None:
        raise InvalidParameterValue(f"Unable to find project by id {project.uuid}")
    vis = visibility(ctx, account=p["account"], domain=p["domainid"],
                     isrecursive=p["isrecursive"], listall=p["listall"], project=project,
                     id_given="id" in p)
    stmt = vis.apply(select(SSHKeyPair), SSHKeyPair.account_id, SSHKeyPair.domain_id)
    if p["id"] is not None:
        stmt = stmt.where(SSHKeyPair.id == p["id"].id)
    if p["name"]:
        stmt = stmt.where(SSHKeyPair.keypair_name == p["name"])
    if p["fingerprint"]:
        stmt = stmt.where(SSHKeyPair.fingerprint == p["fingerprint"])
    if p["keyword"]:
        like = f"%{p['keyword']}%"
        stmt = stmt.where(or_(SSHKeyPair.keypair_name.like(like),
                              SSHKeyPair.fingerprint.like(like)))
    return page_query(ctx, p, stmt.order_by(SSHKeyPair.id.desc()),
                      lambda pair: keypair_view(ctx.db, pair))


@command(
    "deleteSSHKeyPair",
    description="Deletes a keypair by name",
    params=[Param("name", required=True, description="Name of the keypair"), *OWNER_PARAMS],
)
def delete_ssh_key_pair(ctx: CallContext, p: Params) -> SuccessResult:
    owner: Account | None
    try:
        owner = finalize_owner(ctx, p["account"], p["domainid"], p["projectid"])
    except InvalidParameterValue:
        # Root admins may still clean up key pairs of removed accounts.
        owner = None
        if ctx.account.type == 1 and p["account"] and p["domainid"] is not None:
            owner = ctx.db.scalar(select(Account).where(
                Account.account_name == p["account"],
                Account.domain_id == p["domainid"].id).order_by(Account.id.desc()))
        if owner is None:
            raise
    pair = _find(ctx, owner, p["name"])
    if pair is None:
        domain = ctx.db.get(Domain, owner.domain_id)
        error = InvalidParameterValue(
            f"A key pair with name '{p['name']}' does not exist for account "
            f"{owner.account_name} in specified domain id")
        error.uuids = [{"uuid": domain.uuid or "" if domain else str(owner.domain_id),
                        "description": "domainId"}]
        raise error
    ctx.db.delete(pair)
    return SuccessResult()
