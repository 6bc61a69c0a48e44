"""``hyperjump-register``: make ``advisor: name: HyperJump`` work in NNI experiment YAML.

Same effect as ``nnictl algo register --meta_path config/hyperjump-meta.yml``. NNI keeps
registrations in ``$NNI_CONFIG_DIR`` (default: ``<venv>/nni``), so register in the
environment that runs ``nnictl``.
"""
from __future__ import annotations

import argparse
import sys
from importlib import resources

import yaml

META_FILE = "hyperjump.yml"


def load_meta() -> dict:
    return yaml.safe_load(resources.files("hyperjump_advisor").joinpath("meta", META_FILE).read_text())


def register() -> str:
    from nni.tools.package_utils.common import AlgoMeta
    from nni.tools.package_utils.config_manager import register_algo_meta
    from nni.runtime.config import get_config_file

    meta = AlgoMeta.load(load_meta())
    register_algo_meta(meta)
    return str(get_config_file("registered_algorithms.yml"))


def unregister() -> None:
    from nni.tools.package_utils.config_manager import unregister_algo_meta
    unregister_algo_meta(load_meta()["builtinName"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hyperjump-register", description=__doc__.splitlines()[0])
    parser.add_argument("--unregister", action="store_true", help="remove the registration instead")
    args = parser.parse_args(argv)
    if args.unregister:
        unregister()
        print("HyperJump unregistered")
        return 0
    where = register()
    print(f"HyperJump registered as an NNI advisor (advisor: name: HyperJump) in {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
