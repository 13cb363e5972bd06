"""Reading the YAML files users hand us (run configs, comparison grids) with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from promptflux.errors import ConfigError


def read_yaml_mapping(path: Path, example: str) -> dict[str, Any]:
    """The mapping in `path`; a missing, broken or non-mapping file is a one-line error that shows
    `example` (e.g. "`task: sst2`") as what the file should hold."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no config file at {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder; --config takes a YAML file") from None
    except OSError as e:
        raise ConfigError(f"cannot read the config file {path}: {e.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path} is not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, e.g. {example}")
    return data
