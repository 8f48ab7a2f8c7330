"""What each column of each export format is: its name, its Arrow type and the SQL that computes it.

One table per layout keeps the three from drifting apart: the repository turns the SQL into the select
list of one ``COPY (SELECT …) TO STDOUT`` (PostgreSQL formats every value, in C), the CSV formats are
that stream as it comes, and the Parquet formats parse it back with Arrow into exactly these types.

Expressions see ``e`` (a ``cost_events`` row) and the parameters ``org``, ``org_name`` and ``tz``, and
run with the session's ``TimeZone`` set to the organization's: so ``e.created_at::date`` is the local
day and ``date_trunc('month', e.created_at)`` the instant the local month began (DST-aware, and far
cheaper per row than ``AT TIME ZONE``). The type decides how a value is written: decimals at the
column's scale (exact text, never a float), timestamps as UTC ISO 8601 with microseconds and ``Z``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

MONEY = pa.decimal128(14, 4)
RATE = pa.decimal128(18, 8)
QUANTITY = pa.decimal128(18, 4)
UTC_TS = pa.timestamp("us", tz="UTC")
TOKENS = pa.int64()

#: The instant in the session's time zone (the organization's, set for the export) with its offset.
LOCAL_ISO = "to_char(e.created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.USTZH:TZM')"


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    sql: str
    #: Text only we write (ids, our own literals and descriptions that start with one): it cannot start
    #: like a spreadsheet formula, so the CSV formats need not check it. Text people typed is checked.
    ours: bool = False


@dataclass(frozen=True)
class Layout:
    columns: tuple[Column, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([(column.name, column.type) for column in self.columns])

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]


#: Why a refund or correction was made (given with the adjustment); NULL on charges.
_REASON = "(e.metadata->>'reason')"
#: The provider's metered tokens a token-priced charge was computed from (NULL otherwise).
_INPUT_TEXT_TOKENS = "(e.usage->>'input_text_tokens')::bigint"
_INPUT_IMAGE_TOKENS = "(e.usage->>'input_image_tokens')::bigint"
_OUTPUT_IMAGE_TOKENS = "(e.usage->>'output_image_tokens')::bigint"
_TOKENS = f"({_INPUT_TEXT_TOKENS} + {_INPUT_IMAGE_TOKENS} + {_OUTPUT_IMAGE_TOKENS})"
#: How a charge's amount was worked out: the catalogue's price per image, or (a model billed by tokens)
#: the provider's usage, that usage capped at the budget hold, or the hold when the usage was missing.
_CHARGE_BASIS = (
    "CASE WHEN e.kind <> 'charge' THEN NULL"
    " WHEN e.metadata->>'pricing_unit' IS DISTINCT FROM 'token' THEN 'price per image'"
    " WHEN (e.metadata->>'usage_missing')::boolean THEN 'hold (usage missing)'"
    " WHEN (e.metadata->>'capped_at_hold')::boolean THEN 'usage (capped at the hold)'"
    " ELSE 'usage' END"
)
_CONSUMED = f"coalesce({_TOKENS}, e.image_count)"
_CONSUMED_UNIT = f"CASE WHEN {_TOKENS} IS NOT NULL THEN 'Tokens' ELSE 'Images' END"
#: The usage block as the provider returned it (JSON text), for reconciliation with its invoice.
_RAW_USAGE = "(e.usage->'raw')"

LEDGER = Layout(
    (
        Column("organization_id", pa.string(), "%(org)s", ours=True),
        Column("organization_name", pa.string(), "%(org_name)s"),
        Column("cost_event_id", pa.string(), "e.id", ours=True),
        Column("kind", pa.string(), "e.kind", ours=True),
        Column("corrects_event_id", pa.string(), "e.corrects_event_id", ours=True),
        Column("generation_id", pa.string(), "e.generation_id", ours=True),
        Column("created_at_utc", UTC_TS, "e.created_at"),
        Column("created_at_local", pa.string(), LOCAL_ISO, ours=True),
        Column("timezone", pa.string(), "%(tz)s", ours=True),
        Column("local_date", pa.date32(), "e.created_at"),
        Column("billing_period_start", pa.date32(), "date_trunc('month', e.created_at)"),
        Column("department_id", pa.string(), "e.department_id", ours=True),
        Column("department_code", pa.string(), "e.department_code"),
        Column("department_name", pa.string(), "e.department_name"),
        Column("user_id", pa.string(), "e.user_id", ours=True),
        Column("user_email", pa.string(), "e.user_email"),
        Column("cost_center", pa.string(), "e.cost_center"),
        Column("provider", pa.string(), "e.model_provider"),
        Column("model", pa.string(), "e.model_name"),
        Column("size", pa.string(), "e.size"),
        Column("quality", pa.string(), "e.quality"),
        Column("image_count", pa.int32(), "e.image_count"),
        Column("estimated_cost_aud", MONEY, "e.estimated_cost_aud"),
        Column("actual_cost_aud", MONEY, "e.actual_cost_aud"),
        Column("currency", pa.string(), "e.currency", ours=True),
        Column("pricing_currency", pa.string(), "e.pricing_currency"),
        Column("pricing_amount", MONEY, "e.pricing_amount"),
        Column("fx_rate", RATE, "e.fx_rate"),
        Column("fx_rate_source", pa.string(), "e.fx_rate_source"),
        Column("fx_rate_date", pa.date32(), "e.fx_rate_date"),
        Column("price_version_id", pa.string(), "e.metadata->>'price_version_id'", ours=True),
        Column("reason", pa.string(), _REASON),
        Column("charge_basis", pa.string(), _CHARGE_BASIS, ours=True),
        Column("input_text_tokens", TOKENS, _INPUT_TEXT_TOKENS),
        Column("input_image_tokens", TOKENS, _INPUT_IMAGE_TOKENS),
        Column("output_image_tokens", TOKENS, _OUTPUT_IMAGE_TOKENS),
        Column("provider_usage", pa.string(), _RAW_USAGE),
        Column("processed_in", pa.string(), "e.processed_in", ours=True),
    )
)

_DAY = "date_trunc('day', e.created_at)"  # local midnight, as an instant
_MONTH = "date_trunc('month', e.created_at)"
_IS_CHARGE = "e.kind = 'charge'"
#: The catalogue's AUD price of one image, as quoted (kept on the charge since settlement recorded it;
#: before that, the charge over its images). Refunds and corrections price nothing: NULL.
_UNIT_PRICE = (
    f"CASE WHEN {_IS_CHARGE} THEN coalesce((e.metadata->>'unit_price_aud')::numeric,"
    " e.actual_cost_aud / nullif(e.image_count, 0))::numeric(14, 4) END"
)
#: The same price in the provider's currency (the catalogue's price before conversion to AUD). A model
#: billed by tokens lists the quoted maximum's share of one image ("up to"), in both currencies: its
#: effective and billed costs are the provider's usage, at most the list cost.
_PRICING_UNIT_PRICE = (
    f"CASE WHEN {_IS_CHARGE} THEN coalesce((e.metadata->>'unit_price_in_pricing_currency')::numeric,"
    f" e.pricing_amount / nullif(e.image_count, 0), {_UNIT_PRICE} / e.fx_rate)::numeric(14, 4) END"
)
#: List (and contracted: no negotiated discounts exist) cost: unit price x images on a charge, as FOCUS
#: requires; a refund or correction is a credit unrelated to a price list, so it is what was billed.
_LIST_COST = f"coalesce({_UNIT_PRICE} * e.image_count, e.actual_cost_aud)"
#: The platform offers the models and issues the chargeback: provider = invoice issuer, so FOCUS does not
#: read a row as a third-party (marketplace) payment with BilledCost 0; the model's maker is the publisher.
PLATFORM = "DonatelloAI"
_SKU = "concat_ws('/', e.model_provider, e.model_name, nullif(e.size, ''), nullif(e.quality, ''))"
_WHAT = (
    "e.model_provider || '/' || e.model_name"
    " || coalesce(' ' || nullif(e.size, ''), '') || coalesce(' ' || nullif(e.quality, ''), '')"
)

#: FOCUS 1.2: one row per cost event. The charge period is the event's local day and the billing period
#: its local month (the budget period), both as UTC instants; refunds and corrections carry ChargeClass
#: "Correction", amend the charge named in x_CorrectsEventId and say why in ChargeDescription and x_Reason.
#: No invoice is issued for an internal chargeback, so InvoiceId is NULL unless one was recorded.
FOCUS = Layout(
    (
        Column("BilledCost", MONEY, "e.actual_cost_aud"),
        Column("BillingAccountId", pa.string(), "%(org)s", ours=True),
        Column("BillingAccountName", pa.string(), "%(org_name)s"),
        Column("BillingCurrency", pa.string(), "e.currency", ours=True),
        Column("BillingPeriodEnd", UTC_TS, f"{_MONTH} + interval '1 month'"),
        Column("BillingPeriodStart", UTC_TS, _MONTH),
        Column(
            "ChargeCategory",
            pa.string(),
            "CASE e.kind WHEN 'charge' THEN 'Usage' WHEN 'refund' THEN 'Credit' ELSE 'Adjustment' END",
            ours=True,
        ),
        Column("ChargeClass", pa.string(), f"CASE WHEN NOT {_IS_CHARGE} THEN 'Correction' END", ours=True),
        Column(
            "ChargeDescription",
            pa.string(),
            f"CASE e.kind WHEN 'charge' THEN 'Image generation: ' || e.image_count || ' x ' || {_WHAT}"
            f" ELSE CASE e.kind WHEN 'refund' THEN 'Refund' ELSE 'Correction' END"
            f" || ' of image generation (' || {_WHAT} || ')' || coalesce(': ' || {_REASON}, '') END",
            ours=True,
        ),
        Column("ChargeFrequency", pa.string(), "'Usage-Based'", ours=True),
        Column("ChargePeriodEnd", UTC_TS, f"{_DAY} + interval '1 day'"),
        Column("ChargePeriodStart", UTC_TS, _DAY),
        # A charge from metered usage consumed tokens (all three kinds, itemised in x_*Tokens); any
        # other charge consumed images.
        Column("ConsumedQuantity", QUANTITY, f"CASE WHEN {_IS_CHARGE} THEN {_CONSUMED} END"),
        Column("ConsumedUnit", pa.string(), f"CASE WHEN {_IS_CHARGE} THEN {_CONSUMED_UNIT} END", ours=True),
        Column("ContractedCost", MONEY, _LIST_COST),
        Column("ContractedUnitPrice", MONEY, _UNIT_PRICE),
        Column("EffectiveCost", MONEY, "e.actual_cost_aud"),
        Column("InvoiceId", pa.string(), "(e.metadata->>'invoice_id')"),
        Column("InvoiceIssuerName", pa.string(), f"'{PLATFORM}'", ours=True),
        Column("ListCost", MONEY, _LIST_COST),
        Column("ListUnitPrice", MONEY, _UNIT_PRICE),
        Column("PricingCategory", pa.string(), "'Standard'", ours=True),
        Column("PricingCurrency", pa.string(), "e.pricing_currency"),
        Column("PricingCurrencyContractedUnitPrice", MONEY, _PRICING_UNIT_PRICE),
        # What was billed, in the provider's currency: its price on a charge, else converted back.
        Column(
            "PricingCurrencyEffectiveCost",
            MONEY,
            f"CASE WHEN {_IS_CHARGE} AND e.pricing_amount IS NOT NULL THEN e.pricing_amount"
            " ELSE e.actual_cost_aud / e.fx_rate END",
        ),
        Column("PricingCurrencyListUnitPrice", MONEY, _PRICING_UNIT_PRICE),
        Column("PricingQuantity", QUANTITY, "e.image_count"),
        Column("PricingUnit", pa.string(), "'Images'", ours=True),
        Column("ProviderName", pa.string(), f"'{PLATFORM}'", ours=True),
        Column("PublisherName", pa.string(), "e.model_provider"),
        Column("ResourceId", pa.string(), "e.generation_id", ours=True),
        Column("ResourceType", pa.string(), "'Image generation'", ours=True),
        Column("ServiceCategory", pa.string(), "'AI and Machine Learning'", ours=True),
        Column("ServiceName", pa.string(), "e.model_name"),
        Column("ServiceSubcategory", pa.string(), "'Generative AI'", ours=True),
        Column("SkuId", pa.string(), _SKU),
        Column("SkuMeter", pa.string(), "'Images generated'", ours=True),
        # One price of one SKU: the SKU at its unit price in the provider's currency (a new catalogue
        # price is a new SkuPriceId of the same SkuId). Refunds and corrections price nothing.
        Column(
            "SkuPriceId",
            pa.string(),
            f"CASE WHEN {_IS_CHARGE} THEN {_SKU} || '@' || {_PRICING_UNIT_PRICE}"
            " || ' ' || e.pricing_currency END",
        ),
        # The size and quality are in SkuId already.
        Column("SkuPriceDetails", pa.string(), "NULL", ours=True),
        Column("SubAccountId", pa.string(), "e.department_id", ours=True),
        Column("SubAccountName", pa.string(), "e.department_name"),
        Column("SubAccountType", pa.string(), "'Department'", ours=True),
        Column(
            "Tags",
            pa.string(),
            # JSON with sorted keys, built by concatenation (to_json escapes; a jsonb per row costs 3x);
            # costCenter only when the person had one at spend time (a tag's value is never null)
            "'{' || coalesce('\"costCenter\": ' || to_json(e.cost_center) || ', ', '')"
            " || '\"department_code\": ' || to_json(e.department_code) || ', \"kind\": ' || to_json(e.kind)"
            " || ', \"user_email\": ' || to_json(e.user_email) || '}'",
            ours=True,
        ),
        Column("x_CostEventId", pa.string(), "e.id", ours=True),
        Column("x_Kind", pa.string(), "e.kind", ours=True),
        Column("x_CorrectsEventId", pa.string(), "e.corrects_event_id", ours=True),
        Column("x_Reason", pa.string(), _REASON),
        Column("x_DepartmentCode", pa.string(), "e.department_code"),
        Column("x_UserId", pa.string(), "e.user_id", ours=True),
        Column("x_UserEmail", pa.string(), "e.user_email"),
        Column("x_CostCenter", pa.string(), "e.cost_center"),
        Column("x_EstimatedCost", MONEY, "e.estimated_cost_aud"),
        Column("x_PricingCurrencyAmount", MONEY, "e.pricing_amount"),
        Column("x_FxRate", RATE, "e.fx_rate"),
        Column("x_FxRateSource", pa.string(), "e.fx_rate_source"),
        Column("x_PriceVersionId", pa.string(), "e.metadata->>'price_version_id'", ours=True),
        Column("x_ChargeTimeUtc", UTC_TS, "e.created_at"),
        Column("x_ChargeTimeLocal", pa.string(), LOCAL_ISO, ours=True),
        Column("x_ChargeBasis", pa.string(), _CHARGE_BASIS, ours=True),
        Column("x_InputTextTokens", TOKENS, _INPUT_TEXT_TOKENS),
        Column("x_InputImageTokens", TOKENS, _INPUT_IMAGE_TOKENS),
        Column("x_OutputImageTokens", TOKENS, _OUTPUT_IMAGE_TOKENS),
        Column("x_ProviderUsage", pa.string(), _RAW_USAGE),
        # Where inference ran (ISO 3166-1 alpha-2), not a provider region: so not FOCUS's RegionId.
        Column("x_ProcessedIn", pa.string(), "e.processed_in", ours=True),
    )
)

#: Who hosts each provider's models (FOCUS 1.3 ``HostProviderName``): the cloud or vendor running
#: inference. A provider not listed is its own host.
HOSTS = {
    "azure-openai": "Microsoft",
    "azure-foundry": "Microsoft",
    "openai": "OpenAI",
    "aws-bedrock": "Amazon Web Services",
    "google-vertex": "Google Cloud",
    "local": PLATFORM,
}
_HOST = (
    "CASE e.model_provider "
    + " ".join(f"WHEN '{provider}' THEN '{host}'" for provider, host in HOSTS.items())
    + " ELSE e.model_provider END"
)


def _focus_1_3() -> Layout:
    """FOCUS 1.3: the 1.2 columns plus ``ServiceProviderName`` (who made the service available for
    purchase: the platform, which issues the chargeback) and ``HostProviderName`` (who runs the model).
    ``ProviderName`` and ``PublisherName`` are deprecated in 1.3 but still required, so they stay. The
    allocation and contract columns are conditional and do not apply: nothing here is split or
    committed."""
    added = (
        Column("HostProviderName", pa.string(), _HOST),
        Column("ServiceProviderName", pa.string(), f"'{PLATFORM}'", ours=True),
    )
    standard = [column for column in FOCUS.columns if not column.name.startswith("x_")]
    extensions = [column for column in FOCUS.columns if column.name.startswith("x_")]
    return Layout(tuple(sorted(standard + list(added), key=lambda column: column.name)) + tuple(extensions))


FOCUS_1_3 = _focus_1_3()
#: The FOCUS versions an export can be written in; 1.2 is the default until Azure's exports move.
FOCUS_VERSIONS = {"1.2": FOCUS, "1.3": FOCUS_1_3}
DEFAULT_FOCUS_VERSION = "1.2"
