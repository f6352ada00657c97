"""A module that an entry point names but that registers nothing (tests of issue 26)."""
