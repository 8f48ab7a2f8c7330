"""``/scim/v2``: the SCIM 2.0 service provider (RFC 7643/7644) an identity provider such as Entra ID's
provisioning service talks to. Every answer — errors included — is ``application/scim+json``; errors
use the SCIM error schema (``scimType``, ``detail``, ``status``), never problem+json or HTML."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response
from scim2_models import Context, NotFoundException

from donatello.core.errors import Forbidden, NotFound, ValidationFailed
from donatello.dependencies import DbSession
from donatello.openapi import problem_responses
from donatello.provisioning import groups, protocol, resources, service, users
from donatello.provisioning.dependencies import Base, Body, Caller, CanIssueTokens
from donatello.provisioning.resources import CONFIG, MAX_RESULTS, GroupResource, UserResource
from donatello.provisioning.schemas import TokenIssued
from donatello.users.errors import OrganizationRequired

MEDIA_TYPE = "application/scim+json"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"

router = APIRouter(prefix=resources.PREFIX, tags=["scim"])
admin_router = APIRouter(prefix="/provisioning", tags=["provisioning"])


@admin_router.post(
    "/token",
    status_code=201,
    response_model=TokenIssued,
    responses=problem_responses(Forbidden, NotFound, OrganizationRequired, ValidationFailed),
)
async def issue_token(principal: CanIssueTokens, session: DbSession, base: Base) -> JSONResponse:
    """Issue the organization's SCIM provisioning token (shown once; the previous one stops working at
    once; audited). Enter it in the Entra enterprise app as "Secret Token", with `tenant_url` as
    "Tenant URL". A platform administrator must name `organization_id`."""
    issued = await service.issue_for(session, principal)
    document = TokenIssued(
        token=issued.token,
        token_prefix=issued.prefix,
        organization_id=issued.organization_id,
        tenant_url=base,
    )
    return JSONResponse(
        document.model_dump(mode="json"), status_code=201, headers={"Cache-Control": "no-store"}
    )


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {MEDIA_TYPE: {}}}
    for status, text in {
        400: "SCIM error (invalidFilter, invalidValue, invalidSyntax, mutability, noTarget, …)",
        401: "The provisioning token is missing or not valid",
        404: "Not found (another organization's resources look the same)",
        409: "SCIM error uniqueness (userName or externalId in use)",
        413: "The body is over the size cap",
        429: "Too many failed authentication attempts from this address (Retry-After)",
    }.items()
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            MEDIA_TYPE: {"schema": {"type": "object"}},
            "application/json": {"schema": {"type": "object"}},
        },
    }
}

Filter = Annotated[
    str | None, Query(alias="filter", max_length=2000, description='e.g. userName eq "a@b.com"')
]
StartIndex = Annotated[int, Query(alias="startIndex", description="1-based index of the first result")]
Count = Annotated[int | None, Query(alias="count", ge=0, description=f"Page size (at most {MAX_RESULTS})")]
Attributes = Annotated[str | None, Query(alias="attributes", max_length=2000)]
Excluded = Annotated[str | None, Query(alias="excludedAttributes", max_length=2000)]


def scim(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(document, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def scim_error(
    status: int, detail: str, scim_type: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The RFC 7644 §3.12 error document (``status`` is a string there)."""
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    return scim(body, status, headers)


def _resource(item: Any, parameters: Any = None, status: int = 200) -> JSONResponse:
    document = protocol.dump(item, parameters)
    headers = {"Location": document["meta"]["location"]} if status == 201 else None
    return scim(document, status, headers)


# --- discovery ------------------------------------------------------------------------------------------


@router.get("/ServiceProviderConfig", responses=_ERRORS)
async def service_provider_config(caller: Caller) -> JSONResponse:
    """What this service supports: PATCH and filters yes; bulk, sort, ETags and passwords no."""
    return scim(CONFIG.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))


@router.get("/ResourceTypes", responses=_ERRORS)
async def resource_types(caller: Caller, base: Base) -> JSONResponse:
    return _discovery("ResourceTypes", base)


@router.get("/ResourceTypes/{resource_type_id}", responses=_ERRORS)
async def resource_type(resource_type_id: str, caller: Caller, base: Base) -> JSONResponse:
    return _discovery("ResourceTypes", base, resource_type_id)


@router.get("/Schemas", responses=_ERRORS)
async def schemas(caller: Caller, base: Base) -> JSONResponse:
    """The User (with the enterprise extension's department) and Group attributes this service keeps."""
    return _discovery("Schemas", base)


@router.get("/Schemas/{schema_id}", responses=_ERRORS)
async def schema(schema_id: str, caller: Caller, base: Base) -> JSONResponse:
    return _discovery("Schemas", base, schema_id)


def _discovery(kind: str, base: str, wanted: str | None = None) -> JSONResponse:
    items = resources.discovery_document(kind, base)
    if wanted is not None:
        item = next((item for item in items if str(item.id).lower() == wanted.lower()), None)
        if item is None:
            raise NotFoundException(detail=f"{kind} {wanted} not found")
        return scim(item.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    documents = [item.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE) for item in items]
    return scim(
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": len(documents),
            "startIndex": 1,
            "itemsPerPage": len(documents),
            "Resources": documents,
        }
    )


# --- searches (POST …/.search) --------------------------------------------------------------------------


@router.post("/.search", responses=_ERRORS, openapi_extra=_BODY)
async def search_all(caller: Caller, session: DbSession, base: Base, body: Body) -> JSONResponse:
    """A SearchRequest over Users and Groups together."""
    return scim(await _search(session, caller, base, body, include_users=True, include_groups=True))


@router.post("/Users/.search", responses=_ERRORS, openapi_extra=_BODY)
async def search_users(caller: Caller, session: DbSession, base: Base, body: Body) -> JSONResponse:
    return scim(await _search(session, caller, base, body, include_users=True, include_groups=False))


@router.post("/Groups/.search", responses=_ERRORS, openapi_extra=_BODY)
async def search_groups(caller: Caller, session: DbSession, base: Base, body: Body) -> JSONResponse:
    return scim(await _search(session, caller, base, body, include_users=False, include_groups=True))


async def _search(
    session: DbSession, caller: Caller, base: str, body: Any, *, include_users: bool, include_groups: bool
) -> dict[str, Any]:
    request = protocol.search_request(body)
    model: Any = (
        UserResource | GroupResource
        if include_users and include_groups
        else UserResource
        if include_users
        else GroupResource
    )
    parameters = protocol.selection(model, request.attributes, request.excluded_attributes)
    found = [
        *(await users.matching(session, caller, base, request.filter, parameters) if include_users else []),
        *(await groups.matching(session, caller, base, request.filter, parameters) if include_groups else []),
    ]
    return protocol.listing(model, found, protocol.Window(request.start_index, request.count), parameters)


# --- Users ----------------------------------------------------------------------------------------------


@router.get("/Users", responses=_ERRORS)
async def list_users(
    caller: Caller,
    session: DbSession,
    base: Base,
    filter_: Filter = None,
    start_index: StartIndex = 1,
    count: Count = None,
    attributes: Attributes = None,
    excluded_attributes: Excluded = None,
) -> JSONResponse:
    """Users of the token's organization; Entra looks a user up with `filter=userName eq "…"` or
    `externalId eq "…"` before creating it."""
    parameters = protocol.selection(UserResource, attributes, excluded_attributes)
    window = protocol.Window(start_index, count)
    found = await users.matching(session, caller, base, filter_, parameters)
    return scim(protocol.listing(UserResource, found, window, parameters))


@router.post("/Users", status_code=201, responses=_ERRORS, openapi_extra=_BODY)
async def create_user(caller: Caller, session: DbSession, base: Base, body: Body) -> JSONResponse:
    return _resource(await users.create(session, caller, base, body), status=201)


@router.get("/Users/{user_id}", responses=_ERRORS)
async def get_user(
    user_id: str,
    caller: Caller,
    session: DbSession,
    base: Base,
    attributes: Attributes = None,
    excluded_attributes: Excluded = None,
) -> JSONResponse:
    parameters = protocol.selection(UserResource, attributes, excluded_attributes)
    return _resource(await users.get(session, caller, base, user_id), parameters)


@router.put("/Users/{user_id}", responses=_ERRORS, openapi_extra=_BODY)
async def replace_user(
    user_id: str, caller: Caller, session: DbSession, base: Base, body: Body
) -> JSONResponse:
    return _resource(await users.replace(session, caller, base, user_id, body))


@router.patch("/Users/{user_id}", responses=_ERRORS, openapi_extra=_BODY)
async def patch_user(
    user_id: str, caller: Caller, session: DbSession, base: Base, body: Body
) -> JSONResponse:
    """PATCH operations (add/replace/remove, in any case); `active` false deprovisions at once."""
    return _resource(await users.patch(session, caller, base, user_id, body))


@router.delete("/Users/{user_id}", status_code=204, responses=_ERRORS)
async def delete_user(user_id: str, caller: Caller, session: DbSession) -> Response:
    """Deprovision for good: access cut at once, the account hidden (kept for the ledger)."""
    await users.delete(session, caller, user_id)
    return Response(status_code=204)


# --- Groups ---------------------------------------------------------------------------------------------


@router.get("/Groups", responses=_ERRORS)
async def list_groups(
    caller: Caller,
    session: DbSession,
    base: Base,
    filter_: Filter = None,
    start_index: StartIndex = 1,
    count: Count = None,
    attributes: Attributes = None,
    excluded_attributes: Excluded = None,
) -> JSONResponse:
    """Groups of the token's organization (`filter=displayName eq "…"&excludedAttributes=members`)."""
    parameters = protocol.selection(GroupResource, attributes, excluded_attributes)
    window = protocol.Window(start_index, count)
    found = await groups.matching(session, caller, base, filter_, parameters)
    return scim(protocol.listing(GroupResource, found, window, parameters))


@router.post("/Groups", status_code=201, responses=_ERRORS, openapi_extra=_BODY)
async def create_group(caller: Caller, session: DbSession, base: Base, body: Body) -> JSONResponse:
    return _resource(await groups.create(session, caller, base, body), status=201)


@router.get("/Groups/{group_id}", responses=_ERRORS)
async def get_group(
    group_id: str,
    caller: Caller,
    session: DbSession,
    base: Base,
    attributes: Attributes = None,
    excluded_attributes: Excluded = None,
) -> JSONResponse:
    parameters = protocol.selection(GroupResource, attributes, excluded_attributes)
    return _resource(await groups.get(session, caller, base, group_id, parameters), parameters)


@router.put("/Groups/{group_id}", responses=_ERRORS, openapi_extra=_BODY)
async def replace_group(
    group_id: str, caller: Caller, session: DbSession, base: Base, body: Body
) -> JSONResponse:
    return _resource(await groups.replace(session, caller, base, group_id, body))


@router.patch("/Groups/{group_id}", responses=_ERRORS, openapi_extra=_BODY)
async def patch_group(
    group_id: str, caller: Caller, session: DbSession, base: Base, body: Body
) -> JSONResponse:
    """Add or remove members, rename; a change to a mapped group re-maps its members' role/department."""
    return _resource(await groups.patch(session, caller, base, group_id, body))


@router.delete("/Groups/{group_id}", status_code=204, responses=_ERRORS)
async def delete_group(group_id: str, caller: Caller, session: DbSession) -> Response:
    await groups.delete(session, caller, group_id)
    return Response(status_code=204)
