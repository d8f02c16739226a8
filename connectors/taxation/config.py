"""Configuration of the taxation SOAP connector."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class TaxationConfig(BaseModel):
    """Where the taxation system's ``PenaltyQueryService`` is and how to page it."""

    model_config = ConfigDict(extra="forbid")

    wsdl_url: str = Field(description="URL of the service WSDL, e.g. http://host/ws/PenaltyQueryService?wsdl.",
                          pattern=r"^https?://")
    department_code: str = Field("330000SWJ", description="Hub department code of the tax bureau.")
    page_size: int = Field(200, ge=1, le=1000, description="Cases per QueryCases call (maxCount).")
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="HTTP timeout per SOAP call.")
    username: str | None = Field(None, description="HTTP Basic user, if the service requires one.")
    password: SecretStr | None = Field(None, description="HTTP Basic password.")
