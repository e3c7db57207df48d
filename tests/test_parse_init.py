"""syscorr.parse: the package's lazy exports."""


def test_every_name_the_parse_package_exports_loads_from_its_module():
    """syscorr.parse loads its modules lazily from a table: a name in __all__ missing from the
    table, or listed under the wrong module, would fail only when first used."""
    import importlib

    import syscorr.parse as parse

    assert sorted(parse.__all__) == sorted(parse._MODULE_OF)
    for name in parse.__all__:
        module = importlib.import_module(f"syscorr.parse.{parse._MODULE_OF[name]}")
        assert getattr(parse, name) is getattr(module, name)
