"""OpenAPI documents, JSON or YAML, reduced to callable operations: load, refs, parse.

Pure: nothing here touches the network or the disk (``services.discovery`` fetches).
"""

from piloto.services.openapi.errors import SpecError
from piloto.services.openapi.load import MAX_SPEC_BYTES, load_document
from piloto.services.openapi.parse import call_base_url, parse_openapi

__all__ = ["MAX_SPEC_BYTES", "SpecError", "call_base_url", "load_document", "parse_openapi"]
