"""CDS Hooks 2.0 wire models (pydantic): discovery, request, response (cards) and feedback.

Written from the specification (https://cds-hooks.hl7.org/2.0/), not from any other project.
Responses are serialised with `exclude_none`, so an optional element without a value is absent,
never `null`; the builders in `cards.py` never put an empty string or array in a card either
(the one empty array the specification allows is `{"cards": []}`).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
Indicator = Literal["info", "warning", "critical"]


class _Wire(BaseModel):
    """Unknown elements are ignored (forward compatibility); strings must not be empty."""

    model_config = ConfigDict(extra="ignore", str_min_length=1)


# --------------------------------------------------------------------------------------------
# Discovery


class Service(_Wire):
    """One CDS service in the discovery response."""

    hook: str
    title: str | None = None
    description: str
    id: str
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None


class Discovery(_Wire):
    """GET /cds-services."""

    services: list[Service]


# --------------------------------------------------------------------------------------------
# Request


class FhirAuthorization(_Wire):
    """OAuth 2.0 access token the service may use on the client's FHIR server."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int = Field(ge=0)
    scope: str
    subject: str
    patient: str | None = None


class HookRequest(_Wire):
    """POST /cds-services/{id}: the body every hook shares."""

    hook: str
    hookInstance: str
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    # Kept as given: an absent key and a `null` value mean different things.
    prefetch: dict[str, Any] | None = None

    @field_validator("fhirServer")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("fhirServer must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _server_with_token(self) -> HookRequest:
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("fhirAuthorization requires fhirServer (cds-r-1)")
        return self


def _reference(value: str, types: tuple[str, ...]) -> str:
    kind, _, rid = value.partition("/")
    if kind not in types or not FHIR_ID.fullmatch(rid):
        raise ValueError(f"must be a reference to one of {', '.join(types)}")
    return value


class PatientViewContext(_Wire):
    """Context of patient-view."""

    userId: str
    patientId: str
    encounterId: str | None = None

    @field_validator("patientId", "encounterId")
    @classmethod
    def _fhir_id(cls, value: str | None) -> str | None:
        if value is not None and not FHIR_ID.fullmatch(value):
            raise ValueError("not a FHIR id")
        return value

    @field_validator("userId")
    @classmethod
    def _user(cls, value: str) -> str:
        return _reference(value, ("Practitioner", "PractitionerRole", "Patient", "RelatedPerson"))


class OrderSignContext(PatientViewContext):
    """Context of order-sign: the draft orders are a FHIR Bundle."""

    draftOrders: dict[str, Any]

    @field_validator("draftOrders")
    @classmethod
    def _bundle(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value.get("resourceType") != "Bundle":
            raise ValueError("draftOrders must be a FHIR Bundle")
        return value


class OrderSelectContext(OrderSignContext):
    """Context of order-select: `selections` point into the draft orders."""

    selections: list[str] = Field(min_length=1)


# --------------------------------------------------------------------------------------------
# Response


class Coding(_Wire):
    """CDS Hooks' own Coding: system and code required."""

    system: str
    code: str
    display: str | None = None


class OverrideReason(Coding):
    """A reason to dismiss a card: display is required (cds-resp-4)."""

    display: str


class Source(_Wire):
    """Where a card's guidance comes from."""

    label: str
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(_Wire):
    """One change to the EHR: create, update or delete a FHIR resource."""

    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resourceId: str | None = None

    @model_validator(mode="after")
    def _invariants(self) -> Action:
        if self.type == "delete" and self.resourceId is None:
            raise ValueError("delete needs resourceId (cds-resp-2)")
        if self.type in ("create", "update") and self.resource is None:
            raise ValueError("create and update need a resource")
        return self


class Suggestion(_Wire):
    """A set of actions the clinician can accept together."""

    label: str
    uuid: str | None = None
    isRecommended: bool | None = None
    actions: list[Action] | None = Field(default=None, min_length=1)


class Link(_Wire):
    """A link to a web page (absolute) or a SMART app."""

    label: str
    url: str
    type: Literal["absolute", "smart"]
    appContext: str | None = None
    autolaunchable: bool | None = None

    @model_validator(mode="after")
    def _app_context(self) -> Link:
        if self.appContext is not None and self.type != "smart":
            raise ValueError("appContext only for smart links (cds-resp-3)")
        return self


class Card(_Wire):
    """One card."""

    uuid: str | None = None
    summary: str = Field(max_length=139)
    detail: str | None = None
    indicator: Indicator
    source: Source
    suggestions: list[Suggestion] | None = Field(default=None, min_length=1)
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[OverrideReason] | None = Field(default=None, min_length=1)
    links: list[Link] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _selection(self) -> Card:
        if self.suggestions is not None and self.selectionBehavior is None:
            raise ValueError("suggestions need selectionBehavior (cds-resp-6)")
        if self.selectionBehavior == "at-most-one" and any(
            len(s.actions or ()) != 1 for s in self.suggestions or ()
        ):
            raise ValueError("at-most-one needs exactly one action per suggestion (cds-resp-1)")
        return self


class CdsResponse(_Wire):
    """The service's answer: cards (possibly none) and optional system actions."""

    cards: list[Card]
    systemActions: list[Action] | None = Field(default=None, min_length=1)


# --------------------------------------------------------------------------------------------
# Feedback


class OverrideReasonFeedback(_Wire):
    """Why a card was overridden."""

    reason: Coding | None = None
    userComment: str | None = None


class AcceptedSuggestion(_Wire):
    """An accepted suggestion, by its uuid."""

    id: str


class FeedbackItem(_Wire):
    """What the clinician did with one card."""

    card: str
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = Field(default=None, min_length=1)
    overrideReason: OverrideReasonFeedback | None = None
    outcomeTimestamp: str

    @field_validator("outcomeTimestamp")
    @classmethod
    def _instant(cls, value: str) -> str:
        try:
            stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("outcomeTimestamp must be an ISO 8601 date-time") from None
        if stamp.tzinfo is None:
            raise ValueError("outcomeTimestamp must carry a time zone (UTC)")
        return value

    @model_validator(mode="after")
    def _outcome(self) -> FeedbackItem:
        if self.outcome == "accepted" and self.acceptedSuggestions is None:
            raise ValueError("accepted feedback needs acceptedSuggestions")
        if self.outcome == "accepted" and self.overrideReason is not None:
            raise ValueError("overrideReason only with outcome overridden")
        if self.outcome == "overridden" and self.acceptedSuggestions is not None:
            raise ValueError("acceptedSuggestions only with outcome accepted")
        return self


class Feedback(_Wire):
    """POST /cds-services/{id}/feedback."""

    feedback: list[FeedbackItem] = Field(min_length=1)
