"""What ``/scim/v2`` serves, described once with scim2-models: the User (with the enterprise extension's
``department``, ``costCenter``, ``division``, ``employeeNumber`` and ``manager``) and Group schemas narrowed
to the attributes DonatelloAI keeps, the resource types and the service provider configuration. Parsing,
PATCH, filters and serialization all run on these models, so an attribute is either kept and returned exactly,
or not announced at all (and ignored when sent)."""

from __future__ import annotations

from typing import Any

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    EnterpriseUser,
    ETag,
    Extension,
    Filter,
    Group,
    Meta,
    Patch,
    Resource,
    ResourceType,
    Schema,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
    User,
)

PREFIX = "/scim/v2"
MAX_RESULTS = 200
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

#: Attributes kept per schema; None keeps every sub-attribute the library describes.
_USER: dict[str, set[str] | None] = {
    "userName": None,
    "name": {"formatted", "familyName", "givenName"},
    "displayName": None,
    "active": None,
    "emails": {"value", "type", "primary"},
    "groups": {"value", "$ref", "display"},
}
_ENTERPRISE: dict[str, set[str] | None] = {
    "department": None,
    "costCenter": None,
    "division": None,
    "employeeNumber": None,
    "manager": {"value", "displayName"},
}
#: The enterprise extension's attributes kept as sent (``manager`` is the manager's SCIM id and name).
ENTERPRISE_ATTRIBUTES = tuple(_ENTERPRISE)
_GROUP: dict[str, set[str] | None] = {"displayName": None, "members": {"value", "$ref", "type"}}


def _narrowed(schema: Schema, keep: dict[str, set[str] | None]) -> Schema:
    attributes = []
    for attribute in schema.attributes or []:
        if attribute.name not in keep:
            continue
        wanted = keep[attribute.name]
        if wanted is not None and attribute.sub_attributes:
            subs = [sub for sub in attribute.sub_attributes if sub.name in wanted]
            attribute = attribute.model_copy(update={"sub_attributes": subs})
        attributes.append(attribute)
    return schema.model_copy(update={"attributes": attributes})


USER_SCHEMA = _narrowed(User.to_schema(), _USER)
ENTERPRISE_SCHEMA = _narrowed(EnterpriseUser.to_schema(), _ENTERPRISE)
GROUP_SCHEMA = _narrowed(Group.to_schema(), _GROUP)

_UserModel = Resource.from_schema(USER_SCHEMA)
_EnterpriseModel = Extension.from_schema(ENTERPRISE_SCHEMA)
_GroupModel = Resource.from_schema(GROUP_SCHEMA)

CONFIG = ServiceProviderConfig(
    patch=Patch(supported=True),
    bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_RESULTS),
    change_password=ChangePassword(supported=False),
    sort=Sort(supported=False),
    etag=ETag(supported=False),
    authentication_schemes=[
        AuthenticationScheme(
            type=AuthenticationScheme.Type.oauthbearertoken,
            name="Provisioning bearer token",
            description="The organization's provisioning token (donatello scim issue-token, or "
            "POST /v1/provisioning/token): 'Authorization: Bearer dsp_…'",
            primary=True,
        )
    ],
)

PROVIDER = ScimProvider(
    models=[_UserModel, _EnterpriseModel, _GroupModel],
    resource_types=[
        ResourceType.from_resource(_UserModel[_EnterpriseModel]),  # type: ignore[index]
        ResourceType.from_resource(_GroupModel),
    ],
    config=CONFIG,
    # Entra's dialect: what it sends beyond what we keep (title, phoneNumbers, addresses, ...) is
    # ignored, never a reason to fail a provisioning cycle; a remove lists its members in "value"; a
    # replace of emails[type eq "work"].value on a user without a work address creates that address.
    policy=ScimPolicy(
        unknown=ScimPolicy.Unknown.ignore,
        remove_value_as_filter=ScimPolicy.RemoveValue.apply,
        unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
    ),
)

UserResource: Any = PROVIDER.model_for("User")
GroupResource: Any = PROVIDER.model_for("Group")
EnterpriseExtension: Any = _EnterpriseModel


def discovery_document(kind: str, base: str) -> list[Any]:
    """The published schemas or resource types, with their locations under ``base``."""
    if kind == "Schemas":
        return [
            schema.model_copy(
                update={"meta": Meta(resource_type="Schema", location=f"{base}/Schemas/{schema.id}")}
            )
            for schema in (USER_SCHEMA, ENTERPRISE_SCHEMA, GROUP_SCHEMA)
        ]
    return [
        kind_.model_copy(
            update={"meta": Meta(resource_type="ResourceType", location=f"{base}/ResourceTypes/{kind_.id}")}
        )
        for kind_ in PROVIDER.resource_types
    ]
