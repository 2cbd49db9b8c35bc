"""listZones over the simulated zone(s) in `data_center`.

Fields follow DataCenterJoinDaoImpl.newDataCenterResponse: DNS servers and the guest CIDR are
the Full (root admin) view only; values the simulator has no column for are CloudStack's
defaults for a fresh Advanced zone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from csapi.api.acl import check_domain_access
from csapi.api.context import CallContext
from csapi.api.listing import page_query
from csapi.api.params import Params
from csapi.api.registry import Kind, ListResult, Param, command, obj
from csapi.db.models import DataCenter, Domain

GUEST_CIDR = "10.1.1.0/24"
VR_MTU = 1500

ZONE = obj(
    "zone",
    ("id", "string", "Zone id"),
    ("name", "string", "Zone name"),
    ("description", "string", "Zone description"),
    ("dns1", "string", "the first DNS for the Zone"),
    ("dns2", "string", "the second DNS for the Zone"),
    ("ip6dns1", "string", "the first IPv6 DNS for the Zone"),
    ("ip6dns2", "string", "the second IPv6 DNS for the Zone"),
    ("internaldns1", "string", "the first internal DNS for the Zone"),
    ("internaldns2", "string", "the second internal DNS for the Zone"),
    ("guestcidraddress", "string", "the guest CIDR address for the Zone"),
    ("displaytext", "string", "the display text of the zone"),
    ("domain", "string", "Network domain name for the networks in the zone"),
    ("domainid", "string", "the UUID of the containing domain, null for public zones"),
    ("domainname", "string", "the name of the containing domain, null for public zones"),
    ("networktype", "string", "the network type of the zone; can be Basic or Advanced"),
    ("securitygroupsenabled", "boolean", "true if security groups support is enabled, false "
     "otherwise"),
    ("allocationstate", "string", "the allocation state of the cluster"),
    ("zonetoken", "string", "Zone Token"),
    ("dhcpprovider", "string", "the dhcp Provider for the Zone"),
    ("localstorageenabled", "boolean", "true if local storage offering enabled, false "
     "otherwise"),
    ("tags", "list", "the list of resource tags associated with zone."),
    ("allowuserspecifyvrmtu", "boolean", "Allow end users to specify VR MTU"),
    ("routerprivateinterfacemaxmtu", "integer", "The maximum value the MTU can have on the VR's "
     "private interfaces"),
    ("routerpublicinterfacemaxmtu", "integer", "The maximum value the MTU can have on the VR's "
     "public interfaces"),
    ("type", "string", "The type of the zone; can be Core or Edge"),
    ("nsxenabled", "boolean", "true, if zone is NSX enabled"),
    ("ismultiarch", "boolean", "true, if zone contains clusters and hosts from different CPU "
     "architectures"),
    ("routedmodeenabled", "boolean", "true, if routed network/vpc is enabled"),
    ("hasannotations", "boolean", "whether this resource has annotations"),
)


def zone_view(ctx: CallContext, zone: DataCenter) -> dict[str, Any]:
    full = ctx.is_root_admin
    domain = ctx.db.get(Domain, zone.domain_id) if zone.domain_id else None
    advanced = zone.networktype == "Advanced"
    return {
        "id": zone.uuid, "name": zone.name, "description": zone.description,
        "dns1": zone.dns1 if full else None,
        "internaldns1": zone.internal_dns1 if full else None,
        "guestcidraddress": GUEST_CIDR if full and advanced else None,
        "domainid": domain.uuid if domain else None,
        "domainname": domain.name if domain else None,
        "networktype": zone.networktype, "securitygroupsenabled": False,
        "allocationstate": zone.allocation_state, "zonetoken": zone.zone_token,
        "dhcpprovider": "VirtualRouter", "localstorageenabled": False, "tags": [],
        "allowuserspecifyvrmtu": False, "routerprivateinterfacemaxmtu": VR_MTU,
        "routerpublicinterfacemaxmtu": VR_MTU, "type": zone.type, "nsxenabled": False,
        "ismultiarch": False, "routedmodeenabled": False, "hasannotations": False,
    }


def _usable_by(ctx: CallContext) -> Any:
    """Public zones, plus zones dedicated to the caller's domain or one of its parents."""
    chain: list[int] = []
    current: Domain | None = ctx.domain
    while current is not None:
        chain.append(current.id)
        current = ctx.db.get(Domain, current.parent) if current.parent else None
    return or_(DataCenter.domain_id.is_(None), DataCenter.domain_id.in_(chain))


@command(
    "listZones",
    description="Lists zones",
    params=[
        Param("id", "uuid", description="the ID of the zone", entity=DataCenter),
        Param("ids", "list", description="the IDs of the zones, mutually exclusive with id",
              entity=DataCenter, element="uuid", since="4.19.1"),
        Param("available", "boolean", description="true if you want to retrieve all available "
              "Zones. False if you only want to return the Zones from which you have at least "
              "one VM. Default is false."),
        Param("domainid", "uuid", description="the ID of the domain associated with the zone",
              entity=Domain, related="listDomains"),
        Param("name", description="the name of the zone"),
        Param("networktype", description="the network type of the zone that the virtual "
              "machine belongs to"),
        Param("showcapacities", "boolean", description="flag to display the capacity of the "
              "zones"),
        Param("tags", "map", description="List zones by resource tags (key/value pairs)",
              since="4.3"),
        Param("showicon", "boolean", description="flag to display the resource image for the "
              "zones", since="4.16.0.0"),
    ],
    response=ZONE,
    kind=Kind.LIST,
)
def list_zones(ctx: CallContext, p: Params) -> ListResult:
    stmt = select(DataCenter).where(DataCenter.removed.is_(None))
    if p["id"] is not None:
        stmt = stmt.where(DataCenter.id == p["id"].id)
    if p["ids"]:
        stmt = stmt.where(DataCenter.id.in_([z.id for z in p["ids"]]))
    if p["domainid"] is not None:
        # Only zones dedicated to that domain (QueryManagerImpl.listDataCentersInternal).
        check_domain_access(ctx, p["domainid"])
        stmt = stmt.where(DataCenter.domain_id == p["domainid"].id)
    if not ctx.is_root_admin:
        stmt = stmt.where(DataCenter.allocation_state != "Disabled", _usable_by(ctx))
    if p["name"]:
        stmt = stmt.where(DataCenter.name == p["name"])
    if p["keyword"]:
        stmt = stmt.where(DataCenter.name.like(f"%{p['keyword']}%"))
    if p["networktype"]:
        stmt = stmt.where(DataCenter.networktype == p["networktype"])
    if p["tags"]:
        # The simulator keeps no resource tags: a tag filter matches nothing.
        return ListResult([], 0)
    return page_query(ctx, p, stmt.order_by(DataCenter.id), lambda z: zone_view(ctx, z))
