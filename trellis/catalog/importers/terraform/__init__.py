"""Importing Terraform state: the output of ``terraform show -json`` as legacy static definitions.

Managed resources of the types in ``MAPPED_TYPES`` become ``ResourceDefinition``
documents whose outputs are read from the resource's attributes; everything
else (other types, data sources, resources that lack what the catalog type
needs) is skipped with the reason. Secret outputs are references derived from
the resource address (``${secret:legacy/terraform/<address>#password}``); no
value is ever copied from an attribute that holds or the state marks as a
secret, and a resource whose chosen attributes would carry one is skipped.

Definition ids are ``tf-`` + the address made id-safe + 8 hex digits of the
address's SHA-256: readable, the same on every import, and distinct for
distinct addresses even when making them id-safe or short folds two together.

The modules: ``state`` reads the document, ``resources`` maps each resource
type, ``sensitive`` finds what must not be copied, ``definitions`` builds one
definition, ``addresses`` names ids and secret paths.
"""

from trellis.catalog.importers.terraform.addresses import SECRET_ROOT, definition_id, secret_path
from trellis.catalog.importers.terraform.resources import MAPPED_TYPES, TOPIC_TAG
from trellis.catalog.importers.terraform.state import (
    CriteriaMap,
    TerraformImporter,
    TerraformStateError,
    import_terraform,
    parse_terraform,
    parse_terraform_text,
    read_terraform,
)

__all__ = [
    "MAPPED_TYPES",
    "SECRET_ROOT",
    "TOPIC_TAG",
    "CriteriaMap",
    "TerraformImporter",
    "TerraformStateError",
    "definition_id",
    "import_terraform",
    "parse_terraform",
    "parse_terraform_text",
    "read_terraform",
    "secret_path",
]
